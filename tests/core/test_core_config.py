"""Profiles on disk: shape, modes, atomic saves, corrupt files, warnings, read-only folders."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bbwizard.config import ConfigStore, Profile, UserInfo, utc_now
from bbwizard.errors import ConfigError, SignInRequired, UsageError
from bbwizard.secret import Secret


def _profile(name: str = "work", token: str = "access-token-value-1", refresh: str = "refresh-token-value-1") -> Profile:
    return Profile(
        name=name,
        client_id="consumer-key-1",
        client_secret=Secret("consumer-secret-value"),
        callback_url="http://localhost:8976/",
        site_url="http://127.0.0.1:7990",
        api_url="http://127.0.0.1:7990/2.0",
        access_token=Secret(token),
        refresh_token=Secret(refresh),
        expires_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        scopes=["account", "repository"],
        user=UserInfo("Alice Liddell", "alice", "{u-1}", "557058:1"),
        clone_dir="/tmp/clones",
        workspaces=["acme"],
    )


def test_a_profile_round_trips_with_every_field(config_path: Path) -> None:
    store = ConfigStore(config_path)
    store.save(_profile())
    loaded = ConfigStore(config_path).get("work")
    assert loaded == _profile()
    assert isinstance(loaded.access_token, Secret) and loaded.access_token.reveal() == "access-token-value-1"
    assert loaded.expires_at.tzinfo is not None and loaded.expires_at.utcoffset() == timedelta(0)
    assert loaded.git_host == "127.0.0.1:7990"
    text = config_path.read_text()
    assert text.startswith("version = 1")
    assert 'default = "work"' in text


def test_the_config_path_comes_from_BBWIZARD_CONFIG(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BBWIZARD_CONFIG", str(config_path))
    assert ConfigStore().path == config_path


def test_secrets_never_show_in_a_profile_repr() -> None:
    shown = repr(_profile())
    for value in ("access-token-value-1", "refresh-token-value-1", "consumer-secret-value"):
        assert value not in shown


def test_folder_and_file_are_created_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "a" / "bbwizard" / "config.toml"
    old = os.umask(0)
    try:
        ConfigStore(path).save(_profile())
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((path.parent / "config.toml.lock").stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_saving_one_profile_keeps_the_others_and_the_default(config_path: Path) -> None:
    store = ConfigStore(config_path)
    store.save(_profile("work"))
    store.save(_profile("home", token="access-token-home"))
    assert sorted(store.load()) == ["home", "work"]
    assert store.default_name == "work"
    assert store.get().name == "work"
    store.set_default("home")
    assert store.get().name == "home"
    assert store.delete("home") is True
    assert store.delete("home") is False
    assert store.get().name == "work"


def test_asking_for_a_missing_profile_says_how_to_sign_in(config_path: Path) -> None:
    store = ConfigStore(config_path)
    with pytest.raises(SignInRequired, match=r"You're not signed in yet\. Run: bbwizard login"):
        store.get()
    store.save(_profile("work"))
    with pytest.raises(SignInRequired, match=r"There is no profile named 'nope'\. Run: bbwizard login --profile nope"):
        store.get("nope")


def test_several_profiles_and_no_default_ask_for_profile(config_path: Path) -> None:
    config_path.parent.mkdir(mode=0o700)
    config_path.write_text('version = 1\n[profiles.a]\nclient_id = "k"\n[profiles.b]\nclient_id = "k"\n')
    with pytest.raises(UsageError, match=r"several profiles \(a, b\) and no default: choose one with --profile NAME"):
        ConfigStore(config_path).get()


def test_a_bad_profile_name_is_refused(config_path: Path) -> None:
    with pytest.raises(UsageError, match="can't name a profile"):
        ConfigStore(config_path).save(_profile("../evil"))


def test_token_state_and_refreshability() -> None:
    now = utc_now()
    profile = _profile()
    profile.expires_at = now + timedelta(hours=1)
    assert profile.token_state(now) == "fresh"
    profile.expires_at = now + timedelta(minutes=2)
    assert profile.token_state(now) == "expiring"
    profile.expires_at = now - timedelta(seconds=1)
    assert profile.token_state(now) == "expired" and profile.can_refresh
    profile.refresh_token = None
    assert profile.token_state(now) == "expired" and not profile.can_refresh
    signed_out = profile.signed_out()
    assert signed_out.token_state(now) == "signed_out" and not signed_out.can_refresh
    assert signed_out.client_secret == profile.client_secret


def test_git_host_drops_default_ports() -> None:
    assert Profile("p", "k").git_host == "bitbucket.org"
    assert Profile("p", "k", site_url="https://bitbucket.org:443/").git_host == "bitbucket.org"
    assert Profile("p", "k", site_url="http://127.0.0.1:8080").git_host == "127.0.0.1:8080"


# --- a file that doesn't parse ------------------------------------------------------------------


def test_a_corrupt_file_is_kept_aside_never_overwritten(config_path: Path) -> None:
    store = ConfigStore(config_path)
    store.save(_profile())
    broken = config_path.read_bytes().replace(b"[profiles.work.user]", b"[profiles.work.user")
    config_path.write_bytes(broken)

    with pytest.raises(ConfigError) as caught:
        store.load()
    message = str(caught.value)
    assert f"The config file {config_path} is not valid TOML (line " in message
    assert ", column " in message
    assert "bbwizard won't overwrite it: fix that line, or move the file away to start over." in message
    for secret in ("access-token-value-1", "consumer-secret-value", "profiles.work.user"):
        assert secret not in message  # line and column, never the content

    copies = list(config_path.parent.glob("config.toml.corrupt-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == broken
    assert stat.S_IMODE(copies[0].stat().st_mode) == 0o600
    assert f"A copy is kept at {copies[0]}" in message

    with pytest.raises(ConfigError):  # a save refuses too, and the file stays as it was
        store.save(_profile("other"))
    assert config_path.read_bytes() == broken
    assert len(list(config_path.parent.glob("config.toml.corrupt-*"))) == 1  # no copy per attempt


def test_a_file_that_is_not_utf8_is_reported_with_its_position(config_path: Path) -> None:
    config_path.parent.mkdir(mode=0o700)
    config_path.write_bytes(b'version = 1\nx = "\xff"\n')
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(line 2, column 6\)"):
        ConfigStore(config_path).load()


def test_a_newer_format_is_refused_not_rewritten(config_path: Path) -> None:
    config_path.parent.mkdir(mode=0o700)
    config_path.write_text("version = 99\n")
    with pytest.raises(ConfigError, match=r"written by a newer bbwizard \(format 99; this one reads 1\)"):
        ConfigStore(config_path).save(_profile())
    assert config_path.read_text() == "version = 99\n"


def test_a_bad_value_names_the_profile_and_the_key(config_path: Path) -> None:
    config_path.parent.mkdir(mode=0o700)
    config_path.write_text('version = 1\n[profiles.work]\nclient_id = "k"\nscopes = 3\n')
    with pytest.raises(ConfigError, match=r"bad value in profile 'work': scopes should be a list of strings"):
        ConfigStore(config_path).load()


# --- warnings -----------------------------------------------------------------------------------


def test_a_file_others_can_read_is_warned_about(config_path: Path) -> None:
    store = ConfigStore(config_path)
    store.save(_profile())
    assert store.warnings() == []
    config_path.chmod(0o644)
    assert store.warnings() == [
        f"The config file {config_path} can be read by other users (mode 644); it holds secrets. Run: chmod 600 {config_path}"
    ]
    store.save(_profile(token="access-token-value-2"))  # a save writes a fresh 0600 file
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root")
def test_a_file_someone_else_owns_is_warned_about(config_path: Path) -> None:
    store = ConfigStore(config_path)
    store.save(_profile())
    os.chown(config_path, 65534, 65534)
    assert any(
        w.startswith(f"The config file {config_path} belongs to another user (uid 65534).") for w in store.warnings()
    )


# --- a folder bbwizard may not write ------------------------------------------------------------


class _ReadOnlyFolder:
    """Make a folder unwritable for real: chmod for a normal user; root ignores modes, so there
    the folder is made immutable (chattr +i) when the filesystem allows it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.how: str | None = None

    def __enter__(self) -> _ReadOnlyFolder:
        if os.geteuid() != 0:
            self.folder.chmod(0o500)
            self.how = "chmod"
        elif shutil.which("chattr") and subprocess.run(["chattr", "+i", str(self.folder)], capture_output=True).returncode == 0:
            self.how = "chattr"
        else:
            pytest.skip("running as root on a filesystem without chattr: can't make a folder read-only")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.how == "chmod":
            self.folder.chmod(0o700)
        elif self.how == "chattr":
            subprocess.run(["chattr", "-i", str(self.folder)], check=True)


def test_a_read_only_folder_is_a_clear_error_and_nothing_is_lost(config_path: Path) -> None:
    store = ConfigStore(config_path)
    store.save(_profile())
    before = config_path.read_bytes()
    with _ReadOnlyFolder(config_path.parent):
        with pytest.raises(ConfigError) as caught:
            ConfigStore(config_path).save(_profile(token="access-token-value-2"))
        assert ConfigStore(config_path).get("work").access_token == Secret("access-token-value-1")
    message = str(caught.value)
    assert message.startswith(f"bbwizard can't write in {config_path.parent} (")
    assert "so nothing was saved and the existing config was left as it was" in message
    assert f"chmod u+w {config_path.parent}" in message and "BBWIZARD_CONFIG" in message
    assert config_path.read_bytes() == before
    assert not [p for p in config_path.parent.iterdir() if p.name.endswith(".tmp")]
