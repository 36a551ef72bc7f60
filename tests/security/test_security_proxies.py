"""Proxies from the environment are never used for loopback (security.md 19): the emulator, and
with it the token, must not travel through ``http_proxy``, neither from httpx nor from git's
libcurl (which, unlike httpx, proxies 127.0.0.1 unless NO_PROXY says otherwise)."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from bbwizard import git

HANG_GUARD = 120


class _RecordingProxy:
    """A 'proxy' that records every byte sent to it and answers nothing useful."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.received = bytearray()
        self.connections = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            conn.settimeout(5)
            try:
                self.received += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def proxy(monkeypatch, sec_env):
    recorder = _RecordingProxy()
    for key in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(key, recorder.url)
        sec_env[key] = recorder.url
    yield recorder
    recorder.close()


async def test_a_clone_from_the_emulator_never_goes_through_the_proxy(emulator, signed_in, proxy):
    store, profile = signed_in(emulator)
    result = await asyncio.wait_for(git.clone_repository(profile, "acme", "webapp", store=store), HANG_GUARD)
    assert result.ok and (result.path / ".git").is_dir()
    assert proxy.connections == 0 and bytes(proxy.received) == b""


def test_refreshing_against_the_emulator_never_goes_through_the_proxy(emulator, signed_in, bbw, proxy):
    signed_in(emulator, expired=True)
    done = bbw("token")
    assert done.returncode == 0, done.stderr
    assert emulator.token_info(done.stdout.strip())["expired"] is False
    assert proxy.connections == 0 and bytes(proxy.received) == b""


def test_the_bypass_adds_only_loopback_hosts_and_keeps_the_persons_list():
    env = {"NO_PROXY": "corp.example,.internal", "no_proxy": ""}
    git.bypass_proxy_for_loopback(env, "http://127.0.0.1:8080")
    assert env["NO_PROXY"] == "corp.example,.internal,127.0.0.1" and env["no_proxy"] == "127.0.0.1"
    assert git.bypass_proxy_for_loopback({}, "http://[::1]:9000") == {"NO_PROXY": "::1", "no_proxy": "::1"}
    assert git.bypass_proxy_for_loopback({}, "https://bitbucket.org") == {}  # a real site keeps its proxy
