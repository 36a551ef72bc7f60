"""A single clone into a destination it can't make says so in a sentence, as ``--into`` does:
never "Unexpected error … This is a bug in bbwizard"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def test_a_destination_under_a_file_is_a_sentence(emulator, sign_in, run_bbwizard, tmp_path):
    sign_in(emulator)
    (tmp_path / "notes.txt").write_text("a file\n")
    dest = tmp_path / "notes.txt" / "webapp"
    done = run_bbwizard("clone", "acme/webapp", str(dest))
    assert done.returncode == 1, done.stderr
    assert f"X Can't clone into {dest}: {tmp_path / 'notes.txt'} is a file, so no folder can be made under it." in done.stderr
    assert "Unexpected error" not in done.stderr and "bug in bbwizard" not in done.stderr
    assert (tmp_path / "notes.txt").read_text() == "a file\n"  # nothing lost
    assert emulator.stats.count("/site/oauth2/access_token") == 0


def test_a_folder_that_cannot_be_made_is_a_sentence(emulator, sign_in, run_bbwizard):
    # Under /sys even root can't make a folder, though access() says it may.
    if not Path("/sys/kernel").is_dir():
        pytest.skip("needs Linux's /sys")
    sign_in(emulator)
    dest = "/sys/bbwizard-clone-test/webapp"
    done = run_bbwizard("clone", "acme/webapp", dest)
    assert done.returncode == 1, done.stderr
    assert f"X Can't make the folder {dest} (" in done.stderr
    assert "Choose another destination." in done.stderr
    assert "Unexpected error" not in done.stderr and "bug in bbwizard" not in done.stderr


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_a_folder_without_write_access_is_a_sentence(emulator, sign_in, run_bbwizard, tmp_path):
    sign_in(emulator)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        done = run_bbwizard("clone", "acme/webapp", str(locked / "webapp"))
    finally:
        locked.chmod(0o755)
    assert done.returncode == 1, done.stderr
    assert f"X Can't clone into {locked / 'webapp'}: You can't make folders in {locked}." in done.stderr
    assert "Unexpected error" not in done.stderr
