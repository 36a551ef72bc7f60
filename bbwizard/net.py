"""The one HTTP layer of :mod:`bbwizard.oauth` and :mod:`bbwizard.api`.

What both need from the network lives here once: whether a host is loopback (never proxied),
clients with bbwizard's defaults (proxies from the environment except loopback, TLS verification
always on against the one trust :func:`ssl_context` chooses, explicit timeouts, no redirects), the sentence for each failure to connect, the wait a
``Retry-After`` asks for, the diagnosis of an answer that isn't JSON, scope lists and the scopes
bbwizard needs, and ``GET /user`` (who a token belongs to).

httpx is imported inside the functions that use it: ``bbwizard token`` and ``bbwizard credential
get`` import this module (through ``oauth``) and must not pay for httpx while the token is fresh
(security.md 17-19; ``tests/core/test_core_crash_and_imports.py``).
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bbwizard import __version__
from bbwizard.config import UserInfo
from bbwizard.errors import BBWizardError, NetworkError, ProtocolError, RateLimited, ScopeError, SignInRequired
from bbwizard.hosts import is_loopback_host, is_loopback_url, normalise_host, require_https
from bbwizard.secret import Secret, printable, redact

if TYPE_CHECKING:
    import ssl

    import httpx

#: Explicit timeouts (security.md 17): connect quickly, let Bitbucket think.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
#: GETs are tried this many times in all on 429/502/503/504 and connection errors.
GET_ATTEMPTS = 3
#: The longest bbwizard waits between two tries of a blocking call, whatever Retry-After says.
MAX_RETRY_DELAY = 10.0
#: Answers worth another try (security.md 17).
RETRY_STATUSES = frozenset({429, 502, 503, 504})
USER_AGENT = f"bbwizard/{__version__}"

#: The scopes bbwizard needs, and the consumer permission that grants each.
REQUIRED_SCOPES = ("account", "repository")
PERMISSION_FOR_SCOPE = {"account": "Account: Read", "repository": "Repositories: Read"}
#: Where a consumer is edited: the 2026 form ("OAuth clients") and, in brackets, its former name,
#: which Atlassian's own pages still use.
CONSUMER_SETTINGS = "Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers) → your client"


class ServerNotReached(NetworkError):
    """The request never reached the server (connect error or connect timeout): safe to retry."""


class UserNotShown(BBWizardError):
    """``GET /user`` refused (403) without naming a missing scope: the token works, but Bitbucket
    didn't say whom it belongs to (a client_credentials token's app user may get this)."""


# --- loopback -----------------------------------------------------------------------------------


def direct_mounts(*urls: str) -> dict[str, None]:
    """httpx mounts that keep loopback hosts away from the environment's proxies: a mount of None
    means the direct transport, and host patterns outrank the proxy patterns. ``urls`` adds the
    host of each loopback address given (``127.0.0.2``, ``foo.localhost``)."""
    mounts: dict[str, None] = {f"all://{host}": None for host in ("localhost", "127.0.0.1", "[::1]")}
    for url in urls:
        parts = urlsplit(url)
        if is_loopback_host(parts.hostname) and parts.netloc:
            mounts[f"all://{parts.netloc.rpartition('@')[2]}"] = None
    return mounts


# --- TLS trust ----------------------------------------------------------------------------------

#: Contexts already made, by what they trust: loading a CA bundle costs tens of milliseconds.
_SSL_CONTEXTS: dict[tuple[str, str | None, tuple[int, int] | None], ssl.SSLContext] = {}
_SSL_LOCK = threading.Lock()


def trust_source(ca_bundle: str | None = None) -> tuple[str, str | None]:
    """What TLS certificates are checked against, first found wins: the profile's ``ca_bundle``
    (``bbwizard login --ca-bundle FILE``), ``SSL_CERT_FILE``, ``SSL_CERT_DIR``, the operating
    system's store through ``truststore`` when it is installed (corporate networks that inspect
    TLS put their CA there), else certifi's bundle. Returns ``(kind, path)``; verification itself
    is never switched off."""
    if ca_bundle:
        return "ca_bundle", ca_bundle
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if os.environ.get(variable):
            return variable, os.environ[variable]
    try:
        import truststore  # noqa: F401  (optional: pip install truststore)
    except ImportError:
        return "certifi", None
    return "truststore", None


def _stamp(path: str | None) -> tuple[int, int] | None:
    try:
        status = os.stat(path) if path else None
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size) if status else None


def ssl_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """The TLS context for httpx, trusting what :func:`trust_source` names; made once per
    process for each source (and again when its file changes). A CA bundle that can't be read is a
    :class:`~bbwizard.errors.ConfigError` naming where it was set."""
    import ssl

    kind, path = trust_source(ca_bundle)
    key = (kind, path, _stamp(path))
    with _SSL_LOCK:
        context = _SSL_CONTEXTS.get(key)
        if context is not None:
            return context
        try:
            if kind == "truststore":
                import truststore

                context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            elif kind == "certifi":
                import certifi

                context = ssl.create_default_context(cafile=certifi.where())
            elif kind == "SSL_CERT_DIR":
                context = ssl.create_default_context(capath=path)
            else:
                context = ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError, ValueError) as error:
            from bbwizard.errors import ConfigError

            reason = clean(getattr(error, "strerror", None) or str(error), 120) or type(error).__name__
            if kind == "ca_bundle":
                message = (
                    f"The CA bundle saved in this profile, {path}, can't be read as certificates ({reason}). "
                    "Fix the file, or sign in again with --ca-bundle FILE (bbwizard login)."
                )
            else:
                message = f"{kind} names {path}, which can't be read as certificates ({reason}). Fix the file, or unset {kind}."
            raise ConfigError(message) from None
        _SSL_CONTEXTS[key] = context
        return context


# --- clients ------------------------------------------------------------------------------------


def default_timeout() -> httpx.Timeout:
    import httpx

    return httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)


def http_client(
    transport: httpx.BaseTransport | None = None, *, ca_bundle: str | None = None, **kwargs: Any
) -> httpx.Client:
    """A blocking httpx client with bbwizard's defaults: proxies from the environment
    (``HTTPS_PROXY``, ``NO_PROXY``) except for loopback hosts, TLS verification on against
    :func:`ssl_context` (``ca_bundle`` is a profile's own), explicit timeouts, no redirects."""
    import httpx

    return httpx.Client(
        transport=transport,
        verify=ssl_context(ca_bundle) if transport is None else True,
        mounts=direct_mounts(),
        trust_env=True,
        timeout=kwargs.pop("timeout", None) or default_timeout(),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        **kwargs,
    )


# --- failures to connect ------------------------------------------------------------------------


def clean(text: Any, limit: int = 200) -> str:
    """Text from a server or an exception, fit for a sentence: one line, printable, redacted, short."""
    if not text:
        return ""
    text = redact(" ".join(printable(str(text), one_line=True).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def proxy_for(url: str) -> str | None:
    """The proxy httpx takes from the environment for ``url`` (userinfo removed), if any."""
    import urllib.request

    parts = urlsplit(url)
    host = parts.hostname or ""
    if is_loopback_host(host):
        return None
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(host, proxies):
        return None
    proxy_parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    port = f":{proxy_parts.port}" if proxy_parts.port else ""
    return f"{proxy_parts.scheme}://{proxy_parts.hostname}{port}"


def network_error(error: Exception, url: str, *, address: str = "the site URL", proxied: bool = True) -> NetworkError:
    """The sentence for an httpx transport error on ``url``. :class:`ServerNotReached` when the
    request never left this machine (safe to retry). ``proxied`` False: a transport of the
    caller's own, so no proxy is named."""
    import httpx

    host = urlsplit(url).netloc.rpartition("@")[2]
    proxy = proxy_for(url) if proxied else None
    reason = clean(str(error), 120) or type(error).__name__
    if isinstance(error, httpx.ProxyError):
        return ServerNotReached(
            f"The proxy {proxy or ''} refused to connect to {host} ({reason}).".replace("  ", " "),
            hint="Check HTTPS_PROXY and NO_PROXY, or ask whoever runs the proxy.",
        )
    if proxy and isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)):
        return ServerNotReached(
            f"The proxy {proxy} failed to connect bbwizard to {host} ({reason}). Check the proxy, or fix HTTPS_PROXY / "
            f"NO_PROXY in your environment (add {urlsplit(url).hostname} to NO_PROXY to go direct)."
        )
    if "CERTIFICATE_VERIFY_FAILED" in str(error) or "certificate verify failed" in str(error).lower():
        return ServerNotReached(
            f"The TLS certificate of {host} isn't trusted, so bbwizard stopped (it never turns verification off). "
            "If your network inspects TLS or the server has a private CA, sign in with --ca-bundle FILE "
            "(bbwizard login), or point SSL_CERT_FILE at that CA bundle, then try again."
        )
    if isinstance(error, httpx.ConnectTimeout):
        return ServerNotReached(f"Connecting to {host} timed out. Check your network connection, then try again.")
    if isinstance(error, httpx.ConnectError):
        return ServerNotReached(
            f"Can't reach {host} ({reason}). Check your network connection and {address}, then try again."
        )
    if isinstance(error, httpx.TimeoutException):
        return NetworkError(f"{host} didn't answer in time. Try again in a minute.")
    if isinstance(error, httpx.RemoteProtocolError):
        return NetworkError(f"The connection to {host} was dropped before the answer was complete ({reason}). Try again.")
    return NetworkError(f"The connection to {host} failed ({reason}). Try again in a minute.")


# --- waiting before another try -----------------------------------------------------------------


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """What a ``Retry-After`` header asks for, in seconds (a number or an HTTP date); None when
    it is missing or unreadable. Never negative; the caller bounds it (a server's claim)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = (moment - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def retry_delay(retry_after: str | None, attempt: int) -> float:
    """Seconds before the next try: ``Retry-After`` when given, else capped exponential backoff
    with jitter; never more than :data:`MAX_RETRY_DELAY`."""
    seconds = retry_after_seconds(retry_after)
    if seconds is not None:
        return min(seconds, MAX_RETRY_DELAY)
    return min(MAX_RETRY_DELAY, 0.5 * 2**attempt) * (0.5 + random.random() / 2)


# --- answers that aren't JSON -------------------------------------------------------------------


def not_json(body: bytes, *, status: int, content_type: str, speaker: str, check: str) -> ProtocolError:
    """Why ``body`` isn't JSON, as a sentence: nothing, a web page (a captive portal or a proxy),
    JSON cut off, or something else. ``speaker`` says who answered ("Bitbucket's token endpoint");
    ``check`` names what to check ("the site URL")."""
    where = f"HTTP {status}"
    stripped = body.lstrip()
    first = stripped[:1]
    if not first:
        return ProtocolError(f"{speaker} answered with nothing at all ({where}). Try again in a minute.")
    if first == b"<" or "html" in content_type.lower():
        return ProtocolError(
            f"{speaker} answered with a web page instead of JSON ({where}). A captive portal, a proxy or "
            f"a wrong {check.removeprefix('the ')} is in the way: open the site in a browser, sign in to the "
            f"network if asked, check {check}, then try again."
        )
    if first in (b"{", b"["):
        try:
            json.loads(body.decode("utf-8", "replace"))
            position: Any = "?"
        except ValueError as error:
            position = getattr(error, "pos", "?")
            del error  # a JSONDecodeError keeps the whole text in .doc
        return ProtocolError(
            f"{speaker} sent an answer that was cut off or malformed ({where}; the JSON breaks at "
            f"character {position}). Try again; if it keeps happening, a proxy may be damaging the connection."
        )
    return ProtocolError(f"{speaker} answered with something that isn't JSON ({where}). Check {check} and any proxy, then try again.")


# --- scopes -------------------------------------------------------------------------------------


def parse_scopes(value: Any) -> list[str]:
    """``"account repository"`` (or a list, or commas) -> ``["account", "repository"]``."""
    if isinstance(value, str):
        return [s for s in re.split(r"[\s,]+", value) if s]
    if isinstance(value, list):
        return [s for s in value if isinstance(s, str) and s]
    return []


#: Granular scope names (what API tokens carry, and perhaps some OAuth answers) and the classic
#: scope each stands for where bbwizard checks or names scopes (bitbucket-cloud.md "Scopes").
#: ``read:workspace:bitbucket`` is what ``GET /user/workspaces`` asks of an API token; an OAuth
#: consumer grants that with ``account``.
GRANULAR_SCOPES = {
    "read:user:bitbucket": "account",
    "read:workspace:bitbucket": "account",
    "read:repository:bitbucket": "repository",
    "write:repository:bitbucket": "repository:write",
    "admin:repository:bitbucket": "repository:admin",
    "delete:repository:bitbucket": "repository:delete",
    "read:pullrequest:bitbucket": "pullrequest",
    "write:pullrequest:bitbucket": "pullrequest:write",
    "read:project:bitbucket": "project",
    "write:project:bitbucket": "project:write",
    "admin:project:bitbucket": "project:admin",
    "read:pipeline:bitbucket": "pipeline",
    "write:pipeline:bitbucket": "pipeline:write",
    "read:issue:bitbucket": "issue",
    "write:issue:bitbucket": "issue:write",
    "read:wiki:bitbucket": "wiki",
    "read:snippet:bitbucket": "snippet",
    "write:snippet:bitbucket": "snippet:write",
    "read:webhook:bitbucket": "webhook",
}
#: The classic scopes (the consumer form's permission boxes).
CLASSIC_SCOPES = frozenset({
    "account", "account:write", "email", "team", "team:write", "repository", "repository:write",
    "repository:admin", "repository:delete", "pullrequest", "pullrequest:write", "project", "project:write",
    "project:admin", "pipeline", "pipeline:write", "pipeline:variable", "issue", "issue:write", "wiki",
    "snippet", "snippet:write", "webhook", "runner", "runner:write",
})


def classic_scope(name: str) -> str | None:
    """The classic name of a scope (``read:repository:bitbucket`` -> ``repository``); None when
    bbwizard doesn't know the name (it is then unknown, never taken as missing)."""
    if name in CLASSIC_SCOPES:
        return name
    return GRANULAR_SCOPES.get(name.lower())


def _implied(scope: str) -> set[str]:
    found = {scope}
    base, _, level = scope.partition(":")
    if level == "write":  # x:write implies x (repository:admin does NOT imply repository)
        found.add(base)
    if base in ("pullrequest", "project") or scope == "repository:write":
        found.add("repository")
    return found


def missing_scopes(scopes: Iterable[str]) -> list[str]:
    """The required scopes (``account``, ``repository``) the granted ones don't cover. Granular
    names count as their classic ones; a name bbwizard doesn't know may grant anything, so with
    one among them nothing is called missing (Bitbucket's own 403 says so, if it comes to that)."""
    granted: set[str] = set()
    unknown = False
    for scope in scopes:
        classic = classic_scope(scope)
        if classic is None:
            unknown = True
            continue
        granted |= _implied(classic)
    missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
    return [] if unknown else missing


def scope_error(missing: list[str], needed_for: str = "") -> ScopeError:
    """The sentence for scopes a token lacks, naming the consumer permissions to tick."""
    names = " and ".join(missing)
    ticks = " and ".join(dict.fromkeys(PERMISSION_FOR_SCOPE.get(s, s) for s in missing))
    plural = "scopes" if len(missing) > 1 else "scope"
    need = f"needed for {needed_for}" if needed_for else "bbwizard needs"
    return ScopeError(
        f"The token lacks the {names} {plural} {need}. In Bitbucket: {CONSUMER_SETTINGS} → "
        f"Scopes (Permissions on the older form), tick {ticks}, save, then sign in again (bbwizard login).",
        missing=missing,
    )


def check_scopes(scopes: Iterable[str] | None) -> None:
    """Raise :class:`ScopeError` naming the consumer permissions to tick. None = not reported."""
    if scopes is None:
        return
    missing = missing_scopes(scopes)
    if missing:
        raise scope_error(missing)


def refused_scopes(detail: Any) -> list[str]:
    """The scopes a 403's ``error.detail`` says are required and not granted."""
    if not isinstance(detail, dict):
        return []
    required = [classic_scope(s) or s for s in parse_scopes(detail.get("required"))]
    granted = [classic_scope(s) or s for s in parse_scopes(detail.get("granted"))]
    return list(dict.fromkeys([s for s in required if s not in granted] or required))


def error_detail(payload: Any) -> tuple[str, Any]:
    """Bitbucket's ``error.message`` and ``error.detail`` (or ``data``), when the body has them."""
    if not isinstance(payload, dict):
        return "", None
    error = payload.get("error")
    if not isinstance(error, dict):
        message = payload.get("error_description") or payload.get("message") or ""
        return (message if isinstance(message, str) else ""), None
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    detail = error.get("detail")
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            pass
    if not isinstance(detail, dict) and isinstance(error.get("data"), dict):
        detail = error["data"]
    return message, detail


# --- who am I -----------------------------------------------------------------------------------


def parse_user(data: Any) -> UserInfo:
    """``GET /user``'s answer; ``uuid`` is required, the rest falls back as Bitbucket's names do."""

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) and value else None

    if not isinstance(data, dict):
        raise ProtocolError("Bitbucket's answer for the signed-in user is not a JSON object where one was expected.")
    uuid = text("uuid")
    if uuid is None:
        if data.get("uuid") is None:
            raise ProtocolError("Bitbucket's answer for the signed-in user lacks the required field `uuid`.")
        raise ProtocolError(
            f"Bitbucket's answer for the signed-in user has `uuid` as {type(data['uuid']).__name__}, which bbwizard can't read."
        )
    return UserInfo(
        display_name=text("display_name") or text("nickname") or text("username") or uuid,
        username=text("username") or text("nickname"),
        uuid=uuid,
        account_id=text("account_id"),
    )


def authorization(token: Secret, email: str | None = None) -> str:
    """The ``Authorization`` header's value for a REST call: ``Basic`` with ``EMAIL:TOKEN`` for an
    Atlassian API token (``email`` given), ``Bearer TOKEN`` for every other token."""
    if email:
        import base64

        pair = f"{email}:{token.reveal()}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
    return f"Bearer {token.reveal()}"


def fetch_user(
    api_url: str,
    access_token: Secret,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float | None = None,
    attempts: int | None = None,
    ca_bundle: str | None = None,
    email: str | None = None,
) -> UserInfo:
    """``GET /user`` with the token: who it belongs to. Used at sign-in to say who is signed in,
    and by ``bbwizard status`` (one try, a short ``timeout``) to learn whether the token still
    works: :class:`SignInRequired` on 401, :class:`ScopeError` on a 403 naming scopes,
    :class:`NetworkError` when Bitbucket can't be reached. ``email``: the token is an API token,
    sent as Basic ``EMAIL:TOKEN`` (:func:`authorization`)."""
    import httpx

    url = f"{api_url.rstrip('/')}/user"
    require_https(api_url, "The API URL")
    attempts = attempts or GET_ATTEMPTS
    with http_client(transport, ca_bundle=ca_bundle, timeout=None if timeout is None else httpx.Timeout(timeout)) as client:
        for attempt in range(attempts):  # a GET may be retried (security.md 17)
            last = attempt == attempts - 1
            try:
                response = client.get(url, headers={"Authorization": authorization(access_token, email)})
            except httpx.HTTPError as error:
                if last:
                    raise network_error(error, url, address="the API URL", proxied=transport is None) from None
                time.sleep(retry_delay(None, attempt))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                time.sleep(retry_delay(response.headers.get("retry-after"), attempt))
                continue
            break
    status = response.status_code
    what = "Bitbucket's API"
    if status == 401:
        raise SignInRequired("Bitbucket didn't accept the new token (HTTP 401). Sign in again: bbwizard login")
    if status == 403:
        try:
            message, detail = error_detail(json.loads(response.content))
        except ValueError:
            message, detail = "", None
        refused = refused_scopes(detail)
        if refused:  # Bitbucket named what is missing: required ones first, unknown names as they came
            raise scope_error([s for s in REQUIRED_SCOPES if s in refused] or refused)
        if "privilege scope" in message.lower():  # "…lack one or more required privilege scopes."
            raise scope_error(["account"])
        said = clean(message, 160)
        raise UserNotShown(
            f"Bitbucket didn't say who this token belongs to (HTTP 403{': ' + said if said else ''}). "
            "The token is saved and works; the profile shows no user name."
        )
    if status == 429:
        raise RateLimited("Bitbucket is rate-limiting this consumer (HTTP 429). Wait a few minutes, then try again.")
    if status >= 500:
        raise NetworkError(f"{what} failed (HTTP {status}). Try again in a minute.")
    try:
        payload = json.loads(response.content)
    except ValueError:
        raise not_json(
            response.content, status=status, content_type=response.headers.get("content-type", ""),
            speaker=what, check="the API URL",
        ) from None
    if status != 200 or not isinstance(payload, dict):
        raise ProtocolError(f"{what} answered HTTP {status} to 'who am I'. Check the API URL, then try again.")
    return parse_user(payload)


__all__ = [
    "CONSUMER_SETTINGS",
    "PERMISSION_FOR_SCOPE",
    "authorization",
    "REQUIRED_SCOPES",
    "ServerNotReached",
    "GRANULAR_SCOPES",
    "UserNotShown",
    "check_scopes",
    "classic_scope",
    "direct_mounts",
    "error_detail",
    "fetch_user",
    "http_client",
    "is_loopback_host",
    "is_loopback_url",
    "missing_scopes",
    "network_error",
    "normalise_host",
    "not_json",
    "parse_scopes",
    "parse_user",
    "proxy_for",
    "refused_scopes",
    "require_https",
    "retry_after_seconds",
    "retry_delay",
    "scope_error",
    "ssl_context",
    "trust_source",
]
