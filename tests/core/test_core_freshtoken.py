"""The one fast path of `bbwizard token` and `credential get`: a fresh token read with tomllib alone,
and the full road through ConfigStore for anything else."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bbwizard.config import ConfigStore, Profile, UserInfo, utc_now
from bbwizard.freshtoken import MIN_VALID_SECONDS, read_fresh_token
from bbwizard.secret import Secret


def _save(config_path: Path, name: str = "work", left: timedelta = timedelta(hours=1), **changes) -> Profile:
    profile = Profile(
        name=name, client_id="key", client_secret=Secret("a-consumer-secret"), site_url="https://bitbucket.org",
        access_token=Secret(f"{name}-access-token"), refresh_token=Secret(f"{name}-refresh-token"),
        expires_at=utc_now() + left, user=UserInfo("Alice Liddell", "alice", "{a}", "557058:a"),
    ).replace(**changes)
    ConfigStore(config_path).save(profile, make_default=False)
    return profile


def test_a_fresh_token_comes_with_what_the_credential_answer_needs(config_path: Path) -> None:
    profile = _save(config_path)
    fresh = read_fresh_token(path=str(config_path))
    assert fresh is not None
    assert (fresh.profile, fresh.token, fresh.site_url, fresh.usernames) == ("work", "work-access-token", "https://bitbucket.org", {"alice"})
    assert fresh.expires_at == profile.expires_at.replace(microsecond=0)
    assert "work-access-token" not in repr(fresh)


def test_the_profile_named_or_the_default_one(config_path: Path) -> None:
    _save(config_path, "work")
    _save(config_path, "home")
    assert read_fresh_token(path=str(config_path)) is None  # two profiles, no default: the full road says so
    assert read_fresh_token("home", str(config_path)).token == "home-access-token"
    ConfigStore(config_path).set_default("home")
    assert read_fresh_token(path=str(config_path)).token == "home-access-token"
    assert read_fresh_token("nosuch", str(config_path)) is None


def test_the_usual_place_is_bbwizard_config(config_path: Path, monkeypatch) -> None:
    _save(config_path)
    monkeypatch.setenv("BBWIZARD_CONFIG", str(config_path))
    assert read_fresh_token().token == "work-access-token"


@pytest.mark.parametrize(
    "changes",
    [
        {"left": timedelta(seconds=MIN_VALID_SECONDS - 60)},  # inside the refresh window
        {"left": timedelta(minutes=-1)},
        {"expires_at": None},
        {"access_token": None},
        {"refresh_refused_at": utc_now()},  # the sign-in has ended
    ],
    ids=["expiring", "expired", "no-expiry", "no-token", "refresh-refused"],
)
def test_anything_but_a_plainly_fresh_token_takes_the_full_road(changes: dict, config_path: Path) -> None:
    _save(config_path, **changes)
    assert read_fresh_token(path=str(config_path)) is None


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text.replace("version = 1", "version = 2"),
        lambda text: text.replace("version = 1", "version = true"),
        lambda text: text.replace('grant = "authorization_code"', 'grant = "password"'),
        lambda text: text.replace('client_id = "key"', 'client_id = ""'),
        lambda text: text.replace('site_url = "https://bitbucket.org"', "site_url = 443"),
        lambda text: text.replace('username = "alice"', "username = 7"),
        lambda text: 'default = ["work"]\n' + text,
        lambda text: text + "\n[[broken",
    ],
    ids=["newer-format", "bool-version", "unknown-grant", "no-client-id", "site-not-text", "username-not-text",
         "default-not-a-name", "not-toml"],
)
def test_a_file_the_full_road_would_question_takes_the_full_road(edit, config_path: Path) -> None:
    _save(config_path)
    config_path.write_text(edit(config_path.read_text()))
    config_path.chmod(0o600)
    assert read_fresh_token(path=str(config_path)) is None


def test_a_file_others_can_read_takes_the_full_road(config_path: Path) -> None:
    _save(config_path)
    config_path.chmod(0o640)
    assert read_fresh_token(path=str(config_path)) is None
    assert read_fresh_token(path=str(config_path.with_name("missing.toml"))) is None


# --- credential get: the fast path taken, and the full road when it must be --------------------

_PROBE = r"""
import io, sys
sys.stdin = io.StringIO(sys.argv[1])
from bbwizard.cli import main
code = main(sys.argv[2:])
loaded = sorted(m for m in ("bbwizard.config", "bbwizard.oauth", "dataclasses", "httpx", "textual", "rich") if m in sys.modules)
print("LOADED=" + ",".join(loaded), file=sys.stderr)
raise SystemExit(code)
"""


def _credential_get(cli_env: dict, request: str, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    done = subprocess.run([sys.executable, "-c", _PROBE, request, "credential", *args, "get"], capture_output=True,
                          text=True, env=cli_env, timeout=60)
    loaded = done.stderr.rpartition("LOADED=")[2].strip()
    return done, loaded.split(",") if loaded else []


def test_credential_get_with_a_fresh_token_imports_no_config(emu, signed_in, cli_env) -> None:
    profile = signed_in(user=UserInfo("Alice Liddell", "alice", "{a}", "557058:a"))
    for username in ("", "username=x-token-auth\n", "username=alice\n"):
        done, loaded = _credential_get(cli_env, f"protocol=http\nhost={emu.git_host}\n{username}\n")
        assert done.returncode == 0, done.stderr
        assert done.stdout == (
            f"username=x-token-auth\npassword={profile.access_token.reveal()}\n"
            f"password_expiry_utc={int(profile.expires_at.timestamp())}\n"
        )
        assert loaded == [], (username, loaded)
    assert emu.stats.requests == []


def test_credential_get_with_the_config_named_takes_the_fast_path(emu, signed_in, cli_env, config_path) -> None:
    profile = signed_in()
    env = {k: v for k, v in cli_env.items() if k != "BBWIZARD_CONFIG"}
    done, loaded = _credential_get(env, f"protocol=http\nhost={emu.git_host}\n\n", "--config", str(config_path))
    assert f"password={profile.access_token.reveal()}\n" in done.stdout
    assert loaded == []


def test_credential_get_refreshes_a_stale_token_on_the_full_road(emu, signed_in, cli_env, config_path) -> None:
    old = signed_in(left=timedelta(seconds=MIN_VALID_SECONDS - 60))
    done, loaded = _credential_get(cli_env, f"protocol=http\nhost={emu.git_host}\n\n")
    assert done.returncode == 0, done.stderr
    new = ConfigStore(config_path).get().access_token.reveal()
    assert new != old.access_token.reveal() and f"password={new}\n" in done.stdout
    assert emu.stats.grants["refresh_token"] == 1
    assert "bbwizard.config" in loaded


@pytest.mark.parametrize(
    "request_text",
    ["protocol=https\nhost=bitbucket.org\n\n", "protocol=https\nhost={git_host}\n\n", "protocol=http\nhost={git_host}\nusername=bob\n\n"],
    ids=["other-host", "other-scheme", "other-account"],
)
def test_credential_get_for_another_host_or_account_answers_nothing(request_text, emu, signed_in, cli_env) -> None:
    signed_in(user=UserInfo("Alice Liddell", "alice", "{a}", "557058:a"))
    done, loaded = _credential_get(cli_env, request_text.format(git_host=emu.git_host))
    assert (done.returncode, done.stdout) == (0, "")
    assert "bbwizard.config" in loaded  # the full road decides every answer that isn't a token
    assert emu.stats.requests == []


def test_credential_get_after_a_refused_refresh_tells_git_to_stop(emu, signed_in, cli_env, config_path) -> None:
    profile = signed_in()  # still looks fresh: a forced refresh was refused after a 401
    ConfigStore(config_path).save(profile.with_refresh_refused())
    done, loaded = _credential_get(cli_env, f"protocol=http\nhost={emu.git_host}\n\n")
    assert (done.returncode, done.stdout) == (3, "quit=1\n")
    assert "Sign in again: bbwizard login --profile default" in done.stderr
    assert profile.access_token.reveal() not in done.stdout + done.stderr
    assert "bbwizard.config" in loaded


def test_credential_get_with_a_file_others_can_read_takes_the_full_road(emu, signed_in, cli_env, config_path) -> None:
    profile = signed_in()
    config_path.chmod(0o644)
    done, loaded = _credential_get(cli_env, f"protocol=http\nhost={emu.git_host}\n\n")
    assert done.returncode == 0 and f"password={profile.access_token.reveal()}\n" in done.stdout
    assert "bbwizard.config" in loaded


def test_store_and_erase_read_no_token(emu, signed_in, cli_env) -> None:
    profile = signed_in()
    request = f"protocol=http\nhost={emu.git_host}\nusername=x-token-auth\npassword={profile.access_token.reveal()}\n\n"
    for action in ("store", "erase"):
        done = subprocess.run([sys.executable, "-c", _PROBE, request, "credential", action], capture_output=True,
                              text=True, env=cli_env, timeout=60)
        assert (done.returncode, done.stdout) == (0, "")
        assert done.stderr == "LOADED=\n", action
