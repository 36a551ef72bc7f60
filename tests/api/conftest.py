"""Helpers for the REST client's tests, shared as fixtures (test modules import nothing from each other)."""

from __future__ import annotations

import json

import httpx
import pytest

from bbwizard.secret import Secret


class Sleeps(list):
    """An injectable ``sleep`` that records the delays instead of waiting them out."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def static_token():
    """A token provider that always gives the same made-up token (for MockTransport parsing tests)."""
    token = Secret("mock-access-token-0123456789")

    async def provider(force_refresh: bool) -> Secret:
        return token

    return provider


@pytest.fixture
async def mock_client(static_token, sleeps):
    """``mock_client(handler)`` → a BitbucketClient over httpx.MockTransport; only for parsing tests."""
    from bbwizard.api import BitbucketClient

    made = []

    def make(handler, **kwargs):
        kwargs.setdefault("sleep", sleeps)
        client = BitbucketClient(
            "https://api.bitbucket.example/2.0", static_token, transport=httpx.MockTransport(handler), **kwargs
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def json_response(status: int, body, **headers) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers})


@pytest.fixture
def respond():
    return json_response


# ---------------------------------------------------------------- against the emulator


class EmulatorTokens:
    """A token provider over tokens the emulator minted, refreshing through the emulator's token
    endpoint over real HTTP (as the auth core would). Counts how it was called."""

    def __init__(self, emulator, consumer_key: str, consumer_secret: str) -> None:
        answer = emulator.mint_token(consumer_key)
        self.emulator = emulator
        self.key, self.secret = consumer_key, consumer_secret
        self.access = Secret(answer["access_token"])
        self.refresh_token = Secret(answer["refresh_token"])
        self.calls: list[bool] = []
        self.after_refresh = None  # a hook run after each refresh (e.g. to expire the new token)

    async def __call__(self, force_refresh: bool) -> Secret:
        self.calls.append(force_refresh)
        if force_refresh:
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    self.emulator.token_url,
                    auth=(self.key, self.secret),
                    data={"grant_type": "refresh_token", "refresh_token": self.refresh_token.reveal()},
                )
            response.raise_for_status()
            answer = response.json()
            self.access = Secret(answer["access_token"])
            self.refresh_token = Secret(answer["refresh_token"])
            if self.after_refresh is not None:
                self.after_refresh()
        return self.access

    @property
    def refreshes(self) -> int:
        return self.calls.count(True)


@pytest.fixture
def tokens_for():
    """``tokens_for(emulator, key=DEMO, secret=DEMO)`` → an :class:`EmulatorTokens` provider."""
    from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET

    def make(emulator, key: str = DEMO_CONSUMER_KEY, secret: str = DEMO_CONSUMER_SECRET) -> EmulatorTokens:
        return EmulatorTokens(emulator, key, secret)

    return make


@pytest.fixture
async def api_for(tokens_for, sleeps):
    """``api_for(emulator, tokens=None, **kwargs)`` → a BitbucketClient on the emulator's API URL,
    over real loopback HTTP, with sleeps recorded instead of waited; closed at teardown."""
    from bbwizard.api import BitbucketClient

    made = []

    def make(emulator, tokens=None, **kwargs):
        kwargs.setdefault("sleep", sleeps)
        client = BitbucketClient(emulator.api_url, tokens or tokens_for(emulator), **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


class TamperingTransport(httpx.AsyncHTTPTransport):
    """The real HTTP transport, with a hook that rewrites JSON answers on their way back: the
    emulator always tells the truth about ``size`` and ``next``, Bitbucket doesn't always."""

    def __init__(self, edit) -> None:
        super().__init__()
        self.edit = edit  # edit(request, document) -> document
        self.in_flight = 0
        self.max_in_flight = 0
        self.sent = 0
        self.urls: list[httpx.URL] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        self.urls.append(request.url)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = await super().handle_async_request(request)
            body = await response.aread()
        finally:
            self.in_flight -= 1
        if response.status_code != 200 or self.edit is None:
            return httpx.Response(response.status_code, headers=response.headers, content=body)
        document = self.edit(request, json.loads(body))
        return httpx.Response(200, headers={"Content-Type": "application/json"}, content=json.dumps(document).encode())


@pytest.fixture
def tampering():
    return TamperingTransport


@pytest.fixture
def seed_with_repos():
    """``seed_with_repos(count)`` → the demo seed plus a workspace ``big`` with ``count`` repositories."""
    from bbwizard.emulator import demo_seed

    def make(count: int) -> dict:
        seed = demo_seed()
        seed["generators"] = [{"workspace": "big", "name": "Big Corp", "count": count, "members": ["alice"]}]
        return seed

    return make


@pytest.fixture
def recorded():
    """``await recorded(emulator, path, n)`` → the statuses of requests to ``path``, once the
    emulator has logged at least ``n`` of them (it logs after the answer is on the wire, so a
    fast client can look before the last line is written)."""
    import asyncio

    async def statuses(emulator, path: str, n: int) -> list[int]:
        for _ in range(200):
            found = [r.status for r in emulator.stats.requests if r.path == path]
            if len(found) >= n:
                return found
            await asyncio.sleep(0.01)
        return found

    return statuses
