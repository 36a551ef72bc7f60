"""When a sign-in has ended, bbwizard's credential helper tells git to stop (``quit=1``): git fails
at once with one line naming the command that fixes it, and never asks for a "Username for …"."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest

from bbwizard.config import ConfigStore, utc_now
from bbwizard.git import helper_config

FIX = "bbwizard login --profile work"


def _git_clone_with_helper(emulator, git_home, dest) -> subprocess.CompletedProcess[str]:
    """``git clone`` with bbwizard as the host's only helper, as `bbwizard setup-git` leaves it,
    run the way a person's git runs: terminal prompts allowed, but no terminal to prompt on."""
    env = {k: v for k, v in git_home.items() if k != "GIT_TERMINAL_PROMPT"}
    config = [arg for key, value in helper_config(emulator.site_url, "work") for arg in ("-c", f"{key}={value}")]
    return subprocess.run(
        ["git", *config, "clone", emulator.clone_url("acme", "webapp"), str(dest)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # no controlling terminal: a prompt would fail, never hang
    )


@pytest.fixture
def ended_sign_in(emulator, sign_in):
    """Profile 'work' with an expired token whose refresh token Bitbucket no longer accepts."""
    store, profile = sign_in(emulator)
    store.save(profile.replace(expires_at=utc_now() - timedelta(minutes=5)))
    emulator.revoke_refresh_tokens()
    return store


def _assert_git_was_told_to_quit(done: subprocess.CompletedProcess[str], dest) -> None:
    assert done.returncode != 0
    assert "Username for" not in done.stderr and "Password for" not in done.stderr
    naming = [line for line in done.stderr.splitlines() if FIX in line]
    assert len(naming) == 1, done.stderr
    assert naming[0].startswith("bbwizard: ")
    assert "told us to quit" in done.stderr  # git's own word that the helper stopped it
    assert not dest.exists()


def test_git_stops_when_the_refresh_is_refused(emulator, ended_sign_in, git_home, tmp_path) -> None:
    dest = tmp_path / "webapp"
    done = _git_clone_with_helper(emulator, git_home, dest)
    _assert_git_was_told_to_quit(done, dest)
    assert ConfigStore().get("work").refresh_refused_at is not None  # remembered for next time
    assert emulator.stats.grants["refresh_token"] == 0

    again = _git_clone_with_helper(emulator, git_home, dest)  # judged from the file this time
    _assert_git_was_told_to_quit(again, dest)
    assert "has ended: Bitbucket refused its refresh token on " in again.stderr


def test_git_stops_after_a_logout(emulator, sign_in, run_bbwizard, git_home, tmp_path) -> None:
    sign_in(emulator)
    assert run_bbwizard("logout", "--profile", "work").returncode == 0
    dest = tmp_path / "webapp"
    _assert_git_was_told_to_quit(_git_clone_with_helper(emulator, git_home, dest), dest)
