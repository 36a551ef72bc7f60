"""The Bitbucket Cloud emulator: bitbucket.org and api.bitbucket.org on one loopback port.

Routes (``site_url`` = ``http://127.0.0.1:PORT``):

- ``GET/POST /site/oauth2/authorize``: the consent page (Grant / Deny), then 302 to the callback.
- ``POST /site/oauth2/access_token``: grants ``authorization_code``, ``refresh_token``,
  ``client_credentials``; the errors of ``bitbucket-cloud.md``'s table.
- ``/2.0/...`` (``api_url``): ``/user``, ``/user/workspaces``, ``/workspaces/{ws}``,
  ``/repositories/{ws}``, ``/repositories/{ws}/{slug}``, ``/repositories/{ws}/{slug}/refs/branches``;
  410 CHANGE-2770 for the retired cross-workspace endpoints. Bearer auth only.
- ``/{ws}/{slug}.git/...``: git smart HTTP through the real ``git http-backend``; Basic auth with
  ``x-token-auth`` (or the account's username) + an access token, or ``x-bitbucket-api-token-auth``
  (or the username) + an API token.

Everything is stdlib: the emulator must not depend on the client's modules or libraries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import ipaddress
import json
import logging
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from bbwizard.emulator import bbql, gitrepos
from bbwizard.emulator.seed import (
    Consumer,
    Repo,
    User,
    Workspace,
    World,
    braced_uuid,
    build_world,
    iso,
    load_seed_source,
)

log = logging.getLogger("bbwizard.emulator")

REALM = 'Basic realm="Bitbucket.org HTTP"'

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

MSG_EXPIRED = "Access token expired."
MSG_INVALID_TOKEN = "Token is invalid, expired, or not supported for this endpoint."
MSG_SCOPES = "Your credentials lack one or more required privilege scopes."
MSG_RATE = "Rate limit for this resource has been exceeded."
MSG_GONE = "CHANGE-2770 - Functionality has been deprecated"
GONE_DETAIL = (
    "This API is no longer supported. For more information, see "
    "https://developer.atlassian.com/cloud/bitbucket/changelog/#CHANGE-2770"
)
MSG_NO_API = "Resource not found"
NO_API_DETAIL = (
    "There is no API hosted at this URL.\n\nFor information about our API's, please refer to the "
    "documentation at: https://developer.atlassian.com/bitbucket/api/2/reference/"
)

RETIRED = ("/2.0/workspaces", "/2.0/user/permissions/workspaces", "/2.0/user/permissions/repositories", "/2.0/repositories")

# What a scope grants, beyond itself (bitbucket-cloud.md "Scopes"; repository:admin implies nothing).
IMPLIES = {
    "repository:write": {"repository"},
    "pullrequest": {"repository"},
    "pullrequest:write": {"pullrequest", "repository", "repository:write"},
    "project": {"repository"},
    "project:write": {"project", "repository"},
    "project:admin": {"project:write", "project", "repository"},
    "account:write": {"account"},
    "team": {"account"},
    "team:write": {"team", "account"},
    "issue:write": {"issue", "repository"},
    "issue": {"repository"},
    "wiki": set(),
    "snippet:write": {"snippet"},
    "pipeline:write": {"pipeline"},
    "pipeline:variable": {"pipeline", "pipeline:write"},
    "webhook": set(),
}

_REDACT = [
    (re.compile(r"(?i)\b(code|access_token|refresh_token|client_secret|code_verifier|password|token)=[^&\s]+"), r"\1=***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+\S+"), r"\1 ***"),
    (re.compile(r"(?i)(://[^/\s:@]+):[^@\s/]+@"), r"\1:***@"),
]


def redact(text: str) -> str:
    """The emulator's own small redaction (it never imports the client's)."""
    for pattern, replacement in _REDACT:
        text = pattern.sub(replacement, text)
    return text


def expand_scopes(scopes: list[str] | set[str]) -> set[str]:
    granted = set(scopes)
    for scope in list(granted):
        granted |= IMPLIES.get(scope, set())
    return granted


class RequestRecord(NamedTuple):
    method: str
    path: str  # without the query string (it may carry a code)
    status: int


@dataclass
class Stats:
    """Counters the tests read. Nothing here holds a secret."""

    grants: Counter = field(default_factory=Counter)  # successful grants per grant_type
    token_errors: Counter = field(default_factory=Counter)  # (error, error_description) -> n
    requests: list[RequestRecord] = field(default_factory=list)
    authorizations: list[dict] = field(default_factory=list)  # what clients sent to authorize
    git: Counter = field(default_factory=Counter)  # "upload-pack"/"receive-pack" -> n (authorised)
    materialised: int = 0
    faults: Counter = field(default_factory=Counter)  # kind -> times served

    def reset(self) -> None:
        self.grants.clear()
        self.token_errors.clear()
        self.requests.clear()
        self.authorizations.clear()
        self.git.clear()
        self.materialised = 0
        self.faults.clear()

    def count(self, path: str, method: str | None = None, status: int | None = None) -> int:
        """How many requests went to ``path`` (exact, or a prefix ending in ``*``)."""
        def matches(record: RequestRecord) -> bool:
            ok = record.path.startswith(path[:-1]) if path.endswith("*") else record.path == path
            return ok and (method is None or record.method == method) and (status is None or record.status == status)

        return sum(1 for record in list(self.requests) if matches(record))


@dataclass
class AccessToken:
    value: str
    consumer: str
    username: str
    scopes: list[str]
    expires_at: float
    grant_type: str


@dataclass
class RefreshToken:
    value: str
    consumer: str
    username: str
    scopes: list[str]
    expires_at: float
    rotated_at: float | None = None  # when a refresh used it; it dies refresh_grace later


@dataclass
class Code:
    value: str
    consumer: str
    username: str
    scopes: list[str]
    redirect_uri: str | None  # as sent to authorize (None = not sent)
    challenge: str | None
    method: str | None
    expires_at: float
    used: bool = False


@dataclass
class Fault:
    kind: str
    status: int
    count: int
    retry_after: str | None
    path_prefix: str
    method: str | None
    body: bytes | None
    content_type: str | None


FAULT_KINDS = ("status", "html200", "truncated", "drop", "drop_after")


def _loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class Hold:
    """Requests held unanswered by :meth:`Emulator.hold` until :meth:`release` (or the emulator stops)."""

    def __init__(self, path_prefix: str, page: int | None, method: str | None) -> None:
        self.path_prefix, self.page, self.method = path_prefix, page, method
        self.arrived = threading.Event()  # set when the first matching request is being held
        self._released = threading.Event()

    def matches(self, method: str, path: str, params: dict[str, str]) -> bool:
        if self._released.is_set() or not path.startswith(self.path_prefix):
            return False
        if self.method is not None and method != self.method:
            return False
        return self.page is None or params.get("page", "1") == str(self.page)

    def wait_arrived(self, timeout: float = 60.0) -> bool:
        return self.arrived.wait(timeout)

    def release(self) -> None:
        self._released.set()

    def _hold(self) -> None:
        self.arrived.set()
        self._released.wait()


class Emulator:
    """Bitbucket Cloud on loopback. See the package docstring and /tmp/bbw-notes/emulator.md.

    Knobs (all mutable while running; lifetimes apply to what is issued afterwards):
    ``token_lifetime`` (s, default 7200), ``refresh_grace`` (s a rotated refresh token keeps
    working, default 600), ``refresh_lifetime`` (s an unused refresh token lives, default 90 days),
    ``code_lifetime`` (s, default 600), ``allow_any_loopback_port`` (a loopback redirect_uri may
    use another port than the callback's), ``request_budget`` (REST requests left before 429;
    None = unlimited; assigning resets the count), ``rate_limit_retry_after`` (Retry-After of
    those 429s; None = no header), ``latency`` (s added to every request), ``scope_field``
    ("scopes", "scope" or "both": the token answer's scope field), ``access_token_length``,
    ``role_member_gone`` (``role=member`` answers 410), ``auto_approve`` (a consumer the browser
    user already granted skips the consent page, as Bitbucket does), ``list_size`` ("exact";
    "missing": list envelopes carry no ``size``; "off": ``size`` is 7 too small — bitbucket-cloud.md
    says ``size`` can be missing or off, so clients must fall back to ``next``), ``clock`` (a
    ``time.time``).
    """

    def __init__(
        self,
        seed: dict | str | Path | None = None,
        *,
        port: int = 0,
        data_dir: str | Path | None = None,
        token_lifetime: int = 7200,
        refresh_grace: float = 600,
        code_lifetime: float = 600,
        allow_any_loopback_port: bool = True,
        request_budget: int | None = None,
        latency: float = 0.0,
        refresh_lifetime: float = 90 * 86400,
        scope_field: str = "scopes",
        access_token_length: int = 180,
        role_member_gone: bool = False,
        auto_approve: bool = False,
        rate_limit_retry_after: str | int | None = None,
        list_size: str = "exact",
        host: str = "127.0.0.1",
    ) -> None:
        if not _loopback_host(host) or host == "localhost":
            raise ValueError("the emulator listens on a loopback address only (127.0.0.1 or ::1)")
        self.world: World = build_world(load_seed_source(seed))
        self.host = host
        self._port = port
        self._data_dir_arg = Path(data_dir) if data_dir is not None else None
        self.data_dir: Path | None = None
        self.token_lifetime = token_lifetime
        self.refresh_grace = refresh_grace
        self.refresh_lifetime = refresh_lifetime
        self.code_lifetime = code_lifetime
        self.allow_any_loopback_port = allow_any_loopback_port
        self._budget: int | None = request_budget
        self.rate_limit_retry_after = rate_limit_retry_after
        self.latency = latency
        self.scope_field = scope_field
        self.access_token_length = access_token_length
        self.role_member_gone = role_member_gone
        self.auto_approve = auto_approve
        if list_size not in ("exact", "missing", "off"):
            raise ValueError('list_size is "exact", "missing" or "off"')
        self.list_size = list_size
        self.clock = time.time
        self.stats = Stats()
        self._lock = threading.RLock()
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._codes: dict[str, Code] = {}
        self._pending: dict[str, dict] = {}
        self._granted: set[tuple[str, str]] = set()
        self._faults: list[Fault] = []
        self._holds: list[Hold] = []
        # The world is fixed once loaded, so sorted orders and encoded repositories never go stale.
        self._sort_cache: dict[tuple, list] = {}
        self._json_cache: dict[tuple[str, str, str], bytes] = {}
        self._fragment_cache: dict[tuple, str] = {}
        self._fields_cache: dict[tuple[str, bytes], bytes] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        if self._data_dir_arg is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="bbwizard-emulator-")
            self.data_dir = Path(self._tmp.name)
        else:
            self.data_dir = self._data_dir_arg
            self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "repos").mkdir(exist_ok=True)
        server_class = _Server6 if ":" in self.host else _Server
        self._server = server_class((self.host, self._port), _Handler)
        self._server.emulator = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"bbwizard-emulator-{self.port}", daemon=True)
        self._thread.start()
        log.info("emulator listening on %s", self.site_url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        for held in self._holds:
            held.release()
        server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)
        server.server_close()
        server.close_connections()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        log.info("emulator stopped")

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start()")
        return self._server.server_address[1]

    @property
    def site_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.site_url}/2.0"

    @property
    def git_host(self) -> str:
        return urlsplit(self.site_url).netloc

    @property
    def authorize_url(self) -> str:
        return f"{self.site_url}/site/oauth2/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.site_url}/site/oauth2/access_token"

    def clone_url(self, workspace: str, slug: str, username: str | None = None) -> str:
        user = f"{quote(username, safe='')}@" if username else ""
        return f"http://{user}{self.git_host}/{workspace}/{slug}.git"

    @property
    def repos_dir(self) -> Path:
        if self.data_dir is None:
            raise RuntimeError("the emulator is not running: call start()")
        return self.data_dir / "repos"

    # ---- knobs and test helpers ------------------------------------------------------------

    @property
    def request_budget(self) -> int | None:
        return self._budget

    @request_budget.setter
    def request_budget(self, value: int | None) -> None:
        with self._lock:
            self._budget = value

    def inject(self, kind: str = "status", status: int = 503, count: int = 1, retry_after: str | int | None = None,
               path_prefix: str = "/2.0/", method: str | None = None, body: bytes | str | None = None,
               content_type: str | None = None) -> None:
        """The next ``count`` requests whose path starts with ``path_prefix`` misbehave.

        kinds: ``status`` (answer ``status`` with a Bitbucket error body, ``Retry-After`` if
        given), ``html200`` (an HTML page with 200, like a captive portal), ``truncated`` (the
        real answer, cut in half, with a Content-Length that matches the cut), ``drop`` (close the
        connection without an answer; the request is not processed), ``drop_after`` (process the
        request, e.g. spend a refresh token, then close without an answer).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        if isinstance(body, str):
            body = body.encode()
        with self._lock:
            self._faults.append(Fault(kind, status, count, None if retry_after is None else str(retry_after),
                                      path_prefix, method, body, content_type))

    def hold(self, path_prefix: str = "/2.0/", page: int | None = None, method: str | None = "GET") -> Hold:
        """Matching requests (path prefix; ``page`` query parameter, 1 when absent, if given) wait
        unanswered until the returned :class:`Hold` is released, or the emulator stops: a test can
        look at a client mid-way, at a moment it chose, instead of racing it."""
        held = Hold(path_prefix, page, method)
        with self._lock:
            self._holds.append(held)
        return held

    def _take_hold(self, method: str, path: str, params: dict[str, str]) -> Hold | None:
        with self._lock:
            self._holds = [held for held in self._holds if not held._released.is_set()]
            return next((held for held in self._holds if held.matches(method, path, params)), None)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def mint_token(self, consumer_key: str, username: str | None = None, scopes: list[str] | None = None,
                   grant_type: str = "authorization_code") -> dict:
        """A token-endpoint answer, as a grant would give, without the browser dance."""
        consumer = self.world.consumers[consumer_key]
        username = username or self.world.browser_user or consumer.owner
        if username not in self.world.users:
            raise KeyError(f"no user {username!r} in the seed")
        return self._issue(consumer, username, list(scopes if scopes is not None else consumer.scopes), grant_type)

    def expire_tokens(self) -> None:
        """Every live access token expires now (refresh tokens are untouched)."""
        now = self.clock()
        with self._lock:
            for token in self._access.values():
                token.expires_at = min(token.expires_at, now - 1)

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token dies now (as when a user revokes the consumer's access)."""
        with self._lock:
            self._refresh.clear()

    def revoke_grants(self) -> None:
        """Every access and refresh token dies now, as when the person revokes the consumer under
        Personal settings → App authorizations."""
        with self._lock:
            self._access.clear()
            self._refresh.clear()

    def token_info(self, access_token: str) -> dict | None:
        """What the emulator knows of an access token (None if it never issued it)."""
        with self._lock:
            token = self._access.get(access_token)
            if token is None:
                return None
            return {"consumer": token.consumer, "username": token.username, "scopes": list(token.scopes),
                    "expires_at": token.expires_at, "expired": token.expires_at <= self.clock(),
                    "grant_type": token.grant_type}

    def materialise(self, workspace: str, slug: str) -> Path:
        """The bare git repository of ``workspace/slug`` on disk (built now if needed)."""
        ws = self.world.workspaces[workspace]
        return self._materialise(ws.repos[slug])

    # ---- internals -------------------------------------------------------------------------

    def _materialise(self, repo: Repo) -> Path:
        path = gitrepos.repo_path(self.repos_dir, repo)
        if path.is_dir():
            return path
        ws = self.world.workspaces[repo.workspace]
        owner = self.world.users.get(ws.members[0]) if ws.members else None
        author = f"{owner.display_name} <{owner.email}>" if owner else "Bitbucket Emulator <emulator@example.invalid>"
        started = time.monotonic()
        result, built = gitrepos.materialise(self.repos_dir, repo, author)
        if built:
            with self._lock:
                self.stats.materialised += 1
            log.info("materialised %s in %.0f ms", repo.full_name, (time.monotonic() - started) * 1000)
        return result

    def _new_access_value(self) -> str:
        length = max(int(self.access_token_length), 20)
        value = secrets.token_urlsafe(length)
        return value[:length]

    def _issue(self, consumer: Consumer, username: str, scopes: list[str], grant_type: str) -> dict:
        now = self.clock()
        access = self._new_access_value()
        refresh = secrets.token_urlsafe(24)
        with self._lock:
            self._access[access] = AccessToken(access, consumer.key, username, scopes, now + self.token_lifetime, grant_type)
            self._refresh[refresh] = RefreshToken(refresh, consumer.key, username, scopes, now + self.refresh_lifetime)
        body: dict[str, Any] = {"access_token": access}
        scope_text = " ".join(scopes)
        if self.scope_field in ("scopes", "both"):
            body["scopes"] = scope_text
        if self.scope_field in ("scope", "both"):
            body["scope"] = scope_text
        body.update(expires_in=int(self.token_lifetime), token_type="bearer", state=grant_type, refresh_token=refresh)
        return body

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and path.startswith(fault.path_prefix) and (fault.method in (None, method)):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    self.stats.faults[fault.kind] += 1
                    return fault
        return None

    def _spend_budget(self) -> bool:
        """True if this REST request is within the budget."""
        with self._lock:
            if self._budget is None:
                return True
            if self._budget <= 0:
                return False
            self._budget -= 1
            return True

    def redirect_allowed(self, consumer: Consumer, redirect_uri: str) -> bool:
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
        if cb_port != rd_port and not (self.allow_any_loopback_port and _loopback_host(cb.hostname or "")):
            return False
        return (rd.path or "/").startswith(cb.path or "/")

    def _user_json(self, user: User) -> dict:
        api = self.api_url
        return {
            "display_name": user.display_name,
            "links": {
                "self": {"href": f"{api}/users/{quote(user.uuid)}"},
                "avatar": {"href": f"{self.site_url}/account/{user.username}/avatar/"},
                "repositories": {"href": f"{api}/repositories/{quote(user.uuid)}"},
                "html": {"href": f"{self.site_url}/{quote(user.uuid)}/"},
            },
            "created_on": iso(user.created_on),
            "type": "user",
            "uuid": user.uuid,
            "username": user.username,
            "is_staff": False,
            "account_id": user.account_id,
            "nickname": user.nickname,
            "account_status": "active",
            "location": None,
        }

    def _workspace_links(self, ws: Workspace, full: bool) -> dict:
        api, site = self.api_url, self.site_url
        links = {
            "avatar": {"href": f"{site}/workspaces/{ws.slug}/avatar/?ts=1700000000"},
            "self": {"href": f"{api}/workspaces/{ws.slug}"},
        }
        if full:
            links.update(
                html={"href": f"{site}/{ws.slug}/"},
                members={"href": f"{api}/workspaces/{ws.slug}/members"},
                owners={"href": f"{api}/workspaces/{ws.slug}/members?q=permission%3D%22owner%22"},
                projects={"href": f"{api}/workspaces/{ws.slug}/projects"},
                repositories={"href": f"{api}/repositories/{ws.slug}"},
                snippets={"href": f"{api}/snippets/{ws.slug}"},
            )
        return links

    def _workspace_json(self, ws: Workspace) -> dict:
        return {
            "type": "workspace",
            "uuid": ws.uuid,
            "name": ws.name,
            "slug": ws.slug,
            "is_private": ws.is_private,
            "is_privacy_enforced": False,
            "forking_mode": "allow_forks",
            "created_on": iso(ws.created_on),
            "updated_on": iso(ws.created_on),
            "links": self._workspace_links(ws, full=True),
        }

    def _repo_bytes(self, repo: Repo, viewer: str | None) -> bytes:
        """A repository's JSON, encoded once per viewer (the https clone link names the viewer)."""
        key = (repo.workspace, repo.slug, viewer or "")
        encoded = self._json_cache.get(key)
        if encoded is None:
            encoded = self._encode_repo(repo, viewer)
            self._json_cache[key] = encoded
        return encoded

    def _repo_json(self, repo: Repo, viewer: str | None) -> dict:
        return json.loads(self._repo_bytes(repo, viewer))

    def _fragment(self, key: tuple, build) -> str:
        """JSON text of a part many repositories share (owner, workspace, project), built once."""
        text = self._fragment_cache.get(key)
        if text is None:
            text = json.dumps(build(), ensure_ascii=False)
            self._fragment_cache[key] = text
        return text

    def _owner_doc(self, ws: Workspace) -> dict:
        api, site = self.api_url, self.site_url
        owner_user = self.world.users.get(ws.slug) if ws.is_personal else None
        owner = {
            "display_name": ws.name,
            "links": {
                "self": {"href": f"{api}/{'users' if owner_user else 'workspaces'}/{quote(ws.uuid)}"},
                "avatar": {"href": f"{site}/account/{ws.slug}/avatar/"},
                "html": {"href": f"{site}/{quote(ws.uuid)}/"},
            },
            "type": "user" if owner_user else "team",
            "uuid": ws.uuid,
            "username": ws.slug,
        }
        if owner_user:
            owner.update(nickname=owner_user.nickname, account_id=owner_user.account_id)
        return owner

    def _workspace_min_doc(self, ws: Workspace) -> dict:
        return {
            "type": "workspace",
            "uuid": ws.uuid,
            "name": ws.name,
            "slug": ws.slug,
            "links": {
                "avatar": {"href": f"{self.site_url}/workspaces/{ws.slug}/avatar/?ts=1700000000"},
                "html": {"href": f"{self.site_url}/{ws.slug}/"},
                "self": {"href": f"{self.api_url}/workspaces/{ws.slug}"},
            },
        }

    def _project_doc(self, ws: Workspace, repo: Repo) -> dict:
        site, key = self.site_url, repo.project_key
        return {
            "type": "project",
            "key": key,
            "uuid": braced_uuid("project", f"{ws.slug}/{key}"),
            "name": repo.project_name,
            "links": {
                "html": {"href": f"{site}/{ws.slug}/workspace/projects/{quote(key)}"},
                "avatar": {"href": f"{site}/{ws.slug}/workspace/projects/{quote(key)}/avatar/32"},
            },
        }

    def _encode_repo(self, repo: Repo, viewer: str | None) -> bytes:
        api, site = self.api_url, self.site_url
        ws = self.world.workspaces[repo.workspace]
        slug = quote(repo.slug)
        base = f"{api}/repositories/{repo.workspace}/{slug}"
        html_base = f"{site}/{repo.workspace}/{slug}"
        own = {
            "type": "repository",
            "full_name": repo.full_name,
            "links": {
                "self": {"href": base},
                "html": {"href": html_base},
                "avatar": {"href": f"{html_base}/avatar/32/?ts=1700000000"},
                "pullrequests": {"href": f"{base}/pullrequests"},
                "commits": {"href": f"{base}/commits"},
                "forks": {"href": f"{base}/forks"},
                "watchers": {"href": f"{base}/watchers"},
                "downloads": {"href": f"{base}/downloads"},
                "clone": [
                    {"name": "https", "href": self.clone_url(repo.workspace, repo.slug, viewer)},
                    {"name": "ssh", "href": f"git@{self.host}:{repo.workspace}/{repo.slug}.git"},
                ],
                "hooks": {"href": f"{base}/hooks"},
            },
            "name": repo.name,
            "slug": repo.slug,
            "description": repo.description,
            "scm": "git",
            "website": None,
            "is_private": repo.is_private,
            "fork_policy": "no_public_forks" if repo.is_private else "allow_forks",
            "created_on": iso(repo.created_on),
            "updated_on": iso(repo.updated_on),
            "size": repo.api_size,
            "language": repo.language,
            "uuid": repo.uuid,
            "mainbranch": {"name": repo.mainbranch, "type": "branch"},
            "override_settings": {"default_merge_strategy": True, "branching_model": True},
            "enforced_signed_commits": None,
            "has_issues": False,
            "has_wiki": False,
        }
        owner = self._fragment(("owner", ws.slug), lambda: self._owner_doc(ws))
        workspace = self._fragment(("workspace", ws.slug), lambda: self._workspace_min_doc(ws))
        project = self._fragment(("project", ws.slug, repo.project_key, repo.project_name),
                                 lambda: self._project_doc(ws, repo))
        text = json.dumps(own, ensure_ascii=False)[:-1]
        return f'{text}, "owner": {owner}, "workspace": {workspace}, "project": {project}}}'.encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # clients open many connections at once; the default backlog is 5
    emulator: Emulator

    def server_activate(self) -> None:
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().server_activate()

    def process_request(self, request, client_address) -> None:
        with self.connections_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self.connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """A stopped emulator must not keep answering on a client's pooled keep-alive connection."""
        with self.connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a body's last small segment waits for
    # the client's delayed ACK: ~40 ms added to any mid-sized answer on a kept-alive connection.
    disable_nagle_algorithm = True
    server_version = "bitbucket-emulator"
    sys_version = ""
    server: _Server

    # http.server prints to stderr by default: the library never prints.
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("http.server: " + redact(format % args))

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("http.server: " + redact(format % args))

    @property
    def emu(self) -> Emulator:
        return self.server.emulator

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # ---- plumbing --------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self, method: str) -> None:
        started = time.monotonic()
        self._status = 0
        self._truncate = False
        self._drop_after = False
        parts = urlsplit(self.path)
        self._path = parts.path
        self._query = parts.query
        self._params = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            self._body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        try:
            if self.emu.latency:
                time.sleep(self.emu.latency)
            held = self.emu._take_hold(method, self._path, self._params)
            if held is not None:
                held._hold()
            fault = self.emu._take_fault(method, self._path)
            if fault is not None and self._serve_fault(fault):
                return
            self._route(method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # one bad request must not kill the emulator
            log.exception("emulator error on %s %s", method, redact(self._path))
            if not self._status:
                self._json(500, _error("Internal Server Error"))
        finally:
            status = self._status or 0
            self.emu.stats.requests.append(RequestRecord(method, self._path, status))
            shown = self._path + ("?" + self._query if self._query else "")
            log.info("%s %s -> %s (%.1f ms)", method, redact(shown), status or "dropped",
                     (time.monotonic() - started) * 1000)

    def _serve_fault(self, fault: Fault) -> bool:
        """Serve a fault. False when the request goes on (truncated, drop_after)."""
        if fault.kind == "truncated":
            self._truncate = True
            return False
        if fault.kind == "drop_after":
            self._drop_after = True
            return False
        if fault.kind == "drop":
            self._drop()
            return True
        if fault.kind == "html200":
            body = fault.body or (
                b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head>"
                b"<body><h1>Welcome to Airport Wi-Fi</h1><p>Accept the terms to continue.</p></body></html>"
            )
            self._send(200, body, fault.content_type or "text/html; charset=utf-8")
            return True
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if fault.body is not None:
            self._send(fault.status, fault.body, fault.content_type or "text/plain; charset=utf-8", headers)
        else:
            message = MSG_RATE if fault.status == 429 else _phrase(fault.status)
            self._json(fault.status, _error(message), headers)
        return True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        if self._drop_after:
            self._status = 0
            self._drop()
            return
        if self._truncate and body:
            body = body[: max(1, len(body) // 2)]
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(document, ensure_ascii=False).encode(), "application/json; charset=utf-8", headers)

    def _html(self, status: int, title: str, body_html: str, headers: dict[str, str] | None = None) -> None:
        page = (
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)} — Bitbucket</title></head><body>"
            f"<header><strong>Bitbucket</strong> <small>(emulator)</small></header><main>{body_html}</main></body></html>"
        )
        all_headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
        all_headers.update(headers or {})
        self._send(status, page.encode(), "text/html; charset=utf-8", all_headers)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", "text/html; charset=utf-8", {"Location": location, "Cache-Control": "no-store"})

    # ---- routing ---------------------------------------------------------------------------

    def _route(self, method: str) -> None:
        path = self._path
        if path == "/2.0" or path.startswith("/2.0/"):
            self._rest(method)
        elif path == "/site/oauth2/authorize":
            self._authorize(method)
        elif path == "/site/oauth2/access_token":
            self._token(method)
        elif (match := _GIT_PATH.match(path)) is not None:
            self._git(method, match)
        elif path == "/" and method in ("GET", "HEAD"):
            self._html(200, "Emulator", "<h1>Bitbucket Cloud emulator</h1><p>OAuth at /site/oauth2/, "
                       "REST at /2.0/, git at /WORKSPACE/REPO.git</p>")
        else:
            self._html(404, "Page not found", "<h1>That link has no power here</h1>")

    # ---- OAuth: authorize --------------------------------------------------------------------

    def _authorize(self, method: str) -> None:
        if method == "POST":
            self._authorize_decision()
            return
        if method not in ("GET", "HEAD"):
            self._html(405, "Method not allowed", "<h1>Method not allowed</h1>")
            return
        emu, params = self.emu, self._params
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
            self._html(400, "Invalid client_id",
                       "<h1>Invalid client_id</h1><p>The OAuth consumer this link names does not exist.</p>")
            return
        if consumer.callback_url is None:
            self._html(400, "Invalid redirect_uri",
                       "<h1>Invalid redirect_uri</h1><p>No callback uri defined for the OAuth client.</p>")
            return
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is not None and not emu.redirect_allowed(consumer, redirect_uri):
            self._html(400, "Invalid redirect_uri",
                       "<h1>Invalid redirect_uri</h1><p>The redirect_uri does not match the callback URL of "
                       "this OAuth consumer.</p>")
            return
        target = redirect_uri or consumer.callback_url
        state = params.get("state")
        if params.get("response_type") != "code":
            self._redirect(_with_query(target, {"error": "unsupported_response_type", "state": state}))
            return
        challenge = params.get("code_challenge")
        method_pkce = params.get("code_challenge_method")
        if challenge is not None:
            method_pkce = method_pkce or "plain"
            if method_pkce not in ("S256", "plain"):
                self._redirect(_with_query(target, {"error": "invalid_request",
                                                    "error_description": "Unsupported code_challenge_method",
                                                    "state": state}))
                return
        user = emu.world.browser_user
        if user is None:
            self._html(403, "Log in", "<h1>Log in to Bitbucket</h1><p>No user is logged in in this emulator.</p>")
            return
        pending = {
            "consumer": consumer.key, "redirect_uri": redirect_uri, "target": target, "state": state,
            "challenge": challenge, "method": method_pkce if challenge is not None else None,
            "user": user, "created": emu.clock(),
        }
        if emu.auto_approve and (consumer.key, user) in emu._granted:
            self._redirect(self._grant(pending))
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
        self._html(
            200,
            "Authorize",
            f"<h1>Authorize {html.escape(consumer.name)}</h1>"
            f"<p>Logged in as <strong>{html.escape(account.display_name)}</strong> "
            f"(<span id=\"username\">{html.escape(account.username)}</span>).</p>"
            f"<p><strong>{html.escape(consumer.name)}</strong> is requesting access to:</p><ul>{scopes}</ul>"
            "<form method=\"post\" action=\"/site/oauth2/authorize\" id=\"oauth-consent\">"
            f"<input type=\"hidden\" name=\"request_id\" value=\"{request_id}\">"
            "<button type=\"submit\" name=\"decision\" value=\"grant\" id=\"grant\">Grant access</button> "
            "<button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button>"
            "</form>",
            {"Referrer-Policy": "no-referrer"},
        )

    def _authorize_decision(self) -> None:
        emu = self.emu
        form = dict(parse_qsl(self._body.decode("utf-8", errors="replace"), keep_blank_values=True))
        with emu._lock:
            pending = emu._pending.pop(form.get("request_id", ""), None)
        if pending is None or emu.clock() - pending["created"] > 3600:
            self._html(400, "Expired", "<h1>This authorization request has expired</h1><p>Start again from the application.</p>")
            return
        if form.get("decision") == "grant":
            self._redirect(self._grant(pending))
        else:
            self._redirect(_with_query(pending["target"], {"error": "access_denied", "state": pending["state"]}))

    def _grant(self, pending: dict) -> str:
        emu = self.emu
        consumer = emu.world.consumers[pending["consumer"]]
        code = secrets.token_urlsafe(18)
        with emu._lock:
            emu._codes[code] = Code(code, consumer.key, pending["user"], list(consumer.scopes), pending["redirect_uri"],
                                    pending["challenge"], pending["method"], emu.clock() + emu.code_lifetime)
            emu._granted.add((consumer.key, pending["user"]))
        return _with_query(pending["target"], {"code": code, "state": pending["state"]})

    # ---- OAuth: token endpoint ---------------------------------------------------------------

    def _token_error(self, error: tuple[str, str]) -> None:
        with self.emu._lock:
            self.emu.stats.token_errors[error] += 1
        self._json(400, {"error": error[0], "error_description": error[1]})

    def _token(self, method: str) -> None:
        emu = self.emu
        if method != "POST":
            self._html(405, "Method not allowed", "<h1>Method not allowed</h1>")
            return
        auth = self.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            self._html(401, "Unauthorized", "<h1>Unauthorized</h1><p>This resource requires client credentials.</p>")
            return
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        form: dict[str, str] = {}
        if content_type == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(self._body.decode("utf-8", errors="replace"), keep_blank_values=True))
        key = secret = None
        if auth[:6].lower() == "basic ":
            try:
                key, _, secret = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
            except ValueError:
                key = secret = ""
        elif form.get("client_id") and "client_secret" in form:
            key, secret = form["client_id"], form["client_secret"]
        if key is None:
            self._token_error(ERR_NO_CLIENT)
            return
        consumer = emu.world.consumers.get(key)
        if consumer is None or not hmac.compare_digest(consumer.secret.encode(), (secret or "").encode()):
            self._token_error(ERR_BAD_CLIENT)
            return
        if consumer.callback_url is None:
            self._token_error(ERR_NO_CALLBACK)
            return
        grant = form.get("grant_type")
        if grant == "authorization_code":
            self._grant_code(consumer, form)
        elif grant == "refresh_token":
            self._grant_refresh(consumer, form)
        elif grant == "client_credentials":
            if not consumer.private:
                self._token_error(ERR_PUBLIC_CC)
                return
            self._issued("client_credentials", emu._issue(consumer, consumer.owner, list(consumer.scopes), "client_credentials"))
        else:
            self._token_error(("invalid_grant", f"Unsupported grant type: {grant}"))

    def _issued(self, grant: str, body: dict) -> None:
        with self.emu._lock:
            self.emu.stats.grants[grant] += 1
        self._json(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _grant_code(self, consumer: Consumer, form: dict[str, str]) -> None:
        emu = self.emu
        now = emu.clock()
        with emu._lock:
            code = emu._codes.get(form.get("code", ""))
            usable = code is not None and not code.used and code.consumer == consumer.key and code.expires_at > now
            if code is not None and code.consumer == consumer.key:
                code.used = True  # single use: a failed exchange spends it too
        if not usable:
            self._token_error(ERR_BAD_CODE)
            return
        sent = form.get("redirect_uri")
        if code.redirect_uri is not None and sent != code.redirect_uri:
            self._token_error(ERR_REDIRECT_MISMATCH)
            return
        if code.redirect_uri is None and sent is not None and not emu.redirect_allowed(consumer, sent):
            self._token_error(ERR_REDIRECT_MISMATCH)
            return
        if code.challenge is not None:
            verifier = form.get("code_verifier", "")
            expected = _pkce_s256(verifier) if code.method == "S256" else verifier
            if not verifier or not hmac.compare_digest(expected.encode(), code.challenge.encode()):
                self._token_error(ERR_BAD_VERIFIER)
                return
        self._issued("authorization_code", emu._issue(consumer, code.username, code.scopes, "authorization_code"))

    def _grant_refresh(self, consumer: Consumer, form: dict[str, str]) -> None:
        emu = self.emu
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
            self._token_error(ERR_BAD_REFRESH)
            return
        self._issued("refresh_token", emu._issue(consumer, token.username, token.scopes, "refresh_token"))

    # ---- REST ------------------------------------------------------------------------------

    def _rest_error(self, status: int, message: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        self._json(status, _error(message, detail), headers)

    def _rest(self, method: str) -> None:
        emu = self.emu
        path = self._path.rstrip("/") or "/2.0"
        if not emu._spend_budget():
            retry = emu.rate_limit_retry_after
            self._rest_error(429, MSG_RATE, headers={"Retry-After": str(retry)} if retry is not None else None)
            return
        if path in RETIRED:
            self._rest_error(410, MSG_GONE, GONE_DETAIL)
            return
        auth = self.headers.get("Authorization", "")
        token = None
        if auth[:7].lower() == "bearer ":
            with emu._lock:
                token = emu._access.get(auth[7:].strip())
        if token is None:
            self._rest_error(401, MSG_INVALID_TOKEN)
            return
        if token.expires_at <= emu.clock():
            self._rest_error(401, MSG_EXPIRED)
            return
        if method not in ("GET", "HEAD"):
            self._rest_error(405, "Method not allowed")
            return
        segments = [unquote(s) for s in path.split("/")[2:]]
        route = _rest_route(segments)
        if route is None:
            self._rest_error(404, MSG_NO_API, NO_API_DETAIL)
            return
        name, args, scope = route
        granted = expand_scopes(token.scopes)
        if scope not in granted:
            self._rest_error(403, MSG_SCOPES, {"granted": list(token.scopes), "required": [scope]})
            return
        getattr(self, f"_api_{name}")(token, *args)

    def _user_of(self, token: AccessToken) -> User:
        return self.emu.world.users[token.username]

    def _visible_ws(self, ident: str, user: User) -> Workspace | None:
        ws = self.emu.world.workspace(ident)
        if ws is None or (ws.is_private and user.username not in ws.members):
            return None
        return ws

    def _api_user(self, token: AccessToken) -> None:
        self._json(200, self.emu._user_json(self._user_of(token)))

    def _api_user_workspaces(self, token: AccessToken) -> None:
        emu, user = self.emu, self._user_of(token)
        items = [ws for ws in emu.world.workspaces.values() if user.username in ws.members]
        admin_filter = self._params.get("administrator")
        if admin_filter is not None:
            wanted = admin_filter.lower() == "true"
            items = [ws for ws in items if (user.username in ws.administrators) == wanted]

        def to_json(ws: Workspace) -> dict:
            return {
                "type": "workspace_access",
                "administrator": user.username in ws.administrators,
                "workspace": {"type": "workspace_base", "uuid": ws.uuid, "slug": ws.slug,
                              "links": emu._workspace_links(ws, full=False)},
                "links": {"self": {"href": f"{emu.api_url}/user/workspaces/{ws.slug}/permission"}},
            }

        self._paginate([to_json(ws) for ws in items], lambda doc: (lambda p: bbql.dotted(doc, p)),
                       {"workspace.slug", "administrator", "workspace.uuid"}, default_sort=None)

    def _api_workspace(self, token: AccessToken, ident: str) -> None:
        ws = self._visible_ws(ident, self._user_of(token))
        if ws is None:
            self._rest_error(404, f"No workspace with identifier '{ident}'.")
            return
        self._json(200, self.emu._workspace_json(ws))

    def _api_repositories(self, token: AccessToken, ident: str) -> None:
        emu, user = self.emu, self._user_of(token)
        ws = emu.world.workspace(ident)
        if ws is None:
            self._rest_error(404, f"No workspace with identifier '{ident}'.")
            return
        role = self._params.get("role")
        if role is not None and role not in ("member", "contributor", "admin", "owner"):
            self._rest_error(400, f"Invalid role: {role}")
            return
        if role == "member" and emu.role_member_gone:
            self._rest_error(410, MSG_GONE, GONE_DETAIL)
            return
        member = user.username in ws.members
        if role is None:
            repos = list(ws.repos.values()) if member else [r for r in ws.repos.values() if not r.is_private]
        elif role in ("member", "contributor"):
            repos = list(ws.repos.values()) if member else []
        elif role == "admin":
            repos = list(ws.repos.values()) if user.username in ws.administrators else []
        else:  # owner: the repositories the user owns, i.e. those of their personal workspace
            repos = list(ws.repos.values()) if ws.is_personal and ws.slug == user.username else []
        self._paginate(repos, _repo_getter, _REPO_SORT_FIELDS, default_sort=None,
                       to_json=lambda repo: emu._repo_json(repo, user.username), sort_key_of=_repo_sort_key,
                       cache_key=(ws.slug, role, user.username),
                       to_bytes=lambda repo: emu._repo_bytes(repo, user.username))

    def _repo_for(self, token: AccessToken, ident: str, slug: str) -> Repo | None:
        user = self._user_of(token)
        ws = self.emu.world.workspace(ident)
        repo = self.emu.world.repo(ws, slug) if ws is not None else None
        if repo is None or (repo.is_private and user.username not in ws.members):
            self._rest_error(404, "You may not have access to this repository or it no longer exists in this "
                             "workspace. If you think this repository exists and you have access, make sure "
                             "you are authenticated.")
            return None
        return repo

    def _api_repository(self, token: AccessToken, ident: str, slug: str) -> None:
        repo = self._repo_for(token, ident, slug)
        if repo is not None:
            self._json(200, self.emu._repo_json(repo, token.username))

    def _api_branches(self, token: AccessToken, ident: str, slug: str) -> None:
        emu = self.emu
        repo = self._repo_for(token, ident, slug)
        if repo is None:
            return
        path = emu._materialise(repo)
        branches = gitrepos.list_branches(path, gitrepos.git_env(emu.data_dir))
        api, site = emu.api_url, emu.site_url
        base = f"{api}/repositories/{repo.workspace}/{quote(repo.slug)}"
        repo_min = {
            "type": "repository", "full_name": repo.full_name, "name": repo.name, "uuid": repo.uuid,
            "links": {"self": {"href": base}, "html": {"href": f"{site}/{repo.workspace}/{quote(repo.slug)}"},
                      "avatar": {"href": f"{site}/{repo.workspace}/{quote(repo.slug)}/avatar/32/"}},
        }

        def to_json(b: dict) -> dict:
            commit = {
                "type": "commit",
                "hash": b["hash"],
                "date": b["date"],
                "author": {"type": "author", "raw": b["author"]},
                "message": b["message"],
                "summary": {"raw": b["message"], "markup": "markdown",
                            "html": f"<p>{html.escape(b['message'].strip())}</p>"},
                "links": {"self": {"href": f"{base}/commit/{b['hash']}"},
                          "html": {"href": f"{site}/{repo.workspace}/{quote(repo.slug)}/commits/{b['hash']}"}},
                "parents": [{"type": "commit", "hash": p, "links": {"self": {"href": f"{base}/commit/{p}"}}}
                            for p in b["parents"]],
                "repository": repo_min,
            }
            return {
                "name": b["name"],
                "target": commit,
                "links": {
                    "self": {"href": f"{base}/refs/branches/{quote(b['name'], safe='')}"},
                    "commits": {"href": f"{base}/commits/{quote(b['name'], safe='')}"},
                    "html": {"href": f"{site}/{repo.workspace}/{quote(repo.slug)}/branch/{quote(b['name'], safe='')}"},
                },
                "type": "branch",
                "merge_strategies": ["merge_commit", "squash", "fast_forward"],
                "default_merge_strategy": "merge_commit",
            }

        docs = [to_json(b) for b in branches]
        self._paginate(docs, lambda doc: (lambda p: bbql.dotted(doc, p)), {"name", "target.date"},
                       default_sort="name")

    def _paginate(self, items: list, getter_of, sort_fields: set[str], *, default_sort: str | None,
                  to_json=None, sort_key_of=None, cache_key: tuple | None = None, to_bytes=None) -> None:
        """Sort, filter (q), cut a page, apply fields, answer the Bitbucket envelope.

        ``cache_key`` names ``items`` so their sorted order is computed once per sort, and
        ``to_bytes`` gives an item's encoded JSON (cached by the caller): a page of the 10,000-repo
        workspace then costs a slice and a join, not 100 dicts and a json.dumps.
        """
        params = self._params
        try:
            pagelen = int(params.get("pagelen", "10"))
        except ValueError:
            pagelen = -1
        if not 1 <= pagelen <= 100:
            self._rest_error(400, "Invalid pagelen", "pagelen must be an integer between 1 and 100")
            return
        try:
            page = int(params.get("page", "1"))
        except ValueError:
            page = 0
        if page < 1:
            self._rest_error(400, "Invalid page", "page must be a positive integer")
            return
        sort = params.get("sort") or default_sort
        if sort:
            reverse = sort.startswith("-")
            key = sort.lstrip("-")
            if key not in sort_fields:
                self._rest_error(400, f"Invalid sort field: {key}")
                return
        query = params.get("q")
        predicate = None
        if query:
            try:
                predicate = bbql.compile_query(query)
            except bbql.QueryError as exc:
                self._rest_error(400, "Invalid query", f"q: {exc}")
                return
        if sort:
            cache = self.emu._sort_cache
            ordered = cache.get((cache_key, sort)) if cache_key is not None else None
            if ordered is None:
                if sort_key_of is not None:
                    ordered = sorted(items, key=lambda item: sort_key_of(item, key), reverse=reverse)
                else:
                    ordered = sorted(items, key=lambda item: _sort_key(getter_of(item)(key)), reverse=reverse)
                if cache_key is not None:
                    cache[(cache_key, sort)] = ordered
            items = ordered
        if predicate is not None:
            items = [item for item in items if predicate(getter_of(item))]
        total = len(items)
        chunk = items[(page - 1) * pagelen: page * pagelen]
        after: dict[str, Any] = {"page": page}
        base = self.emu.api_url + self._path[len("/2.0"):]
        if page * pagelen < total:
            after["next"] = base + "?" + urlencode({**params, "page": str(page + 1)})
        if page > 1:
            after["previous"] = base + "?" + urlencode({**params, "page": str(page - 1)})
        fields = params.get("fields")
        meta: dict[str, Any] = {"pagelen": pagelen}
        if self.emu.list_size == "exact":
            meta["size"] = total
        elif self.emu.list_size == "off":
            meta["size"] = max(total - 7, 0)
        if to_bytes is not None and not fields:
            head = json.dumps(meta)[:-1] + ', "values": ['
            tail = "], " + json.dumps(after, ensure_ascii=False)[1:]
            body = head.encode() + b", ".join(to_bytes(item) for item in chunk) + tail.encode()
            self._send(200, body, "application/json; charset=utf-8")
            return
        if to_bytes is not None and fields:
            body = self._partial_page({**meta, "values": None, **after}, chunk, to_bytes, fields)
            if body is not None:
                self._send(200, body, "application/json; charset=utf-8")
                return
        values = [to_json(item) for item in chunk] if to_json is not None else chunk
        doc: dict[str, Any] = {**meta, "values": values, **after}
        self._json(200, bbql.apply_fields(doc, fields) if fields else doc)

    def _partial_page(self, envelope: dict[str, Any], chunk: list, to_bytes, fields: str) -> bytes | None:
        """The ``fields=`` answer built from cached encoded items, byte for byte what
        ``apply_fields`` + ``json.dumps`` give; None for specs this path doesn't take (+/-, ``*``).

        Clients list the fields they read (``fields=next,size,values.slug,…``); projecting 100
        repositories per page anew cost ~50 ms, ten times a full page from the cache."""
        entries = [entry.strip() for entry in fields.split(",") if entry.strip()]
        if not entries or any(entry[0] in "+-" for entry in entries):
            return None
        tree = bbql.fields_tree(entries)
        values_tree = tree.get("values")
        if "*" in tree or values_tree is None:
            return None
        items: list[bytes] = []
        cache = self.emu._fields_cache
        for item in chunk:
            full = to_bytes(item)
            if values_tree is True:
                items.append(full)
                continue
            key = (fields, full)  # the full encoding is cached too, so its hash is computed once
            encoded = cache.get(key)
            if encoded is None:
                projected = bbql.project(json.loads(full), values_tree)
                encoded = json.dumps(projected, ensure_ascii=False).encode()
                cache[key] = encoded
            items.append(encoded)
        parts: list[bytes] = []
        for name, value in envelope.items():
            if name == "values":
                parts.append(b'"values": [' + b", ".join(items) + b"]")
            elif name in tree:
                parts.append(json.dumps({name: value}, ensure_ascii=False)[1:-1].encode())
        return b"{" + b", ".join(parts) + b"}"

    # ---- git over HTTPS --------------------------------------------------------------------

    def _git_credentials(self) -> tuple[str, str] | None:
        auth = self.headers.get("Authorization", "")
        if auth[:6].lower() != "basic ":
            return None
        try:
            user, sep, password = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
        except ValueError:
            return None
        return (user, password) if sep else None

    def _git_identity(self) -> tuple[str, set[str]] | None:
        """(username, scopes) for the Basic credentials git sent, or None."""
        emu = self.emu
        creds = self._git_credentials()
        if creds is None:
            return None
        user, password = creds
        with emu._lock:
            access = emu._access.get(password)
            api_token = emu.world.api_tokens.get(password)
        if access is not None and access.expires_at > emu.clock() and user in ("x-token-auth", access.username):
            return access.username, expand_scopes(access.scopes)
        if api_token is not None and user in ("x-bitbucket-api-token-auth", api_token.username):
            return api_token.username, expand_scopes(api_token.scopes)
        return None

    def _git(self, method: str, match: re.Match) -> None:
        emu = self.emu
        ws_ident, slug, rest = unquote(match.group("ws")), unquote(match.group("slug")), match.group("rest")
        service = self._params.get("service", "")
        push = rest.endswith("git-receive-pack") or service == "git-receive-pack"
        identity = self._git_identity()
        if identity is None:
            self._send(401, b"Unauthorized\n", "text/plain; charset=utf-8", {"WWW-Authenticate": REALM})
            return
        username, scopes = identity
        ws = emu.world.workspace(ws_ident)
        repo = emu.world.repo(ws, slug) if ws is not None else None
        if repo is None or (repo.is_private and username not in ws.members):
            self._send(404, b"Repository not found\n", "text/plain; charset=utf-8")
            return
        needed = "repository:write" if push else "repository"
        if needed not in scopes or (push and username not in ws.members):
            self._send(403, f"Your credentials lack one or more required privilege scopes ({needed}).\n".encode(),
                       "text/plain; charset=utf-8")
            return
        path = emu._materialise(repo)
        if rest.endswith("git-upload-pack") or rest.endswith("git-receive-pack"):
            with emu._lock:
                emu.stats.git["receive-pack" if push else "upload-pack"] += 1
        self._cgi(path, rest, username, method)

    def _cgi(self, repo_dir: Path, rest: str, username: str, method: str) -> None:
        emu = self.emu
        env = gitrepos.git_env(emu.data_dir)
        env.update(
            GIT_PROJECT_ROOT=str(repo_dir.parent),
            GIT_HTTP_EXPORT_ALL="1",
            PATH_INFO=f"/{repo_dir.name}{rest}",
            QUERY_STRING=self._query,
            REQUEST_METHOD=method,
            CONTENT_TYPE=self.headers.get("Content-Type", ""),
            CONTENT_LENGTH=str(len(self._body)),
            REMOTE_USER=username,
            REMOTE_ADDR=self.client_address[0],
            GATEWAY_INTERFACE="CGI/1.1",
            SERVER_PROTOCOL="HTTP/1.1",
            SERVER_SOFTWARE="bitbucket-emulator",
        )
        for header, var in (("Git-Protocol", "HTTP_GIT_PROTOCOL"), ("Content-Encoding", "HTTP_CONTENT_ENCODING")):
            if self.headers.get(header):
                env[var] = self.headers[header]
        proc = subprocess.Popen([_http_backend()], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert proc.stdin and proc.stdout and proc.stderr

        def feed() -> None:
            try:
                proc.stdin.write(self._body)
            except BrokenPipeError:
                pass
            finally:
                proc.stdin.close()

        errors: list[bytes] = []
        feeder = threading.Thread(target=feed, daemon=True)
        drainer = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
        feeder.start()
        drainer.start()
        try:
            status, headers = 200, []
            while True:
                line = proc.stdout.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                else:
                    headers.append((name, value.strip()))
            self._status = status
            self.send_response(status)
            has_length = any(name.lower() == "content-length" for name, _ in headers)
            for name, value in headers:
                self.send_header(name, value)
            if not has_length:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while chunk := proc.stdout.read1(65536):
                if has_length:
                    self.wfile.write(chunk)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if not has_length:
                self.wfile.write(b"0\r\n\r\n")
        finally:
            proc.stdout.close()
            proc.wait()
            feeder.join()
            drainer.join()
            proc.stderr.close()
            if errors and errors[0].strip():
                log.debug("git http-backend: %s", redact(errors[0].decode(errors="replace").strip()))


_GIT_PATH = re.compile(r"^/(?P<ws>[^/]+)/(?P<slug>[^/]+?)(?:\.git)?(?P<rest>/(?:info/refs|git-upload-pack|git-receive-pack|HEAD|objects/.+|info/.+))$")

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

_REPO_SORT_FIELDS = {"name", "slug", "updated_on", "created_on", "size", "full_name", "language"}

_REPO_FIELDS = {
    "name": lambda r: r.name,
    "slug": lambda r: r.slug,
    "full_name": lambda r: r.full_name,
    "description": lambda r: r.description,
    "language": lambda r: r.language,
    "is_private": lambda r: r.is_private,
    "uuid": lambda r: r.uuid,
    "scm": lambda r: "git",
    "size": lambda r: r.api_size,
    "created_on": lambda r: iso(r.created_on),
    "updated_on": lambda r: iso(r.updated_on),
    "mainbranch.name": lambda r: r.mainbranch,
    "project.key": lambda r: r.project_key,
    "project.name": lambda r: r.project_name,
    "workspace.slug": lambda r: r.workspace,
}
# Sorting 10,000 repositories per page request must stay cheap: datetimes sort like their ISO text.
_REPO_SORT = {**_REPO_FIELDS, "created_on": lambda r: r.created_on, "updated_on": lambda r: r.updated_on}


def _repo_getter(repo: Repo):
    return lambda path: _REPO_FIELDS[path](repo) if path in _REPO_FIELDS else None


def _repo_sort_key(repo: Repo, key: str) -> Any:
    return _REPO_SORT[key](repo)


def _sort_key(value: Any) -> tuple:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value).lower(), str(value))


def _rest_route(segments: list[str]) -> tuple[str, tuple, str] | None:
    """(handler name, args, required scope) for the path segments after /2.0."""
    n = len(segments)
    if segments == ["user"]:
        return "user", (), "account"
    if segments == ["user", "workspaces"]:
        return "user_workspaces", (), "account"
    if n == 2 and segments[0] == "workspaces":
        return "workspace", (segments[1],), "account"
    if n == 2 and segments[0] == "repositories":
        return "repositories", (segments[1],), "repository"
    if n == 3 and segments[0] == "repositories":
        return "repository", (segments[1], segments[2]), "repository"
    if n == 5 and segments[0] == "repositories" and segments[3:] == ["refs", "branches"]:
        return "branches", (segments[1], segments[2]), "repository"
    return None


def _error(message: str, detail: Any = None) -> dict:
    inner: dict[str, Any] = {"message": message}
    if detail is not None:
        inner["detail"] = detail
    return {"type": "error", "error": inner}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _with_query(url: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))


_backend: str | None = None


def _http_backend() -> str:
    global _backend
    if _backend is None:
        git = shutil.which("git")
        if git is None:
            raise RuntimeError("git is not installed: the emulator serves git through git http-backend")
        exec_path = subprocess.run([git, "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
        _backend = str(Path(exec_path) / "git-http-backend")
    return _backend
