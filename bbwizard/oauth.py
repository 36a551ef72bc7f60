"""Bitbucket Cloud OAuth 2.0: consumer check, authorize URL, pasted codes, token exchange and refresh.

Synchronous on purpose: the CLI calls it directly and the TUI through ``asyncio.to_thread``. httpx is
imported inside the functions that go on the network, so ``bbwizard token`` with a fresh token
never imports it.

What happens on each answer of the token endpoint is in ``../shared/bitbucket-cloud.md``; the rules
(single flight, never retry an exchange, no blind retries of a refresh) are ``security.md`` 1, 3,
5–8, 17–19.

Decision on missing scopes: :func:`exchange_code` and friends return the tokens whatever the
scopes; :func:`check_scopes` raises :class:`ScopeError`. The caller saves the profile first (a
refresh token is precious: it rotates) and then checks, so ``bbwizard status`` can show what the
consumer granted while the error says which permission to tick.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import random
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from bbwizard.config import ConfigStore, Profile, utc_now
from bbwizard.errors import (
    AuthorizationDenied,
    BBWizardError,
    CodeError,
    ConfigError,
    ConsumerError,
    NetworkError,
    ProtocolError,
    RateLimited,
    SignInRequired,
)
from bbwizard.humanize import human_duration
from bbwizard.net import (
    CONSUMER_SETTINGS,
    PERMISSION_FOR_SCOPE,
    REQUIRED_SCOPES,
    ServerNotReached,
    check_scopes,
    fetch_user,
    http_client,
    missing_scopes,
    network_error,
    not_json,
    parse_scopes,
    require_https,
    retry_delay,
)
from bbwizard.net import clean as _clean_description
from bbwizard.secret import Secret, redact, remember

if TYPE_CHECKING:
    import httpx

#: What tells the time: ``utc_now`` unless a caller (the wizard, a test) brings its own.
Clock = Callable[[], datetime]
#: A refresh that never reached the server is tried this many times in all.
REFRESH_ATTEMPTS = 3
#: The longest token lifetime bbwizard believes (Bitbucket's is two hours): anything beyond is a
#: damaged answer, and a date that far out would overflow.
MAX_EXPIRES_IN = 366 * 24 * 3600

# --- value types --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint granted. ``scopes`` is None when the answer didn't say."""

    access_token: Secret
    refresh_token: Secret | None
    expires_at: datetime
    scopes: list[str] | None = None
    token_type: str = "bearer"
    #: When the token request started (``expires_at`` minus the lifetime Bitbucket gave).
    issued_at: datetime | None = None

    @property
    def missing_scopes(self) -> list[str]:
        return missing_scopes(self.scopes) if self.scopes is not None else []


@dataclass(frozen=True)
class ConsumerCheck:
    """The verdict on a key and secret. ``kind`` "private" carries a token right away."""

    kind: Literal["private", "public", "unconfirmed"]
    message: str
    token: TokenSet | None = None


@dataclass(frozen=True)
class Authorization:
    """One attempt at the browser step: repeat ``redirect_uri`` and ``code_verifier`` at the exchange."""

    url: str
    state: str
    redirect_uri: str | None = None
    code_verifier: Secret | None = None


@dataclass(frozen=True)
class PastedCode:
    """A code read from what a person pasted; ``warning`` says when its origin couldn't be checked."""

    code: str = field(repr=False)  # a live code: kept out of repr and tracebacks' locals
    warning: str | None = None
    state: str | None = None


# --- the authorize step -------------------------------------------------------------------------


def _site(site_url: str) -> str:
    return site_url.rstrip("/")


def authorize_endpoint(site_url: str) -> str:
    return f"{_site(site_url)}/site/oauth2/authorize"


def token_endpoint(site_url: str) -> str:
    return f"{_site(site_url)}/site/oauth2/access_token"


def new_state() -> str:
    return secrets.token_urlsafe(32)


def start_authorization(
    site_url: str,
    client_id: str,
    redirect_uri: str | None = None,
    pkce: bool = True,
) -> Authorization:
    """A fresh attempt: new ``state``, optional S256 PKCE, ``redirect_uri`` only when given.

    Leave ``redirect_uri`` None when the consumer's own callback URL is the one to use: Bitbucket
    then redirects there, and nothing must match at the exchange.
    """
    state = new_state()
    params = {"client_id": client_id, "response_type": "code", "state": state}
    if redirect_uri:
        params["redirect_uri"] = redirect_uri
    verifier = None
    if pkce:
        raw_verifier = secrets.token_urlsafe(64)  # 86 characters, inside RFC 7636's 43..128
        verifier = Secret(raw_verifier)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(raw_verifier.encode()).digest()).rstrip(b"=").decode()
        params["code_challenge"] = challenge
        params["code_challenge_method"] = "S256"
    url = f"{authorize_endpoint(site_url)}?{urlencode(params)}"
    return Authorization(url=url, state=state, redirect_uri=redirect_uri, code_verifier=verifier)


_QUOTES = "\"'`<>“”‘’«»"
_CODE_CHARS = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
_DENIED = (
    "You clicked Deny on Bitbucket's page, so bbwizard got no access. "
    "Start the sign-in again and click Grant access."
)
_NO_STATE_WARNING = (
    "bbwizard can't check that this code comes from this sign-in (a bare code carries no state). "
    "Use it only if you copied it from the page this sign-in opened."
)


class IncompletePaste(CodeError):
    """What was pasted is the start of a redirect address, cut off (by a line break, or a copy
    that stopped short): its code is never exchanged. A reader may join the next line and try
    again; the message is the sentence for a person when nothing more comes."""


_CUT_OFF = (
    "That address looks cut off: it ends before its state, so bbwizard won't use the code in it. "
    "Paste the whole address the browser landed on (if it spans two lines, copy both), or only the code."
)
#: Pasted text this long is no address bbwizard is waiting for: readers stop joining lines here.
MAX_PASTE = 16_384


def parse_pasted(text: str, expected_state: str | None) -> PastedCode:
    """The code in what a person pasted: a bare code (spaces, newlines and quotes around it are
    fine), a whole redirect URL, or just its query. A URL's state must match ``expected_state``.

    A URL that stops before its state (or inside it) raises :class:`IncompletePaste`: a line
    break cut it, and its code may be cut too."""
    if text is None:
        text = ""
    cleaned = "".join(str(text).split())  # a code or URL never holds whitespace; wrapping adds it
    cleaned = cleaned.strip(_QUOTES)
    if not cleaned:
        raise CodeError("The code is empty. Paste the code, or the whole address the browser landed on.")
    looks_like_url = "://" in cleaned or cleaned.startswith(("?", "/", "#")) or re.search(r"(^|[?&#])(code|error|state)=", cleaned)
    if not looks_like_url:
        if not _CODE_CHARS.match(cleaned) or len(cleaned) > 4096:
            raise CodeError(
                "That doesn't look like a code or an address. Paste the code shown after "
                "Grant access, or the whole address the browser landed on."
            )
        remember(cleaned)
        return PastedCode(code=cleaned, warning=_NO_STATE_WARNING if expected_state else None)

    if "://" in cleaned:
        parts = urlsplit(cleaned)
    else:
        rest = cleaned.lstrip("/")
        if rest.startswith(("?", "#")) or "?" in rest:
            parts = urlsplit("x://host/" + rest)  # a query, or a path with its query
        else:
            parts = urlsplit("x://host/?" + rest)  # "code=…&state=…" on its own
    query = parse_qs(parts.query, keep_blank_values=True)
    if parts.fragment:  # some pages move the answer into the fragment
        for key, values in parse_qs(parts.fragment, keep_blank_values=True).items():
            query.setdefault(key, values)
    code = (query.get("code") or [""])[0].strip().strip(_QUOTES)
    state = (query.get("state") or [None])[0]
    error = (query.get("error") or [None])[0]
    state_ok = state is None or expected_state is None or hmac.compare_digest(state.encode(), expected_state.encode())
    if error:
        if not state_ok:
            raise CodeError(_WRONG_STATE)
        if error == "access_denied":
            raise AuthorizationDenied(_DENIED)
        description = _clean_description((query.get("error_description") or [""])[0])
        detail = f" ({description})" if description else ""
        raise CodeError(
            f"Bitbucket refused the sign-in: {_clean_description(error, 60)}{detail}. "
            f"Check the consumer in Bitbucket ({CONSUMER_SETTINGS}), then start again."
        )
    # Bitbucket's redirect carries the state bbwizard sent: none, or the start of it, means the
    # address was cut (a terminal's wrap, a short copy), and the code may be cut as well.
    cut_off = bool(expected_state) and (state is None or (len(state) < len(expected_state) and expected_state.startswith(state)))
    if not code:
        problem = (
            "That address has no code in it. Paste the whole address the browser landed on "
            "after you clicked Grant access."
        )
        raise IncompletePaste(problem) if cut_off or state_ok else CodeError(problem)
    if cut_off:
        raise IncompletePaste(_CUT_OFF)
    if not state_ok:
        raise CodeError(_WRONG_STATE)
    if not _CODE_CHARS.match(code):
        raise CodeError("The code in that address is damaged. Copy the whole address again, exactly.")
    remember(code)
    warning = _NO_STATE_WARNING if (state is None and expected_state) else None
    return PastedCode(code=code, warning=warning, state=state)


_WRONG_STATE = (
    "That address belongs to another sign-in attempt (its state doesn't match this one), so "
    "bbwizard refused it. Use the address from the browser tab this sign-in opened, or start again."
)


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass
class _Answer:
    """One answer of Bitbucket. ``body`` and ``headers`` may hold tokens: they stay out of ``repr``,
    so a traceback that prints locals (Textual's does) can't show them."""

    status: int
    content_type: str
    body: bytes = field(repr=False)
    started_at: datetime = field(default_factory=utc_now)
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict, repr=False)


def _post_token(
    site_url: str,
    client_id: str,
    client_secret: Secret | str | None,
    data: dict[str, str | Secret],
    transport: httpx.BaseTransport | None,
    ca_bundle: str | None = None,
    clock: Clock = utc_now,
) -> _Answer:
    import httpx

    require_https(site_url)
    if client_secret is None:
        raise ConsumerError(
            "This profile has no consumer secret. Sign in again with the key and secret "
            f"(bbwizard login), shown in Bitbucket under {CONSUMER_SETTINGS}."
        )
    secret = client_secret if isinstance(client_secret, Secret) else Secret(client_secret)
    url = token_endpoint(site_url)
    started_at = clock()
    with http_client(transport, ca_bundle=ca_bundle) as client:
        try:
            # Secrets are revealed only inside this call, so no local of ours holds one bare.
            response = client.post(
                url,
                data={key: value.reveal() if isinstance(value, Secret) else value for key, value in data.items()},
                auth=httpx.BasicAuth(client_id, secret.reveal()),
            )
        except httpx.HTTPError as error:
            raise network_error(error, url) from None
        except (httpx.InvalidURL, ValueError) as error:  # a site URL or key httpx can't send
            raise ProtocolError(
                f"bbwizard couldn't send a request to {redact(url)} ({_clean_description(str(error), 120) or type(error).__name__}). "
                "Check the site URL and the consumer key, then try again."
            ) from None
    return _Answer(
        status=response.status_code,
        content_type=response.headers.get("content-type", ""),
        body=response.content,
        started_at=started_at,
        url=url,
        headers=dict(response.headers),
    )


def _decode_json(answer: _Answer, what: str) -> Any:
    """The JSON in an answer, or a ProtocolError saying what came instead."""
    try:  # no local copy of the body: it may hold tokens, and tracebacks print locals
        return json.loads(answer.body.decode("utf-8", "replace"))
    except ValueError:
        pass
    raise not_json(answer.body, status=answer.status, content_type=answer.content_type, speaker=what, check="the site URL")


Context = Literal["check", "exchange", "refresh", "client_credentials"]

_WRONG_CREDENTIALS = (
    "Bitbucket doesn't accept this key and secret. Copy both again from Bitbucket: "
    f"{CONSUMER_SETTINGS} (the Key, and the Secret shown beside it)."
)


def _no_callback_message() -> str:
    from bbwizard.loopback import suggest_callback_url

    return (
        f"The consumer has no callback URL. In Bitbucket: {CONSUMER_SETTINGS} → Authorization: "
        f"tick Authorization code, Callback URL: {suggest_callback_url()} , save, then try again."
    )


PUBLIC_CONSUMER_MESSAGE = (
    "This consumer is public, so it can't get a token without the browser. In Bitbucket: "
    f"{CONSUMER_SETTINGS} → Authorization, tick Client credentials (on the older form: 'This is a "
    "private consumer'), or sign in with the browser instead."
)


# The only texts that prove what is wrong with a consumer (bitbucket-cloud.md's error table). Any
# other refusal of a client_credentials probe proves nothing: the 2026 "OAuth clients" may refuse
# that grant with `unauthorized_client` and words of their own.
_CREDENTIAL_TEXTS = ("invalid oauth client credentials", "requests must be authenticated using oauth client credentials")
_NO_CALLBACK_TEXT = "no callback uri defined"
_PUBLIC_TEXT = "cannot use client_credentials with a consumer marked as"


def _documented(description: str, texts: tuple[str, ...]) -> bool:
    low = " ".join(description.lower().split())
    return any(low.startswith(text) for text in texts)


def _token_error(answer: _Answer, context: Context) -> BBWizardError:
    """Map a non-200 answer of the token endpoint to the sentence a person needs."""
    what = "Bitbucket's token endpoint"
    if answer.status == 429:
        return RateLimited(
            "Bitbucket is rate-limiting this consumer (HTTP 429: too many requests). Wait a few minutes, then try again."
        )
    if answer.status >= 500:
        return NetworkError(
            f"{what} failed (HTTP {answer.status}); the trouble is on Bitbucket's side or a proxy's. Try again in a minute."
        )
    payload = _decode_json(answer, what)
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), str):
        return ProtocolError(
            f"{what} refused the request (HTTP {answer.status}) without saying why. Check the site URL, then try again."
        )
    error = payload["error"]
    description = payload.get("error_description") if isinstance(payload.get("error_description"), str) else ""
    low = description.lower()
    if error == "unauthorized_client" and _documented(description, _CREDENTIAL_TEXTS):
        return ConsumerError(_WRONG_CREDENTIALS)
    if _documented(description, (_NO_CALLBACK_TEXT,)):
        return ConsumerError(_no_callback_message())
    if _documented(description, (_PUBLIC_TEXT,)):
        return ConsumerError(PUBLIC_CONSUMER_MESSAGE)
    if context == "refresh" and (error == "invalid_grant" or "refresh_token" in low or "refresh token" in low):
        return SignInRequired("Bitbucket no longer accepts this profile's refresh token, so the sign-in has ended.")
    if context == "exchange" and error == "invalid_grant":
        if "redirect" in low:
            return CodeError(
                "Bitbucket refused the code: the callback URL doesn't match the consumer's. Set the same "
                f"callback URL on the consumer ({CONSUMER_SETTINGS}) and in bbwizard, then sign in again."
            )
        return CodeError(
            "Bitbucket refused the code: it was already used, has expired, or belongs to another consumer. "
            "A code works once and for a few minutes: start the sign-in again and use the new code."
        )
    detail = _clean_description(description)
    return ConsumerError(
        f"Bitbucket refused the request ({_clean_description(error, 60)}{': ' + detail if detail else ''}). "
        f"Check the consumer in Bitbucket ({CONSUMER_SETTINGS}), then try again."
    )


def parse_token_answer(answer: _Answer | httpx.Response, started_at: datetime | None = None) -> TokenSet:
    """Read a 200 answer of the token endpoint. ``expires_at`` = request start + ``expires_in``."""
    if not isinstance(answer, _Answer):
        try:
            url = str(answer.request.url)
        except RuntimeError:  # a Response built by hand has no request
            url = ""
        answer = _Answer(
            status=answer.status_code,
            content_type=answer.headers.get("content-type", ""),
            body=answer.content,
            started_at=started_at or utc_now(),
            url=url,
        )
    what = "Bitbucket's token endpoint"
    payload = _decode_json(answer, what)
    if not isinstance(payload, dict):
        raise ProtocolError(f"{what} answered JSON that isn't an object. Try again; check the site URL.")
    # Wrap the secrets at once and take them out of the payload: no local holds them bare, so a
    # traceback that prints locals (Textual's does) shows only masked values.
    access_token = _pop_secret(payload, "access_token")
    refresh_token = _pop_secret(payload, "refresh_token")
    if access_token is None:
        raise ProtocolError(f"{what}'s answer has no access_token. Try again; check the site URL.")
    if "expires_in" not in payload or payload["expires_in"] is None:
        raise ProtocolError(f"{what}'s answer has no expires_in, so bbwizard can't tell when the token ends.")
    expires_in = payload["expires_in"]
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        raise ProtocolError(
            f"{what}'s answer gives expires_in as {type(expires_in).__name__}, not a number of seconds, "
            "so bbwizard can't tell when the token ends."
        )
    if not math.isfinite(expires_in) or expires_in > MAX_EXPIRES_IN:
        raise ProtocolError(
            f"{what}'s answer gives an impossible expires_in ({str(expires_in)[:20]} seconds), so bbwizard "
            "can't tell when the token ends. Try again; if it keeps happening, check the site URL."
        )
    if expires_in <= 0:
        raise ProtocolError(
            f"{what}'s answer says the token expires at once (expires_in={expires_in}). Try again; if it "
            "keeps happening, check the system clock and the site URL."
        )
    token_type = payload.get("token_type")
    if isinstance(token_type, str) and token_type.lower() not in ("bearer", ""):
        raise ProtocolError(f"{what} granted a {token_type!r} token; bbwizard can only use bearer tokens.")
    scope_field = payload.get("scopes", payload.get("scope"))
    scopes = parse_scopes(scope_field) if scope_field is not None else None
    if "scopes" in payload and "scope" in payload:  # both present (the 2026 change): take the union
        scopes = sorted(set(parse_scopes(payload["scopes"])) | set(parse_scopes(payload["scope"])))
    return TokenSet(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=answer.started_at + timedelta(seconds=float(expires_in)),
        scopes=scopes,
        token_type="bearer",
        issued_at=answer.started_at,
    )


def _pop_secret(payload: dict[str, Any], key: str) -> Secret | None:
    value = payload.pop(key, None)
    if not isinstance(value, str) or not value:
        return None
    secret = Secret(value)
    del value
    if any(ch.isspace() or not ch.isprintable() for ch in secret.reveal()):
        # A token goes into an HTTP header and git's credential protocol, both line-based: a line
        # break in it would smuggle in a header or a `host=`/`password=` answer of its own.
        raise ProtocolError(
            f"Bitbucket's token endpoint sent a token ({key}) with spaces or control characters in it, so "
            "bbwizard won't use it. Try again; if it keeps happening, check the site URL."
        )
    return secret


def _tokens_or_error(answer: _Answer, context: Context) -> TokenSet:
    if answer.status == 200:
        return parse_token_answer(answer)
    raise _token_error(answer, context)


# --- the grants ---------------------------------------------------------------------------------


def _secret(value: Secret | str | None) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(value)


def check_consumer(
    site_url: str,
    client_id: str,
    client_secret: Secret | str,
    *,
    transport: httpx.BaseTransport | None = None,
    ca_bundle: str | None = None,
) -> ConsumerCheck:
    """One ``client_credentials`` request that tells what this key and secret are.

    Returns a "private" check (valid; holding a token of the consumer's app user), a "public"
    one (valid; the browser sign-in is next), or an "unconfirmed" one: Bitbucket refused the probe
    in a way that proves nothing (another refusal, a 429, a 5xx, no answer in time), so the message
    says what was seen and the browser sign-in goes on; the code exchange is the final judge.
    Raises :class:`ConsumerError` only for what the documented texts prove (a wrong key or secret,
    no callback URL), :class:`NetworkError` when the site can't be reached at all, and
    :class:`ProtocolError` for a site that isn't Bitbucket's token endpoint.
    """
    client_id = (client_id or "").strip()
    if not client_id:
        raise ConsumerError(f"The consumer key is empty. Copy it from Bitbucket: {CONSUMER_SETTINGS}.")
    if not client_secret or not (client_secret.reveal() if isinstance(client_secret, Secret) else client_secret).strip():
        raise ConsumerError(f"The consumer secret is empty. Copy it from Bitbucket: {CONSUMER_SETTINGS}.")
    try:
        answer = _post_token(site_url, client_id, _secret(client_secret), {"grant_type": "client_credentials"}, transport, ca_bundle)
    except ServerNotReached:
        raise  # the site can't be reached at all: neither can the browser's redirect
    except NetworkError as error:  # sent, but no answer came (a read timeout, a dropped connection)
        return _unconfirmed(f"Bitbucket didn't answer the check ({error.message.rstrip('.')})")
    if answer.status == 200:
        tokens = parse_token_answer(answer)
        return ConsumerCheck(
            kind="private",
            token=tokens,
            message=(
                "The key and secret are right. This consumer may use client credentials: it can get a "
                "token right away, as the consumer's own app user (not as you)."
            ),
        )
    if answer.status == 429 or answer.status >= 500:
        return _unconfirmed(f"Bitbucket couldn't check the consumer just now (HTTP {answer.status})")
    error = _token_error(answer, "check")
    if isinstance(error, ConsumerError) and error.message == PUBLIC_CONSUMER_MESSAGE:
        return ConsumerCheck(
            kind="public",
            message="The key and secret are right. This consumer is public, so the browser sign-in comes next.",
        )
    if isinstance(error, ProtocolError) or error.message in (_WRONG_CREDENTIALS, _no_callback_message()):
        raise error  # proven: a wrong key or secret, no callback URL, or not a token endpoint at all
    return _unconfirmed(f"Bitbucket refused the check without saying the key or secret is wrong ({_refusal(answer)})")


def _refusal(answer: _Answer) -> str:
    """``error: description`` of a refusal, cleaned for a terminal, or its HTTP status."""
    try:
        payload = json.loads(answer.body.decode("utf-8", "replace"))
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        description = payload.get("error_description") if isinstance(payload.get("error_description"), str) else ""
        detail = _clean_description(description, 160)
        return f"{_clean_description(payload['error'], 60)}{': ' + detail if detail else ''}"
    return f"HTTP {answer.status}"


def _unconfirmed(seen: str) -> ConsumerCheck:
    return ConsumerCheck(
        kind="unconfirmed",
        message=f"{seen}. The browser sign-in comes next; the code exchange tells for sure whether the key and secret are right.",
    )


def exchange_code(
    consumer: Profile,
    code: str,
    authorization: Authorization | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Clock = utc_now,
) -> TokenSet:
    """Trade a code for tokens, once. Never retried: a code works a single time."""
    wrapped = Secret((code or "").strip())
    del code  # from here on only the masked form is a local (tracebacks print locals)
    if not wrapped:
        raise CodeError("The code is empty. Paste the code, or the whole address the browser landed on.")
    data: dict[str, str | Secret] = {"grant_type": "authorization_code", "code": wrapped}
    if authorization is not None and authorization.redirect_uri:
        data["redirect_uri"] = authorization.redirect_uri
    if authorization is not None and authorization.code_verifier is not None:
        data["code_verifier"] = authorization.code_verifier
    try:
        answer = _post_token(
            consumer.site_url, consumer.client_id, consumer.client_secret, data, transport, consumer.ca_bundle, clock
        )
        return _tokens_or_error(answer, "exchange")
    except ServerNotReached:
        raise  # the code never left this machine: it is still good
    except (NetworkError, ProtocolError) as error:
        # The code may have reached Bitbucket and been spent: "try again" with it would fail (and a
        # code is exchanged once, security.md 3). Not transient, so nobody retries it blindly.
        raise CodeError(
            f"{error.message.rstrip('.')}. The code may already be used up (a code works once): "
            "start the sign-in again for a new one."
        ) from None


def client_credentials(
    consumer: Profile, *, transport: httpx.BaseTransport | None = None, clock: Clock = utc_now
) -> TokenSet:
    """A client_credentials token: since 2026 the consumer's own app user's, without a refresh token."""
    answer = _post_token(
        consumer.site_url, consumer.client_id, consumer.client_secret, {"grant_type": "client_credentials"}, transport,
        consumer.ca_bundle, clock,
    )
    return _tokens_or_error(answer, "client_credentials")


def refresh(consumer: Profile, *, transport: httpx.BaseTransport | None = None, clock: Clock = utc_now) -> TokenSet:
    """One ``refresh_token`` grant, retried only while the request never reached the server.

    Call it under the profile's locks (see :func:`ensure_fresh`): refresh tokens rotate.
    """
    if not consumer.refresh_token:
        raise SignInRequired(f"Profile '{consumer.name}' has no refresh token. Sign in again: bbwizard login --profile {consumer.name}")
    data: dict[str, str | Secret] = {"grant_type": "refresh_token", "refresh_token": consumer.refresh_token}
    return _with_connect_retries(
        lambda: _tokens_or_error(
            _post_token(
                consumer.site_url, consumer.client_id, consumer.client_secret, data, transport, consumer.ca_bundle, clock
            ),
            "refresh",
        )
    )


def _with_connect_retries(call: Any) -> TokenSet:
    for attempt in range(REFRESH_ATTEMPTS):
        try:
            return call()
        except ServerNotReached:
            if attempt == REFRESH_ATTEMPTS - 1:
                raise
            time.sleep(min(2.0, 0.25 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


# --- single-flight refresh ----------------------------------------------------------------------

_flights_guard = threading.Lock()
_flights: dict[tuple[str, str], threading.Lock] = {}


def _flight_lock(store: ConfigStore, name: str) -> threading.Lock:
    key = (os.path.abspath(store.path), name)
    with _flights_guard:
        lock = _flights.get(key)
        if lock is None:
            lock = _flights[key] = threading.Lock()
        return lock


def _sign_in_again(profile: Profile, reason: str) -> SignInRequired:
    return SignInRequired(f"{reason} Sign in again: bbwizard login --profile {profile.name}")


def _signed_out(profile: Profile) -> SignInRequired:
    if profile.refresh_refused_at is not None:
        return sign_in_ended(profile)
    return _sign_in_again(profile, f"Profile '{profile.name}' is signed out.")


#: Where a person makes a new token of each kind (the README says it at length).
WHERE_TOKENS_ARE_MADE = {
    "api_token": "id.atlassian.com → Security → Create API token with scopes → app Bitbucket",
    "access_token": "Bitbucket: the repository's (or project's, or workspace's) settings → Access tokens",
}


def login_command(profile: Profile) -> str:
    """The ``bbwizard login`` line that signs this profile in again, for its kind."""
    if profile.kind == "api_token":
        return f"bbwizard login --with-api-token --email {profile.email or 'EMAIL'} --profile {profile.name}"
    if profile.kind == "access_token":
        reach = profile.reach or {}
        if reach.get("repository") and reach.get("workspace"):
            target = f" --repository {reach['workspace']}/{reach['repository']}"
        elif reach.get("workspace"):
            target = f" --workspace {reach['workspace']}"
        else:
            target = ""
        return f"bbwizard login --with-access-token{target} --profile {profile.name}"
    return f"bbwizard login --profile {profile.name}"


def _new_token_needed(profile: Profile, reason: str) -> SignInRequired:
    where = WHERE_TOKENS_ARE_MADE.get(profile.kind, "")
    return SignInRequired(f"{reason} Make a new one ({where}), then run: {login_command(profile)}")


def token_expired(profile: Profile) -> SignInRequired:
    """The sentence for an API token past the expiry date the person gave."""
    return _new_token_needed(
        profile, f"The API token of profile '{profile.name}' expired on {profile.token_expires_on:%Y-%m-%d}."
    )


def token_refused(profile: Profile) -> SignInRequired:
    """The sentence for a token the person made that Bitbucket no longer accepts (HTTP 401)."""
    what = "API token" if profile.kind == "api_token" else "access token"
    return _new_token_needed(
        profile,
        f"Bitbucket no longer accepts the {what} of profile '{profile.name}' (HTTP 401): "
        "it has expired or was revoked.",
    )


def sign_in_ended(profile: Profile) -> SignInRequired:
    """The sentence for a profile whose refresh token Bitbucket refused (recorded in the file)."""
    when = profile.refresh_refused_at
    stamp = f" on {when.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC" if when is not None else ""
    return _sign_in_again(
        profile, f"The sign-in of profile '{profile.name}' has ended: Bitbucket refused its refresh token{stamp}."
    )


def ensure_fresh(
    store: ConfigStore,
    name: str | None = None,
    *,
    min_valid: timedelta | None = None,
    force: bool = False,
    refused: Secret | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Clock = utc_now,
) -> Profile:
    """The profile with an access token valid for at least ``min_valid`` (by default the token's
    own refresh window: 5 minutes, or half its lifetime when shorter), refreshing when needed.

    Single flight: one thread per profile in this process (a lock per profile) and one process
    (``store.lock()``); under both the file is read again, and a token another process just got is
    used as it is. A new pair is saved before this returns, so the rotated refresh token is never
    lost. ``force`` refreshes even a fresh-looking token (after a 401) unless someone else already
    replaced it meanwhile. ``refused`` is the access token the caller saw refused: a stored token
    that differs from it was saved by someone else since, so it is used instead of spending the
    refresh token again. Without it, the token read on entry is taken as the refused one, which a
    caller that reads after another's refresh mistakes for its own. ``clock`` tells the time the
    token states are judged by and the new pair's expiry counts from.
    """
    profile = store.get(name)
    state = profile.token_state(clock(), min_valid)
    if profile.is_token_kind:
        # A token the person made is used as it is: nothing can refresh it.
        if state == "signed_out":
            raise SignInRequired(f"Profile '{profile.name}' is signed out. Sign in again: {login_command(profile)}")
        if state == "expired":
            raise token_expired(profile)
        if force:
            raise token_refused(profile)
        return profile
    # A new pair the config could not take last time waits beside it: merged under the lock below.
    pending = store.recovery_path(profile.name).exists()
    if state == "fresh" and not force and not pending:
        return profile
    if state == "signed_out" and not pending:
        raise _signed_out(profile)
    if not profile.can_refresh and not pending:
        if state == "expiring" and not force:
            return profile  # still usable a little longer; nothing to refresh it with
        raise _sign_in_again(profile, f"The token of profile '{profile.name}' has expired and can't be refreshed.")
    seen = refused if refused is not None else profile.access_token
    with _flight_lock(store, profile.name), store.lock():
        current = store.recover(profile.name) or store.get(profile.name)
        current_state = current.token_state(clock(), min_valid)
        if current_state == "fresh" and (not force or current.access_token != seen):
            return current  # another thread or process refreshed while we waited
        if current_state == "signed_out" or not current.can_refresh:
            raise _signed_out(current)
        try:
            # A refresh spends the refresh token: only when the new pair can be saved.
            store.ensure_writable()
        except ConfigError:
            if current_state == "expiring" and not force:
                return current  # still usable a little longer
            raise
        try:
            tokens = _renew(current, transport, clock)
        except SignInRequired as error:
            # Remembered, so `status` and the next `token` say so without asking Bitbucket
            # again; under the lock still, and cleared by the next sign-in.
            try:
                store.save(current.with_refresh_refused(clock()), make_default=False)
            except ConfigError:
                pass  # the sentence below is what matters; the next try asks Bitbucket again
            raise _sign_in_again(current, error.message) from None
        except (NetworkError, ProtocolError) as error:
            # A garbled answer (a web page, cut-off JSON, a missing field) is as passing as a
            # 503, but a garbled 200 may have spent the refresh token and lost the new pair.
            if not isinstance(error, ServerNotReached):
                # The request may have reached Bitbucket and spent the refresh token. The old
                # one stays valid for a while after rotation, so a later try can still work.
                reread = store.get(current.name)
                if reread.token_state(clock(), min_valid) == "fresh":
                    return reread
                error = type(error)(
                    f"{error.message} The refresh may have reached Bitbucket; if the next try says "
                    f"the sign-in has ended, run: bbwizard login --profile {current.name}",
                    hint=error.hint,
                )
            if current_state == "expiring" and not force:
                return current  # the old token still works for a few minutes
            raise error from None
        updated = current.with_tokens(
            tokens.access_token, tokens.refresh_token, tokens.expires_at, tokens.scopes, issued_at=tokens.issued_at
        )
        try:
            store.save(updated, make_default=False)
        except ConfigError as error:
            raise _kept_for_recovery(store, updated, error) from None
        return updated


def _kept_for_recovery(store: ConfigStore, profile: Profile, error: ConfigError) -> ConfigError:
    """The refresh was spent but the config could not take the new pair: keep it in a recovery
    file beside the config (the next run merges it), and say so."""
    why = getattr(error, "cause", None) or "it could not be written"
    try:
        path = store.keep_for_recovery(profile)
    except ConfigError:
        return ConfigError(
            f"Bitbucket gave a new token but neither the config nor a recovery file could be saved ({why}). "
            "The sign-in ends when the old refresh token does, in a few minutes.",
            hint=f"Free some space, then run: {login_command(profile)}",
        )
    return ConfigError(
        f"Bitbucket gave a new token but the config could not be saved ({why}); it is kept in {path} "
        "and used on the next run.",
        hint="Free some space (or raise the limit) so that run can save it into the config.",
    )


def _renew(profile: Profile, transport: httpx.BaseTransport | None, clock: Clock) -> TokenSet:
    if profile.grant == "client_credentials" and profile.client_secret:
        # No rotation hazard here: a private consumer can always mint a new pair.
        return _with_connect_retries(lambda: client_credentials(profile, transport=transport, clock=clock))
    return refresh(profile, transport=transport, clock=clock)


def describe_expiry(expires_at: datetime | None, now: datetime | None = None) -> str:
    """"in 1 h 59 min (14:39 UTC)" / "2 min ago (12:01 UTC)" / "unknown"."""
    if expires_at is None:
        return "unknown"
    now = now or utc_now()
    delta = expires_at - now
    span = human_duration(delta)
    stamp = expires_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"in {span} ({stamp})" if delta.total_seconds() > 0 else f"{span} ago ({stamp})"


__all__ = [
    "Authorization",
    "Clock",
    "ConsumerCheck",
    "IncompletePaste",
    "PERMISSION_FOR_SCOPE",
    "PUBLIC_CONSUMER_MESSAGE",
    "PastedCode",
    "REQUIRED_SCOPES",
    "ServerNotReached",
    "TokenSet",
    "WHERE_TOKENS_ARE_MADE",
    "authorize_endpoint",
    "check_consumer",
    "check_scopes",
    "client_credentials",
    "describe_expiry",
    "ensure_fresh",
    "login_command",
    "sign_in_ended",
    "token_expired",
    "token_refused",
    "exchange_code",
    "fetch_user",
    "http_client",
    "missing_scopes",
    "parse_pasted",
    "parse_scopes",
    "parse_token_answer",
    "refresh",
    "require_https",
    "retry_delay",
    "start_authorization",
    "token_endpoint",
]
