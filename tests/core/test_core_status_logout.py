"""`bbwizard status` and `bbwizard logout`, and what the CLI says about a broken config file."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from bbwizard.config import ConfigStore, Profile, UserInfo, utc_now
from bbwizard.secret import Secret

ACCESS = "status-access-token-" + "a" * 30
REFRESH = "status-refresh-token-" + "r" * 30
SECRET = "status-consumer-secret-value"


def _save(config_path: Path, name: str = "work", expires_in: timedelta = timedelta(hours=1, minutes=30), **changes) -> Profile:
    profile = Profile(
        name=name, client_id="key-123", client_secret=Secret(SECRET), callback_url="http://localhost:8976/",
        access_token=Secret(ACCESS), refresh_token=Secret(REFRESH), expires_at=utc_now() + expires_in,
        scopes=["account", "repository"], user=UserInfo("Alice Liddell", "alice", "{u}", "557058:1"),
    )
    for key, value in changes.items():
        setattr(profile, key, value)
    ConfigStore(config_path).save(profile)
    return profile


def test_status_without_profiles_says_how_to_sign_in(run_cli, config_path) -> None:
    result = run_cli(["status"])
    assert result.returncode == 3
    assert result.stderr == f"X Not signed in (no profiles in {config_path}). Run: bbwizard login\n"


def test_status_shows_user_scopes_expiry_and_where_secrets_are(run_cli, config_path) -> None:
    _save(config_path)
    result = run_cli(["status", "--offline"])  # the tokens are made up: judged from the file
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "bitbucket.org — profile 'work' (default)" in out
    assert "  ✓ Signed in as Alice Liddell (alice)" in out
    assert "  - Token: expires in 1 h 29 min (" in out and " UTC)" in out
    assert "  - Scopes: account repository" in out
    assert f"  - Secrets kept in: the config file {config_path}" in out
    for secret in (ACCESS, REFRESH, SECRET):
        assert secret not in out + result.stderr


def test_status_json_has_no_secrets(run_cli, config_path) -> None:
    _save(config_path)
    _save(config_path, name="old", expires_in=-timedelta(minutes=10), refresh_token=None)
    result = run_cli(["status", "--json", "--offline"])
    assert result.returncode == 3  # 'old' can't be used without signing in
    document = json.loads(result.stdout)
    assert document["config_path"] == str(config_path) and document["default"] == "work"
    rows = {row["name"]: row for row in document["profiles"]}
    assert rows["work"]["token_state"] == "fresh" and rows["work"]["usable"] is True
    assert rows["work"]["user"]["username"] == "alice" and rows["work"]["scopes"] == ["account", "repository"]
    assert 5300 < rows["work"]["expires_in_seconds"] <= 5400 and rows["work"]["expires_at"].endswith("Z")
    assert rows["old"]["token_state"] == "expired" and rows["old"]["can_refresh"] is False and rows["old"]["usable"] is False
    for secret in (ACCESS, REFRESH, SECRET):
        assert secret not in result.stdout


def test_status_of_an_expired_but_refreshable_token(run_cli, config_path) -> None:
    _save(config_path, expires_in=-timedelta(minutes=3, seconds=10))
    result = run_cli(["status", "--profile", "work"])  # expired: nothing to ask Bitbucket about
    assert result.returncode == 0
    assert "  - Token: expired 3 min ago (" in result.stdout and "bbwizard refreshes it on next use" in result.stdout


def test_a_config_others_can_read_is_warned_about(run_cli, config_path) -> None:
    _save(config_path)
    config_path.chmod(0o644)
    result = run_cli(["status", "--offline"])
    assert f"! The config file {config_path} can be read by other users (mode 644); it holds secrets. Run: chmod 600 {config_path}" in result.stderr


def test_logout_forgets_tokens_and_keeps_the_consumer(run_cli, config_path) -> None:
    _save(config_path)
    result = run_cli(["logout"])
    assert result.returncode == 0
    assert result.stderr.startswith("✓ Signed out of profile 'work': its tokens are forgotten.")
    assert result.stderr.endswith(
        "  Forgetting tokens here revokes nothing on Bitbucket: the grant itself is revoked under Personal "
        "settings → App authorizations (https://bitbucket.org/account/settings/app-authorizations/).\n"
    )
    profile = ConfigStore(config_path).get("work")
    assert profile.access_token is None and profile.refresh_token is None and profile.token_state() == "signed_out"
    assert profile.client_id == "key-123" and profile.client_secret == Secret(SECRET)
    text = config_path.read_text()
    assert ACCESS not in text and REFRESH not in text
    status = run_cli(["status"])
    assert status.returncode == 3 and "  X Signed out. Sign in: bbwizard login --profile work" in status.stdout


def test_logout_forget_consumer_removes_the_profile(run_cli, config_path) -> None:
    _save(config_path)
    _save(config_path, name="other")
    result = run_cli(["logout", "--profile", "work", "--forget-consumer"])
    assert result.returncode == 0
    assert result.stderr == (
        f"✓ Forgot profile 'work': its tokens, consumer key and secret are gone from {config_path}\n"
        "  Forgetting tokens here revokes nothing on Bitbucket: the grant itself is revoked under Personal "
        "settings → App authorizations (https://bitbucket.org/account/settings/app-authorizations/).\n"
    )
    assert list(ConfigStore(config_path).load()) == ["other"]
    assert SECRET in config_path.read_text()  # 'other' keeps its own


def test_a_corrupt_config_stops_every_command_and_is_kept(run_cli, config_path) -> None:
    _save(config_path)
    broken = config_path.read_bytes()[:-20]  # cut in the middle of the last table
    broken = broken + b'\n["unterminated'
    config_path.write_bytes(broken)
    for args in (["token"], ["status"], ["logout"]):
        result = run_cli(args)
        assert result.returncode == 1, args
        assert f"X The config file {config_path} is not valid TOML (line " in result.stderr
        assert "bbwizard won't overwrite it" in result.stderr
        assert ACCESS not in result.stderr and "unterminated" not in result.stderr
        assert config_path.read_bytes() == broken
    assert len(list(config_path.parent.glob("config.toml.corrupt-*"))) == 1


def test_logout_in_a_read_only_folder_loses_nothing(run_cli, config_path) -> None:
    import shutil
    import subprocess

    _save(config_path)
    before = config_path.read_bytes()
    folder = config_path.parent
    if os.geteuid() != 0:
        folder.chmod(0o500)
        undo = lambda: folder.chmod(0o700)  # noqa: E731
    elif shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        undo = lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)  # noqa: E731
    else:
        pytest.skip("root without chattr: can't make a folder read-only")
    try:
        result = run_cli(["logout"])
    finally:
        undo()
    assert result.returncode == 1
    assert f"X bbwizard can't write in {folder} (" in result.stderr
    assert "so nothing was saved and the existing config was left as it was." in result.stderr
    assert config_path.read_bytes() == before


def test_secrets_are_never_command_line_arguments(run_cli) -> None:
    for flag in ("--secret", "--client-secret"):
        result = run_cli(["login", "--key", "K", flag, "hunter2-secret-value"])
        assert result.returncode == 2
        assert result.stderr == (
            "X bbwizard never takes the secret as an argument (it would stay in your shell history and the process "
            "list). Pass --secret-stdin and write it on stdin, or leave it out to be asked.\n"
        )
