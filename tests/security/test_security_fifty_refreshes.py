"""Fifty processes refreshing one expired profile at once (security.md's bad-input list): half of
them `bbwizard token`, half git's `bbwizard credential get`. One refresh reaches Bitbucket, every
process gets the same valid token, and the file keeps the newest refresh token."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from datetime import timedelta

import pytest

from bbwizard import oauth
from bbwizard.config import ConfigStore, utc_now

TOKEN_PATH = "/site/oauth2/access_token"


@pytest.mark.slow
def test_fifty_processes_refresh_one_expired_profile_once(emulator, signed_in, sec_env, config_file):
    store, before = signed_in(emulator, expired=True)
    emulator.stats.reset()
    request = f"protocol=http\nhost={emulator.git_host}\n\n"
    processes = []
    for index in range(50):
        args = ["token"] if index % 2 == 0 else ["credential", "get"]
        processes.append(
            subprocess.Popen([sys.executable, "-m", "bbwizard", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=sec_env)
        )
    outputs = [p.communicate(input="" if i % 2 == 0 else request, timeout=600) for i, p in enumerate(processes)]
    assert [p.returncode for p in processes] == [0] * 50, [err for _, err in outputs if err]
    assert all(err == "" for _, err in outputs), [err for _, err in outputs if err]
    tokens = set()
    for index, (out, _) in enumerate(outputs):
        if index % 2 == 0:
            tokens.add(out.strip())
        else:
            answer = dict(line.split("=", 1) for line in out.splitlines())
            assert answer["username"] == "x-token-auth"
            tokens.add(answer["password"])
    assert emulator.stats.grants["refresh_token"] == 1
    assert emulator.stats.count(TOKEN_PATH) == 1
    assert len(tokens) == 1
    (token,) = tokens
    assert token != before.access_token.reveal()
    assert emulator.token_info(token)["expired"] is False
    # Nothing lost: the file parses, holds that token, and its refresh token is the newest one
    # (an older one stops working once the grace period is over: make it over, then refresh).
    saved_table = tomllib.loads(config_file.read_text(encoding="utf-8"))["profiles"]["work"]
    assert saved_table["access_token"] == token
    emulator.refresh_grace = 0
    saved = ConfigStore().get("work")
    saved.expires_at = utc_now() - timedelta(seconds=1)
    ConfigStore().save(saved)
    assert oauth.ensure_fresh(ConfigStore(), "work").token_state() == "fresh"
    assert emulator.stats.grants["refresh_token"] == 2
