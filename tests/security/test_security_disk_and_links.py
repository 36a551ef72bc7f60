"""Defects 3 and 5 of the hardening review: a full disk during a refresh, and a symlinked config.

3. The "can we save?" probe wrote an empty file, which a full disk accepts: the refresh token was
   spent, the save failed, the new pair was lost. The probe now writes as much as the new file can
   take; a failure before the refresh spends nothing and says "disk full" / "file too large".
   Tried with RLIMIT_FSIZE in a subprocess (SIGXFSZ ignored, so write() fails with EFBIG) and on a
   small tmpfs when this machine lets us mount one.
5. A symlinked config was replaced by a regular file, and `logout --forget-consumer` then said the
   secrets were gone while the link's target still held them. Saves now go through the link
   (temp file beside the target, renamed onto it); the lock lives beside the target.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bbwizard.config import ConfigStore, Profile
from bbwizard.secret import Secret


def a_profile(name: str = "work") -> Profile:
    return Profile(name=name, client_id="key", client_secret=Secret("a-consumer-secret"))


# --- 5: symlinks ---------------------------------------------------------------------------------


@pytest.fixture
def linked(tmp_path) -> tuple[Path, Path]:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir(mode=0o700)
    target = dotfiles / "bbwizard.toml"
    folder = tmp_path / "config"
    folder.mkdir(mode=0o700)
    link = folder / "config.toml"
    ConfigStore(target).save(a_profile("first"))
    link.symlink_to(target)
    return link, target


def test_a_save_writes_through_the_link(linked) -> None:
    link, target = linked
    store = ConfigStore(link)
    store.save(a_profile("second"))
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert set(ConfigStore(target).load()) == {"first", "second"}
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert not list(link.parent.glob(".config.toml.*.tmp")) and not list(target.parent.glob("*.tmp"))


def test_the_lock_is_beside_the_target_so_two_links_share_it(linked, tmp_path) -> None:
    link, target = linked
    other = tmp_path / "elsewhere.toml"
    other.symlink_to(target)
    assert ConfigStore(link).lock_path == ConfigStore(other).lock_path == target.with_name("bbwizard.toml.lock")
    with ConfigStore(link).lock():
        assert target.with_name("bbwizard.toml.lock").exists()
        assert not link.with_name("config.toml.lock").exists()


def test_forget_consumer_through_a_link_removes_the_secret_from_the_target(linked, bbw, sec_env) -> None:
    link, target = linked
    result = bbw("logout", "--profile", "first", "--forget-consumer", env={"BBWIZARD_CONFIG": str(link)})
    assert result.returncode == 0, result.stderr
    assert "a-consumer-secret" not in target.read_text()
    assert link.is_symlink()
    assert "first" not in ConfigStore(target).load()


# --- 3: a full disk ------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from bbwizard.config import ConfigStore
    from bbwizard.errors import ConfigError
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # write() then fails with EFBIG
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        ConfigStore(sys.argv[1]).ensure_writable()
    except ConfigError as error:
        print("REFUSED", error.message)
    else:
        print("ACCEPTED")
    """
)


def probe_under_limit(path: Path, limit: int) -> str:
    result = subprocess.run([sys.executable, "-c", CHILD, str(path), str(limit)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_probe_proves_room_for_a_whole_file(tmp_path) -> None:
    path = tmp_path / "config.toml"
    ConfigStore(path).save(a_profile())
    # An empty probe fits under any limit; the probe of a whole new file does not.
    answer = probe_under_limit(path, path.stat().st_size + 100)
    assert answer.startswith("REFUSED"), answer
    assert "file is too large" in answer and "chmod" not in answer
    assert probe_under_limit(path, 1024 * 1024).startswith("ACCEPTED")
    assert not list(tmp_path.glob(".config.toml.*.tmp"))  # the probe is removed either way


def test_a_refresh_on_a_full_file_limit_spends_nothing(emulator, signed_in, sec_env, config_file) -> None:
    """The whole road (`bbwizard token` with an expired token) under a file-size limit: the refresh
    token is not spent, the saved pair is the one that still works, and the sentence names the limit."""
    store, profile = signed_in(emulator, expired=True)
    child = textwrap.dedent(
        f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({config_file.stat().st_size + 100}, {config_file.stat().st_size + 100}))
        from bbwizard.cli import main
        sys.exit(main(["token"]))
        """
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=sec_env, timeout=120)
    assert result.returncode != 0
    assert "too large" in result.stderr and "chmod" not in result.stderr
    assert emulator.stats.grants["refresh_token"] == 0
    assert ConfigStore().get().refresh_token == profile.refresh_token


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"can't mount a small tmpfs here ({done.stderr.strip() or done.returncode})")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_tmpfs_is_named_disk_full_before_the_refresh(small_tmpfs) -> None:
    path = small_tmpfs / "config.toml"
    ConfigStore(path).save(a_profile())
    filler = small_tmpfs / "filler"
    with open(filler, "wb", buffering=0) as handle:  # fill the disk, leaving less than a new file needs
        try:
            while True:
                handle.write(b"x" * 4096)
        except OSError:
            pass
    from bbwizard.errors import ConfigError

    with pytest.raises(ConfigError, match="disk is full") as refused:
        ConfigStore(path).ensure_writable()
    assert "chmod" not in refused.value.message
    assert ConfigStore(path).get("work").client_id == "key"  # the file is as it was
