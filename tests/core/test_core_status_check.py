"""`bbwizard status` asks Bitbucket about each token (GET /user), remembers a refused refresh, and
its exit codes: 0 usable, 3 sign in again, 1 a scope is missing. `logout` of a profile that
doesn't exist lists those that do."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from bbwizard.config import ConfigStore, Profile, UserInfo, utc_now
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET
from bbwizard.secret import Secret

from .conftest import free_port

REVOKED = (
    "  X Bitbucket refused the token of Alice Liddell (alice) (the grant may be revoked under Personal settings → "
    "App authorizations): run bbwizard login --profile {name}"
)


def _signed_in(emu, config_path: Path, name: str = "work", scopes: list[str] | None = None, expires_in: timedelta | None = None,
               api_url: str | None = None) -> Profile:
    answer = emu.mint_token(DEMO_CONSUMER_KEY, scopes=scopes)
    profile = Profile(
        name=name, client_id=DEMO_CONSUMER_KEY, client_secret=Secret(DEMO_CONSUMER_SECRET), site_url=emu.site_url,
        api_url=api_url or emu.api_url, access_token=Secret(answer["access_token"]),
        refresh_token=Secret(answer["refresh_token"]),
        expires_at=utc_now() + (expires_in if expires_in is not None else timedelta(seconds=answer["expires_in"])),
        scopes=answer["scope"].split(), user=UserInfo("Alice Liddell", "alice", "{a}", "557058:a"),
    )
    ConfigStore(config_path).save(profile)
    return profile


def _rows(result) -> dict[str, dict]:
    return {row["name"]: row for row in json.loads(result.stdout)["profiles"]}


def test_each_token_is_checked_with_bitbucket_once(emu, run_cli, config_path) -> None:
    _signed_in(emu, config_path, "work")
    _signed_in(emu, config_path, "home")
    result = run_cli(["status"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("  ✓ Bitbucket accepts the token (checked just now)") == 2
    assert emu.stats.count("/2.0/user", "GET") == 2  # one request per profile
    rows = _rows(run_cli(["status", "--json"]))
    assert rows["work"]["checked"] == rows["home"]["checked"] == "ok"
    assert rows["work"]["usable"] is rows["home"]["usable"] is True


def test_a_revoked_grant_is_found_and_asks_for_a_new_sign_in(emu, run_cli, config_path) -> None:
    _signed_in(emu, config_path, "work")
    emu.revoke_grants()  # Personal settings → App authorizations → Revoke
    result = run_cli(["status"])
    assert result.returncode == 3
    assert REVOKED.format(name="work") + "\n" in result.stdout
    assert "✓ Signed in" not in result.stdout
    json_result = run_cli(["status", "--json"])
    assert json_result.returncode == 3
    row = _rows(json_result)["work"]
    assert row["checked"] == "refused" and row["usable"] is False and row["token_state"] == "fresh"


def test_offline_judges_from_the_file_and_asks_nothing(emu, run_cli, config_path) -> None:
    _signed_in(emu, config_path, "work")
    emu.revoke_grants()
    result = run_cli(["status", "--offline", "--json"])
    assert result.returncode == 0, result.stderr
    row = _rows(result)["work"]
    assert row["checked"] == "skipped" and row["usable"] is True
    text = run_cli(["status", "--offline"])
    assert text.returncode == 0 and "  ✓ Signed in as Alice Liddell (alice)" in text.stdout
    assert "checked just now" not in text.stdout
    assert emu.stats.count("/2.0/user") == 0


def test_without_network_status_says_so_and_judges_from_the_file(emu, run_cli, config_path) -> None:
    _signed_in(emu, config_path, "work", api_url=f"http://127.0.0.1:{free_port()}/2.0")  # nothing listens there
    result = run_cli(["status"])
    assert result.returncode == 0, result.stderr
    assert "  ✓ Signed in as Alice Liddell (alice)" in result.stdout
    assert "  ! Could not reach Bitbucket at http://127.0.0.1:" in result.stdout and "; judged from the file\n" in result.stdout
    row = _rows(run_cli(["status", "--json"]))["work"]
    assert row["checked"] == "unreachable" and row["usable"] is True


def test_an_expired_refreshable_token_is_not_refreshed_by_status(emu, run_cli, config_path) -> None:
    profile = _signed_in(emu, config_path, "work", expires_in=-timedelta(minutes=10))
    result = run_cli(["status", "--json"])
    assert result.returncode == 0, result.stderr
    row = _rows(result)["work"]
    assert row["checked"] == "skipped" and row["usable"] is True and row["token_state"] == "expired"
    assert emu.stats.grants["refresh_token"] == 0 and emu.stats.count("/2.0/user") == 0
    saved = ConfigStore(config_path).get("work")
    assert saved.refresh_token == profile.refresh_token and saved.access_token == profile.access_token  # nothing spent


def test_a_refused_refresh_is_remembered_until_the_next_sign_in(emu, run_cli, login_argv, config_path) -> None:
    _signed_in(emu, config_path, "default", expires_in=-timedelta(minutes=10))
    emu.revoke_refresh_tokens()
    assert run_cli(["token"]).returncode == 3
    saved = ConfigStore(config_path).get("default")
    assert saved.refresh_refused_at is not None and saved.token_state() == "signed_out"

    for args in (["status"], ["status", "--offline"]):
        result = run_cli(args)
        assert result.returncode == 3, args
        assert "  X The sign-in has ended: Bitbucket refused the refresh token " in result.stdout
        assert "Sign in again: bbwizard login --profile default" in result.stdout
        assert "✓ Signed in" not in result.stdout and "refreshes it on next use" not in result.stdout
    row = _rows(run_cli(["status", "--json"]))["default"]
    assert row["usable"] is False and row["token_state"] == "signed_out" and row["refresh_refused_at"].endswith("Z")
    token = run_cli(["token"])  # the same sentence, without asking Bitbucket again
    assert token.returncode == 3
    assert "The sign-in of profile 'default' has ended: Bitbucket refused its refresh token on " in token.stderr
    assert emu.stats.grants["refresh_token"] == 0

    # A new sign-in (here a private consumer's client credentials) clears the mark.
    signed = run_cli(login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials"), input=PRIVATE_CONSUMER_SECRET + "\n")
    assert signed.returncode == 0, signed.stderr
    assert ConfigStore(config_path).get("default").refresh_refused_at is None
    assert run_cli(["status"]).returncode == 0


def test_a_missing_scope_exits_1(emu, run_cli, config_path) -> None:
    _signed_in(emu, config_path, "work", scopes=["account"])
    result = run_cli(["status"])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "  X Missing repository: tick Repositories: Read on the consumer, then sign in again" in result.stdout
    assert run_cli(["status", "--json"]).returncode == 1


def test_status_of_one_profile_judges_only_that_one(emu, run_cli, config_path) -> None:
    _signed_in(emu, config_path, "broken")
    emu.revoke_grants()
    _signed_in(emu, config_path, "work")
    assert run_cli(["status"]).returncode == 3
    emu.stats.reset()
    result = run_cli(["status", "--profile", "work"])
    assert result.returncode == 0, result.stdout
    assert "'broken'" not in result.stdout
    assert emu.stats.count("/2.0/user") == 1


def test_a_profile_that_does_not_exist_is_named_with_those_that_do(emu, run_cli, config_path) -> None:
    _signed_in(emu, config_path, "work")
    _signed_in(emu, config_path, "home")
    for command in (["logout", "--profile", "nosuch"], ["status", "--profile", "nosuch"]):
        result = run_cli(command)
        assert result.returncode == 1, command
        assert result.stderr.startswith(
            f"X There is no profile named 'nosuch'. The profiles in {config_path} are: home, work.\n"
        ), result.stderr
    assert set(ConfigStore(config_path).load()) == {"home", "work"}


_IMPORTS_PROBE = r"""
import sys
from bbwizard.cli import main
code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"httpx", "httpcore", "textual", "rich"})
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
raise SystemExit(code)
"""


def test_status_offline_imports_neither_httpx_nor_textual(emu, cli_env, config_path) -> None:
    import subprocess
    import sys

    _signed_in(emu, config_path, "work")
    result = subprocess.run([sys.executable, "-c", _IMPORTS_PROBE, "status", "--offline"], capture_output=True, text=True,
                            env=cli_env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "HEAVY=\n" in result.stderr, result.stderr


def test_a_fresh_looking_token_of_an_ended_sign_in_is_not_handed_out(emu, run_cli, config_path) -> None:
    # A forced refresh (after a 401) can be refused while the file's token still looks fresh.
    profile = _signed_in(emu, config_path, "default")
    ConfigStore(config_path).save(profile.with_refresh_refused())
    result = run_cli(["token"])
    assert result.returncode == 3 and result.stdout == ""
    assert "Sign in again: bbwizard login --profile default" in result.stderr
    got = run_cli(["credential", "get"], input=f"protocol=http\nhost={emu.git_host}\n\n")
    assert got.returncode == 3 and got.stdout == "quit=1\n"
