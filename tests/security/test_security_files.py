"""The config folder turns read-only (a careless `chmod a-w`, a full or read-only mount) between
two runs. A refresh token rotates and a code works once: neither may be spent on a pair that
can't be saved, or the person is signed out for good once the old token's grace period ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from bbwizard.config import ConfigStore, utc_now


@contextlib.contextmanager
def read_only(folder: Path):
    """Unwritable for real: chmod for a normal user; root ignores modes, so chattr +i there."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)
        return
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("root on a filesystem without chattr: can't make a folder read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def _cant_write(folder: Path) -> str:
    return f"X bbwizard can't write in {folder} ("


@pytest.mark.parametrize("command", [["token"], ["credential", "get"]])
def test_a_read_only_folder_spends_no_refresh_token(emulator, signed_in, bbw, config_file, command):
    store, before = signed_in(emulator, expired=True)
    saved = config_file.read_bytes()
    emulator.stats.reset()
    request = f"protocol=http\nhost={emulator.git_host}\n\n" if command[0] == "credential" else ""
    with read_only(config_file.parent):
        done = bbw(*command, input=request)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    if command[0] == "credential":
        assert f"bbwizard: bbwizard can't write in {config_file.parent} (" in done.stderr
    else:
        assert _cant_write(config_file.parent) in done.stderr
    assert "so nothing was saved and the existing config was left as it was" in done.stderr
    assert emulator.stats.grants["refresh_token"] == 0  # the refresh token was not spent
    assert config_file.read_bytes() == saved
    # Writable again: the same refresh token still works, even with no grace period at all.
    emulator.refresh_grace = 0
    again = bbw("token")
    assert again.returncode == 0, again.stderr
    assert emulator.token_info(again.stdout.strip())["expired"] is False
    assert ConfigStore().get("work").refresh_token != before.refresh_token


def test_a_read_only_folder_still_gives_a_token_that_is_only_expiring(emulator, signed_in, bbw, config_file):
    store, before = signed_in(emulator)
    profile = store.get("work")
    profile.expires_at = utc_now() + timedelta(minutes=2)  # inside the refresh-early window
    store.save(profile)
    with read_only(config_file.parent):
        done = bbw("token")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == before.access_token.reveal()
    assert emulator.stats.grants["refresh_token"] == 0


def test_login_with_a_read_only_folder_stops_before_the_browser(emulator, signed_in, bbw, config_file):
    signed_in(emulator)  # an earlier profile, so the folder exists
    saved = config_file.read_bytes()
    emulator.stats.reset()
    args = ["login", "--profile", "second", "--key", "K", "--secret-stdin", "--site-url", emulator.site_url,
            "--api-url", emulator.api_url, "--callback-url", "http://localhost:8976/", "--paste", "--no-browser"]
    with read_only(config_file.parent):
        done = bbw(*args, input="some-consumer-secret\nhttp://localhost:8976/?code=abc&state=x\n")
    assert done.returncode == 1, done.stderr
    assert _cant_write(config_file.parent) in done.stderr
    assert "Open this address" not in done.stderr  # no browser step, no code spent
    assert emulator.stats.count("/site/oauth2/access_token") == 0
    assert config_file.read_bytes() == saved
    assert "some-consumer-secret" not in done.stderr


def test_ensure_writable_leaves_nothing_behind(sec_env, config_file):
    store = ConfigStore()
    store.ensure_writable()
    assert config_file.parent.is_dir()
    assert list(config_file.parent.iterdir()) == []
    assert oct(config_file.parent.stat().st_mode & 0o777) == "0o700"


def test_a_value_toml_cant_hold_is_a_sentence_with_no_secret_in_the_crash_report(
    emulator, signed_in, config_file, textual_traceback, secret_pieces
):
    from bbwizard.errors import ConfigError

    store, profile = signed_in(emulator)
    saved = config_file.read_bytes()
    profile.clone_dir = Path("/somewhere")  # a caller's slip: a Path where the file wants a string
    with pytest.raises(ConfigError) as caught:
        store.save(profile)
    assert str(caught.value).startswith(f"bbwizard can't save {config_file}: a profile holds a value TOML can't store (")
    assert str(caught.value).endswith("Nothing was written; the file is as it was.")
    assert config_file.read_bytes() == saved
    report = textual_traceback(caught.value)
    assert "_write" in report  # bbwizard's frames were rendered, locals and all
    for piece in secret_pieces(profile.client_secret, profile.access_token, profile.refresh_token):
        assert piece not in report, f"{piece!r} shows in the crash report"


def test_a_naive_expiry_from_a_caller_does_not_show_secrets_either(sec_env, textual_traceback, secret_pieces):
    from bbwizard.config import Profile
    from bbwizard.secret import Secret

    profile = Profile(name="work", client_id="K", client_secret=Secret("consumer-secret-abcdef123"),
                      access_token=Secret("access-token-abcdef12345"), refresh_token=Secret("refresh-token-abcdef1234"))
    profile.expires_at = "tomorrow"  # not a datetime: a bug in a caller, met at save time
    try:
        ConfigStore().save(profile)
    except Exception as error:  # whatever it is, its report must not hold a secret
        report = textual_traceback(error)
    else:
        pytest.fail("saving a string as expires_at should fail")
    assert "_profile_to_table" in report
    for piece in secret_pieces(profile.client_secret, profile.access_token, profile.refresh_token):
        assert piece not in report, f"{piece!r} shows in the crash report"


def test_a_folder_others_can_change_is_warned_about(emulator, signed_in, bbw, config_file):
    signed_in(emulator)
    folder = config_file.parent
    folder.chmod(0o777)
    try:
        done = bbw("status")
        sticky = None
        folder.chmod(0o1777)  # like /tmp: others can't rename or remove what is ours
        sticky = bbw("status")
    finally:
        folder.chmod(0o700)
    assert done.returncode == 0, done.stderr
    assert (f"! The folder {folder} can be changed by other users (mode 777): they could swap the config file "
            f"for one of their own. Run: chmod 700 {folder}") in done.stderr
    assert "can be changed by other users" not in sticky.stderr
    quiet = bbw("status")
    assert "can be changed by other users" not in quiet.stderr and "can be read by other users" not in quiet.stderr
