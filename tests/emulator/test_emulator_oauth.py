"""The OAuth half of the emulator: consent page, token endpoint, every documented error."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from bbwizard.emulator import (
    ACCOUNT_ONLY_CONSUMER_KEY,
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
    NO_CALLBACK_CONSUMER_KEY,
    NO_CALLBACK_CONSUMER_SECRET,
    PRIVATE_CONSUMER_KEY,
    PRIVATE_CONSUMER_SECRET,
)

PUBLIC_CC = (
    'Cannot use client_credentials with a consumer marked as "public". '
    "Calls for auto generated consumers should use urn:bitbucket:oauth2:jwt instead."
)


def error_of(response):
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    return body["error"], body["error_description"]


# ---- authorize ---------------------------------------------------------------------------------


def test_consent_page_is_a_form_with_grant_and_deny(emulator, http):
    page = http.get(emulator.authorize_url, params={"client_id": DEMO_CONSUMER_KEY, "response_type": "code"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<form" in page.text and 'value="grant"' in page.text and 'value="deny"' in page.text
    assert "Alice Liddell" in page.text and "bbwizard demo" in page.text


def test_grant_redirects_to_the_callback_with_code_and_state(emulator, authorize):
    result = authorize(emulator)
    assert result["_location"].startswith("http://localhost:8976/?")
    assert result["state"] == "st4te" and len(result["code"]) >= 16


def test_deny_redirects_with_access_denied(emulator, authorize):
    result = authorize(emulator, decision="deny")
    assert result["error"] == "access_denied" and result["state"] == "st4te" and "code" not in result


def test_unknown_client_id_gets_the_invalid_client_id_page(emulator, http):
    page = http.get(emulator.authorize_url, params={"client_id": "nope", "response_type": "code"})
    assert page.status_code == 400 and "Invalid client_id" in page.text
    assert page.headers["content-type"].startswith("text/html") and "location" not in page.headers


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://evil.example.com/", "https://localhost:8976/", "http://127.0.0.1:8976/", "http://localhost:8976"[:-4] + "8977/x"],
)
def test_redirect_uri_that_does_not_extend_the_callback_gets_the_invalid_redirect_uri_page(emulator_factory, http, redirect_uri):
    emu = emulator_factory(allow_any_loopback_port=False)
    page = http.get(emu.authorize_url, params={"client_id": DEMO_CONSUMER_KEY, "response_type": "code",
                                               "redirect_uri": redirect_uri})
    assert page.status_code == 400 and "Invalid redirect_uri" in page.text


def test_redirect_uri_may_extend_the_callback_path(emulator, authorize):
    result = authorize(emulator, redirect_uri="http://localhost:8976/oauth/callback?x=1")
    assert result["_location"].startswith("http://localhost:8976/oauth/callback?x=1&code=")


def test_loopback_port_policy_is_a_setting(emulator_factory, authorize, http):
    loose = emulator_factory(allow_any_loopback_port=True)
    assert authorize(loose, redirect_uri="http://localhost:50123/")["_location"].startswith("http://localhost:50123/?code=")
    strict = emulator_factory(allow_any_loopback_port=False)
    page = http.get(strict.authorize_url, params={"client_id": DEMO_CONSUMER_KEY, "response_type": "code",
                                                  "redirect_uri": "http://localhost:50123/"})
    assert page.status_code == 400 and "Invalid redirect_uri" in page.text
    strict.allow_any_loopback_port = True  # mutable at run time
    assert authorize(strict, redirect_uri="http://localhost:50123/")["code"]


def test_a_plain_localhost_callback_means_port_80(emulator_factory, authorize):
    seed = __import__("bbwizard.emulator", fromlist=["demo_seed"]).demo_seed(callback_url="http://localhost")
    emu = emulator_factory(seed)
    assert authorize(emu)["_location"].startswith("http://localhost/?code=")


def test_consumer_without_callback_cannot_authorize(emulator, http):
    page = http.get(emulator.authorize_url, params={"client_id": NO_CALLBACK_CONSUMER_KEY, "response_type": "code"})
    assert page.status_code == 400 and "No callback uri defined for the OAuth client." in page.text


def test_authorize_records_what_the_client_sent(emulator, authorize):
    authorize(emulator, code_challenge="abc", code_challenge_method="S256")
    seen = emulator.stats.authorizations[-1]
    assert seen["client_id"] == DEMO_CONSUMER_KEY and seen["state_sent"] and seen["code_challenge_method"] == "S256"


def test_auto_approve_skips_the_consent_page_the_second_time(emulator_factory, authorize, http):
    emu = emulator_factory(auto_approve=True)
    authorize(emu)
    again = http.get(emu.authorize_url, params={"client_id": DEMO_CONSUMER_KEY, "response_type": "code", "state": "s2"})
    assert again.status_code == 302 and "code=" in again.headers["location"] and "state=s2" in again.headers["location"]


# ---- token endpoint: grants ----------------------------------------------------------------------


def test_authorization_code_grant(emulator, authorize, token_request):
    code = authorize(emulator)["code"]
    answer = token_request(emulator, {"grant_type": "authorization_code", "code": code})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "scope", "expires_in", "token_type", "state", "refresh_token"}
    assert body["scope"] == "account repository repository:write"
    assert body["expires_in"] == 7200 and body["token_type"] == "bearer" and body["state"] == "authorization_code"
    assert emulator.stats.grants["authorization_code"] == 1
    assert emulator.token_info(body["access_token"])["username"] == "alice"


def test_client_auth_in_the_body_works_too(emulator, authorize, token_request):
    code = authorize(emulator)["code"]
    answer = token_request(emulator, {"grant_type": "authorization_code", "code": code,
                                      "client_id": DEMO_CONSUMER_KEY, "client_secret": DEMO_CONSUMER_SECRET}, auth=None)
    assert answer.status_code == 200 and answer.json()["access_token"]


def test_code_is_single_use(emulator, authorize, token_request):
    code = authorize(emulator)["code"]
    assert token_request(emulator, {"grant_type": "authorization_code", "code": code}).status_code == 200
    again = token_request(emulator, {"grant_type": "authorization_code", "code": code})
    assert error_of(again) == ("invalid_grant", "The specified code is not valid.")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_code_expires(emulator_factory, authorize, token_request):
    emu = emulator_factory(code_lifetime=60)
    emu.clock = clock = FakeClock()
    code = authorize(emu)["code"]
    clock.now += 61
    answer = token_request(emu, {"grant_type": "authorization_code", "code": code})
    assert error_of(answer) == ("invalid_grant", "The specified code is not valid.")


def test_bad_code(emulator, token_request):
    answer = token_request(emulator, {"grant_type": "authorization_code", "code": "not-a-code"})
    assert error_of(answer) == ("invalid_grant", "The specified code is not valid.")


def test_a_code_is_only_good_for_its_own_consumer(emulator, authorize, token_request):
    code = authorize(emulator)["code"]
    answer = token_request(emulator, {"grant_type": "authorization_code", "code": code},
                           auth=(PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET))
    assert error_of(answer) == ("invalid_grant", "The specified code is not valid.")


def test_redirect_uri_must_be_repeated_at_the_exchange(emulator, authorize, token_request):
    redirect = "http://localhost:8976/cb"
    code = authorize(emulator, redirect_uri=redirect)["code"]
    missing = token_request(emulator, {"grant_type": "authorization_code", "code": code})
    assert error_of(missing)[0] == "invalid_grant"
    code = authorize(emulator, redirect_uri=redirect)["code"]
    ok = token_request(emulator, {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect})
    assert ok.status_code == 200


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_pkce_s256_is_checked_when_sent(emulator, authorize, token_request):
    verifier = "v" * 43 + "Xy_-.~"
    code = authorize(emulator, code_challenge=s256(verifier), code_challenge_method="S256")["code"]
    good = token_request(emulator, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier})
    assert good.status_code == 200
    code = authorize(emulator, code_challenge=s256(verifier), code_challenge_method="S256")["code"]
    bad = token_request(emulator, {"grant_type": "authorization_code", "code": code, "code_verifier": "wrong" * 10})
    assert error_of(bad) == ("invalid_grant", "The code_verifier does not match the code_challenge.")
    code = authorize(emulator, code_challenge=s256(verifier), code_challenge_method="S256")["code"]
    missing = token_request(emulator, {"grant_type": "authorization_code", "code": code})
    assert error_of(missing)[0] == "invalid_grant"


def test_pkce_still_needs_the_secret(emulator, authorize, token_request):
    verifier = "q" * 50
    code = authorize(emulator, code_challenge=s256(verifier), code_challenge_method="S256")["code"]
    answer = token_request(emulator, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                      "client_id": DEMO_CONSUMER_KEY}, auth=None)
    assert error_of(answer) == ("unauthorized_client", "Requests must be authenticated using OAuth client credentials")


def test_refresh_rotates_and_the_old_token_lives_for_the_grace(emulator_factory, token_request):
    emu = emulator_factory(refresh_grace=600)
    emu.clock = clock = FakeClock()
    first = emu.mint_token(DEMO_CONSUMER_KEY)
    one = token_request(emu, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert one.status_code == 200
    body = one.json()
    assert body["state"] == "refresh_token" and body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    # Within the grace the old refresh token still works (a second process may have raced us).
    clock.now += 599
    two = token_request(emu, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert two.status_code == 200
    clock.now += 2  # the grace counts from the first use
    dead = token_request(emu, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert error_of(dead) == ("invalid_request", "Invalid refresh_token")
    # The newest one is alive and rotates in turn.
    three = token_request(emu, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert three.status_code == 200
    assert emu.stats.grants["refresh_token"] == 3


def test_the_grace_is_a_live_knob_and_real_time_passes(emulator_factory, token_request):
    emu = emulator_factory(refresh_grace=0)
    first = emu.mint_token(DEMO_CONSUMER_KEY)
    assert token_request(emu, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}).status_code == 200
    again = token_request(emu, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert error_of(again) == ("invalid_request", "Invalid refresh_token")


def test_an_unused_refresh_token_dies_after_its_lifetime(emulator_factory, token_request):
    emu = emulator_factory()
    emu.clock = clock = FakeClock()
    first = emu.mint_token(DEMO_CONSUMER_KEY)
    clock.now += 90 * 86400 + 1
    answer = token_request(emu, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert error_of(answer) == ("invalid_request", "Invalid refresh_token")


def test_bad_refresh_token(emulator, token_request):
    answer = token_request(emulator, {"grant_type": "refresh_token", "refresh_token": "nope"})
    assert error_of(answer) == ("invalid_request", "Invalid refresh_token")


def test_revoked_refresh_tokens_die(emulator, token_request):
    first = emulator.mint_token(DEMO_CONSUMER_KEY)
    emulator.revoke_refresh_tokens()
    answer = token_request(emulator, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert error_of(answer) == ("invalid_request", "Invalid refresh_token")


def test_client_credentials_on_a_private_consumer_before_2026(emulator_factory, token_request):
    # The legacy knobs: a refresh token, `scopes`, and the consumer's owner as the identity.
    emulator = emulator_factory(scope_field="scopes", client_credentials_refresh=True, client_credentials_user="owner")
    answer = token_request(emulator, {"grant_type": "client_credentials"}, auth=(PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET))
    assert answer.status_code == 200
    body = answer.json()
    assert body["state"] == "client_credentials" and body["refresh_token"] and body["scopes"] == "account repository"
    assert emulator.token_info(body["access_token"])["username"] == "alice"  # the consumer's owner


def test_client_credentials_on_a_public_consumer_with_the_legacy_text(emulator_factory, token_request):
    emulator = emulator_factory(client_credentials_refusal="legacy")
    answer = token_request(emulator, {"grant_type": "client_credentials"})
    assert error_of(answer) == ("invalid_grant", PUBLIC_CC)


# ---- token endpoint: the error table, row by row -----------------------------------------------


def test_wrong_secret(emulator, token_request):
    answer = token_request(emulator, {"grant_type": "client_credentials"}, auth=(DEMO_CONSUMER_KEY, "wrong"))
    assert error_of(answer) == ("unauthorized_client", "Invalid OAuth client credentials")


def test_wrong_key(emulator, token_request):
    answer = token_request(emulator, {"grant_type": "client_credentials"}, auth=("unknown-key", DEMO_CONSUMER_SECRET))
    assert error_of(answer) == ("unauthorized_client", "Invalid OAuth client credentials")


def test_no_client_credentials(emulator, token_request):
    answer = token_request(emulator, {"grant_type": "client_credentials"}, auth=None)
    assert error_of(answer) == ("unauthorized_client", "Requests must be authenticated using OAuth client credentials")


@pytest.mark.parametrize("grant", ["client_credentials", "authorization_code", "refresh_token"])
def test_consumer_without_callback_url(emulator, token_request, grant):
    answer = token_request(emulator, {"grant_type": grant, "code": "x", "refresh_token": "x"},
                           auth=(NO_CALLBACK_CONSUMER_KEY, NO_CALLBACK_CONSUMER_SECRET))
    assert error_of(answer) == ("invalid_request", "No callback uri defined for the OAuth client.")


def test_no_grant_type(emulator, token_request):
    answer = token_request(emulator, {})
    assert error_of(answer) == ("invalid_grant", "Unsupported grant type: None")


def test_json_body_is_not_a_form(emulator, http):
    answer = http.post(emulator.token_url, content=json.dumps({"grant_type": "client_credentials"}),
                       headers={"Content-Type": "application/json"}, auth=(PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET))
    assert error_of(answer) == ("invalid_grant", "Unsupported grant type: None")


def test_password_grant_is_gone(emulator, token_request):
    answer = token_request(emulator, {"grant_type": "password", "username": "alice", "password": "x"})
    assert error_of(answer) == ("invalid_grant", "Unsupported grant type: password")


def test_bearer_client_auth_gets_an_html_page(emulator, http):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    answer = http.post(emulator.token_url, data={"grant_type": "client_credentials"},
                       headers={"Authorization": f"Bearer {token}"})
    assert answer.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        answer.json()


def test_checks_client_auth_before_callback_before_grant(emulator, token_request):
    # Wrong secret on the no-callback consumer with a bad grant: client auth wins.
    answer = token_request(emulator, {"grant_type": "nonsense"}, auth=(NO_CALLBACK_CONSUMER_KEY, "wrong"))
    assert error_of(answer)[0] == "unauthorized_client"
    answer = token_request(emulator, {"grant_type": "nonsense"}, auth=(NO_CALLBACK_CONSUMER_KEY, NO_CALLBACK_CONSUMER_SECRET))
    assert error_of(answer)[0] == "invalid_request"


def test_scope_field_knob(emulator_factory, token_request):
    emu = emulator_factory(scope_field="scope")
    body = emu.mint_token(ACCOUNT_ONLY_CONSUMER_KEY)
    assert body["scope"] == "account" and "scopes" not in body
    emu.scope_field = "both"
    body = emu.mint_token(DEMO_CONSUMER_KEY)
    assert body["scope"] == body["scopes"]


def test_long_tokens(emulator_factory):
    emu = emulator_factory(access_token_length=3000)
    assert len(emu.mint_token(DEMO_CONSUMER_KEY)["access_token"]) == 3000


def test_token_lifetime_knob(emulator, token_request):
    emulator.token_lifetime = 3
    body = token_request(emulator, {"grant_type": "client_credentials"}, auth=(PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET)).json()
    assert body["expires_in"] == 3
