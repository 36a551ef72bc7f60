"""The emulator answers as Bitbucket Cloud does since the 2026 OAuth changes, by default, and each
older (or unconfirmed) answer comes back with a knob, from Python and from `bbwizard emulator`."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time

import httpx
import pytest

from bbwizard.emulator import (
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
    PRIVATE_CONSUMER_KEY,
    PRIVATE_CONSUMER_SECRET,
    demo_seed,
)

PRIVATE = (PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET)
CC_REFUSAL = ("unauthorized_client", "This OAuth client is not allowed to use the client_credentials grant.")


def error_of(answer: httpx.Response) -> tuple[str, str]:
    body = answer.json()
    return body["error"], body["error_description"]


def test_token_answers_carry_scope_and_jwt_sized_tokens(emulator, authorize, token_request):
    code = authorize(emulator)["code"]
    body = token_request(emulator, {"grant_type": "authorization_code", "code": code}).json()
    assert body["scope"] == "account repository repository:write" and "scopes" not in body
    for name in ("access_token", "refresh_token"):
        token = body[name]
        assert 2500 <= len(token) <= 3200, (name, len(token))
        header, payload, signature = token.split(".")
        assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["typ"] == "JWT"
        assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"] == DEMO_CONSUMER_KEY
        assert len(signature) > 2000
    again = token_request(emulator, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}).json()
    assert again["access_token"] != body["access_token"] and again["refresh_token"] != body["refresh_token"]


def test_both_scope_fields_and_short_tokens_are_knobs(emulator_factory, authorize, token_request):
    emu = emulator_factory(scope_field="both", access_token_length=180, refresh_token_length=40)
    body = token_request(emu, {"grant_type": "authorization_code", "code": authorize(emu)["code"]}).json()
    assert body["scope"] == body["scopes"] == "account repository repository:write"
    assert len(body["access_token"]) == 180 and "." not in body["access_token"] and len(body["refresh_token"]) == 40


def test_granular_scope_names_in_the_answer_and_in_a_403(emulator_factory, token_request, api):
    emu = emulator_factory(scope_names="granular")
    body = token_request(emu, {"grant_type": "client_credentials"}, auth=PRIVATE).json()
    assert body["scope"].split() == ["read:user:bitbucket", "read:workspace:bitbucket", "read:repository:bitbucket"]
    token = emu.mint_token(DEMO_CONSUMER_KEY, scopes=["account"])["access_token"]
    refused = api(emu, "/repositories/acme", token)
    assert refused.status_code == 403
    assert refused.json()["error"]["detail"] == {
        "granted": ["read:user:bitbucket", "read:workspace:bitbucket"], "required": ["read:repository:bitbucket"],
    }


def test_client_credentials_is_an_app_user_without_a_refresh_token(emulator, token_request, api):
    answer = token_request(emulator, {"grant_type": "client_credentials"}, auth=PRIVATE)
    assert answer.status_code == 200
    body = answer.json()
    assert "refresh_token" not in body and body["state"] == "client_credentials"
    me = api(emulator, "/user", body["access_token"])
    assert me.status_code == 200
    doc = me.json()
    assert doc["type"] == "app_user" and doc["display_name"] and doc["uuid"].startswith("{")
    assert "username" not in doc and "nickname" not in doc
    assert emulator.token_info(body["access_token"])["username"] != "alice"  # not the consumer's owner
    # The demo's private consumer belongs to the acme workspace: its app user reaches that one only.
    slugs = [v["workspace"]["slug"] for v in api(emulator, "/user/workspaces", body["access_token"]).json()["values"]]
    assert slugs == ["acme"]
    assert api(emulator, "/repositories/alice/dotfiles", body["access_token"]).status_code == 404


def test_get_user_for_an_app_user_may_be_refused(emulator_factory, token_request, api):
    emu = emulator_factory(app_user_profile="forbidden")
    token = token_request(emu, {"grant_type": "client_credentials"}, auth=PRIVATE).json()["access_token"]
    me = api(emu, "/user", token)
    assert me.status_code == 403
    error = me.json()["error"]
    assert "scope" not in error["message"] and "detail" not in error
    assert api(emu, "/repositories/acme", token).status_code == 200


def test_a_consumer_of_a_personal_workspace_reaches_only_that_workspace(emulator_factory, token_request, api):
    seed = demo_seed()
    for consumer in seed["consumers"]:
        if consumer["key"] == PRIVATE_CONSUMER_KEY:
            consumer["workspace"] = "alice"
    emu = emulator_factory(seed)
    token = token_request(emu, {"grant_type": "client_credentials"}, auth=PRIVATE).json()["access_token"]
    slugs = [v["workspace"]["slug"] for v in api(emu, "/user/workspaces", token).json()["values"]]
    assert slugs == ["alice"]
    assert api(emu, "/repositories/alice/dotfiles", token).status_code == 200
    assert api(emu, "/repositories/acme/webapp", token).status_code == 404


def test_legacy_client_credentials_acts_as_the_owner_with_a_refresh_token(emulator_factory, token_request, api):
    emu = emulator_factory(client_credentials_user="owner", client_credentials_refresh=True)
    body = token_request(emu, {"grant_type": "client_credentials"}, auth=PRIVATE).json()
    assert body["refresh_token"]
    assert api(emu, "/user", body["access_token"]).json()["username"] == "alice"


def test_a_consumer_without_the_grant_is_refused_with_a_configurable_answer(emulator_factory, token_request):
    default = emulator_factory()
    answer = token_request(default, {"grant_type": "client_credentials"})
    assert answer.status_code == 400 and error_of(answer) == CC_REFUSAL
    custom = emulator_factory(client_credentials_refusal=("invalid_client", "Client credentials are off."))
    assert error_of(token_request(custom, {"grant_type": "client_credentials"})) == ("invalid_client", "Client credentials are off.")


def test_per_grant_switches_from_the_seed(emulator_factory, token_request, authorize):
    seed = demo_seed()
    for consumer in seed["consumers"]:
        if consumer["key"] == PRIVATE_CONSUMER_KEY:
            consumer["grants"] = ["authorization_code"]  # private, but the switch is off
        if consumer["key"] == DEMO_CONSUMER_KEY:
            consumer["grants"] = ["client_credentials"]
    emu = emulator_factory(seed)
    assert error_of(token_request(emu, {"grant_type": "client_credentials"}, auth=PRIVATE)) == CC_REFUSAL
    assert token_request(emu, {"grant_type": "client_credentials"}).status_code == 200
    assert authorize(emu)["error"] == "unauthorized_client"


def test_unknown_grants_in_a_seed_are_refused():
    from bbwizard.emulator.seed import SeedError, build_world

    seed = demo_seed()
    seed["consumers"][0]["grants"] = ["password"]
    with pytest.raises(SeedError, match="unknown grants"):
        build_world(seed)


def test_another_loopback_port_is_refused_by_default(emulator_factory, authorize):
    strict = emulator_factory()
    with pytest.raises(AssertionError):
        authorize(strict, redirect_uri="http://localhost:9999/")
    loose = emulator_factory(allow_any_loopback_port=True)
    assert authorize(loose, redirect_uri="http://localhost:9999/")["code"]


def _run_emulator(*flags: str):
    """`bbwizard emulator FLAGS` in a subprocess: (process, token URL, API URL) once it serves."""
    proc = subprocess.Popen([sys.executable, "-m", "bbwizard", "emulator", "--port", "0", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    api_url = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if "API (api.bitbucket.org):" in line:
            api_url = line.split()[-1]
            break
    assert api_url, proc.stderr.read() if proc.poll() is not None else "no API line"
    return proc, api_url.replace("/2.0", "/site/oauth2/access_token"), api_url


def _stop(proc) -> None:
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)


def test_the_command_serves_2026_by_default():
    proc, token_url, _ = _run_emulator()
    try:
        answer = httpx.post(token_url, data={"grant_type": "client_credentials"}, auth=PRIVATE, trust_env=False).json()
        assert "refresh_token" not in answer and "scope" in answer and len(answer["access_token"]) >= 2500
    finally:
        _stop(proc)


def test_the_commands_flags_bring_back_the_legacy_answers():
    proc, token_url, api_url = _run_emulator(
        "--legacy-probe", "--scope-field", "scopes", "--client-credentials-refresh", "--client-credentials-as", "owner",
        "--token-length", "180",
    )
    try:
        public = httpx.post(token_url, data={"grant_type": "client_credentials"},
                            auth=(DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET), trust_env=False).json()
        assert public["error"] == "invalid_grant" and "marked as" in public["error_description"]
        private = httpx.post(token_url, data={"grant_type": "client_credentials"}, auth=PRIVATE, trust_env=False).json()
        assert private["refresh_token"] and private["scopes"] == "account repository" and len(private["access_token"]) == 180
        me = httpx.get(f"{api_url}/user", headers={"Authorization": f"Bearer {private['access_token']}"}, trust_env=False)
        assert me.json()["username"] == "alice"
    finally:
        _stop(proc)


def test_the_commands_flags_set_the_refusal_and_the_app_user_answer():
    proc, token_url, api_url = _run_emulator(
        "--cc-refusal-error", "invalid_client", "--cc-refusal-description", "Nope.", "--app-user-profile", "forbidden",
        "--scope-names", "granular",
    )
    try:
        public = httpx.post(token_url, data={"grant_type": "client_credentials"},
                            auth=(DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET), trust_env=False).json()
        assert (public["error"], public["error_description"]) == ("invalid_client", "Nope.")
        private = httpx.post(token_url, data={"grant_type": "client_credentials"}, auth=PRIVATE, trust_env=False).json()
        assert "read:repository:bitbucket" in private["scope"].split()
        me = httpx.get(f"{api_url}/user", headers={"Authorization": f"Bearer {private['access_token']}"}, trust_env=False)
        assert me.status_code == 403
    finally:
        _stop(proc)
