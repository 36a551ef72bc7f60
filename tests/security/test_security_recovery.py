"""Defect 3, second half: the save fails after the refresh was spent.

The probe before a refresh proves there is room for a whole new file, but the disk can fill between
the probe and the save (another program's log), or the new file can outgrow the room (Bitbucket's
tokens got longer). The rotated pair is then kept in ``config.toml.recovery-NAME`` beside the config
(0600, atomic), the sentence says where, and the next run merges it into the config, saves, and
only then removes it. The emulator rotates refresh tokens with no grace, so the old refresh token
is dead once the new pair exists: only the kept pair can go on.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bbwizard import oauth
from bbwizard.config import _SAVE_ROOM, ConfigStore, Profile
from bbwizard.errors import SignInRequired
from bbwizard.secret import Secret

TOKEN_PATH = "/site/oauth2/access_token"


def a_large_config(emu, path: Path, save_signed_in) -> Profile:
    """Profile ``work`` signed in with an expired token, beside three other consumers whose long
    secrets make the file much larger than one profile's pair."""
    store = ConfigStore(path)
    for n in range(3):
        store.save(Profile(name=f"other{n}", client_id=f"key{n}", client_secret=Secret(f"{n}" * 6000)))
    expired = datetime.now(timezone.utc) - timedelta(seconds=60)
    return save_signed_in(emu, store, name="work", expires_at=expired, make_default=True)


def bbwizard(args: list[str], env: dict[str, str], config: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bbwizard", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**env, "BBWIZARD_CONFIG": str(config)}, **popen,
    )


def check_the_kept_pair_is_used_next(emu, config: Path, env: dict[str, str], old: Profile, kept_in: Path) -> None:
    recovery = config.with_name("config.toml.recovery-work")
    assert kept_in == recovery
    assert recovery.stat().st_mode & 0o777 == 0o600
    assert not list(config.parent.glob(".*.tmp"))
    assert ConfigStore(config).get("work").refresh_token == old.refresh_token  # the config as it was
    # The old refresh token is dead at Bitbucket: without the kept pair, the sign-in would be over.
    with pytest.raises(SignInRequired):
        oauth.refresh(old, transport=None)
    assert emu.stats.grants["refresh_token"] == 1

    # The next run, with room again: the kept token, merged into the config, the file removed.
    process = bbwizard(["token"], env, config)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    token = out.strip()
    assert emu.token_info(token)["expired"] is False
    assert emu.stats.grants["refresh_token"] == 1  # nothing spent: the kept token is fresh
    assert not recovery.exists()
    saved = ConfigStore(config).get("work")
    assert saved.access_token.reveal() == token
    assert set(ConfigStore(config).load()) == {"work", "other0", "other1", "other2"}
    # And the kept refresh token is the live one: the next refresh works with it.
    fresh = oauth.ensure_fresh(ConfigStore(config), "work", force=True, refused=saved.access_token)
    assert emu.stats.grants["refresh_token"] == 2
    assert fresh.access_token.reveal() != token and fresh.token_state() == "fresh"


def kept_in(stderr: str, why: str) -> Path:
    start = f"X Bitbucket gave a new token but the config could not be saved ({why}); it is kept in "
    assert stderr.startswith(start), stderr
    path, _, rest = stderr[len(start):].partition(" and used on the next run.")
    assert rest.strip(), stderr  # the hint follows
    assert "chmod" not in stderr
    return Path(path)


def test_a_new_token_that_outgrows_the_file_limit_is_kept_and_used_next(
    emulator_factory, sec_env, tmp_path, save_signed_in
) -> None:
    emu = emulator_factory(refresh_grace=0)
    config = tmp_path / "cfg" / "config.toml"
    old = a_large_config(emu, config, save_signed_in)
    limit = config.stat().st_size + _SAVE_ROOM + 512  # the probe fits
    emu.access_token_length = _SAVE_ROOM + 8000  # the new pair does not fit the config; alone it does

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    process = bbwizard(["token"], sec_env, config, preexec_fn=limited)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1 and out == ""
    where = kept_in(err, "file too large")
    emu.access_token_length = 2900
    check_the_kept_pair_is_used_next(emu, config, sec_env, old, where)


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"can't mount a small tmpfs here ({done.stderr.strip() or done.returncode})")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_disk_that_fills_during_the_refresh_keeps_the_pair_for_the_next_run(
    emulator_factory, sec_env, small_tmpfs, save_signed_in
) -> None:
    emu = emulator_factory(refresh_grace=0)
    config = small_tmpfs / "config.toml"
    old = a_large_config(emu, config, save_signed_in)
    held = emu.hold(TOKEN_PATH, method="POST")
    process = bbwizard(["token"], sec_env, config)
    try:
        assert held.wait_arrived(60)  # the probe passed; the refresh is at Bitbucket
        filler = small_tmpfs / "filler"
        with open(filler, "wb", buffering=0) as handle:  # another program fills the disk...
            try:
                while True:
                    handle.write(b"x" * 4096)
            except OSError:
                pass
        # ...leaving two pages: room for the pair alone, not for the whole config.
        os.truncate(filler, filler.stat().st_size - 2 * 4096)
    finally:
        held.release()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1 and out == ""
    where = kept_in(err, "disk full")
    filler.unlink()
    check_the_kept_pair_is_used_next(emu, config, sec_env, old, where)
