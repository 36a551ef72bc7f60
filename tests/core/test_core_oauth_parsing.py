"""Parsing, unit by unit: pasted codes, authorize URLs, token answers, scopes, error sentences.

Token answers come from ``httpx.MockTransport`` here (parsing only); the flows run against the
emulator in the other files.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bbwizard import net, oauth
from bbwizard.config import Profile, utc_now
from bbwizard.errors import (
    AuthorizationDenied,
    CodeError,
    ConsumerError,
    NetworkError,
    ProtocolError,
    ScopeError,
)
from bbwizard.secret import Secret

STATE = "s" * 43
SITE = "https://bitbucket.example"
GOOD = {"access_token": "A" * 40, "scopes": "account repository", "expires_in": 7200, "token_type": "bearer",
        "state": "authorization_code", "refresh_token": "R" * 30}


# --- pasted input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pasted",
    ["abcDEF123", "  abcDEF123  ", "\nabcDEF123\n", '"abcDEF123"', "'abcDEF123'", "abc DEF\n123", "`abcDEF123`"],
)
def test_a_bare_code_is_taken_with_junk_around_it_and_a_warning(pasted: str) -> None:
    result = oauth.parse_pasted(pasted, STATE)
    assert result.code == "abcDEF123"
    assert result.warning == (
        "bbwizard can't check that this code comes from this sign-in (a bare code carries no state). "
        "Use it only if you copied it from the page this sign-in opened."
    )


@pytest.mark.parametrize(
    "pasted",
    [
        f"http://localhost:8976/?code=abcDEF123&state={STATE}",
        f"  'http://localhost:8976/?code=abcDEF123&state={STATE}'\n",
        f"http://localhost:8976/?code=abc\nDEF123&state={STATE}",  # wrapped by the terminal
        f"?code=abcDEF123&state={STATE}",
        f"code=abcDEF123&state={STATE}",
        f"http://localhost/cb?state={STATE}&code=abcDEF123",
    ],
)
def test_a_whole_redirect_url_gives_its_code(pasted: str) -> None:
    result = oauth.parse_pasted(pasted, STATE)
    assert result.code == "abcDEF123" and result.warning is None and result.state == STATE


def test_a_url_with_another_state_is_refused() -> None:
    with pytest.raises(CodeError) as caught:
        oauth.parse_pasted("http://localhost:8976/?code=abcDEF123&state=other", STATE)
    assert str(caught.value) == (
        "That address belongs to another sign-in attempt (its state doesn't match this one), so bbwizard "
        "refused it. Use the address from the browser tab this sign-in opened, or start again."
    )


def test_access_denied_says_you_clicked_deny() -> None:
    with pytest.raises(AuthorizationDenied) as caught:
        oauth.parse_pasted(f"http://localhost:8976/?error=access_denied&state={STATE}", STATE)
    assert str(caught.value) == (
        "You clicked Deny on Bitbucket's page, so bbwizard got no access. Start the sign-in again and click Grant access."
    )


def test_another_error_in_the_url_is_named() -> None:
    with pytest.raises(CodeError, match=r"Bitbucket refused the sign-in: invalid_request \(Unsupported code_challenge_method\)\."):
        oauth.parse_pasted(
            f"http://localhost:8976/?error=invalid_request&error_description=Unsupported+code_challenge_method&state={STATE}",
            STATE,
        )


@pytest.mark.parametrize("pasted", ["", "   ", "\n", '""'])
def test_an_empty_code_is_refused(pasted: str) -> None:
    with pytest.raises(CodeError, match=r"^The code is empty\. Paste the code, or the whole address the browser landed on\.$"):
        oauth.parse_pasted(pasted, STATE)


def test_a_url_without_a_code_is_refused() -> None:
    with pytest.raises(CodeError, match=r"^That address has no code in it\."):
        oauth.parse_pasted(f"http://localhost:8976/?state={STATE}", STATE)


def test_something_that_is_no_code_is_refused_without_echoing_it() -> None:
    with pytest.raises(CodeError) as caught:
        oauth.parse_pasted("my secret password!", STATE)
    assert "password" not in str(caught.value)
    assert str(caught.value).startswith("That doesn't look like a code or an address.")


# --- the authorize URL --------------------------------------------------------------------------


def test_each_attempt_gets_a_fresh_state_and_pkce() -> None:
    first = oauth.start_authorization(SITE, "KEY")
    second = oauth.start_authorization(SITE, "KEY")
    assert first.state != second.state and len(first.state) >= 43
    parts = urlsplit(first.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{SITE}/site/oauth2/authorize"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["client_id"] == "KEY" and query["response_type"] == "code" and query["state"] == first.state
    assert "redirect_uri" not in query
    verifier = first.code_verifier.reveal()
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == expected and query["code_challenge_method"] == "S256"


def test_redirect_uri_only_when_asked_and_pkce_can_be_off() -> None:
    auth = oauth.start_authorization(SITE + "/", "KEY", redirect_uri="http://localhost:8976/", pkce=False)
    query = parse_qs(urlsplit(auth.url).query)
    assert query["redirect_uri"] == ["http://localhost:8976/"] and auth.redirect_uri == "http://localhost:8976/"
    assert "code_challenge" not in query and auth.code_verifier is None


# --- token answers ------------------------------------------------------------------------------


def _transport(status: int = 200, body: object = GOOD, content_type: str = "application/json", seen: list | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=raw, headers={"content-type": content_type})

    return httpx.MockTransport(handler)


def _consumer() -> Profile:
    return Profile("p", "KEY", Secret("the-consumer-secret"), site_url=SITE)


def test_a_good_answer_gives_tokens_expiring_from_the_request_start() -> None:
    before = utc_now()
    tokens = oauth.client_credentials(_consumer(), transport=_transport())
    after = utc_now()
    assert tokens.access_token.reveal() == "A" * 40 and tokens.refresh_token.reveal() == "R" * 30
    assert before + timedelta(seconds=7200) <= tokens.expires_at <= after + timedelta(seconds=7200)
    assert tokens.scopes == ["account", "repository"] and tokens.missing_scopes == []


@pytest.mark.parametrize(
    ("fields", "scopes"),
    [
        ({"scopes": "account repository"}, ["account", "repository"]),
        ({"scope": "account repository:write"}, ["account", "repository:write"]),
        ({"scopes": "account", "scope": "repository"}, ["account", "repository"]),
        ({}, None),
    ],
)
def test_scopes_are_read_from_scopes_and_scope(fields: dict, scopes: list | None) -> None:
    body = {k: v for k, v in GOOD.items() if k != "scopes"} | fields
    assert oauth.client_credentials(_consumer(), transport=_transport(body=body)).scopes == scopes


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"<html><body>Welcome to Airport Wi-Fi</body></html>", "text/html",
         "Bitbucket's token endpoint answered with a web page instead of JSON (HTTP 200). A captive portal, a proxy or a wrong site URL is in the way"),
        (b'{"access_token": "AAAA", "expi', "application/json",
         "Bitbucket's token endpoint sent an answer that was cut off or malformed (HTTP 200; the JSON breaks at character"),
        (b"", "application/json", "Bitbucket's token endpoint answered with nothing at all (HTTP 200)."),
        ({k: v for k, v in GOOD.items() if k != "access_token"}, "application/json",
         "Bitbucket's token endpoint's answer has no access_token."),
        ({k: v for k, v in GOOD.items() if k != "expires_in"}, "application/json",
         "Bitbucket's token endpoint's answer has no expires_in, so bbwizard can't tell when the token ends."),
        (GOOD | {"expires_in": 0}, "application/json",
         "Bitbucket's token endpoint's answer says the token expires at once (expires_in=0)."),
        (GOOD | {"expires_in": "7200"}, "application/json",
         "Bitbucket's token endpoint's answer gives expires_in as str, not a number of seconds"),
        (GOOD | {"expires_in": True}, "application/json",
         "Bitbucket's token endpoint's answer gives expires_in as bool, not a number of seconds"),
        ([1, 2], "application/json", "Bitbucket's token endpoint answered JSON that isn't an object."),
    ],
)
def test_odd_answers_become_protocol_errors(body: object, content_type: str, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        oauth.client_credentials(_consumer(), transport=_transport(body=body, content_type=content_type))
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (400, {"error": "unauthorized_client", "error_description": "Invalid OAuth client credentials"}, ConsumerError,
         "Bitbucket doesn't accept this key and secret. Copy both again from Bitbucket: Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers) → your client"),
        (400, {"error": "invalid_request", "error_description": "No callback uri defined for the OAuth client."}, ConsumerError,
         "The consumer has no callback URL. In Bitbucket: Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers) → your client → Authorization: tick Authorization code, Callback URL: http://localhost:8976/"),
        (401, b"<html>Unauthorized</html>", ProtocolError, "Bitbucket's token endpoint answered with a web page instead of JSON (HTTP 401)"),
    ],
)
def test_consumer_check_errors_say_what_to_fix(status: int, body: object, kind: type, message: str) -> None:
    with pytest.raises(kind) as caught:
        oauth.check_consumer(SITE, "KEY", "the-consumer-secret", transport=_transport(status, body))
    assert str(caught.value).startswith(message)


def test_consumer_check_tells_public_from_private() -> None:
    public = oauth.check_consumer(
        SITE, "KEY", "the-consumer-secret",
        transport=_transport(400, {"error": "invalid_grant", "error_description": 'Cannot use client_credentials with a consumer marked as "public". Calls for auto generated consumers should use urn:bitbucket:oauth2:jwt instead.'}),
    )
    assert public.kind == "public" and public.token is None
    assert public.message == "The key and secret are right. This consumer is public, so the browser sign-in comes next."
    seen: list[httpx.Request] = []
    private = oauth.check_consumer(SITE, "KEY", Secret("the-consumer-secret"), transport=_transport(seen=seen))
    assert private.kind == "private" and private.token is not None
    assert private.message.startswith("The key and secret are right. This consumer may use client credentials")
    request = seen[0]
    assert request.url == f"{SITE}/site/oauth2/access_token"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"KEY:the-consumer-secret").decode()
    assert parse_qs(request.content.decode()) == {"grant_type": ["client_credentials"]}


@pytest.mark.parametrize(
    ("status", "body", "seen"),
    [
        (429, {"type": "error"}, "Bitbucket couldn't check the consumer just now (HTTP 429)"),
        (503, b"Service Unavailable", "Bitbucket couldn't check the consumer just now (HTTP 503)"),
        (400, {"error": "unauthorized_client", "error_description": "This OAuth client is not allowed to use the client_credentials grant."},
         "Bitbucket refused the check without saying the key or secret is wrong (unauthorized_client: This OAuth client is not allowed to use the client_credentials grant.)"),
        (400, {"error": "unauthorized_client"}, "Bitbucket refused the check without saying the key or secret is wrong (unauthorized_client)"),
        (400, {"error": "invalid_grant", "error_description": "Client credentials are\x1b]0;pwned\x07 off"},
         "Bitbucket refused the check without saying the key or secret is wrong (invalid_grant: Client credentials are"),
        (403, {"error": "access_denied", "error_description": "Not for you."},
         "Bitbucket refused the check without saying the key or secret is wrong (access_denied: Not for you.)"),
    ],
)
def test_a_probe_that_proves_nothing_lets_the_browser_sign_in_go_on(status: int, body: object, seen: str) -> None:
    check = oauth.check_consumer(SITE, "KEY", "the-consumer-secret", transport=_transport(status, body))
    assert check.kind == "unconfirmed" and check.token is None
    assert check.message.startswith(seen), check.message
    assert check.message.endswith(
        "The browser sign-in comes next; the code exchange tells for sure whether the key and secret are right."
    )
    assert "\x1b" not in check.message and "\x07" not in check.message


def test_an_empty_key_or_secret_is_refused_before_any_request() -> None:
    with pytest.raises(ConsumerError, match="The consumer key is empty"):
        oauth.check_consumer(SITE, " ", "x", transport=_transport())
    with pytest.raises(ConsumerError, match="The consumer secret is empty"):
        oauth.check_consumer(SITE, "KEY", "", transport=_transport())


def test_the_exchange_repeats_redirect_uri_and_sends_the_verifier() -> None:
    seen: list[httpx.Request] = []
    auth = oauth.start_authorization(SITE, "KEY", redirect_uri="http://localhost:8976/")
    oauth.exchange_code(_consumer(), "theCode123", auth, transport=_transport(seen=seen))
    form = {k: v[0] for k, v in parse_qs(seen[0].content.decode()).items()}
    assert form == {
        "grant_type": "authorization_code",
        "code": "theCode123",
        "redirect_uri": "http://localhost:8976/",
        "code_verifier": auth.code_verifier.reveal(),
    }
    seen.clear()
    oauth.exchange_code(_consumer(), "theCode123", oauth.start_authorization(SITE, "KEY", pkce=False), transport=_transport(seen=seen))
    assert set(parse_qs(seen[0].content.decode())) == {"grant_type", "code"}


def test_a_refused_code_says_codes_work_once() -> None:
    with pytest.raises(CodeError) as caught:
        oauth.exchange_code(
            _consumer(), "usedCode", None,
            transport=_transport(400, {"error": "invalid_grant", "error_description": "The specified code is not valid."}),
        )
    assert str(caught.value) == (
        "Bitbucket refused the code: it was already used, has expired, or belongs to another consumer. "
        "A code works once and for a few minutes: start the sign-in again and use the new code."
    )


def test_an_unknown_error_is_named_with_its_description_redacted() -> None:
    body = {"error": "server_error", "error_description": "boom access_token=abcdefgh1234 for the-consumer-secret"}
    with pytest.raises(ConsumerError) as caught:
        oauth.client_credentials(_consumer(), transport=_transport(400, body))
    message = str(caught.value)
    assert message.startswith("Bitbucket refused the request (server_error: boom")
    assert "abcdefgh1234" not in message and "the-consumer-secret" not in message


# --- scopes -------------------------------------------------------------------------------------


def test_implied_scopes_count() -> None:
    assert oauth.missing_scopes(["account", "repository:write"]) == []
    assert oauth.missing_scopes(["account", "pullrequest"]) == []
    assert oauth.missing_scopes(["account", "repository:admin"]) == ["repository"]
    assert oauth.missing_scopes([]) == ["account", "repository"]


def test_missing_scopes_name_the_permission_to_tick() -> None:
    with pytest.raises(ScopeError) as caught:
        oauth.check_scopes(["account"])
    assert caught.value.missing == ["repository"]
    assert str(caught.value) == (
        "The token lacks the repository scope bbwizard needs. In Bitbucket: Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers) → your client → "
        "Scopes (Permissions on the older form), tick Repositories: Read, save, then sign in again (bbwizard login)."
    )
    with pytest.raises(ScopeError, match=r"lacks the account and repository scopes .* tick Account: Read and Repositories: Read"):
        oauth.check_scopes(["email"])
    oauth.check_scopes(None)  # not reported: nothing to say


def test_expiry_is_described_relative_and_absolute() -> None:
    now = utc_now().replace(hour=12, minute=0, second=0, microsecond=0)
    assert oauth.describe_expiry(now + timedelta(hours=1, minutes=59, seconds=30), now).startswith("in 1 h 59 min (")
    assert oauth.describe_expiry(now - timedelta(minutes=3), now) == f"3 min ago ({(now - timedelta(minutes=3)):%Y-%m-%d %H:%M} UTC)"
    assert oauth.describe_expiry(None, now) == "unknown"


def test_retry_delay_honours_retry_after_and_caps_it() -> None:
    from email.utils import format_datetime

    assert net.retry_delay("3", 0) == 3.0
    assert net.retry_delay("3600", 0) == net.MAX_RETRY_DELAY
    soon = format_datetime(utc_now() + timedelta(seconds=5), usegmt=True)
    assert 3.0 <= net.retry_delay(soon, 0) <= 5.0
    for attempt in range(6):
        assert 0 < net.retry_delay(None, attempt) <= net.MAX_RETRY_DELAY
    assert net.retry_delay("not a date", 0) <= 0.5


def test_an_untrusted_certificate_says_how_to_add_a_ca_bundle() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate", request=request)

    with pytest.raises(NetworkError) as caught:
        oauth.check_consumer(SITE, "KEY", "the-consumer-secret", transport=httpx.MockTransport(handler))
    assert str(caught.value) == (
        "The TLS certificate of bitbucket.example isn't trusted, so bbwizard stopped (it never turns verification off). "
        "If your network inspects TLS or the server has a private CA, sign in with --ca-bundle FILE "
        "(bbwizard login), or point SSL_CERT_FILE at that CA bundle, then try again."
    )
