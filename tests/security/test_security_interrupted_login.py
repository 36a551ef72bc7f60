"""Ctrl+C while `bbwizard login` waits for the browser: exit 130, the callback port is free
again at once, nothing is saved, and the consumer secret is nowhere in the output.

The kernel hands a Ctrl+C to any thread of the process; when one of the listener's threads gets
it, a main thread blocked in one long wait doesn't notice until the wait ends (five minutes by
default). The test sends SIGINT to a listener thread on purpose (Linux's tgkill)."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys

import pytest

from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET

HANG_GUARD = 120
pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux's /proc and tgkill")


def _interrupt_a_listener_thread(pid: int) -> None:
    """SIGINT to a thread other than the main one (the first listener thread found)."""
    threads = sorted(int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid)
    assert threads, "the listener runs no thread"
    libc = ctypes.CDLL(None, use_errno=True)
    SYS_tgkill = {"x86_64": 234, "aarch64": 131}.get(os.uname().machine)
    if SYS_tgkill is None:
        os.kill(pid, signal.SIGINT)
        return
    assert libc.syscall(SYS_tgkill, pid, threads[0], signal.SIGINT) == 0, ctypes.get_errno()


@pytest.mark.parametrize("target", ["process", "listener-thread"])
def test_ctrl_c_while_waiting_for_the_browser_frees_the_port_and_saves_nothing(emulator, sec_env, config_file, target):
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
    if target == "process":
        login.send_signal(signal.SIGINT)
    else:
        _interrupt_a_listener_thread(login.pid)
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
