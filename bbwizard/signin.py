"""Finishing a sign-in, once for the CLI (``bbwizard login``) and the wizard's Token step.

After a token exchange or a ``client_credentials`` grant: the tokens are saved at once (a code
works once, and a refresh token rotates: tokens lost to a failing ``GET /user`` would mean the
browser again), then Bitbucket is asked who the token belongs to and the profile is saved again
with the user. A failing ``GET /user`` keeps the saved profile and is reported, not raised, so the
caller can say what was saved and then what went wrong. Scopes are checked last
(:meth:`SignIn.raise_problems`).

Signing in again keeps the profile's own settings (its clone folder, its listed workspaces, whether
it is the default) and replaces only what a sign-in gives: the consumer, the tokens, the user, the
scopes, and the "refresh refused" marker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bbwizard import net
from bbwizard.errors import (
    BBWizardError,
    NetworkError,
    ProtocolError,
    RateLimited,
    ScopeError,
    SignInRequired,
    UsageError,
)
from bbwizard.secret import printable, redact

if TYPE_CHECKING:
    import httpx

    from bbwizard.config import ConfigStore, Profile
    from bbwizard.oauth import TokenSet
    from bbwizard.secret import Secret


@dataclass
class SignIn:
    """A finished sign-in. ``granted``: the scopes the token endpoint reported (None when it
    didn't say); ``user_error``: why ``GET /user`` failed (the profile is saved without a user)."""

    profile: Profile
    granted: list[str] | None
    user_error: BBWizardError | None = None
    #: Bitbucket didn't say who the token belongs to (a 403 that names no scope, as an app user
    #: may get): the sign-in stands, without a user; this says so.
    user_note: str | None = None

    @property
    def missing_scopes(self) -> list[str]:
        return net.missing_scopes(self.granted) if self.granted is not None else []

    def raise_problems(self) -> None:
        """A missing scope first (it says which box to tick), then the trouble with ``GET /user``."""
        net.check_scopes(self.granted)
        if self.user_error is not None:
            raise self.user_error


def signed_in_profile(saved: Profile | None, consumer: Profile) -> Profile:
    """What a sign-in with ``consumer`` starts from: the saved profile of that name with its own
    settings, the consumer's fields and grant in place of its own, and none of the old sign-in.
    A clone folder or CA bundle the consumer names (``login --clone-dir``, ``--ca-bundle``)
    replaces the saved one."""
    if saved is None:
        return consumer.signed_out()
    return saved.signed_out().replace(
        client_id=consumer.client_id,
        client_secret=consumer.client_secret,
        callback_url=consumer.callback_url,
        site_url=consumer.site_url,
        api_url=consumer.api_url,
        grant=consumer.grant,
        clone_dir=consumer.clone_dir or saved.clone_dir,
        ca_bundle=consumer.ca_bundle or (saved.ca_bundle if saved.site_url == consumer.site_url else None),
    )


def finish_sign_in(
    store: ConfigStore,
    consumer: Profile,
    tokens: TokenSet,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
) -> SignIn:
    """Save ``tokens`` under ``consumer.name`` (keeping that profile's own settings), ask Bitbucket
    who they belong to, and save the user too. Raises only when the profile can't be saved.
    ``clock`` dates tokens that don't say when they were issued (by default the real time)."""
    from bbwizard.config import utc_now

    saved = store.load().get(consumer.name)
    issued_at = tokens.issued_at or (clock or utc_now)()
    profile = signed_in_profile(saved, consumer).with_tokens(
        tokens.access_token, tokens.refresh_token, tokens.expires_at, tokens.scopes or [], issued_at=issued_at
    )
    store.save(profile)
    try:
        user = net.fetch_user(profile.api_url, tokens.access_token, transport=transport, ca_bundle=profile.ca_bundle)
    except net.UserNotShown as unknown:
        return SignIn(profile, tokens.scopes, user_note=unknown.message)
    except BBWizardError as error:
        return SignIn(profile, tokens.scopes, error)
    profile = profile.replace(user=user)
    store.save(profile)
    return SignIn(profile, tokens.scopes)


__all__ = ["SignIn", "finish_sign_in", "signed_in_profile"]


# --- tokens a person made: API tokens and access tokens -----------------------------------------

#: The granular scopes to tick on an API token (id.atlassian.com → Security → Create API token
#: with scopes → Bitbucket): who it is, the workspaces to list, the repositories to clone.
API_TOKEN_SCOPES = ("read:user:bitbucket", "read:workspace:bitbucket", "read:repository:bitbucket")
_MAKE_API_TOKEN = "id.atlassian.com → Security → Create API token with scopes → app Bitbucket"
_MAKE_ACCESS_TOKEN = "the repository's (or project's, or workspace's) settings → Access tokens"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


@dataclass
class TokenSignIn:
    """A token the person made, checked with Bitbucket and saved. ``can`` and ``cannot``: what
    it reaches and what it doesn't, in sentences for the person."""

    profile: Profile
    can: list[str] = field(default_factory=list)
    cannot: list[str] = field(default_factory=list)


def check_email(email: str) -> str:
    """The email an API token goes with, or :class:`UsageError` for a username in its place and
    for text that only looks like an email."""
    email = email.strip()
    if "@" not in email:
        raise UsageError(
            f"--email {email!r} is not an email. An API token goes to Bitbucket's REST API with the email of "
            "your Atlassian account (like ada@example.com), not a username; for git bbwizard uses the username "
            "x-bitbucket-api-token-auth by itself."
        )
    if not _EMAIL.match(email):
        raise UsageError(
            f"--email {email!r} isn't an email address (name@domain.tld). Give the email of the Atlassian "
            "account that made the API token, as id.atlassian.com shows it."
        )
    return email


def _probe(client: httpx.Client, url: str, authorization: str) -> tuple[int, str, Any]:
    """One GET: the status, Bitbucket's error message and the JSON body (None when not JSON)."""
    import httpx

    try:
        response = client.get(url, headers={"Authorization": authorization})
    except httpx.HTTPError as error:
        raise net.network_error(error, url, address="the API URL") from None
    try:
        payload = json.loads(response.content)
    except ValueError:
        payload = None
    if response.status_code >= 500:
        raise NetworkError(f"Bitbucket's API failed (HTTP {response.status_code}). Try again in a minute.")
    if response.status_code == 429:
        raise RateLimited("Bitbucket is rate-limiting these requests (HTTP 429). Wait a few minutes, then try again.")
    message, _ = net.error_detail(payload)
    return response.status_code, printable(redact(message))[:200], payload


def _granular_missing(payload: Any) -> list[str]:
    """The scopes a 403 says are required and not granted, as Bitbucket names them (granular
    ones for an API token: those are the names to tick when making a new one)."""
    _, detail = net.error_detail(payload)
    if not isinstance(detail, dict):
        return []
    required = net.parse_scopes(detail.get("required"))
    granted = set(net.parse_scopes(detail.get("granted")))
    return list(dict.fromkeys([s for s in required if s not in granted] or required))


def _api_token_scope_error(missing: list[str]) -> ScopeError:
    names = ", ".join(missing)
    ticks = ", ".join(dict.fromkeys([*missing, *API_TOKEN_SCOPES]))
    return ScopeError(
        f"The API token lacks {names}. An API token's scopes can't be changed: make a new one "
        f"({_MAKE_API_TOKEN}), tick {ticks} (and write:repository:bitbucket to push), then sign in again.",
        missing=missing,
    )


def _save_made_token(store: ConfigStore, name: str, token: Secret, *, clone_dir: str | None,
                     ca_bundle: str | None, **fields: Any) -> Profile:
    """Save a token the person made as profile ``name``: the saved profile of that name, if any,
    keeps its clone folder and CA bundle unless new ones are given, and loses its old sign-in and
    consumer; ``fields`` are the kind and what goes with it."""
    from bbwizard.config import Profile

    saved = store.load().get(name)
    start = saved.signed_out() if saved is not None else Profile(name=name, client_id="")
    profile = start.replace(
        client_id="",
        client_secret=None,
        callback_url=None,
        grant="authorization_code",
        access_token=token,
        clone_dir=clone_dir or (saved.clone_dir if saved else None),
        ca_bundle=ca_bundle or (saved.ca_bundle if saved else None),
        **fields,
    )
    store.save(profile)
    return profile


def sign_in_with_api_token(
    store: ConfigStore,
    name: str,
    email: str,
    token: Secret,
    *,
    site_url: str,
    api_url: str,
    expires_on: date | None = None,
    clone_dir: str | None = None,
    ca_bundle: str | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
) -> TokenSignIn:
    """Check an Atlassian API token with ``GET /user`` (Basic ``EMAIL:TOKEN``), then save it as
    profile ``name`` with the user it belongs to. Every refusal is one sentence: a username for
    the email, an expiry date already past, a token without Bitbucket scopes or without
    ``read:user:bitbucket``, a token Bitbucket refuses with that email, and a Bearer-only token
    (an OAuth or access token) given as an API token. Nothing is saved when it fails. ``clock``
    tells today's date for ``expires_on`` (by default the real time)."""
    from bbwizard.config import utc_now

    email = check_email(email)
    today = (clock or utc_now)().date()
    if expires_on is not None and expires_on < today:
        raise SignInRequired(
            f"This API token expired on {expires_on:%Y-%m-%d} (the date given with --expires-on). "
            f"Make a new one ({_MAKE_API_TOKEN}) and sign in with it."
        )
    net.require_https(api_url, "The API URL")
    url = f"{api_url.rstrip('/')}/user"
    with net.http_client(transport, ca_bundle=ca_bundle) as client:
        status, message, payload = _probe(client, url, net.authorization(token, email))
        if status == 401:
            bearer, _, bearer_payload = _probe(client, url, net.authorization(token))
            if bearer == 200:
                raise SignInRequired(
                    "This token is an OAuth access token, which Bitbucket takes as Bearer, not with an email. "
                    "Sign in with its OAuth client instead: bbwizard login --key KEY"
                )
            if bearer == 403 and not _granular_missing(bearer_payload):
                raise SignInRequired(
                    "This token is a repository, project or workspace access token, not an API token: it goes "
                    "without an email. Sign in with: bbwizard login --with-access-token --repository WORKSPACE/REPO"
                )
            said = f" ({message})" if message else ""
            raise SignInRequired(
                f"Bitbucket refused this API token with the email {email} (HTTP 401){said}. Check that {email} is the "
                "email of the Atlassian account that made the token (id.atlassian.com → Account), that the token "
                "was made with scopes for the app Bitbucket, and that it hasn't expired or been revoked."
            )
        if status == 403:
            missing = _granular_missing(payload)
            if not any(s.endswith(":bitbucket") for s in missing):
                # No Bitbucket scope named: a token made without scopes (or for another app).
                raise ScopeError(
                    "This API token has no Bitbucket scopes, and Bitbucket refuses unscoped API tokens. Make one "
                    f"with scopes ({_MAKE_API_TOKEN}), tick {', '.join(API_TOKEN_SCOPES)}, then sign in again.",
                    missing=list(API_TOKEN_SCOPES),
                )
            raise _api_token_scope_error(missing)
        if status != 200 or not isinstance(payload, dict):
            raise ProtocolError(f"Bitbucket's API answered HTTP {status} to 'who am I'. Check the API URL, then try again.")
        user = net.parse_user(payload)
    profile = _save_made_token(
        store, name, token, clone_dir=clone_dir, ca_bundle=ca_bundle, kind="api_token", email=email,
        token_expires_on=expires_on, reach=None, user=user, site_url=site_url, api_url=api_url,
    )
    return TokenSignIn(profile)


def _reach_url(api_url: str, workspace: str, repository: str | None) -> str:
    base = api_url.rstrip("/")
    if repository:
        return f"{base}/repositories/{quote(workspace, safe='')}/{quote(repository, safe='')}"
    return f"{base}/repositories/{quote(workspace, safe='')}?pagelen=100"


def sign_in_with_access_token(
    store: ConfigStore,
    name: str,
    token: Secret,
    *,
    workspace: str,
    repository: str | None = None,
    site_url: str,
    api_url: str,
    clone_dir: str | None = None,
    ca_bundle: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> TokenSignIn:
    """Check a repository, project or workspace access token (Bearer) and save it as profile
    ``name``. ``GET /user`` refuses such a token, so what it reaches is found by trying what the
    person said it is for (``workspace``, and ``repository`` in it); the answer says what it can
    and cannot do. A token ``GET /user`` accepts is an OAuth token (it would die in two hours); a
    401 is an expired or revoked token, or an API token given without its email."""
    net.require_https(api_url, "The API URL")
    bearer = net.authorization(token)
    where = f"{workspace}/{repository}" if repository else f"the workspace {workspace}"
    can: list[str] = []
    cannot = ["It can't say whose it is or list workspaces (Bitbucket answers GET /user only for accounts)."]
    with net.http_client(transport, ca_bundle=ca_bundle) as client:
        status, _, payload = _probe(client, f"{api_url.rstrip('/')}/user", bearer)
        if status == 200:
            who = net.parse_user(payload).label if isinstance(payload, dict) else "an account"
            raise SignInRequired(
                f"This token belongs to {who}: it is an OAuth access token (it dies within two hours), not an "
                "access token. Sign in with its OAuth client instead: bbwizard login --key KEY"
            )
        status, message, payload = _probe(client, _reach_url(api_url, workspace, repository), bearer)
        said = f" ({message})" if message else ""
        if status == 401:
            if token.reveal().startswith("ATATT"):
                raise SignInRequired(
                    "This is an Atlassian API token, not an access token: it goes with your account's email. "
                    "Sign in with: bbwizard login --with-api-token --email EMAIL"
                )
            raise SignInRequired(
                f"Bitbucket refused this access token (HTTP 401){said}: it has expired or was revoked, or it is an "
                "Atlassian API token, which goes with its email (bbwizard login --with-api-token --email EMAIL). "
                f"Make a new access token in {_MAKE_ACCESS_TOKEN}."
            )
        if status == 403:
            missing = _granular_missing(payload)
            if missing:
                raise ScopeError(
                    f"The access token lacks the {' and '.join(missing)} scope{'s' if len(missing) > 1 else ''} "
                    f"needed to read {where}. Make a new one in {_MAKE_ACCESS_TOKEN} with Repositories: Read "
                    "(and Repositories: Write to push), then sign in again.",
                    missing=missing,
                )
            raise SignInRequired(f"Bitbucket refused this access token for {where} (HTTP 403){said}.")
        if status == 404:
            other = "its own repository" if repository else "the repositories it was made for"
            raise SignInRequired(
                f"This access token doesn't reach {where}, or there is no such "
                f"{'repository' if repository else 'workspace'}: an access token reaches only {other}. "
                "Name what it was made for with --repository WORKSPACE/REPO or --workspace WORKSPACE."
            )
        if status != 200 or not isinstance(payload, dict):
            raise ProtocolError(f"Bitbucket's API answered HTTP {status} for {where}. Check the API URL, then try again.")
        if repository:
            can.append(f"It reads {workspace}/{repository}: clone, fetch and pull.")
            listing, _, page = _probe(client, _reach_url(api_url, workspace, None), bearer)
            others = _full_names(page) - {f"{workspace}/{repository}"} if listing == 200 else set()
            if others:
                shown = ", ".join(sorted(others)[:5]) + (" …" if len(others) > 5 else "")
                can.append(f"It also reaches {len(others)} other repositor{'ies' if len(others) > 1 else 'y'} in {workspace}: {shown}.")
            else:
                cannot.append(f"It reaches no other repository in {workspace}.")
        else:
            names = _full_names(payload)
            size = payload.get("size") if isinstance(payload.get("size"), int) else len(names)
            shown = ", ".join(sorted(names)[:5]) + (" …" if size > 5 else "")
            can.append(f"It reaches {size} repositor{'ies' if size != 1 else 'y'} in {workspace}" + (f": {shown}." if names else "."))
        cannot.append(f"It can't reach repositories outside {workspace}.")
    reach = {"workspace": workspace, **({"repository": repository} if repository else {})}
    profile = _save_made_token(
        store, name, token, clone_dir=clone_dir, ca_bundle=ca_bundle, kind="access_token", email=None,
        token_expires_on=None, reach=reach, user=None, site_url=site_url, api_url=api_url, workspaces=[workspace],
    )
    return TokenSignIn(profile, can, cannot)


def _full_names(page: Any) -> set[str]:
    values = page.get("values") if isinstance(page, dict) else None
    if not isinstance(values, list):
        return set()
    return {v["full_name"] for v in values if isinstance(v, dict) and isinstance(v.get("full_name"), str)}


__all__ += ["API_TOKEN_SCOPES", "TokenSignIn", "check_email", "sign_in_with_access_token", "sign_in_with_api_token"]


def check_access_token(profile: Profile, *, timeout: float | None = None, transport: httpx.BaseTransport | None = None) -> None:
    """Does Bitbucket still take this access token for what it was made for? ``bbwizard status``
    asks this instead of ``GET /user``, which refuses access tokens: one try, a short ``timeout``.
    Raises :class:`SignInRequired` on 401, :class:`NetworkError` when Bitbucket can't be reached."""
    import httpx

    reach = profile.reach or {}
    if profile.access_token is None or not reach.get("workspace"):
        raise SignInRequired(f"Profile '{profile.name}' holds no access token for a workspace.")
    url = _reach_url(profile.api_url, reach["workspace"], reach.get("repository"))
    net.require_https(profile.api_url, "The API URL")
    with net.http_client(transport, ca_bundle=profile.ca_bundle, timeout=None if timeout is None else httpx.Timeout(timeout)) as client:
        status, _, _ = _probe(client, url, net.authorization(profile.access_token))
    if status == 401:
        from bbwizard.oauth import token_refused

        raise token_refused(profile)


__all__ += ["check_access_token"]


#: How long the live check of a token (``status``, ``doctor``) waits for Bitbucket: one try.
LIVE_CHECK_TIMEOUT = 5.0


def check_with_bitbucket(profile: Profile, *, timeout: float = LIVE_CHECK_TIMEOUT,
                         transport: httpx.BaseTransport | None = None) -> tuple[str, str]:
    """Ask Bitbucket whether it takes the profile's token (``GET /user``; for an access token, what
    it was made for), one try with a short timeout. Returns ``("ok" | "refused" | "unreachable",
    the sentence of the failure)``; a missing scope counts as ``ok``: the token itself works."""
    try:
        if profile.kind == "access_token":  # GET /user refuses it: ask about what it was made for
            check_access_token(profile, timeout=timeout, transport=transport)
        else:
            net.fetch_user(profile.api_url, profile.access_token, timeout=timeout, attempts=1, ca_bundle=profile.ca_bundle,
                           email=profile.email if profile.kind == "api_token" else None, transport=transport)
    except SignInRequired as error:
        return "refused", str(error)
    except (ScopeError, net.UserNotShown):
        return "ok", ""
    except BBWizardError as error:  # NetworkError, ProtocolError, a bad API URL: no verdict from Bitbucket
        return "unreachable", str(error)
    return "ok", ""


def check_live(profiles: list[Profile], *, now: datetime,
               transport: httpx.BaseTransport | None = None) -> dict[str, tuple[str, str]]:
    """:func:`check_with_bitbucket` for each profile whose token the file calls usable, all at once.
    An expired token is not asked about (refreshing it here would spend its refresh token), and a
    signed-out profile has nothing to ask with."""
    usable = [p for p in profiles if p.access_token and p.token_state(now) in ("fresh", "expiring")]
    if not usable:
        return {}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(usable)), thread_name_prefix="bbwizard-check") as pool:
        answers = pool.map(lambda p: check_with_bitbucket(p, transport=transport), usable)
        return dict(zip((p.name for p in usable), answers))


__all__ += ["LIVE_CHECK_TIMEOUT", "check_live", "check_with_bitbucket"]
