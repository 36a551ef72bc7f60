"""Ctrl+C while `bbwizard login` waits for the browser: exit 130, the callback port is free
again at once, nothing is saved, and the consumer secret is nowhere in the output."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET

HANG_GUARD = 120


def test_ctrl_c_while_waiting_for_the_browser_frees_the_port_and_saves_nothing(emulator, sec_env, config_file):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    login = subprocess.Popen(
        [sys.executable, "-m", "bbwizard", "login", "--key", DEMO_CONSUMER_KEY, "--secret-stdin", "--no-browser",
         "--site-url", emulator.site_url, "--api-url", emulator.api_url, "--callback-url", f"http://localhost:{port}/"],
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
    login.send_signal(signal.SIGINT)
    out, err = login.communicate(timeout=HANG_GUARD)
    assert login.returncode == 130, err
    with socket.socket() as again:  # free at once: a new sign-in can listen there
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the listener does; a live listener still blocks it
        again.bind(("127.0.0.1", port))
        again.listen()
    assert not config_file.exists()
    text = "".join(seen) + out + err
    assert DEMO_CONSUMER_SECRET not in text
    assert "Traceback" not in text
