"""``bbwizard login --with-api-token`` and ``--with-access-token`` against the emulator: the
token from stdin, checked at once, one sentence per refusal; then token, status, repos, logout."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from bbwizard.config import ConfigStore

EMAIL = "alice@example.com"


def api_login(emu, *extra: str) -> list[str]:
    return ["login", "--with-api-token", "--site-url", emu.site_url, "--api-url", emu.api_url, *extra]


def access_login(emu, *extra: str) -> list[str]:
    return ["login", "--with-access-token", "--site-url", emu.site_url, "--api-url", emu.api_url, *extra]


def test_api_token_sign_in_status_token_repos_and_logout(emu, run_cli, config_path: Path) -> None:
    expires = date.today() + timedelta(days=200)
    token = emu.add_api_token(EMAIL, expires_on=expires)
    done = run_cli(api_login(emu, "--email", EMAIL, "--expires-on", expires.isoformat(), "--profile", "me"), input=token + "\n")
    assert done.returncode == 0, done.stderr
    assert "Alice Liddell" in done.stderr and token not in done.stderr + done.stdout
    profile = ConfigStore(config_path).get("me")
    assert profile.kind == "api_token" and profile.email == EMAIL and profile.token_expires_on == expires
    assert profile.user.username == "alice" and profile.access_token.reveal() == token

    printed = run_cli(["token", "--profile", "me"])
    assert printed.returncode == 0 and printed.stdout == token + "\n"

    status = run_cli(["status", "--profile", "me"])
    assert status.returncode == 0, status.stdout + status.stderr
    assert "API token of alice@example.com" in status.stdout and "Bitbucket accepts the token" in status.stdout
    assert f"expires on {expires:%Y-%m-%d}" in status.stdout
    row = json.loads(run_cli(["status", "--json", "--offline"]).stdout)["profiles"][0]
    assert row["kind"] == "api_token" and row["email"] == EMAIL and row["token_expires_on"] == expires.isoformat()

    repos = run_cli(["repos", "acme", "--profile", "me"])
    assert repos.returncode == 0, repos.stderr
    assert "webapp" in repos.stdout

    out = run_cli(["logout", "--profile", "me"])
    assert out.returncode == 0 and "id.atlassian.com" in out.stderr
    assert "me" not in ConfigStore(config_path).load()


def test_status_warns_fourteen_days_before_an_api_token_expires(emu, run_cli) -> None:
    expires = date.today() + timedelta(days=10)
    token = emu.add_api_token(EMAIL, expires_on=expires)
    assert run_cli(api_login(emu, "--email", EMAIL, "--expires-on", expires.isoformat()), input=token + "\n").returncode == 0
    status = run_cli(["status", "--offline"])
    assert f"! Token: expires on {expires:%Y-%m-%d} (in 10 days)" in status.stdout
    assert "Create API token with scopes" in status.stdout


@pytest.mark.parametrize(
    ("email", "sentence"),
    [("alice", "is not an email"), ("alice@example", "isn't an email address")],
)
def test_a_username_or_a_false_email_is_refused_before_the_token_is_read(emu, run_cli, config_path, email, sentence) -> None:
    done = run_cli(api_login(emu, "--email", email), input="")
    assert done.returncode == 2 and sentence in done.stderr
    assert not config_path.exists()


def test_an_api_token_past_its_expiry_date_is_refused(emu, run_cli, config_path) -> None:
    token = emu.add_api_token(EMAIL)
    yesterday = date.today() - timedelta(days=1)
    done = run_cli(api_login(emu, "--email", EMAIL, "--expires-on", yesterday.isoformat()), input=token + "\n")
    assert done.returncode == 3 and f"expired on {yesterday:%Y-%m-%d}" in done.stderr
    assert not config_path.exists()


@pytest.mark.parametrize("case", ["unscoped", "expired", "other email"])
def test_a_token_bitbucket_refuses_with_that_email_names_what_to_check(emu, run_cli, config_path, case) -> None:
    if case == "unscoped":
        token, email = emu.add_api_token(EMAIL, scopes=()), EMAIL
    elif case == "expired":
        token, email = emu.add_api_token(EMAIL, expires_on=date.today() - timedelta(days=3)), EMAIL
    else:
        token, email = emu.add_api_token(EMAIL), "bob@example.com"
    done = run_cli(api_login(emu, "--email", email), input=token + "\n")
    assert done.returncode == 3
    assert f"Bitbucket refused this API token with the email {email}" in done.stderr
    assert "with scopes for the app Bitbucket" in done.stderr and "expired" in done.stderr
    assert token not in done.stderr and not config_path.exists()


def test_an_api_token_without_read_user_names_the_scopes_to_tick(emu, run_cli, config_path) -> None:
    token = emu.add_api_token(EMAIL, scopes=("read:repository:bitbucket",))
    done = run_cli(api_login(emu, "--email", EMAIL), input=token + "\n")
    assert done.returncode == 1
    assert "lacks read:user:bitbucket" in done.stderr and "read:workspace:bitbucket" in done.stderr
    assert not config_path.exists()


def test_an_access_token_given_as_an_api_token_is_named(emu, run_cli) -> None:
    token = emu.add_access_token("repository", "acme", repository="webapp")
    done = run_cli(api_login(emu, "--email", EMAIL), input=token + "\n")
    assert done.returncode == 3 and "access token, not an API token" in done.stderr
    assert "--with-access-token" in done.stderr


def test_an_api_token_given_as_an_access_token_is_named(emu, run_cli) -> None:
    token = emu.add_api_token(EMAIL)
    done = run_cli(access_login(emu, "--repository", "acme/webapp"), input=token + "\n")
    assert done.returncode == 3 and "Atlassian API token, not an access token" in done.stderr
    assert "--with-api-token --email EMAIL" in done.stderr


def test_an_oauth_token_given_as_an_access_token_is_named(emu, run_cli) -> None:
    from bbwizard.emulator import DEMO_CONSUMER_KEY

    token = emu.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    done = run_cli(access_login(emu, "--workspace", "acme"), input=token + "\n")
    assert done.returncode == 3 and "OAuth access token" in done.stderr and "Alice" in done.stderr


def test_a_repository_access_token_says_what_it_can_and_cannot_do(emu, run_cli, config_path) -> None:
    token = emu.add_access_token("repository", "acme", repository="webapp")
    done = run_cli(access_login(emu, "--repository", "acme/webapp", "--profile", "ci"), input=token + "\n")
    assert done.returncode == 0, done.stderr
    assert "It reads acme/webapp" in done.stderr and "no other repository in acme" in done.stderr
    profile = ConfigStore(config_path).get("ci")
    assert profile.kind == "access_token" and profile.reach == {"workspace": "acme", "repository": "webapp"}

    status = run_cli(["status"])
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Access token for acme/webapp" in status.stdout and "Bitbucket accepts the token" in status.stdout
    repos = run_cli(["repos"])
    assert repos.returncode == 0, repos.stderr
    assert "webapp" in repos.stdout and "firmware" not in repos.stdout
    out = run_cli(["logout"])
    assert out.returncode == 0 and "Access tokens" in out.stderr and not ConfigStore(config_path).load()


def test_a_workspace_access_token_lists_what_it_reaches(emu, run_cli) -> None:
    token = emu.add_access_token("workspace", "acme")
    done = run_cli(access_login(emu, "--workspace", "acme"), input=token + "\n")
    assert done.returncode == 0, done.stderr
    assert "It reaches" in done.stderr and "acme/webapp" in done.stderr


def test_an_access_token_named_for_another_repository_is_refused(emu, run_cli, config_path) -> None:
    token = emu.add_access_token("repository", "acme", repository="webapp")
    done = run_cli(access_login(emu, "--repository", "acme/firmware"), input=token + "\n")
    assert done.returncode == 3 and "doesn't reach acme/firmware" in done.stderr
    assert not config_path.exists()


def test_an_access_token_without_the_repository_scope_names_it(emu, run_cli) -> None:
    token = emu.add_access_token("repository", "acme", repository="webapp", scopes=("pipeline",))
    done = run_cli(access_login(emu, "--repository", "acme/webapp"), input=token + "\n")
    assert done.returncode == 1 and "lacks the repository scope" in done.stderr and "Repositories: Read" in done.stderr


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--with-api-token", "--token", "abc"], "never takes a token as an argument"),
        (["--with-api-token", "--with-access-token"], "Choose one"),
        (["--with-access-token", "--email", EMAIL], "--email goes with --with-api-token"),
        (["--with-api-token", "--email", EMAIL, "--key", "k"], "--key belong to signing in with an OAuth consumer"),
        (["--with-access-token", "--repository", "webapp"], "is not WORKSPACE/REPO"),
        (["--with-api-token", "--email", EMAIL, "--expires-on", "next spring"], "is not a date"),
        (["--with-access-token"], "What the access token is for is needed"),
    ],
)
def test_odd_token_login_flags_get_one_sentence(run_cli, config_path, args, sentence) -> None:
    done = run_cli(["login", *args], input="")
    assert done.returncode == 2 and sentence in done.stderr, done.stderr
    assert "abc" not in done.stderr and not config_path.exists()
