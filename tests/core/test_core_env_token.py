"""BBWIZARD_TOKEN for CI, as GH_TOKEN is for gh: token, credential, clone and repos use it (with no
config file at all, against the emulator), status says where the token comes from, login and
logout refuse to change a profile meanwhile, and the in-memory profile is never written."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from bbwizard.config import ConfigStore, environment_profile
from bbwizard.errors import ConfigError, UsageError
from bbwizard.git.credential import credential_get, fresh_credential_get

REPO = Path(__file__).resolve().parents[2]


def environment_for(emu, token: str, kind: str | None = None, email: str | None = None) -> dict[str, str]:
    env = {"BBWIZARD_TOKEN": token, "BBWIZARD_SITE_URL": emu.site_url, "BBWIZARD_API_URL": emu.api_url}
    if kind:
        env["BBWIZARD_TOKEN_KIND"] = kind
    if email:
        env["BBWIZARD_EMAIL"] = email
    return env


@pytest.fixture
def ci_env(git_env, config_path) -> dict[str, str]:
    """A CI runner's environment: git set up, and no bbwizard config file (its path is free)."""
    return dict(git_env, BBWIZARD_CONFIG=str(config_path), NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1")


def run(args, env, input="", cwd=REPO):
    return subprocess.run([sys.executable, "-m", "bbwizard", *args], input=input, capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=180)


def test_token_prints_the_environment_token_without_a_config_file(ci_env, config_path):
    done = run(["token"], dict(ci_env, BBWIZARD_TOKEN="  env-token-value \n"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "env-token-value\n"
    assert not config_path.exists() and not config_path.parent.exists()


def test_the_environment_token_wins_over_the_stored_profile_and_leaves_it_alone(signed_in, ci_env, config_path):
    stored = signed_in()
    before = config_path.read_bytes()
    done = run(["token"], dict(ci_env, BBWIZARD_TOKEN="from-ci"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "from-ci\n" and stored.access_token.reveal() not in done.stdout
    assert config_path.read_bytes() == before


@pytest.mark.parametrize(("kind", "email", "username"), [
    (None, None, "x-token-auth"),
    ("access_token", None, "x-token-auth"),
    ("oauth", None, "x-token-auth"),
    ("api_token", "alice@example.com", "x-bitbucket-api-token-auth"),
])
def test_credential_get_answers_the_environment_token_on_both_roads(emulator, config_path, monkeypatch, kind, email, username):
    for key, value in environment_for(emulator, "ci-token", kind, email).items():
        monkeypatch.setenv(key, value)
    request = {"protocol": "http", "host": emulator.git_host}
    fast = fresh_credential_get(request, None, str(config_path))
    full = credential_get(ConfigStore(config_path), request)
    for answer in (fast, full):
        assert answer is not None
        assert answer["username"] == username and answer["password"] == "ci-token"
    assert credential_get(ConfigStore(config_path), {"protocol": "https", "host": "example.org"}) is None
    assert not config_path.exists()


def test_the_environment_token_takes_the_site_of_the_named_profile(signed_in, emu, config_path, monkeypatch):
    signed_in(name="work")
    monkeypatch.setenv("BBWIZARD_TOKEN", "ci-token")
    profile = ConfigStore(config_path).get("work")
    assert (profile.site_url, profile.api_url, profile.kind) == (emu.site_url, emu.api_url, "access_token")
    fast = fresh_credential_get({"protocol": "http", "host": emu.git_host}, "work", str(config_path))
    assert fast is not None and fast["password"] == "ci-token"


def test_credential_get_in_a_subprocess_with_no_config_file(emulator, ci_env, config_path):
    env = dict(ci_env, **environment_for(emulator, "ci-token"))
    done = run(["credential", "get"], env, input=f"protocol=http\nhost={emulator.git_host}\n\n")
    assert done.returncode == 0, done.stderr
    assert "username=x-token-auth\n" in done.stdout and "password=ci-token\n" in done.stdout
    assert not config_path.exists()


def test_clone_with_an_access_token_from_the_environment_and_no_config_file(emulator, ci_env, config_path, tmp_path):
    token = emulator.add_access_token("repository", "acme", repository="webapp", scopes=("repository",))
    env = dict(ci_env, **environment_for(emulator, token))
    done = run(["clone", "acme/webapp", str(tmp_path / "webapp")], env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "webapp" / ".git").is_dir()
    assert token not in (tmp_path / "webapp" / ".git" / "config").read_text()
    assert token not in done.stdout + done.stderr
    assert not config_path.exists()
    pulled = subprocess.run(["git", "pull", "--ff-only"], cwd=tmp_path / "webapp", env=env, capture_output=True, text=True, timeout=120)
    assert pulled.returncode == 0, pulled.stderr


def test_repos_with_an_api_token_from_the_environment_and_no_config_file(emulator, ci_env, config_path):
    token = emulator.add_api_token("alice@example.com", expires_on=date.today() + timedelta(days=30))
    env = dict(ci_env, **environment_for(emulator, token, "api_token", "alice@example.com"))
    done = run(["repos", "acme", "--json"], env)
    assert done.returncode == 0, done.stderr
    names = {row["slug"] if "slug" in row else row["full_name"].split("/")[1] for row in json.loads(done.stdout)}
    assert "webapp" in names
    assert not config_path.exists()


def test_repos_with_an_api_token_but_no_email_is_a_sentence(emulator, ci_env):
    token = emulator.add_api_token("alice@example.com")
    done = run(["repos", "acme"], dict(ci_env, **environment_for(emulator, token, "api_token")))
    assert done.returncode == 2
    assert "BBWIZARD_EMAIL" in done.stderr and token not in done.stderr


def test_an_unknown_kind_is_a_sentence(ci_env):
    done = run(["token"], dict(ci_env, BBWIZARD_TOKEN="t", BBWIZARD_TOKEN_KIND="app_password"))
    assert done.returncode == 2
    assert "BBWIZARD_TOKEN_KIND='app_password' names no kind" in done.stderr


def test_a_plain_http_bitbucket_site_is_refused(ci_env):
    done = run(["token"], dict(ci_env, BBWIZARD_TOKEN="t", BBWIZARD_SITE_URL="http://bitbucket.org"))
    assert done.returncode == 2 and "plain http" in done.stderr


def test_status_says_the_token_comes_from_the_environment(emulator, ci_env, signed_in):
    signed_in()
    env = dict(ci_env, **environment_for(emulator, "ci-secret-token"))
    done = run(["status", "--offline"], env)
    assert "token from the environment (BBWIZARD_TOKEN)" in done.stdout
    assert "instead of any stored profile" in done.stdout
    assert "ci-secret-token" not in done.stdout + done.stderr
    as_json = run(["status", "--offline", "--json"], env)
    document = json.loads(as_json.stdout)
    assert document["environment_token"] == {"profile": "default", "kind": "access_token", "email": None,
                                             "site_url": emulator.site_url, "api_url": emulator.api_url}
    assert "ci-secret-token" not in as_json.stdout


def test_status_with_only_the_environment_token_is_fine(emulator, ci_env, config_path):
    done = run(["status", "--offline"], dict(ci_env, **environment_for(emulator, "ci-token")))
    assert done.returncode == 0, done.stderr
    assert "token from the environment" in done.stdout
    assert not config_path.exists()


@pytest.mark.parametrize("command", [["login", "--with-access-token", "--workspace", "acme"], ["logout"], ["logout", "--forget-consumer"]])
def test_login_and_logout_refuse_while_the_environment_token_is_set(signed_in, ci_env, config_path, command):
    signed_in()
    before = config_path.read_bytes()
    done = run(command, dict(ci_env, BBWIZARD_TOKEN="ci-token"), input="another-token\n")
    assert done.returncode == 2
    assert "BBWIZARD_TOKEN is set" in done.stderr and "unset BBWIZARD_TOKEN" in done.stderr
    assert config_path.read_bytes() == before


def test_the_environment_profile_is_never_saved(config_path, monkeypatch):
    monkeypatch.setenv("BBWIZARD_TOKEN", "ci-token")
    store = ConfigStore(config_path)
    profile = store.get()
    with pytest.raises(ConfigError, match="comes from BBWIZARD_TOKEN and is never saved"):
        store.save(profile.replace(clone_dir="/tmp"))
    assert not config_path.exists()


def test_an_api_token_without_email_is_refused_in_process(config_path, monkeypatch):
    monkeypatch.setenv("BBWIZARD_TOKEN", "ci-token")
    monkeypatch.setenv("BBWIZARD_TOKEN_KIND", "api_token")
    with pytest.raises(UsageError, match="BBWIZARD_EMAIL"):
        environment_profile(ConfigStore(config_path))
    assert fresh_credential_get({"protocol": "https", "host": "bitbucket.org"}, None, str(config_path)) is None
