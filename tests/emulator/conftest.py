"""Helpers for the emulator's own tests: a plain HTTP client and the browser half of the dance."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET


@pytest.fixture
def http():
    with httpx.Client(trust_env=False, timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture
def authorize(http):
    """authorize(emu, client_id=DEMO, decision="grant", **params) -> dict of the redirect's query.

    Does what a person's browser does: GET the consent page, submit the form, read the 302.
    """

    def run(emu, client_id=DEMO_CONSUMER_KEY, decision="grant", **params):
        query = {"client_id": client_id, "response_type": "code", "state": "st4te", **params}
        query = {k: v for k, v in query.items() if v is not None}
        page = http.get(emu.authorize_url, params=query)
        if page.status_code == 302:  # auto-approved
            location = page.headers["location"]
        else:
            assert page.status_code == 200, page.text
            request_id = re.search(r'name="request_id" value="([^"]+)"', page.text).group(1)
            answer = http.post(emu.authorize_url, data={"request_id": request_id, "decision": decision})
            assert answer.status_code == 302, answer.text
            location = answer.headers["location"]
        parts = urlsplit(location)
        result = {k: v[0] for k, v in parse_qs(parts.query).items()}
        result["_location"] = location
        return result

    return run


@pytest.fixture
def token_request(http):
    """token_request(emu, data, auth=(key, secret)|None) -> httpx.Response (form body, Basic auth)."""

    def run(emu, data, auth=(DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET), **kwargs):
        return http.post(emu.token_url, data=data, auth=auth, **kwargs)

    return run


@pytest.fixture
def api(http):
    """api(emu, path, token, **params) -> httpx.Response with Bearer auth."""

    def run(emu, path, token=None, **params):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return http.get(emu.api_url + path, params=params, headers=headers)

    return run
