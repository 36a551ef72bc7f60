"""Ctrl+C while `bbwizard login` waits for the browser: exit 130, the callback port is free
again at once, nothing is saved, and the consumer secret is nowhere in the output.

The kernel hands a Ctrl+C to any thread of the process that doesn't block it; when one of the
listener's threads got it, the main thread, blocked in one long wait, didn't notice until the wait
ended (five minutes by default). The listener's threads now block it: the test reads their
signal masks in /proc, then presses Ctrl+C, five times over."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET

HANG_GUARD = 120
pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads signal masks in Linux's /proc")


def _helper_threads_block_ctrl_c(pid: int) -> None:
    """Every thread but the main one blocks SIGINT, so the kernel can only hand it to the main one."""
    threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid]
    assert threads, "the listener runs no thread"
    for tid in threads:
        try:
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except FileNotFoundError:  # a request's thread that has just ended
            continue
        blocked = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)
        assert blocked & (1 << (signal.SIGINT - 1)), f"thread {tid} may receive Ctrl+C"


@pytest.mark.parametrize("attempt", range(5))  # the thread the kernel picks varies from run to run
def test_ctrl_c_while_waiting_for_the_browser_frees_the_port_and_saves_nothing(emulator, sec_env, config_file, attempt):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    login = subprocess.Popen(
        [sys.executable, "-m", "bbwizard", "login", "--key", DEMO_CONSUMER_KEY, "--secret-stdin", "--no-browser",
         "--site-url", emulator.site_url, "--api-url", emulator.api_url, "--callback-url", f"http://localhost:{port}/", "--timeout", "900"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sec_env,
    )
    login.stdin.write(DEMO_CONSUMER_SECRET + "\n")
    login.stdin.flush()
    seen = []
    while True:
        line = login.stderr.readline()
        assert line, "".join(seen)
        seen.append(line)
        if line.startswith("Waiting for the browser to come back to"):
            break
    with socket.socket() as busy:  # the listener holds the port while it waits
        assert busy.connect_ex(("127.0.0.1", port)) == 0
    _helper_threads_block_ctrl_c(login.pid)
    login.send_signal(signal.SIGINT)
    try:
        out, err = login.communicate(timeout=HANG_GUARD)  # a guard: the login's own timeout is longer
    finally:
        if login.poll() is None:
            login.kill()
            login.wait()
    assert login.returncode == 130, err
    with socket.socket() as again:  # free at once: a new sign-in can listen there
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the listener does; a live listener still blocks it
        again.bind(("127.0.0.1", port))
        again.listen()
    assert not config_file.exists()
    text = "".join(seen) + out + err
    assert DEMO_CONSUMER_SECRET not in text
    assert "Traceback" not in text
