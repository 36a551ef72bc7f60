"""The helper git runs during a clone (``bbwizard credential --profile NAME``, a process of its own),
reviewed as an attacker and a careless user: a token that would smuggle lines into git's
credential protocol, a token answer with control characters, and a clone cancelled while git
waits on its helper."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bbwizard import git
from bbwizard.config import ConfigStore, Profile
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET
from bbwizard.errors import CloneCancelled, GitError, ProtocolError
from bbwizard.secret import Secret

# A hang guard, not a timing assertion: without it a regression would stall the whole suite.
HANG_GUARD = 120


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
    profile = _profile(emulator, token)
    ConfigStore().save(profile, make_default=True)
    dest = Path.cwd() / "webapp"
    with pytest.raises(GitError) as caught:
        await asyncio.wait_for(git.clone_repository(profile, "acme", "webapp", dest), HANG_GUARD)
    assert str(caught.value) == "Refusing to answer git with a value that holds a newline or NUL."
    assert not dest.exists()  # the folder this clone created is gone


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


def _commands(pids: set[int]) -> dict[int, str]:
    found = {}
    for pid in pids:
        try:
            found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return found


async def test_cancel_while_git_waits_on_the_helper_leaves_nothing_behind(emulator, signed_in, own_processes):
    # The stored token is stale, so the helper git starts refreshes it; the token endpoint holds
    # that refresh, and git waits on its helper. (No store for the clone: it refreshes nothing
    # itself, the helper does.)
    store, profile = signed_in(emulator, expired=True)
    held = emulator.hold("/site/oauth2/access_token", method="POST")
    dest = Path.cwd() / "webapp"
    task = asyncio.ensure_future(git.clone_repository(profile, "acme", "webapp", dest))
    try:
        assert await asyncio.to_thread(held.wait_arrived, HANG_GUARD)  # the helper is inside its refresh now
        helpers = [cmd for cmd in _commands(own_processes()).values() if "credential" in cmd and "--profile work" in cmd]
        assert helpers, "git's helper is not a process of its own"
        task.cancel()
        with pytest.raises(CloneCancelled) as caught:
            await task
    finally:
        held.release()
    assert str(caught.value) == f"Cancelled the clone of acme/webapp and removed {dest}."
    assert not dest.exists()
    leftovers = {pid: cmd for pid, cmd in _commands(own_processes() - {os.getpid()}).items() if "git" in cmd or "bbwizard" in cmd}
    assert leftovers == {}  # neither git nor its helper survived
