"""Proxies from the environment: a dead proxy and a proxy answering 502 are clear NetworkErrors.

Both proxies live on loopback, so nothing here needs the internet: the API host is a name that is
never resolved, because every request goes to the (local) proxy first.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from bbwizard.api import BitbucketClient
from bbwizard.errors import NetworkError

API = "https://api.bitbucket.invalid/2.0"


@pytest.fixture
def proxy_env(monkeypatch):
    def use(proxy_url: str) -> None:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", proxy_url)
        monkeypatch.setenv("https_proxy", proxy_url)

    return use


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_dead_proxy_is_named(proxy_env, static_token, sleeps):
    port = closed_port()
    proxy_env(f"http://127.0.0.1:{port}")
    async with BitbucketClient(API, static_token, sleep=sleeps, retries=2) as client:
        with pytest.raises(NetworkError) as caught:
            await client.get_user()
    message = str(caught.value)
    assert message.startswith(f"The proxy http://127.0.0.1:{port} failed to connect bbwizard to api.bitbucket.invalid (")
    assert message.endswith(
        "). Check the proxy, or fix HTTPS_PROXY / NO_PROXY in your environment (add api.bitbucket.invalid to NO_PROXY to go direct)."
    )
    assert len(sleeps) == 2  # connection errors are retried, with backoff


async def test_proxy_answering_502_is_a_clear_network_error(proxy_env, static_token, sleeps):
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b"\r\n", 1)[0])
        body = b"<html><body>Proxy error: upstream unreachable</body></html>"
        writer.write(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxy_env(f"http://127.0.0.1:{port}")
    try:
        async with BitbucketClient(API, static_token, sleep=sleeps, retries=1) as client:
            with pytest.raises(NetworkError) as caught:
                await client.get_user()
    finally:
        server.close()
        await server.wait_closed()
    assert str(caught.value) == f"The proxy http://127.0.0.1:{port} refused to connect to api.bitbucket.invalid (502 Bad Gateway)."
    assert caught.value.hint == "Check HTTPS_PROXY and NO_PROXY, or ask whoever runs the proxy."
    assert seen == [b"CONNECT api.bitbucket.invalid:443 HTTP/1.1"] * 2  # one retry, then the sentence
