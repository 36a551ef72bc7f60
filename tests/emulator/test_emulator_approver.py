"""The approver ($BROWSER), the ``bbwizard emulator`` command, and the emulator's independence."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, demo_seed


class Callback:
    """A loopback listener standing in for a client's redirect catcher."""

    def __init__(self) -> None:
        self.queries: list[dict] = []
        self.arrived = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.queries.append({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
                body = b"<html><body>You may close this window.</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                outer.arrived.set()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callback():
    catcher = Callback()
    yield catcher
    catcher.close()


@pytest.fixture
def emu_with_callback(emulator_factory, callback):
    return emulator_factory(demo_seed(callback_url=f"http://localhost:{callback.port}/"))


def approve(args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BBWIZARD_APPROVE")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "bbwizard.emulator.approve", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def auth_url(emu, client_id=DEMO_CONSUMER_KEY, state="s1"):
    return f"{emu.authorize_url}?client_id={client_id}&response_type=code&state={state}"


def test_approver_grants_silently(emu_with_callback, callback, token_request):
    result = approve([auth_url(emu_with_callback)])
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""
    query = callback.queries[-1]
    assert query["state"] == "s1"
    answer = token_request(emu_with_callback, {"grant_type": "authorization_code", "code": query["code"]},
                           auth=(DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET))
    assert answer.status_code == 200


def test_approver_denies_with_a_flag_or_the_environment(emu_with_callback, callback):
    assert approve(["--deny", auth_url(emu_with_callback)]).returncode == 0
    assert callback.queries[-1] == {"error": "access_denied", "state": "s1"}
    assert approve([auth_url(emu_with_callback, state="s2")], {"BBWIZARD_APPROVE": "deny"}).returncode == 0
    assert callback.queries[-1] == {"error": "access_denied", "state": "s2"}


def test_approver_follows_an_auto_approval(emulator_factory, callback):
    emu = emulator_factory(demo_seed(callback_url=f"http://localhost:{callback.port}/"), auto_approve=True)
    assert approve([auth_url(emu)]).returncode == 0
    assert approve([auth_url(emu, state="again")]).returncode == 0
    assert callback.queries[-1]["state"] == "again" and "code" in callback.queries[-1]
    assert emu.stats.count("/site/oauth2/authorize", method="POST") == 1


def test_approver_fails_loudly_on_an_error_page(emu_with_callback):
    result = approve([auth_url(emu_with_callback, client_id="nope")])
    assert result.returncode == 1 and "Invalid client_id" in result.stderr


def test_approver_fails_when_nothing_listens_on_the_callback(emulator_factory):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    emu = emulator_factory(demo_seed(callback_url=f"http://localhost:{free}/"))
    result = approve([auth_url(emu)])
    assert result.returncode == 1 and "approve:" in result.stderr


def test_approver_detached_returns_at_once(emu_with_callback, callback):
    result = approve(["--detach", auth_url(emu_with_callback)])
    assert result.returncode == 0
    assert callback.arrived.wait(30)
    assert "code" in callback.queries[-1]


def test_python_webbrowser_uses_the_approver(emu_with_callback, callback, tmp_path):
    browser = tmp_path / "approve-browser"
    browser.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bbwizard.emulator.approve "$@"\n')
    browser.chmod(0o755)
    code = f"import webbrowser,sys; sys.exit(0 if webbrowser.open({auth_url(emu_with_callback)!r}) else 1)"
    result = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, BROWSER=str(browser)),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "code" in callback.queries[-1]


def test_importing_the_emulator_pulls_in_no_client_module():
    code = (
        "import sys, bbwizard.emulator, bbwizard.emulator.approve; "
        "bad = [m for m in sys.modules if m in ('httpx', 'textual', 'rich') or m.startswith(("
        "'bbwizard.config', 'bbwizard.oauth', 'bbwizard.api', 'bbwizard.git', 'bbwizard.loopback', "
        "'bbwizard.secret', 'bbwizard.tui'))]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bbwizard_emulator_command(tmp_path):
    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "bbwizard", "emulator", "--port", "0", "--generate", "big=50"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines, api_url = [], None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("consent page yourself" in line for line in lines):
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "API (api.bitbucket.org):" in line:
                api_url = line.split()[-1]
        text = "".join(lines)
        assert api_url and DEMO_CONSUMER_KEY in text and DEMO_CONSUMER_SECRET in text, text
        response = httpx.post(api_url.replace("/2.0", "/site/oauth2/access_token"), data={"grant_type": "client_credentials"},
                              auth=(DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET), trust_env=False)
        assert response.json() == {  # the 2026 default: a refusal that is not a credential error
            "error": "unauthorized_client",
            "error_description": "This OAuth client is not allowed to use the client_credentials grant.",
        }
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "emulator stopped" in err


def test_the_approver_path_is_a_browser_python_webbrowser_can_run(emu_with_callback, callback):
    from bbwizard.emulator import APPROVER

    code = f"import webbrowser,sys; sys.exit(0 if webbrowser.open({auth_url(emu_with_callback)!r}) else 1)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["BROWSER"] = str(APPROVER)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                            cwd="/")
    assert result.returncode == 0, result.stderr
    assert "code" in callback.queries[-1]


def test_the_approver_script_detaches_without_the_package(emu_with_callback, callback):
    from bbwizard.emulator import APPROVER

    result = subprocess.run(["/usr/bin/env", "python3", str(APPROVER), "--detach", auth_url(emu_with_callback)],
                            capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr
    assert callback.arrived.wait(30) and "code" in callback.queries[-1]
