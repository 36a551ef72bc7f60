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
