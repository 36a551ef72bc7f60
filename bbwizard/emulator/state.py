"""What the emulator knows: the seeded world, issued tokens and codes, grants, knobs, faults, holds
and the counters the tests read.

:class:`State` is the base of :class:`bbwizard.emulator.server.Emulator`; the protocol modules
(``oauth``, ``rest``, ``githttp``) read and change it under its lock. Nothing here speaks HTTP.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import secrets
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from bbwizard.emulator import gitrepos
from bbwizard.emulator.seed import (
    DEFAULT_API_TOKEN_SCOPES,
    Consumer,
    Repo,
    World,
    build_world,
    load_seed_source,
    parse_access_token,
    parse_api_token,
)

log = logging.getLogger("bbwizard.emulator")

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


# The granular names API tokens carry (bitbucket-cloud.md "Scopes"), for ``scope_names="granular"``.
GRANULAR_NAMES = {
    "account": "read:user:bitbucket read:workspace:bitbucket",
    "repository": "read:repository:bitbucket",
    "repository:write": "write:repository:bitbucket",
    "repository:admin": "admin:repository:bitbucket",
    "pullrequest": "read:pullrequest:bitbucket",
    "pullrequest:write": "write:pullrequest:bitbucket",
    "project": "read:project:bitbucket",
    "email": "read:user:bitbucket",
}

#: The 2026 default answer to a client_credentials grant a consumer doesn't have (the real text is
#: UNCONFIRMED; ``unauthorized_client`` is also the wrong-key code, which a client must not read
#: as a wrong key when the description says otherwise).
CC_REFUSAL = ("unauthorized_client", "This OAuth client is not allowed to use the client_credentials grant.")
#: What ``GET /user`` answers an app user when ``app_user_profile="forbidden"`` (UNCONFIRMED).
APP_USER_FORBIDDEN = "This API is not available to app users."


def granular(scopes: list[str]) -> list[str]:
    names: list[str] = []
    for scope in scopes:
        for name in GRANULAR_NAMES.get(scope, scope).split():
            if name not in names:
                names.append(name)
    return names


def expand_scopes(scopes: list[str] | set[str]) -> set[str]:
    granted = set(scopes)
    for scope in list(granted):
        granted |= IMPLIES.get(scope, set())
    return granted


def loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    # list path -> pages asked for, counted before the answer leaves (``requests`` is written
    # after it, so a fast client can look before its last request is there)
    pages: Counter = field(default_factory=Counter)

    def reset(self) -> None:
        self.grants.clear()
        self.token_errors.clear()
        self.requests.clear()
        self.authorizations.clear()
        self.git.clear()
        self.materialised = 0
        self.faults.clear()
        self.pages.clear()

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
    page: int | None = None


FAULT_KINDS = ("status", "html200", "truncated", "drop", "drop_after", "bad_encoding")


class Hold:
    """Requests held unanswered by :meth:`State.hold` until :meth:`release` (or the emulator stops)."""

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

    @property
    def released(self) -> bool:
        return self._released.is_set()

    def keep(self) -> None:
        """Block the calling request until :meth:`release`."""
        self.arrived.set()
        self._released.wait()


class State:
    """The emulator's data and knobs; :class:`bbwizard.emulator.server.Emulator` serves it.

    Knobs (all mutable while running; lifetimes apply to what is issued afterwards):
    ``token_lifetime`` (s, default 7200), ``refresh_grace`` (s a rotated refresh token keeps
    working, default 600), ``refresh_lifetime`` (s an unused refresh token lives, default 90 days),
    ``code_lifetime`` (s, default 600), ``allow_any_loopback_port`` (a loopback redirect_uri may
    use another port than the callback's), ``request_budget`` (REST requests left before 429;
    None = unlimited; assigning resets the count), ``rate_limit_retry_after`` (Retry-After of
    those 429s; None = no header), ``latency`` (s added to every request), ``scope_field``
    ("scope" by default as since 2026-05-04, "scopes" or "both": the token answer's scope field),
    ``scope_names`` ("classic", or "granular": ``read:repository:bitbucket``… in the token answer
    and a 403's ``detail``), ``access_token_length``/``refresh_token_length`` (JWT-shaped
    ``header.payload.signature`` from 300 characters up, 2,900/2,700 by default as Bitbucket's JWTs;
    shorter ones are plain random text), ``client_credentials_refresh`` (a client_credentials
    answer carries a refresh token, as before 2026), ``client_credentials_user`` ("app_user", or
    "owner" as before 2026), ``app_user_profile`` (``GET /user`` for an app user: "document" or
    "forbidden", a 403 that names no scope), ``client_credentials_refusal`` (``(error,
    description)`` for a consumer without that grant, or "legacy": the old "marked as public"
    text), ``role_member_gone`` (``role=member`` answers 410), ``auto_approve`` (a consumer the browser
    user already granted skips the consent page, as Bitbucket does), ``list_size`` ("exact";
    "missing": list envelopes carry no ``size``; "off": ``size`` is 7 too small — bitbucket-cloud.md
    says ``size`` can be missing or off, so clients must fall back to ``next``),
    ``lie_about_size`` (an int: every list claims that ``size`` and offers a ``next`` link as far
    as the claim goes, pages past the real end coming back empty; a hostile or broken server),
    ``clock`` (a ``time.time``).
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
        allow_any_loopback_port: bool = False,
        request_budget: int | None = None,
        latency: float = 0.0,
        refresh_lifetime: float = 90 * 86400,
        scope_field: str = "scope",
        scope_names: str = "classic",
        access_token_length: int = 2900,
        refresh_token_length: int = 2700,
        client_credentials_refresh: bool = False,
        client_credentials_user: str = "app_user",
        app_user_profile: str = "document",
        client_credentials_refusal: tuple[str, str] | str = CC_REFUSAL,
        role_member_gone: bool = False,
        auto_approve: bool = False,
        rate_limit_retry_after: str | int | None = None,
        list_size: str = "exact",
        lie_about_size: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if not loopback_host(host) or host == "localhost":
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
        if scope_field not in ("scope", "scopes", "both"):
            raise ValueError('scope_field is "scope", "scopes" or "both"')
        if scope_names not in ("classic", "granular"):
            raise ValueError('scope_names is "classic" or "granular"')
        if client_credentials_user not in ("app_user", "owner"):
            raise ValueError('client_credentials_user is "app_user" or "owner"')
        if app_user_profile not in ("document", "forbidden"):
            raise ValueError('app_user_profile is "document" or "forbidden"')
        self.scope_field = scope_field
        self.scope_names = scope_names
        self.access_token_length = access_token_length
        self.refresh_token_length = refresh_token_length
        self.client_credentials_refresh = client_credentials_refresh
        self.client_credentials_user = client_credentials_user
        self.app_user_profile = app_user_profile
        self.client_credentials_refusal = client_credentials_refusal
        self.role_member_gone = role_member_gone
        self.auto_approve = auto_approve
        if list_size not in ("exact", "missing", "off"):
            raise ValueError('list_size is "exact", "missing" or "off"')
        self.list_size = list_size
        if lie_about_size is not None and lie_about_size < 0:
            raise ValueError("lie_about_size is a size: 0 or more")
        self.lie_about_size = lie_about_size
        self.clock = time.time
        self.stats = Stats()
        self._lock = threading.RLock()
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._codes: dict[str, Code] = {}
        self._pending: dict[str, dict] = {}  # consent pages shown, by request_id
        self._granted: set[tuple[str, str]] = set()  # (consumer key, username) that clicked Grant
        self._faults: list[Fault] = []
        self._holds: list[Hold] = []
        # The world is fixed once loaded, so sorted orders and encoded repositories never go stale.
        self._sort_cache: dict[tuple, list] = {}
        self._json_cache: dict[tuple[str, str, str], bytes] = {}
        self._fragment_cache: dict[tuple, str] = {}
        self._fields_cache: dict[tuple[str, bytes], bytes] = {}
        self._address: tuple[str, int] | None = None  # where it is served, while it is
        self._tmp: tempfile.TemporaryDirectory | None = None

    # ---- where it is served ----------------------------------------------------------------

    def _open_data_dir(self) -> None:
        if self._data_dir_arg is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="bbwizard-emulator-")
            self.data_dir = Path(self._tmp.name)
        else:
            self.data_dir = self._data_dir_arg
            self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "repos").mkdir(exist_ok=True)

    def _close_data_dir(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def port(self) -> int:
        if self._address is None:
            raise RuntimeError("the emulator is not running: call start()")
        return self._address[1]

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
               content_type: str | None = None, page: int | None = None) -> None:
        """The next ``count`` requests whose path starts with ``path_prefix`` (and, with ``page``,
        that ask for that page: 1 when the query names none) misbehave.

        kinds: ``status`` (answer ``status`` with a Bitbucket error body, ``Retry-After`` if
        given), ``html200`` (an HTML page with 200, like a captive portal), ``truncated`` (the
        real answer, cut in half, with a Content-Length that matches the cut), ``drop`` (close the
        connection without an answer; the request is not processed), ``drop_after`` (process the
        request, e.g. spend a refresh token, then close without an answer), ``bad_encoding`` (200
        with ``Content-Encoding: gzip`` and a body that isn't gzip, as a broken proxy sends).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        if isinstance(body, str):
            body = body.encode()
        with self._lock:
            self._faults.append(Fault(kind, status, count, None if retry_after is None else str(retry_after),
                                      path_prefix, method, body, content_type, page))

    def hold(self, path_prefix: str = "/2.0/", page: int | None = None, method: str | None = "GET") -> Hold:
        """Matching requests (path prefix; ``page`` query parameter, 1 when absent, if given) wait
        unanswered until the returned :class:`Hold` is released, or the emulator stops: a test can
        look at a client mid-way, at a moment it chose, instead of racing it."""
        held = Hold(path_prefix, page, method)
        with self._lock:
            self._holds.append(held)
        return held

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
        return self.issue(consumer, username, list(scopes if scopes is not None else consumer.scopes), grant_type)

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

    def add_api_token(self, email: str, scopes: Iterable[str] = DEFAULT_API_TOKEN_SCOPES,
                      expires_on: date | datetime | str | None = None, user: str | None = None) -> str:
        """A new Atlassian API token of the user with ``email`` (or ``user``, a username or
        {uuid}), with granular ``scopes`` (empty: unscoped) and ``expires_on`` (a date: it works
        through that day, UTC; a date-time: until then; None: never). Returns the token."""
        token = "ATATT3xFfGF0" + secrets.token_urlsafe(144)
        entry = {"token": token, "email": email, "account": user, "scopes": list(scopes), "expires_on": expires_on}
        with self._lock:
            self.world.api_tokens[token] = parse_api_token(entry, self.world.users)
        return token

    def add_access_token(self, kind: str, workspace: str, repository: str | None = None,
                         project: str | None = None, scopes: Iterable[str] = ("repository",)) -> str:
        """A new repository, project or workspace access token (``kind``) with classic
        ``scopes``, reaching ``workspace``/``repository``, the repositories of ``project`` (a
        project key) in ``workspace``, or all of ``workspace``. Returns the token."""
        token = "ATCTT3xFfGN0" + secrets.token_urlsafe(144)
        entry = {"token": token, "kind": kind, "workspace": workspace, "repository": repository,
                 "project": project, "scopes": list(scopes)}
        with self._lock:
            self.world.access_tokens[token] = parse_access_token(entry, self.world.users, self.world.workspaces)
        return token

    def materialise(self, workspace: str, slug: str) -> Path:
        """The bare git repository of ``workspace/slug`` on disk (built now if needed)."""
        ws = self.world.workspaces[workspace]
        return self.materialise_repo(ws.repos[slug])

    # ---- what the protocols share ------------------------------------------------------------

    def materialise_repo(self, repo: Repo) -> Path:
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

    def _new_token_value(self, length: int, kind: str, consumer: str, now: float) -> str:
        """A new unguessable token of ``length`` characters: from 300 up shaped as a JWT
        (``header.payload.signature``, base64url), as Bitbucket's have been since 2026."""
        length = max(int(length), 20)
        if length < 300:
            return secrets.token_urlsafe(length)[:length]

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "bbwizard-emulator"}).encode())
        claims = {"iss": "bitbucket-emulator", "sub": consumer, "typ": kind, "iat": int(now),
                  "jti": secrets.token_urlsafe(16)}
        payload = b64(json.dumps(claims, separators=(",", ":")).encode())
        room = length - len(header) - len(payload) - 2
        signature = secrets.token_urlsafe(room)[:room]
        return f"{header}.{payload}.{signature}"

    def issue(self, consumer: Consumer, username: str, scopes: list[str], grant_type: str) -> dict:
        """A new access token (and a refresh token, except for client_credentials since 2026),
        stored, as the token endpoint's answer."""
        now = self.clock()
        access = self._new_token_value(self.access_token_length, "access", consumer.key, now)
        with_refresh = grant_type != "client_credentials" or self.client_credentials_refresh
        refresh = self._new_token_value(self.refresh_token_length, "refresh", consumer.key, now) if with_refresh else None
        with self._lock:
            self._access[access] = AccessToken(access, consumer.key, username, scopes, now + self.token_lifetime, grant_type)
            if refresh is not None:
                self._refresh[refresh] = RefreshToken(refresh, consumer.key, username, scopes, now + self.refresh_lifetime)
        body: dict[str, Any] = {"access_token": access}
        scope_text = " ".join(self.scope_names_of(scopes))
        if self.scope_field in ("scopes", "both"):
            body["scopes"] = scope_text
        if self.scope_field in ("scope", "both"):
            body["scope"] = scope_text
        body.update(expires_in=int(self.token_lifetime), token_type="bearer", state=grant_type)
        if refresh is not None:
            body["refresh_token"] = refresh
        return body

    def scope_names_of(self, scopes: list[str]) -> list[str]:
        """Scopes as this emulator names them in answers (``scope_names``)."""
        return granular(scopes) if self.scope_names == "granular" else list(scopes)

    def client_credentials_identity(self, consumer: Consumer) -> str:
        """Whom a client_credentials token of ``consumer`` authenticates as."""
        if self.client_credentials_user == "owner" or consumer.app_user is None:
            return consumer.owner
        return consumer.app_user

    def access_token(self, value: str) -> AccessToken | None:
        with self._lock:
            return self._access.get(value)

    def take_hold(self, method: str, path: str, params: dict[str, str]) -> Hold | None:
        with self._lock:
            self._holds = [held for held in self._holds if not held.released]
            return next((held for held in self._holds if held.matches(method, path, params)), None)

    def release_holds(self) -> None:
        with self._lock:
            holds = list(self._holds)
        for held in holds:
            held.release()

    def take_fault(self, method: str, path: str, params: dict[str, str] | None = None) -> Fault | None:
        page = (params or {}).get("page", "1")
        with self._lock:
            for fault in self._faults:
                if (
                    fault.count > 0
                    and path.startswith(fault.path_prefix)
                    and fault.method in (None, method)
                    and (fault.page is None or page == str(fault.page))
                ):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    self.stats.faults[fault.kind] += 1
                    return fault
        return None

    def spend_budget(self) -> bool:
        """True if this REST request is within the budget."""
        with self._lock:
            if self._budget is None:
                return True
            if self._budget <= 0:
                return False
            self._budget -= 1
            return True
