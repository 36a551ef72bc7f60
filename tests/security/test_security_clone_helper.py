"""The clone's credential FIFO (git.CredentialPipe), reviewed as an attacker and a careless user:
who can open it, a reader that dies, an answer that can't be given, a token that would smuggle
lines into git's credential protocol, and cleanup whatever happens."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bbwizard import git
from bbwizard.git import clone as git_clone
from bbwizard.config import Profile
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET
from bbwizard.errors import GitError, ProtocolError
from bbwizard.secret import Secret

pytestmark = pytest.mark.skipif(not git.CredentialPipe.available(), reason="FIFOs are POSIX only")

# A hang guard, not a timing assertion: without it a regression would stall the whole suite.
HANG_GUARD = 120


def _helper(pipe: git.CredentialPipe, action: str = "get") -> subprocess.CompletedProcess:
    # Exactly how git runs a `!` helper: through the shell, with the action appended.
    return subprocess.run(["sh", "-c", f"{pipe.helper[1:]} {action}"], capture_output=True, text=True, timeout=HANG_GUARD)


def test_only_its_owner_can_reach_the_fifo_and_nothing_is_left_after_close():
    pipe = git.CredentialPipe(lambda: "username=x-token-auth\npassword=p\n")
    folder = Path(pipe.path).parent
    try:
        for path, mode in ((folder, 0o700), (Path(pipe.path), 0o600), (Path(pipe.done_path), 0o600)):
            info = path.lstat()
            assert info.st_uid == os.geteuid()
            assert stat.S_IMODE(info.st_mode) & 0o077 == 0, f"{path} is open to others: {oct(info.st_mode)}"
            assert stat.S_IMODE(info.st_mode) <= mode
        assert stat.S_ISFIFO(Path(pipe.path).lstat().st_mode)
        assert "password" not in pipe.helper and "p\n" not in pipe.helper  # a command, never the answer
    finally:
        pipe.close()
    assert not folder.exists()
    assert not pipe._thread.is_alive()


def test_an_answer_that_fails_does_not_leave_git_waiting():
    calls = []

    def answer() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise GitError("Refusing to answer git with a value that holds a newline or NUL.")
        return "username=x-token-auth\npassword=second\n"

    pipe = git.CredentialPipe(answer)
    try:
        first = _helper(pipe)
        assert first.returncode == 0 and first.stdout == ""  # git hears nothing and fails on its own
        assert isinstance(pipe.error, GitError)
        assert pipe._thread.is_alive()  # still serving: the handshake finished
        assert _helper(pipe).stdout == "username=x-token-auth\npassword=second\n"
    finally:
        pipe.close()
    assert not pipe._thread.is_alive()


def test_a_reader_that_dies_midway_does_not_keep_the_thread_alive():
    pipe = git.CredentialPipe(lambda: "username=x-token-auth\npassword=p\n")
    folder = Path(pipe.path).parent
    # A reader that opens the FIFO and goes away without the second half of the handshake
    # (git killed by Ctrl+C while its helper runs).
    reader = subprocess.Popen(["sh", "-c", f"exec 3<'{pipe.path}'; exit 0"])
    assert reader.wait(timeout=HANG_GUARD) == 0
    pipe.close()
    assert not pipe._thread.is_alive()
    assert not folder.exists()


def test_no_fifo_support_falls_back_and_leaves_no_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)

    def no_fifo(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "mkfifo", no_fifo)
    with pytest.raises(PermissionError):
        git.CredentialPipe(lambda: "")
    assert list(tmp_path.iterdir()) == []  # the private folder went with the failure


def _profile(emu, token: str) -> Profile:
    return Profile(
        name="work",
        client_id=DEMO_CONSUMER_KEY,
        client_secret=Secret(DEMO_CONSUMER_SECRET),
        site_url=emu.site_url,
        api_url=emu.api_url,
        access_token=Secret(token),
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
        scopes=["account", "repository"],
    )


async def test_a_token_with_a_line_break_ends_the_clone_with_a_sentence(emulator, sec_env):
    # A token that would add `host=`/`password=` lines of its own to git's credential answer.
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"] + "\nhost=evil.example\npassword=x"
    dest = Path.cwd() / "webapp"
    before = _pipe_folders()
    with pytest.raises(GitError) as caught:
        await asyncio.wait_for(git.clone_repository(_profile(emulator, token), "acme", "webapp", dest), HANG_GUARD)
    assert str(caught.value) == "Refusing to answer git with a value that holds a newline or NUL."
    assert not dest.exists()  # the folder this clone created is gone
    assert _pipe_folders() <= before  # the FIFO folder went too


def _pipe_folders() -> set[Path]:
    import tempfile

    return set(Path(tempfile.gettempdir()).glob("bbwizard-git-*"))


async def test_no_fifo_support_still_clones_through_bbwizards_own_helper(emulator, signed_in, monkeypatch):
    store, profile = signed_in(emulator)

    def no_fifo(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "mkfifo", no_fifo)
    result = await asyncio.wait_for(git.clone_repository(profile, "acme", "webapp", store=store), HANG_GUARD)
    assert result.ok and (result.path / ".git").is_dir()
    config = (result.path / ".git" / "config").read_text(encoding="utf-8")
    assert profile.access_token.reveal() not in config


def test_a_token_answer_with_control_characters_is_refused_at_the_source():
    from bbwizard import oauth

    for bad in ("abc\ndef-ghijkl", "abc def-ghijkl", "abc\x00def-ghijkl", "abc\rdef-ghijkl"):
        body = ('{"access_token": %s, "refresh_token": "r-123456789", "expires_in": 7200}' % _json(bad)).encode()
        with pytest.raises(ProtocolError) as caught:
            oauth.parse_token_answer(oauth._Answer(status=200, content_type="application/json", body=body))
        assert str(caught.value) == (
            "Bitbucket's token endpoint sent a token (access_token) with spaces or control characters in it, so "
            "bbwizard won't use it. Try again; if it keeps happening, check the site URL."
        )


def _json(value: str) -> str:
    import json

    return json.dumps(value)


async def test_cancel_while_git_waits_on_the_helper_leaves_nothing_behind(emulator, signed_in, monkeypatch):
    import threading

    from bbwizard.errors import CloneCancelled

    store, profile = signed_in(emulator)
    asked, release = threading.Event(), threading.Event()
    real = git_clone._pipe_answer

    def slow_answer(holder):
        answer = real(holder)

        def blocked() -> str:
            asked.set()
            release.wait(HANG_GUARD)  # the token is slow to come (a refresh in flight, say)
            return answer()

        return blocked

    monkeypatch.setattr(git_clone, "_pipe_answer", slow_answer)
    before = _pipe_folders()
    dest = Path.cwd() / "webapp"
    task = asyncio.ensure_future(git.clone_repository(profile, "acme", "webapp", dest, store=store))
    assert await asyncio.to_thread(asked.wait, HANG_GUARD)  # git is inside the helper now
    task.cancel()
    with pytest.raises(CloneCancelled) as caught:
        await task
    assert str(caught.value) == f"Cancelled the clone of acme/webapp and removed {dest}."
    assert not dest.exists()
    assert _pipe_folders() <= before
    for pattern in (str(dest), r"cat .*bbwizard-git-"):  # neither git nor its helper's `cat` survived
        leftovers = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
        assert leftovers.stdout.strip() == "", pattern
    release.set()  # the late answer finds no reader and no folder: the thread ends
    for thread in [t for t in threading.enumerate() if t.name == "bbwizard-credential-pipe"]:
        thread.join(HANG_GUARD)
        assert not thread.is_alive()


def test_a_swapped_folder_never_receives_the_answer(tmp_path):
    # In a temp folder without the sticky bit another user can rename ours and put theirs, with
    # a FIFO of their own, at its name. bbwizard's side must keep writing into its own FIFO.
    answer = "username=x-token-auth\npassword=the-token-value\n"
    pipe = git.CredentialPipe(lambda: answer)
    original = Path(pipe.path).parent
    moved = tmp_path / "moved-away"
    try:
        os.rename(original, moved)
        original.mkdir(mode=0o700)
        os.mkfifo(original / "credential", 0o600)
        trap = os.open(original / "credential", os.O_RDONLY | os.O_NONBLOCK)  # the other user's reader
        try:
            ours = subprocess.run(["cat", str(moved / "credential")], capture_output=True, text=True, timeout=HANG_GUARD)
            assert ours.stdout == answer  # our FIFO, wherever it went, still gets it
            assert os.read(trap, 4096) == b""  # the impostor got nothing
        finally:
            os.close(trap)
        subprocess.run(["sh", "-c", f": > '{moved / 'read'}'"], check=True, timeout=HANG_GUARD)  # finish the handshake
    finally:
        pipe.close()
    assert not pipe._thread.is_alive()
    assert (original / "credential").exists()  # the impostor's folder is not ours to empty
    shutil.rmtree(original)  # the test plays the impostor, so it tidies the impostor's folder
