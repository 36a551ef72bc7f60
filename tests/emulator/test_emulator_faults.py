"""Fault injection: statuses with Retry-After, HTML with 200, truncated JSON, dropped connections, latency."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from bbwizard.emulator import DEMO_CONSUMER_KEY, PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET


@pytest.fixture
def token(emulator):
    return emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]


def test_status_fault_for_the_next_n_requests(emulator, api, token):
    emulator.inject(kind="status", status=503, count=2, retry_after=3)
    first, second, third = (api(emulator, "/user", token) for _ in range(3))
    assert first.status_code == second.status_code == 503
    assert first.headers["retry-after"] == "3"
    assert first.json() == {"type": "error", "error": {"message": "Service Unavailable"}}
    assert third.status_code == 200
    assert emulator.stats.faults["status"] == 2


def test_429_fault_uses_the_rate_limit_body(emulator, api, token):
    emulator.inject(status=429, count=1)
    response = api(emulator, "/user", token)
    assert response.status_code == 429 and "retry-after" not in response.headers
    assert response.json()["error"]["message"] == "Rate limit for this resource has been exceeded."


def test_faults_match_their_path_prefix(emulator, api, token, token_request):
    emulator.inject(status=502, path_prefix="/site/oauth2/access_token")
    assert api(emulator, "/user", token).status_code == 200
    answer = token_request(emulator, {"grant_type": "client_credentials"}, auth=(PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET))
    assert answer.status_code == 502
    assert emulator.stats.grants["client_credentials"] == 0


def test_html_with_status_200(emulator, api, token):
    emulator.inject(kind="html200")
    response = api(emulator, "/user", token)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_truncated_json(emulator, api, token):
    emulator.inject(kind="truncated")
    response = api(emulator, "/repositories/acme", token)
    assert response.status_code == 200 and response.text.startswith('{"pagelen"')
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert api(emulator, "/repositories/acme", token).json()["size"] == 4


def test_dropped_connection(emulator, http, token):
    emulator.inject(kind="drop")
    with pytest.raises(httpx.TransportError):
        http.get(emulator.api_url + "/user", headers={"Authorization": f"Bearer {token}"})
    assert http.get(emulator.api_url + "/user", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert emulator.stats.requests[0].status == 0


def test_dropped_after_a_refresh_was_spent(emulator_factory, http, token_request):
    emu = emulator_factory(refresh_grace=0)
    first = emu.mint_token(DEMO_CONSUMER_KEY)
    emu.inject(kind="drop_after", path_prefix="/site/oauth2/access_token")
    with pytest.raises(httpx.TransportError):
        token_request(emu, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert emu.stats.grants["refresh_token"] == 1  # the server did rotate it
    retry = token_request(emu, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert retry.json() == {"error": "invalid_request", "error_description": "Invalid refresh_token"}


def test_custom_body(emulator, api, token):
    emulator.inject(status=502, body="<html><body>Bad gateway</body></html>", content_type="text/html")
    response = api(emulator, "/user", token)
    assert response.status_code == 502 and "Bad gateway" in response.text


def test_unknown_fault_kind_is_refused(emulator):
    with pytest.raises(ValueError):
        emulator.inject(kind="gremlins")


def test_latency(emulator, api, token):
    import time

    emulator.latency = 0.3
    started = time.monotonic()
    assert api(emulator, "/user", token).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_git_is_subject_to_faults_too(emulator, git_env, tmp_path):
    import subprocess

    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    emulator.inject(status=503, path_prefix="/acme/")
    env = dict(git_env, GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="credential.helper",
               GIT_CONFIG_VALUE_0=f'!f() {{ echo username=x-token-auth; echo password={token}; }}; f')
    result = subprocess.run(["git", "ls-remote", emulator.clone_url("acme", "webapp")], env=env,
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert result.returncode != 0 and "503" in result.stderr


def test_the_log_never_shows_a_secret(emulator, authorize, token_request, caplog):
    caplog.set_level(logging.DEBUG, logger="bbwizard.emulator")
    code = authorize(emulator)["code"]
    body = token_request(emulator, {"grant_type": "authorization_code", "code": code}).json()
    emulator.inject(kind="status", status=500)
    httpx.get(emulator.api_url + "/user", params={"access_token": body["access_token"]}, trust_env=False)
    text = caplog.text
    assert "GET /site/oauth2/authorize" in text and "POST /site/oauth2/access_token -> 200" in text
    for secret in (code, body["access_token"], body["refresh_token"]):
        assert secret not in text
