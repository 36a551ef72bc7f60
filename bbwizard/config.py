"""Profiles in one TOML file: load, validate, save atomically under a lock, mode 0600.

The file (``BBWIZARD_CONFIG``, else ``platformdirs.user_config_path("bbwizard") / "config.toml"``)
looks like this::

    version = 1
    default = "work"

    [profiles.work]
    client_id = "…"
    client_secret = "…"
    callback_url = "http://localhost:8976/"
    site_url = "https://bitbucket.org"
    api_url = "https://api.bitbucket.org/2.0"
    grant = "authorization_code"
    access_token = "…"
    refresh_token = "…"
    expires_at = 2026-11-30T14:39:00Z
    scopes = ["account", "repository"]
    secret_storage = "file"
    ca_bundle = "/etc/ssl/company-ca.pem"       # only with login --ca-bundle
    refresh_refused_at = 2026-11-30T16:40:00Z   # only after Bitbucket refused the refresh token

    [profiles.work.user]
    display_name = "…"
    username = "…"
    uuid = "{…}"
    account_id = "…"

A profile has a ``kind``: ``oauth`` (the default, what a profile without ``kind`` is: an OAuth
consumer and its rotating tokens, as above), ``api_token`` (an Atlassian API token: ``email`` and
the token in ``access_token``, ``token_expires_on`` the date the person gave, never a refresh) or
``access_token`` (a repository, project or workspace access token in ``access_token``, ``reach``
the workspace and repository or project the person said it is for)::

    [profiles.me]
    kind = "api_token"
    email = "ada@example.com"
    access_token = "…"
    token_expires_on = 2027-03-01
    site_url = "https://bitbucket.org"
    api_url = "https://api.bitbucket.org/2.0"

    [profiles.ci]
    kind = "access_token"
    access_token = "…"
    reach = { workspace = "acme", repository = "webapp" }

Rules (``security.md`` "Files"): the folder is created 0700 and the file 0600 with that mode from
the start; a save writes a temp file in the same folder, fsyncs it, renames it over the old one and
fsyncs the folder, so a crash leaves the old file or the new one. A file that does not parse is
never overwritten: it is copied aside and the error gives line and column, never the content.
Writers serialise on a separate lock file (``config.toml.lock``): the config itself is replaced by
rename, so a lock held on it would lock a file that no longer has a name.

Reading takes no lock (a rename is atomic). ``tomli_w`` and ``filelock`` are imported only when
something is written. ``bbwizard token`` and ``credential get`` with a fresh token don't come here
at all: :mod:`bbwizard.freshtoken` reads the token with tomllib alone.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import threading
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bbwizard.errors import ConfigError, SignInRequired, UsageError
from bbwizard.freshtoken import MIN_VALID_SECONDS, refresh_window_seconds
from bbwizard.secret import Secret, redact

CONFIG_VERSION = 1
DEFAULT_SITE_URL = "https://bitbucket.org"
DEFAULT_API_URL = "https://api.bitbucket.org/2.0"
DEFAULT_PROFILE_NAME = "default"
#: Refresh this long before the expiry: the fast path's number, so both roads agree on "fresh".
DEFAULT_MIN_VALID = timedelta(seconds=MIN_VALID_SECONDS)
#: How long a writer waits for another bbwizard holding the lock.
LOCK_TIMEOUT_SECONDS = 60.0

if TYPE_CHECKING:
    from typing import Literal

    Grant = Literal["authorization_code", "client_credentials"]
    Kind = Literal["oauth", "api_token", "access_token"]
    TokenState = Literal["fresh", "expiring", "expired", "signed_out"]

_GRANTS = ("authorization_code", "client_credentials")
#: The kinds of profile: an OAuth consumer, an Atlassian API token, an access token.
KINDS = ("oauth", "api_token", "access_token")
#: The kinds whose secret is a token the person made, used as it is and never refreshed.
TOKEN_KINDS = ("api_token", "access_token")
#: git's username for each kind (never the email: Bitbucket refuses it for git).
GIT_USERNAMES = {"oauth": "x-token-auth", "api_token": "x-bitbucket-api-token-auth", "access_token": "x-token-auth"}
#: What ``reach`` may name: the workspace, and in it a repository or a project.
REACH_KEYS = ("workspace", "repository", "project")
_PROFILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def is_profile_name(name: object) -> bool:
    """Letters, digits, '.', '_' or '-', at most 64, starting with a letter or digit."""
    return isinstance(name, str) and re.match(_PROFILE_NAME, name) is not None


def validate_profile_name(name: str) -> str:
    """Return ``name`` when it can name a profile; raise :class:`UsageError` otherwise."""
    if not is_profile_name(name):
        raise UsageError(
            f"{name!r} can't name a profile: use letters, digits, '.', '_' or '-' "
            "(at most 64, starting with a letter or digit)."
        )
    return name


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def default_api_url(site_url: str) -> str:
    """The REST base that goes with a site: api.bitbucket.org for bitbucket.org, else SITE/2.0."""
    parts = urlsplit(site_url)
    if (parts.hostname or "").lower() == "bitbucket.org":
        return DEFAULT_API_URL
    return site_url.rstrip("/") + "/2.0"


class UserInfo(namedtuple("UserInfo", "display_name username uuid account_id", defaults=(None, None, None, None))):
    """Who a token belongs to, as ``GET /2.0/user`` told us at sign-in (each part may be None)."""

    __slots__ = ()

    @property
    def label(self) -> str:
        """``Display Name (username)``, or whatever part of it is known."""
        if self.display_name and self.username and self.display_name != self.username:
            return f"{self.display_name} ({self.username})"
        return self.display_name or self.username or self.account_id or self.uuid or "an unknown user"


@dataclass
class Profile:
    """One consumer and the tokens it got. Secrets are :class:`Secret` (their repr is masked, and
    so is this one's); times are aware UTC."""

    name: str
    client_id: str
    client_secret: Secret | None = None
    callback_url: str | None = None
    site_url: str = DEFAULT_SITE_URL
    api_url: str = DEFAULT_API_URL
    grant: Grant = "authorization_code"
    access_token: Secret | None = None
    refresh_token: Secret | None = None
    expires_at: datetime | None = None
    scopes: list[str] = field(default_factory=list)
    user: UserInfo | None = None
    clone_dir: str | None = None
    secret_storage: str = "file"
    #: A CA bundle (PEM file, absolute path) this profile's site and API are checked against
    #: instead of the default trust (``login --ca-bundle``); git is given it too.
    ca_bundle: str | None = None
    #: Workspace slugs the wizard last listed (display only; the TUI fills it).
    workspaces: list[str] = field(default_factory=list)
    #: When Bitbucket refused the refresh token (the sign-in has ended); None while it works.
    #: The tokens stay in the file, unused, until the next sign-in replaces them.
    refresh_refused_at: datetime | None = None
    #: ``oauth`` (the consumer and its tokens), ``api_token`` or ``access_token`` (a token the
    #: person made, stored in :attr:`access_token`, never refreshed).
    kind: Kind = "oauth"
    #: api_token: the Atlassian account's email (REST's Basic username; never git's).
    email: str | None = None
    #: api_token: the expiry date the person gave when making it (the API doesn't say it).
    token_expires_on: date | None = None
    #: access_token: what the person said it is for: ``{"workspace": "acme"}``, plus
    #: ``"repository": "webapp"`` or ``"project": "KEY"``.
    reach: dict[str, str] | None = None
    #: When the access token was issued (the token request's start), so its lifetime is known and
    #: the refresh window can scale with it; None for tokens saved before it was recorded.
    issued_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.scopes is None:
            self.scopes = []
        if self.workspaces is None:
            self.workspaces = []
        if self.reach is not None:
            self.reach = dict(self.reach)

    def replace(self, **changes: Any) -> Profile:
        """A copy with ``changes`` applied (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    @property
    def git_host(self) -> str:
        """``host[:port]`` of the site, the host git and the credential helper see."""
        from bbwizard.hosts import normalise_host

        parts = urlsplit(self.site_url)
        host = normalise_host(parts.hostname)
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        default_port = {"https": 443, "http": 80}.get(parts.scheme)
        if parts.port is not None and parts.port != default_port:
            return f"{host}:{parts.port}"
        return host

    @property
    def site_host(self) -> str:
        return urlsplit(self.site_url).hostname or self.site_url

    @property
    def is_token_kind(self) -> bool:
        """True for a token the person made (``api_token``, ``access_token``): used as it is."""
        return self.kind in TOKEN_KINDS

    @property
    def git_username(self) -> str:
        """The username git sends with the token: ``x-bitbucket-api-token-auth`` for an API
        token, ``x-token-auth`` otherwise. Never the email: Bitbucket refuses it for git."""
        return GIT_USERNAMES.get(self.kind, "x-token-auth")

    def rest_auth(self) -> tuple[str, str] | tuple[str, str, str]:
        """How REST calls authenticate: ``("Bearer", token)``, or ``("Basic", email, token)`` for
        an API token. Raises :class:`SignInRequired` when there is no token (or no email)."""
        if self.access_token is None:
            raise SignInRequired(f"Profile '{self.name}' holds no token. Run: bbwizard login --profile {self.name}")
        if self.kind == "api_token":
            if not self.email:
                raise SignInRequired(
                    f"Profile '{self.name}' holds an API token without the email it belongs to. "
                    f"Run: bbwizard login --with-api-token --email EMAIL --profile {self.name}"
                )
            return ("Basic", self.email, self.access_token.reveal())
        return ("Bearer", self.access_token.reveal())

    def token_expiry(self) -> datetime | None:
        """When an API token stops working: the end (UTC) of the day the person gave; None when
        unknown or for the other kinds (an OAuth token's expiry is :attr:`expires_at`)."""
        if self.kind != "api_token" or self.token_expires_on is None:
            return None
        return datetime.combine(self.token_expires_on, datetime.min.time(), timezone.utc) + timedelta(days=1)

    def describe_kind(self) -> str:
        """The kind in a few words, for ``status`` and the wizard."""
        if self.kind == "api_token":
            return f"API token of {self.email}" if self.email else "API token"
        if self.kind == "access_token":
            return f"access token for {self.reach_label}" if self.reach else "access token"
        return "OAuth consumer"

    @property
    def reach_label(self) -> str:
        """``acme/webapp``, ``project KEY in acme``, ``workspace acme`` or "" (access tokens)."""
        reach = self.reach or {}
        workspace = reach.get("workspace", "")
        if reach.get("repository"):
            return f"{workspace}/{reach['repository']}"
        if reach.get("project"):
            return f"project {reach['project']} in {workspace}"
        return f"workspace {workspace}" if workspace else ""

    @property
    def can_refresh(self) -> bool:
        """True when a new access token can be had without the browser (after a logout, or once
        Bitbucket refused the refresh token: False; a token the person made: never)."""
        if self.is_token_kind:
            return False
        if self.refresh_refused_at is not None or (not self.access_token and not self.refresh_token):
            return False
        if self.grant == "client_credentials" and self.client_secret:
            return True
        return bool(self.refresh_token)

    def expires_in(self, now: datetime | None = None) -> timedelta | None:
        if self.expires_at is None:
            return None
        return self.expires_at - (now or utc_now())

    @property
    def refresh_window(self) -> timedelta:
        """How long before the expiry the token should be refreshed: 5 minutes, or half its
        lifetime when that is shorter (:func:`bbwizard.freshtoken.refresh_window_seconds`)."""
        return timedelta(seconds=refresh_window_seconds(self.expires_at, self.issued_at))

    def token_state(self, now: datetime | None = None, min_valid: timedelta | None = None) -> TokenState:
        """``fresh`` (usable for longer than ``min_valid``, by default :attr:`refresh_window`),
        ``expiring`` (usable, but refresh soon),
        ``expired`` (not usable; see :attr:`can_refresh` for whether a refresh can fix it) or
        ``signed_out`` (no access token and no way to get one without signing in, or Bitbucket
        refused the refresh token: :attr:`refresh_refused_at`).

        A token the person made is ``fresh`` until the end of :attr:`token_expires_on` (an API
        token; an access token whose expiry isn't known stays fresh), ``expired`` after, and
        ``signed_out`` without a token (or after Bitbucket refused it)."""
        if self.refresh_refused_at is not None or (not self.access_token and not self.refresh_token):
            return "signed_out"
        if self.is_token_kind:
            if not self.access_token:
                return "signed_out"
            ends = self.token_expiry()
            if ends is not None and ends <= (now or utc_now()):
                return "expired"
            return "fresh"
        if not self.access_token or self.expires_at is None:
            return "expired"
        left = self.expires_at - (now or utc_now())
        if left <= timedelta(0):
            return "expired"
        if left <= (self.refresh_window if min_valid is None else min_valid):
            return "expiring"
        return "fresh"

    def with_tokens(
        self,
        access_token: Secret,
        refresh_token: Secret | None,
        expires_at: datetime,
        scopes: list[str] | None = None,
        issued_at: datetime | None = None,
    ) -> Profile:
        """A copy holding a new token pair (a sign-in that had ended works again). A missing new
        refresh token keeps the old one. ``issued_at``: when the token request started (default
        now), which gives the token's lifetime."""
        return self.replace(
            issued_at=(issued_at or utc_now()).astimezone(timezone.utc),
            refresh_refused_at=None,
            access_token=access_token,
            refresh_token=refresh_token if refresh_token else self.refresh_token,
            expires_at=expires_at,
            scopes=list(scopes) if scopes is not None else list(self.scopes),
        )

    def signed_out(self) -> Profile:
        """A copy without tokens (the consumer, an API token's email and an access token's reach
        are kept)."""
        return self.replace(
            access_token=None, refresh_token=None, expires_at=None, scopes=[], user=None, refresh_refused_at=None, token_expires_on=None,
            issued_at=None,
        )

    def with_refresh_refused(self, when: datetime | None = None) -> Profile:
        """A copy that records that Bitbucket refused the refresh token: the sign-in has ended."""
        return self.replace(refresh_refused_at=(when or utc_now()).astimezone(timezone.utc).replace(microsecond=0))


class EnvironmentProfile(Profile):
    """A profile made from ``BBWIZARD_TOKEN`` (:mod:`bbwizard.envtoken`): held in memory only,
    never saved (:meth:`ConfigStore.save` refuses it)."""


def environment_profile(store: ConfigStore, name: str | None = None) -> EnvironmentProfile:
    """The profile ``token``, ``credential``, ``clone`` and ``repos`` use while ``BBWIZARD_TOKEN``
    is set: the token of ``BBWIZARD_TOKEN_KIND`` (default ``access_token``; ``oauth`` is used as it
    is, like an access token: nothing here can refresh it), ``BBWIZARD_EMAIL`` for an API token;
    the site and API from ``BBWIZARD_SITE_URL``/``BBWIZARD_API_URL``, else from the profile named
    (or the default one) when the file has it, else bitbucket.org. A config file that is missing or
    can't be read is no obstacle: the token is the whole sign-in."""
    from bbwizard import envtoken

    token = envtoken.environment_token()
    if token is None:
        raise SignInRequired("BBWIZARD_TOKEN is not set.")
    kind = envtoken.environment_kind()
    if kind is None:
        raise UsageError(
            f"BBWIZARD_TOKEN_KIND={os.environ.get(envtoken.KIND_VARIABLE, '')!r} names no kind of token: "
            "use access_token (the default), api_token or oauth."
        )
    email = envtoken.environment_email()
    if kind == "api_token" and not email:
        raise UsageError(
            "BBWIZARD_TOKEN_KIND=api_token needs the Atlassian account's email in BBWIZARD_EMAIL "
            "(Bitbucket's REST API takes an API token only with it)."
        )
    base: Profile | None = None
    try:
        document = store._read()
        chosen = name if name is not None else store._default_of(document)
        base = document.profiles.get(chosen) if chosen is not None else None
    except ConfigError:
        base = None
    site_url, api_url = envtoken.environment_urls()
    if site_url is None:
        site_url = base.site_url if base is not None else DEFAULT_SITE_URL
        api_url = api_url or (base.api_url if base is not None else None)
    api_url = api_url or default_api_url(site_url)
    from bbwizard.hosts import require_https

    require_https(site_url, "BBWIZARD_SITE_URL")
    require_https(api_url, "BBWIZARD_API_URL")
    return EnvironmentProfile(
        name=name or (base.name if base is not None else "environment"),
        client_id="",
        site_url=site_url,
        api_url=api_url,
        kind="api_token" if kind == "api_token" else "access_token",
        access_token=Secret(token),
        email=email if kind == "api_token" else None,
        ca_bundle=base.ca_bundle if base is not None else None,
        clone_dir=base.clone_dir if base is not None else None,
        user=base.user if base is not None and base.kind == kind else None,
        secret_storage="environment",
    )


# --- TOML <-> Profile ---------------------------------------------------------------------------


def _profile_to_table(profile: Profile) -> dict[str, Any]:
    # What can fail comes first, before a secret is a bare value in this frame's locals.
    expires_at = None
    if profile.expires_at is not None:
        expires_at = profile.expires_at.astimezone(timezone.utc).replace(microsecond=0)
    user = {k: v for k, v in profile.user._asdict().items() if v is not None} if profile.user is not None else None
    table: dict[str, Any] = {}
    if profile.kind != "oauth":
        table["kind"] = profile.kind
    if profile.client_id or profile.kind == "oauth":
        table["client_id"] = profile.client_id
    if profile.email:
        table["email"] = profile.email
    if profile.client_secret is not None and profile.secret_storage != "keyring":
        table["client_secret"] = profile.client_secret.reveal()
    if profile.callback_url:
        table["callback_url"] = profile.callback_url
    table["site_url"] = profile.site_url
    table["api_url"] = profile.api_url
    table["grant"] = profile.grant
    if profile.access_token is not None and profile.secret_storage != "keyring":
        table["access_token"] = profile.access_token.reveal()
    if profile.refresh_token is not None and profile.secret_storage != "keyring":
        table["refresh_token"] = profile.refresh_token.reveal()
    if expires_at is not None:
        table["expires_at"] = expires_at
    if profile.issued_at is not None and profile.expires_at is not None:
        table["issued_at"] = profile.issued_at.astimezone(timezone.utc).replace(microsecond=0)
    if profile.token_expires_on is not None:
        table["token_expires_on"] = profile.token_expires_on
    if profile.reach:
        table["reach"] = dict(profile.reach)
    table["scopes"] = list(profile.scopes)
    if profile.clone_dir:
        table["clone_dir"] = profile.clone_dir
    if profile.ca_bundle:
        table["ca_bundle"] = profile.ca_bundle
    table["secret_storage"] = profile.secret_storage
    if profile.workspaces:
        table["workspaces"] = list(profile.workspaces)
    if profile.refresh_refused_at is not None:
        table["refresh_refused_at"] = profile.refresh_refused_at.astimezone(timezone.utc).replace(microsecond=0)
    if user:
        table["user"] = user
    return table


class _Sealed:
    """The file's bytes, which hold secrets, with a repr that doesn't show them: a traceback that
    prints locals (Textual's does) would otherwise show the consumer secret."""

    __slots__ = ("value",)

    def __init__(self, value: bytes) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<{len(self.value)} bytes with secrets, not shown>"


def _serialize(document: _Document, path: Path) -> _Sealed:
    """The whole file's bytes. The bare secrets live only in this frame, and leave it before an
    error does."""
    import tomli_w

    body: dict[str, Any] = {"version": CONFIG_VERSION}
    if document.default and document.default in document.profiles:
        body["default"] = document.default
    body.update(document.extra)
    body["profiles"] = {name: _profile_to_table(p) for name, p in sorted(document.profiles.items())}
    try:
        return _Sealed(tomli_w.dumps(body).encode("utf-8"))
    except (TypeError, ValueError) as error:  # a value TOML can't hold (a bug of the caller)
        reason = redact(str(error))[:200]
        del body, error  # the profiles, secrets and all, leave this frame's locals
        raise ConfigError(
            f"bbwizard can't save {path}: a profile holds a value TOML can't store ({reason}). "
            "Nothing was written; the file is as it was."
        ) from None


def _bad(path: Path, name: str, key: str, what: str) -> ConfigError:
    return ConfigError(
        f"The config file {path} has a bad value in profile '{name}': {key} {what}. "
        f"Fix it in the file, or sign in again with: bbwizard login --profile {name}"
    )


def _opt_str(table: dict[str, Any], key: str, path: Path, name: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(path, name, key, "should be a string")
    return value


def _opt_time(table: dict[str, Any], key: str, path: Path, name: str) -> datetime | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _bad(path, name, key, "is not a date and time") from None
    if not isinstance(value, datetime):
        raise _bad(path, name, key, "is not a date and time")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _profile_from_table(name: str, table: Any, path: Path) -> Profile:
    if not isinstance(table, dict):
        raise _bad(path, name, "the profile", "should be a table")
    kind = table.get("kind", "oauth")
    if kind not in KINDS:
        raise _bad(path, name, "kind", "should be oauth, api_token or access_token")
    client_id = _opt_str(table, "client_id", path, name)
    if not client_id and kind == "oauth":
        raise _bad(path, name, "client_id", "is missing")
    email = _opt_str(table, "email", path, name)
    token_expires_on = table.get("token_expires_on")
    if isinstance(token_expires_on, str):
        try:
            token_expires_on = date.fromisoformat(token_expires_on)
        except ValueError:
            raise _bad(path, name, "token_expires_on", "is not a date (YYYY-MM-DD)") from None
    if isinstance(token_expires_on, datetime):
        token_expires_on = token_expires_on.date()
    if token_expires_on is not None and not isinstance(token_expires_on, date):
        raise _bad(path, name, "token_expires_on", "is not a date (YYYY-MM-DD)")
    reach = table.get("reach")
    if reach is not None and (
        not isinstance(reach, dict) or not all(k in REACH_KEYS and isinstance(v, str) for k, v in reach.items())
    ):
        raise _bad(path, name, "reach", "should be a table of workspace, repository or project names")
    grant = table.get("grant", "authorization_code")
    if grant not in _GRANTS:
        raise _bad(path, name, "grant", "should be authorization_code or client_credentials")
    expires_at = _opt_time(table, "expires_at", path, name)
    scopes = table.get("scopes", [])
    if isinstance(scopes, str):
        scopes = scopes.split()
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise _bad(path, name, "scopes", "should be a list of strings")
    workspaces = table.get("workspaces", [])
    if not isinstance(workspaces, list) or not all(isinstance(w, str) for w in workspaces):
        raise _bad(path, name, "workspaces", "should be a list of strings")
    user_table = table.get("user")
    user = None
    if user_table is not None:
        if not isinstance(user_table, dict):
            raise _bad(path, name, "user", "should be a table")
        user = UserInfo(**{k: _opt_str(user_table, k, path, name) for k in ("display_name", "username", "uuid", "account_id")})

    def secret(key: str) -> Secret | None:
        value = _opt_str(table, key, path, name)
        return Secret(value) if value else None

    return Profile(
        name=name,
        client_id=client_id or "",
        client_secret=secret("client_secret"),
        callback_url=_opt_str(table, "callback_url", path, name),
        site_url=_opt_str(table, "site_url", path, name) or DEFAULT_SITE_URL,
        api_url=_opt_str(table, "api_url", path, name) or DEFAULT_API_URL,
        grant=grant,
        access_token=secret("access_token"),
        refresh_token=secret("refresh_token"),
        expires_at=expires_at,
        scopes=list(scopes),
        user=user,
        clone_dir=_opt_str(table, "clone_dir", path, name),
        ca_bundle=_opt_str(table, "ca_bundle", path, name),
        secret_storage=_opt_str(table, "secret_storage", path, name) or "file",
        workspaces=list(workspaces),
        refresh_refused_at=_opt_time(table, "refresh_refused_at", path, name),
        issued_at=_opt_time(table, "issued_at", path, name),
        kind=kind,
        email=email,
        token_expires_on=token_expires_on,
        reach=dict(reach) if reach else None,
    )


class _Document:
    __slots__ = ("profiles", "default", "extra")

    def __init__(self, profiles: dict[str, Profile], default: str | None, extra: dict[str, Any]) -> None:
        self.profiles = profiles
        self.default = default
        self.extra = extra  # top-level keys a newer minor version may add; kept on save


# --- the store ----------------------------------------------------------------------------------


def default_config_path() -> Path:
    from bbwizard.paths import config_file

    return Path(config_file())


_POSITION = r"at line (\d+), column (\d+)"


#: Room beyond the current file's size that :meth:`ConfigStore.ensure_writable` proves is there:
#: new tokens, a user and scopes are far less than this.
_SAVE_ROOM = 16 * 1024


class ConfigStore:
    """The profiles file. Reads are lock-free; every write happens under :meth:`lock`."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_config_path()
        # Beside the file that is written, not beside a link to it: two links to one file (a
        # dotfiles repository linked from two places, BBWIZARD_CONFIG and the usual path) must
        # share one lock, or their writers would lose each other's updates.
        target = self.target
        self.lock_path = target.with_name(target.name + ".lock")
        self._lock: Any = None
        self._lock_guard = threading.Lock()
        #: Sentences about secrets that could not go where they were meant to (the keyring):
        #: what happened instead. The CLI shows them after a command.
        self.notes: list[str] = []

    def __repr__(self) -> str:
        return f"ConfigStore({str(self.path)!r})"

    @property
    def target(self) -> Path:
        """The file a save writes: :attr:`path`, or where it links to when it is a symlink (people
        keep dotfiles in a repository and link them). Saves go through the link, atomically in the
        target's folder, and the link stays a link."""
        if self.path.is_symlink():
            return Path(os.path.realpath(self.path))
        return self.path

    # -- reading --

    def exists(self) -> bool:
        return self.path.exists()

    def _read(self) -> _Document:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return _Document({}, None, {})
        except IsADirectoryError:
            raise ConfigError(f"The config path {self.path} is a folder, not a file. Point BBWIZARD_CONFIG at a file.") from None
        except PermissionError:
            raise ConfigError(
                f"bbwizard may not read its config file {self.path} (permission denied). "
                f"Check its owner and mode: it should be yours, mode 600."
            ) from None
        import tomllib

        try:
            document = tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise self._corrupt(data, error) from None
        return self._parse(document)

    def _corrupt(self, data: bytes, error: Exception) -> ConfigError:
        if isinstance(error, UnicodeDecodeError):
            before = data[: error.start]
            line = before.count(b"\n") + 1
            column = error.start - (before.rfind(b"\n") + 1) + 1
            what = "is not UTF-8 text"
        else:
            found = re.search(_POSITION, str(error))
            if found:
                line, column = int(found.group(1)), int(found.group(2))
            else:  # "at end of document"
                text = data.decode("utf-8", "replace")
                line = text.count("\n") + 1
                column = len(text) - (text.rfind("\n") + 1) + 1
            what = "is not valid TOML"
        copy = self._copy_aside(data)
        kept = f"A copy is kept at {copy}. " if copy else ""
        return ConfigError(
            f"The config file {self.path} {what} (line {line}, column {column}). "
            f"{kept}bbwizard won't overwrite it: fix that line, or move the file away to start over."
        )

    def _copy_aside(self, data: bytes) -> Path | None:
        """Keep the broken file's bytes beside it (once per distinct content), mode 0600."""
        folder = self.path.parent
        try:
            for existing in folder.glob(self.path.name + ".corrupt-*"):
                try:
                    if existing.read_bytes() == data:
                        return existing
                except OSError:
                    continue
            stamp = utc_now().strftime("%Y%m%dT%H%M%S.%fZ")
            copy = folder / f"{self.path.name}.corrupt-{stamp}"
            fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            return copy
        except OSError:
            return None  # a read-only folder: the original is untouched anyway

    def _parse(self, document: dict[str, Any]) -> _Document:
        version = document.get("version", CONFIG_VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ConfigError(f"The config file {self.path} has a bad 'version' (should be a whole number).")
        if version > CONFIG_VERSION:
            raise ConfigError(
                f"The config file {self.path} was written by a newer bbwizard (format {version}; "
                f"this one reads {CONFIG_VERSION}). Upgrade bbwizard, or point BBWIZARD_CONFIG elsewhere."
            )
        tables = document.get("profiles", {})
        if not isinstance(tables, dict):
            raise ConfigError(f"The config file {self.path} has a bad 'profiles' (should be tables).")
        profiles = {name: _profile_from_table(name, table, self.path) for name, table in tables.items()}
        default = document.get("default")
        if default is not None and not isinstance(default, str):
            raise ConfigError(f"The config file {self.path} has a bad 'default' (should be a profile name).")
        extra = {k: v for k, v in document.items() if k not in ("version", "default", "profiles")}
        return _Document(profiles, default, extra)

    def load(self) -> dict[str, Profile]:
        """All profiles by name (empty when there is no file yet), secrets and all: those kept in
        the system keyring are read from it (:class:`~bbwizard.keyring_store.KeyringUnavailable`
        when it can't be read)."""
        return {name: self._with_secrets(p) for name, p in self._read().profiles.items()}

    @staticmethod
    def _with_secrets(profile: Profile) -> Profile:
        """``profile`` with the secrets the keyring keeps for it (the file holds none of them)."""
        if profile.secret_storage != "keyring":
            return profile
        from bbwizard import keyring_store

        found = keyring_store.read_secrets(profile.name)
        return profile.replace(**{k: Secret(v) if v else None for k, v in found.items()})

    @property
    def default_name(self) -> str | None:
        """The profile used when none is named: the recorded default, else the only profile."""
        document = self._read()
        return self._default_of(document)

    @staticmethod
    def _default_of(document: _Document) -> str | None:
        if document.default in document.profiles:
            return document.default
        if len(document.profiles) == 1:
            return next(iter(document.profiles))
        return None

    def get(self, name: str | None = None) -> Profile:
        """The named profile, or the default one. Raises :class:`SignInRequired` when there is none.

        While ``BBWIZARD_TOKEN`` is set this is the :func:`environment_profile` instead, as
        ``GH_TOKEN`` overrides gh's stored sign-in."""
        from bbwizard.envtoken import environment_token

        if environment_token() is not None:
            return environment_profile(self, name)
        document = self._read()
        if name is None:
            if not document.profiles:
                raise SignInRequired("You're not signed in yet. Run: bbwizard login")
            name = self._default_of(document)
            if name is None:
                names = ", ".join(sorted(document.profiles))
                raise UsageError(f"There are several profiles ({names}) and no default: choose one with --profile NAME.")
        profile = document.profiles.get(name)
        if profile is None:
            raise SignInRequired(f"There is no profile named '{name}'. Run: bbwizard login --profile {name}")
        return self._with_secrets(profile)

    def warnings(self) -> list[str]:
        """Sentences about a file others may read or that someone else owns (empty on Windows)."""
        if os.name != "posix":
            return []
        try:
            info = self.path.stat()
        except OSError:
            return []
        found: list[str] = []
        if info.st_mode & 0o077:
            found.append(
                f"The config file {self.path} can be read by other users (mode {info.st_mode & 0o777:o}); "
                f"it holds secrets. Run: chmod 600 {self.path}"
            )
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            found.append(
                f"The config file {self.path} belongs to another user (uid {info.st_uid}). "
                "Don't trust secrets in a file someone else can change; sign in again into your own file."
            )
        try:
            folder = self.path.parent.stat()
        except OSError:
            return found
        if folder.st_mode & 0o022 and not folder.st_mode & 0o1000:  # writable by others, no sticky bit
            found.append(
                f"The folder {self.path.parent} can be changed by other users (mode {folder.st_mode & 0o777:o}): "
                f"they could swap the config file for one of their own. Run: chmod 700 {self.path.parent}"
            )
        return found

    # -- writing --

    def lock(self) -> Any:
        """The cross-process lock (a re-entrant ``filelock.FileLock`` on ``config.toml.lock``).

        Use it as a context manager around read-modify-write sequences; :meth:`save` takes it too.
        """
        with self._lock_guard:
            if self._lock is None:
                self._ensure_folder()
                import filelock

                try:
                    # Keep the lock file: unlinking it on release races with a waiter that has
                    # already opened it (filelock 4; 3.x keeps it anyway and lacks the option).
                    inner = filelock.FileLock(self.lock_path, timeout=LOCK_TIMEOUT_SECONDS, mode=0o600, preserve_lock_file=True)
                except TypeError:
                    inner = filelock.FileLock(self.lock_path, timeout=LOCK_TIMEOUT_SECONDS, mode=0o600)
                self._lock = _GuardedLock(inner, self)
            return self._lock

    def _ensure_folder(self) -> None:
        folder = self.target.parent
        if folder.is_dir():
            return
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise self._write_error(error) from None

    def _write_error(self, error: OSError) -> ConfigError:
        folder = self.target.parent
        reason = error.strerror or type(error).__name__
        import errno

        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            what = "the disk is full" if error.errno != errno.EFBIG else "the file is too large for this system's limit"
            problem = ConfigError(
                f"bbwizard can't save in {folder}: {what} ({reason.lower()}). Nothing was saved and the "
                f"existing config was left as it was. Free some space (or raise the limit), then try again."
            )
            problem.cause = "file too large" if error.errno == errno.EFBIG else "disk full"  # type: ignore[attr-defined]
            return problem
        return ConfigError(
            f"bbwizard can't write in {folder} ({reason.lower()}), so nothing was saved and the "
            f"existing config was left as it was. Make the folder writable (chmod u+w {folder}), "
            f"or set BBWIZARD_CONFIG to a file in a writable folder."
        )

    def ensure_writable(self) -> None:
        """Prove that a save can happen now, before something that can't be undone: spending a
        refresh token (it rotates) or a code. Writes, fsyncs and removes a temp file as large as
        the new file can be (the current one plus room for new tokens) in the folder of the file
        a save writes: a full disk accepts an empty file, and would then lose the rotated pair.
        Raises :class:`ConfigError` (the same sentence as a failed save) when it can't."""
        self._ensure_folder()
        import secrets

        target = self.target
        try:
            size = target.stat().st_size
        except OSError:
            size = 0
        probe = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        except OSError as error:
            raise self._write_error(error) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(b"\0" * (size + _SAVE_ROOM))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            raise self._write_error(error) from None
        finally:
            try:
                probe.unlink()
            except OSError:
                pass

    def _write(self, document: _Document) -> None:
        data = _serialize(document, self.path)  # sealed: its repr shows no secret
        self._ensure_folder()
        self._replace_file(self.target, data)  # through a symlink: the link stays, its target is replaced
        self._remove_orphans()

    def _replace_file(self, target: Path, data: _Sealed) -> None:
        """Write ``data`` to ``target`` all or nothing: a temp file beside it, mode 0600 from its
        creation, fsynced, renamed over it, and the folder fsynced; :class:`ConfigError` if not."""
        import secrets

        folder = target.parent
        temp = folder / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        except OSError as error:
            raise self._write_error(error) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data.value)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except OSError as error:
            try:
                temp.unlink()
            except OSError:
                pass
            raise self._write_error(error) from None
        _fsync_folder(folder)

    def _remove_orphans(self) -> None:
        """Temp files of writers that were killed mid-save (never the live file)."""
        if os.name != "posix":
            return
        target = self.target
        for orphan in target.parent.glob(f".{target.name}.*.tmp"):
            try:
                pid = int(orphan.name.split(".")[-3])
                if pid == os.getpid():
                    continue
                os.kill(pid, 0)
            except ProcessLookupError:
                try:
                    orphan.unlink()
                except OSError:
                    pass
            except (ValueError, IndexError, OSError):
                continue

    def save(self, profile: Profile, *, make_default: bool | None = None) -> None:
        """Write one profile (replacing any of that name), keeping every other one as it is.

        ``make_default``: True makes it the default; None makes it the default only when there is
        none yet.
        """
        validate_profile_name(profile.name)
        if isinstance(profile, EnvironmentProfile):
            raise ConfigError(
                f"The token of profile '{profile.name}' comes from BBWIZARD_TOKEN and is never saved. "
                "Unset BBWIZARD_TOKEN to change stored profiles."
            )
        with self.lock():
            document = self._read()
            prior = self._default_of(document)
            profile = self._place_secrets(profile, document.profiles.get(profile.name))
            document.profiles[profile.name] = profile
            if make_default:
                document.default = profile.name
            elif make_default is None:
                document.default = prior or profile.name
            self._write(document)

    # -- a rotated pair the config could not take --

    def recovery_path(self, name: str) -> Path:
        """Where :meth:`keep_for_recovery` keeps profile ``name``'s new pair: beside the file a
        save writes, ``config.toml.recovery-NAME``."""
        target = self.target
        return target.with_name(f"{target.name}.recovery-{name}")

    def keep_for_recovery(self, profile: Profile) -> Path:
        """Write ``profile``'s token pair to :meth:`recovery_path` when the config itself could not
        be saved after a refresh was spent (the old refresh token then dies minutes later, so the
        new one must be kept somewhere). A small file: mode 0600 from its creation, written to a
        temp file, fsynced and renamed. :meth:`recover` merges it into the config later. Raises
        :class:`ConfigError` when even this can't be written."""
        import tomli_w

        table: dict[str, Any] = {"profile": profile.name, "kept_at": utc_now().replace(microsecond=0)}
        for key in ("access_token", "refresh_token"):
            value = getattr(profile, key)
            if value is not None:
                table[key] = value.reveal()
        if profile.expires_at is not None:
            table["expires_at"] = profile.expires_at.astimezone(timezone.utc)
        if profile.issued_at is not None:
            table["issued_at"] = profile.issued_at.astimezone(timezone.utc)
        table["scopes"] = list(profile.scopes)
        data = _Sealed(tomli_w.dumps(table).encode("utf-8"))
        del table
        path = self.recovery_path(profile.name)
        self._replace_file(path, data)
        return path

    def recover(self, name: str) -> Profile | None:
        """Under :meth:`lock`: merge profile ``name``'s recovery file (see
        :meth:`keep_for_recovery`) into the config when its pair is newer than the saved one,
        save, and remove the file only once that save succeeded. The merged profile (used even
        when the save fails again: the file then stays for the next run), or None when there was
        nothing to recover. A file older than the saved tokens (a sign-in since) is removed."""
        path = self.recovery_path(name)
        try:
            data = path.read_bytes()
        except OSError:
            return None  # none (the usual case), or unreadable: the config is used as it is
        import tomllib

        try:
            table = tomllib.loads(data.decode("utf-8"))
            access = table["access_token"]
            refresh = table.get("refresh_token")
            expires_at = table["expires_at"]
            issued_at = table.get("issued_at")
            scopes = table.get("scopes", [])
            if not (
                isinstance(access, str)
                and isinstance(refresh, (str, type(None)))
                and isinstance(expires_at, datetime)
                and isinstance(issued_at, (datetime, type(None)))
                and isinstance(scopes, list)
                and all(isinstance(scope, str) for scope in scopes)
            ):
                raise TypeError
        except (UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
            return None  # not ours to fix: left in place, named by nothing, harmless
        del data, table
        document = self._read()
        saved = document.profiles.get(name)
        if saved is None:
            return None  # the profile was removed since: its pair goes with it when it signs in again
        saved = self._with_secrets(saved)

        def utc(moment: datetime) -> datetime:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
        newer = (
            saved.access_token is None
            or (issued_at is not None and saved.issued_at is not None and utc(issued_at) > saved.issued_at)
            or (
                (issued_at is None or saved.issued_at is None)
                and (saved.expires_at is None or utc(expires_at) > saved.expires_at)
            )
        ) and saved.access_token != Secret(access)
        if not newer:
            _remove_quietly(path)
            return None
        merged = saved.with_tokens(
            Secret(access), Secret(refresh) if refresh else None, utc(expires_at), scopes,
            issued_at=utc(issued_at) if issued_at is not None else None,
        )
        try:
            self.save(merged, make_default=False)
        except ConfigError:
            return merged  # still no room: the pair stays in its file, and is used from there
        _remove_quietly(path)
        return merged

    def _place_secrets(self, profile: Profile, saved: Profile | None) -> Profile:
        """Where ``profile``'s secrets go: the place recorded for the saved profile of that name
        (only :meth:`move_secrets` changes it); for a new profile the system keyring when one is
        usable, else this file. Keyring secrets are written and read back here, before the file
        says "keyring". When the keyring fails, the secrets go to the file instead (a rotated
        refresh token must never be lost), and :attr:`notes` says so."""
        storage = saved.secret_storage if saved is not None else profile.secret_storage
        if saved is None and storage == "file":
            from bbwizard import keyring_store

            storage = "file" if keyring_store.problem() else "keyring"
        if storage not in ("file", "keyring"):
            storage = "file"
        profile = profile.replace(secret_storage=storage) if storage != profile.secret_storage else profile
        if storage != "keyring":
            return profile
        from bbwizard import keyring_store

        try:
            keyring_store.write_secrets(profile.name, _secret_values(profile))
        except keyring_store.KeyringUnavailable as error:
            self.notes.append(f"{error.message} The secrets of profile '{profile.name}' were saved in {self.path} instead.")
            return profile.replace(secret_storage="file")
        return profile

    def move_secrets(self, name: str, storage: str) -> Profile:
        """Move profile ``name``'s secrets to ``storage`` (``"keyring"`` or ``"file"``), never
        losing one midway: the new place is written and read back before the old one is cleared.
        Raises :class:`~bbwizard.keyring_store.KeyringUnavailable` (nothing changed) when the
        keyring can't be used. Returns the profile as now stored."""
        from bbwizard import keyring_store

        if storage not in ("file", "keyring"):
            raise UsageError(f"Secrets can be kept in the keyring or the file, not {storage!r}.")
        with self.lock():
            document = self._read()
            saved = document.profiles.get(name)
            if saved is None:
                raise SignInRequired(f"There is no profile named '{name}'. Run: bbwizard login --profile {name}")
            if saved.secret_storage == storage:
                return saved
            if storage == "keyring":
                problem = keyring_store.problem()
                if problem:
                    raise keyring_store.KeyringUnavailable(problem)
                keyring_store.write_secrets(name, _secret_values(saved))  # read back inside
                moved = saved.replace(secret_storage="keyring")
                document.profiles[name] = moved
                self._write(document)  # the file no longer holds them
                return moved
            full = self._with_secrets(saved).replace(secret_storage="file")
            document.profiles[name] = full
            self._write(document)
            if _secret_values(self._read().profiles.get(name) or saved) != _secret_values(full):
                raise ConfigError(f"The secrets of profile '{name}' did not read back from {self.path}; they stay in the keyring too.")
            try:
                keyring_store.delete_secrets(name)
            except keyring_store.KeyringUnavailable as error:
                self.notes.append(f"{error.message} Copies of the secrets of profile '{name}' are left in the keyring.")
            return full

    def delete(self, name: str) -> bool:
        """Forget a profile (and its secrets in the keyring). Returns False when there was none of
        that name."""
        with self.lock():
            document = self._read()
            if name not in document.profiles:
                return False
            storage = document.profiles[name].secret_storage
            del document.profiles[name]
            if document.default == name:
                document.default = None
            self._write(document)
        if storage == "keyring":
            from bbwizard import keyring_store

            try:
                keyring_store.delete_secrets(name)
            except keyring_store.KeyringUnavailable as error:
                self.notes.append(f"{error.message} The secrets of profile '{name}' are still in the keyring.")
        return True

    def set_default(self, name: str) -> None:
        with self.lock():
            document = self._read()
            if name not in document.profiles:
                raise SignInRequired(f"There is no profile named '{name}'. Run: bbwizard login --profile {name}")
            document.default = name
            self._write(document)


def _secret_values(profile: Profile) -> dict[str, str | None]:
    """The profile's secrets as plain text, for the keyring (never logged, never shown)."""
    return {k: (v.reveal() if v is not None else None) for k, v in
            (("client_secret", profile.client_secret), ("access_token", profile.access_token), ("refresh_token", profile.refresh_token))}


class _GuardedLock:
    """A FileLock whose failures (timeout, read-only folder) become a ConfigError."""

    def __init__(self, inner: Any, store: ConfigStore) -> None:
        self._inner = inner
        self._store = store

    @property
    def is_locked(self) -> bool:
        return bool(self._inner.is_locked)

    def acquire(self, timeout: float | None = None) -> None:
        import filelock

        try:
            self._inner.acquire(timeout=timeout)
        except filelock.Timeout:
            raise ConfigError(
                f"Another bbwizard has held the lock {self._store.lock_path} for over "
                f"{LOCK_TIMEOUT_SECONDS:.0f} seconds. Wait for it to finish, then try again."
            ) from None
        except OSError as error:
            raise self._store._write_error(error) from None

    def release(self) -> None:
        self._inner.release()

    def __enter__(self) -> _GuardedLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
    else:
        _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable. Windows can't open a folder for fsync; rename is durable there."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = [
    "CONFIG_VERSION",
    "ConfigStore",
    "DEFAULT_API_URL",
    "DEFAULT_MIN_VALID",
    "DEFAULT_PROFILE_NAME",
    "DEFAULT_SITE_URL",
    "EnvironmentProfile",
    "GIT_USERNAMES",
    "KINDS",
    "Profile",
    "TOKEN_KINDS",
    "UserInfo",
    "default_api_url",
    "default_config_path",
    "environment_profile",
    "utc_now",
    "is_profile_name",
    "validate_profile_name",
]

if sys.version_info < (3, 11):  # pragma: no cover  # noqa: UP036 - a source tree run by an older Python
    raise ImportError("bbwizard needs Python 3.11 or newer (tomllib)")
