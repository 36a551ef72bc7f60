"""A careless user types `bbwizard login --secret-stdin` in a terminal and pastes the secret: it
must not be echoed (screen, scrollback, a screen share). On a terminal the flag reads it hidden."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from bbwizard.emulator import PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET

HANG_GUARD = 120


def _read_until(fd: int, needle: bytes, seen: bytearray) -> None:
    import select

    while needle not in seen:
        ready, _, _ = select.select([fd], [], [], HANG_GUARD)
        assert ready, f"no {needle!r} on the terminal: {bytes(seen)!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        assert chunk, f"the terminal closed before {needle!r}: {bytes(seen)!r}"
        seen += chunk


def test_secret_stdin_on_a_terminal_is_read_without_echo(emulator, sec_env, config_file):
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bbwizard", "login", "--profile", "work", "--key", PRIVATE_CONSUMER_KEY, "--secret-stdin",
         "--client-credentials", "--site-url", emulator.site_url, "--api-url", emulator.api_url],
        stdin=follower, stdout=follower, stderr=follower, env=sec_env, start_new_session=True,
    )
    os.close(follower)
    seen = bytearray()
    try:
        _read_until(leader, b"Consumer secret (hidden): ", seen)
        os.write(leader, PRIVATE_CONSUMER_SECRET.encode() + b"\n")
        _read_until(leader, b"Saved profile 'work'", seen)
        assert proc.wait(timeout=HANG_GUARD) == 0, bytes(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    screen = bytes(seen).decode("utf-8", "replace")
    assert PRIVATE_CONSUMER_SECRET not in screen
    assert PRIVATE_CONSUMER_SECRET[:8] not in screen
    assert config_file.exists()
