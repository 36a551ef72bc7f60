"""bitbucket.org's OAuth 2.0 side: the consent page and the token endpoint.

- ``GET /site/oauth2/authorize``: the consent page (Grant / Deny) for the logged-in browser user;
  ``POST`` (the form) answers 302 to the callback with ``code`` and ``state``, or
  ``error=access_denied``.
- ``POST /site/oauth2/access_token``: grants ``authorization_code`` (single-use codes, PKCE),
  ``refresh_token`` (rotation with a grace period) and ``client_credentials`` (private consumers);
  the errors of ``bitbucket-cloud.md``'s table.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bbwizard.emulator.exchange import Exchange
from bbwizard.emulator.seed import Consumer
from bbwizard.emulator.state import Code, State, loopback_host

AUTHORIZE_PATH = "/site/oauth2/authorize"
TOKEN_PATH = "/site/oauth2/access_token"

# Exact texts from ../shared/bitbucket-cloud.md.
ERR_BAD_CLIENT = ("unauthorized_client", "Invalid OAuth client credentials")
ERR_NO_CLIENT = ("unauthorized_client", "Requests must be authenticated using OAuth client credentials")
ERR_NO_CALLBACK = ("invalid_request", "No callback uri defined for the OAuth client.")
ERR_PUBLIC_CC = (
    "invalid_grant",
    'Cannot use client_credentials with a consumer marked as "public". '
    "Calls for auto generated consumers should use urn:bitbucket:oauth2:jwt instead.",
)
ERR_BAD_CODE = ("invalid_grant", "The specified code is not valid.")
ERR_BAD_REFRESH = ("invalid_request", "Invalid refresh_token")
# Texts Bitbucket's documentation does not give (the emulator's own wording):
ERR_REDIRECT_MISMATCH = ("invalid_grant", "The redirect_uri does not match the one sent to authorize.")
ERR_BAD_VERIFIER = ("invalid_grant", "The code_verifier does not match the code_challenge.")

_SCOPE_TEXT = {
    "account": "Read your account information",
    "repository": "Read your repositories",
    "repository:write": "Read and modify your repositories",
    "repository:admin": "Administer your repositories",
    "pullrequest": "Read your pull requests",
    "pullrequest:write": "Read and modify your pull requests",
    "project": "Read your projects",
    "email": "Read your email addresses",
}


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _with_query(url: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))


def redirect_allowed(emu: State, consumer: Consumer, redirect_uri: str) -> bool:
    """Does ``redirect_uri`` equal the consumer's callback URL or extend its path?"""
    if consumer.callback_url is None:
        return False
    if redirect_uri == consumer.callback_url:
        return True
    try:
        cb, rd = urlsplit(consumer.callback_url), urlsplit(redirect_uri)
        cb_port = cb.port or _default_port(cb.scheme)
        rd_port = rd.port or _default_port(rd.scheme)
    except ValueError:
        return False
    if cb.scheme.lower() != rd.scheme.lower() or (cb.hostname or "") != (rd.hostname or ""):
        return False
    if cb_port != rd_port and not (emu.allow_any_loopback_port and loopback_host(cb.hostname or "")):
        return False
    return (rd.path or "/").startswith(cb.path or "/")


# ---- authorize ---------------------------------------------------------------------------------


def serve_authorize(ex: Exchange, method: str) -> None:
    if method == "POST":
        _authorize_decision(ex)
        return
    if method not in ("GET", "HEAD"):
        ex.send_html(405, "Method not allowed", "<h1>Method not allowed</h1>")
        return
    emu, params = ex.emu, ex.params
    consumer = emu.world.consumers.get(params.get("client_id", ""))
    with emu._lock:
        emu.stats.authorizations.append({
            "client_id": params.get("client_id"),
            "response_type": params.get("response_type"),
            "redirect_uri": params.get("redirect_uri"),
            "state_sent": "state" in params,
            "scope": params.get("scope"),
            "code_challenge_method": params.get("code_challenge_method"),
            "code_challenge_sent": "code_challenge" in params,
        })
    if consumer is None:
        ex.send_html(400, "Invalid client_id",
                     "<h1>Invalid client_id</h1><p>The OAuth consumer this link names does not exist.</p>")
        return
    if consumer.callback_url is None:
        ex.send_html(400, "Invalid redirect_uri",
                     "<h1>Invalid redirect_uri</h1><p>No callback uri defined for the OAuth client.</p>")
        return
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is not None and not redirect_allowed(emu, consumer, redirect_uri):
        ex.send_html(400, "Invalid redirect_uri",
                     "<h1>Invalid redirect_uri</h1><p>The redirect_uri does not match the callback URL of "
                     "this OAuth consumer.</p>")
        return
    target = redirect_uri or consumer.callback_url
    state = params.get("state")
    if not consumer.allows("authorization_code"):
        ex.redirect(_with_query(target, {"error": "unauthorized_client",
                                         "error_description": "This OAuth client is not allowed to use the "
                                         "authorization_code grant.", "state": state}))
        return
    if params.get("response_type") != "code":
        ex.redirect(_with_query(target, {"error": "unsupported_response_type", "state": state}))
        return
    challenge = params.get("code_challenge")
    method_pkce = params.get("code_challenge_method")
    if challenge is not None:
        method_pkce = method_pkce or "plain"
        if method_pkce not in ("S256", "plain"):
            ex.redirect(_with_query(target, {"error": "invalid_request",
                                             "error_description": "Unsupported code_challenge_method",
                                             "state": state}))
            return
    user = emu.world.browser_user
    if user is None:
        ex.send_html(403, "Log in", "<h1>Log in to Bitbucket</h1><p>No user is logged in in this emulator.</p>")
        return
    pending = {
        "consumer": consumer.key, "redirect_uri": redirect_uri, "target": target, "state": state,
        "challenge": challenge, "method": method_pkce if challenge is not None else None,
        "user": user, "created": emu.clock(),
    }
    if emu.auto_approve and (consumer.key, user) in emu._granted:
        ex.redirect(_grant(emu, pending))
        return
    request_id = secrets.token_urlsafe(24)
    with emu._lock:
        # Consent pages nobody answered: forget them after an hour, as a browser session would.
        for stale in [k for k, v in emu._pending.items() if pending["created"] - v["created"] > 3600]:
            del emu._pending[stale]
        emu._pending[request_id] = pending
    account = emu.world.users[user]
    scopes = "".join(f"<li>{html.escape(_SCOPE_TEXT.get(s, s))} (<code>{html.escape(s)}</code>)</li>"
                     for s in consumer.scopes)
    ex.send_html(
        200,
        "Authorize",
        f"<h1>Authorize {html.escape(consumer.name)}</h1>"
        f"<p>Logged in as <strong>{html.escape(account.display_name)}</strong> "
        f"(<span id=\"username\">{html.escape(account.username)}</span>).</p>"
        f"<p><strong>{html.escape(consumer.name)}</strong> is requesting access to:</p><ul>{scopes}</ul>"
        f"<form method=\"post\" action=\"{AUTHORIZE_PATH}\" id=\"oauth-consent\">"
        f"<input type=\"hidden\" name=\"request_id\" value=\"{request_id}\">"
        "<button type=\"submit\" name=\"decision\" value=\"grant\" id=\"grant\">Grant access</button> "
        "<button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button>"
        "</form>",
        {"Referrer-Policy": "no-referrer"},
    )


def _authorize_decision(ex: Exchange) -> None:
    emu = ex.emu
    form = dict(parse_qsl(ex.body.decode("utf-8", errors="replace"), keep_blank_values=True))
    with emu._lock:
        pending = emu._pending.pop(form.get("request_id", ""), None)
    if pending is None or emu.clock() - pending["created"] > 3600:
        ex.send_html(400, "Expired", "<h1>This authorization request has expired</h1><p>Start again from the application.</p>")
        return
    if form.get("decision") == "grant":
        ex.redirect(_grant(emu, pending))
    else:
        ex.redirect(_with_query(pending["target"], {"error": "access_denied", "state": pending["state"]}))


def _grant(emu: State, pending: dict) -> str:
    """A new code for a granted consent; the callback address that carries it."""
    consumer = emu.world.consumers[pending["consumer"]]
    code = secrets.token_urlsafe(18)
    with emu._lock:
        emu._codes[code] = Code(code, consumer.key, pending["user"], list(consumer.scopes), pending["redirect_uri"],
                                pending["challenge"], pending["method"], emu.clock() + emu.code_lifetime)
        emu._granted.add((consumer.key, pending["user"]))
    return _with_query(pending["target"], {"code": code, "state": pending["state"]})


# ---- token endpoint ----------------------------------------------------------------------------


def _token_error(ex: Exchange, error: tuple[str, str]) -> None:
    with ex.emu._lock:
        ex.emu.stats.token_errors[error] += 1
    ex.send_json(400, {"error": error[0], "error_description": error[1]})


def _issued(ex: Exchange, grant: str, body: dict) -> None:
    with ex.emu._lock:
        ex.emu.stats.grants[grant] += 1
    ex.send_json(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})


def serve_token(ex: Exchange, method: str) -> None:
    emu = ex.emu
    if method != "POST":
        ex.send_html(405, "Method not allowed", "<h1>Method not allowed</h1>")
        return
    auth = ex.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        ex.send_html(401, "Unauthorized", "<h1>Unauthorized</h1><p>This resource requires client credentials.</p>")
        return
    content_type = ex.headers.get("Content-Type", "").split(";")[0].strip().lower()
    form: dict[str, str] = {}
    if content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(ex.body.decode("utf-8", errors="replace"), keep_blank_values=True))
    key = secret = None
    if auth[:6].lower() == "basic ":
        try:
            key, _, secret = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
        except ValueError:
            key = secret = ""
    elif form.get("client_id") and "client_secret" in form:
        key, secret = form["client_id"], form["client_secret"]
    if key is None:
        _token_error(ex, ERR_NO_CLIENT)
        return
    consumer = emu.world.consumers.get(key)
    if consumer is None or not hmac.compare_digest(consumer.secret.encode(), (secret or "").encode()):
        _token_error(ex, ERR_BAD_CLIENT)
        return
    if consumer.callback_url is None:
        _token_error(ex, ERR_NO_CALLBACK)
        return
    grant = form.get("grant_type")
    if grant in ("authorization_code", "refresh_token") and not consumer.allows(grant):
        _token_error(ex, ("unauthorized_client", f"This OAuth client is not allowed to use the {grant} grant."))
        return
    if grant == "authorization_code":
        _grant_code(ex, consumer, form)
    elif grant == "refresh_token":
        _grant_refresh(ex, consumer, form)
    elif grant == "client_credentials":
        if not consumer.allows("client_credentials"):
            refusal = emu.client_credentials_refusal
            _token_error(ex, ERR_PUBLIC_CC if refusal == "legacy" else (str(refusal[0]), str(refusal[1])))
            return
        identity = emu.client_credentials_identity(consumer)
        _issued(ex, "client_credentials", emu.issue(consumer, identity, list(consumer.scopes), "client_credentials"))
    else:
        _token_error(ex, ("invalid_grant", f"Unsupported grant type: {grant}"))


def _grant_code(ex: Exchange, consumer: Consumer, form: dict[str, str]) -> None:
    emu = ex.emu
    now = emu.clock()
    with emu._lock:
        code = emu._codes.get(form.get("code", ""))
        usable = code is not None and not code.used and code.consumer == consumer.key and code.expires_at > now
        if code is not None and code.consumer == consumer.key:
            code.used = True  # single use: a failed exchange spends it too
    if not usable:
        _token_error(ex, ERR_BAD_CODE)
        return
    sent = form.get("redirect_uri")
    if code.redirect_uri is not None and sent != code.redirect_uri:
        _token_error(ex, ERR_REDIRECT_MISMATCH)
        return
    if code.redirect_uri is None and sent is not None and not redirect_allowed(emu, consumer, sent):
        _token_error(ex, ERR_REDIRECT_MISMATCH)
        return
    if code.challenge is not None:
        verifier = form.get("code_verifier", "")
        expected = _pkce_s256(verifier) if code.method == "S256" else verifier
        if not verifier or not hmac.compare_digest(expected.encode(), code.challenge.encode()):
            _token_error(ex, ERR_BAD_VERIFIER)
            return
    _issued(ex, "authorization_code", emu.issue(consumer, code.username, code.scopes, "authorization_code"))


def _grant_refresh(ex: Exchange, consumer: Consumer, form: dict[str, str]) -> None:
    emu = ex.emu
    now = emu.clock()
    with emu._lock:
        token = emu._refresh.get(form.get("refresh_token", ""))
        alive = (
            token is not None
            and token.consumer == consumer.key
            and token.expires_at > now
            and (token.rotated_at is None or now < token.rotated_at + emu.refresh_grace)
        )
        if alive and token.rotated_at is None:
            token.rotated_at = now
    if not alive:
        _token_error(ex, ERR_BAD_REFRESH)
        return
    _issued(ex, "refresh_token", emu.issue(consumer, token.username, token.scopes, "refresh_token"))
