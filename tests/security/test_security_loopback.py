"""The loopback listener as an attacker sees it: a web page in the person's browser (or another
local program) firing requests at the callback port before, during and after the real redirect."""

from __future__ import annotations

import socket

import httpx
import pytest

from bbwizard.errors import AuthorizationDenied, LoopbackError
from bbwizard.loopback import LoopbackCatcher

STATE = "state-" + "s" * 40


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def client():
    with httpx.Client(trust_env=False, timeout=30) as c:
        yield c


def test_a_forged_deny_or_code_without_the_state_cannot_end_the_sign_in(client):
    port = _free_port()
    with LoopbackCatcher(f"http://localhost:{port}/", STATE, timeout=60) as catcher:
        base = f"http://127.0.0.1:{port}/"
        # What a hostile page could fire at a well-known callback port: it doesn't know the state.
        for query in ({"error": "access_denied"}, {"error": "access_denied", "state": "guess"},
                      {"code": "attackerCode1"}, {"code": "attackerCode2", "state": STATE[:-1]},
                      {"code": "attackerCode3", "state": STATE + "x"}):
            page = client.get(base, params=query)
            assert page.status_code == 400, query
            assert "another sign-in attempt" in page.text
        # DNS rebinding: the right state, through a name that resolves to 127.0.0.1.
        rebound = client.get(base, params={"code": "attackerCode4", "state": STATE}, headers={"Host": f"evil.example:{port}"})
        assert rebound.status_code == 404
        real = client.get(base, params={"code": "theRealCode", "state": STATE})
        assert real.status_code == 200 and "bbwizard has the code" in real.text
        result = catcher.wait(timeout=30)
    assert result.code == "theRealCode"
    assert "theRealCode" not in repr(result)  # a live code stays out of reprs and crash reports


def test_a_deny_after_the_code_arrived_changes_nothing(client):
    port = _free_port()
    with LoopbackCatcher(f"http://localhost:{port}/", STATE, timeout=60) as catcher:
        base = f"http://localhost:{port}/"
        assert client.get(base, params={"code": "firstCode", "state": STATE}).status_code == 200
        late = client.get(base, params={"error": "access_denied", "state": STATE})
        assert "This sign-in is already done" in late.text
        assert catcher.wait(timeout=30).code == "firstCode"


def test_after_close_the_port_is_free_and_a_late_redirect_finds_nobody(client):
    port = _free_port()
    catcher = LoopbackCatcher(f"http://localhost:{port}/", STATE, timeout=60).start()
    catcher.close()
    with pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{port}/", params={"code": "late", "state": STATE})
    with socket.socket() as probe:  # the port is ours to take again
        probe.bind(("127.0.0.1", port))
    with pytest.raises(LoopbackError) as caught:
        catcher.wait(timeout=1)
    assert str(caught.value) == "The sign-in was cancelled before the browser came back."


def test_deny_with_the_right_state_is_you_clicked_deny(client):
    port = _free_port()
    with LoopbackCatcher(f"http://localhost:{port}/", STATE, timeout=60) as catcher:
        page = client.get(f"http://localhost:{port}/", params={"error": "access_denied", "state": STATE})
        assert "You clicked Deny" in page.text
        with pytest.raises(AuthorizationDenied) as caught:
            catcher.wait(timeout=30)
    assert str(caught.value).startswith("You clicked Deny on Bitbucket's page")
