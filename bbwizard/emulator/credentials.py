"""Who a request is: Bitbucket's rules for each kind of credential, shared by REST and git.

- OAuth access tokens (the consent dance): REST ``Bearer``; git ``x-token-auth`` or the
  account's username. Classic scopes.
- Atlassian API tokens: REST only with ``Basic EMAIL:TOKEN`` (``Bearer`` is refused); git only
  with ``x-bitbucket-api-token-auth`` or the account's username, never the email. Granular scopes
  (``read:repository:bitbucket`` …); an unscoped one and an expired one are refused (401).
- Repository, project and workspace access tokens: REST ``Bearer``; git ``x-token-auth``.
  Classic scopes. Each is its own bot account that reaches only its repository, its project's
  repositories or its workspace; ``GET /user`` and ``/user/workspaces`` refuse them.

Every refusal of the credentials themselves is a 401 (REST: :data:`MSG_INVALID_TOKEN` or
:data:`MSG_EXPIRED`; git: the Basic challenge). :class:`Principal` then answers what the
credential may do: :meth:`Principal.missing` names the scope to tick, :meth:`Principal.sees`
says whether a workspace or repository is within its reach.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from bbwizard.emulator.seed import ApiToken, Repo, ResourceToken, Workspace
from bbwizard.emulator.state import State, expand_scopes

MSG_EXPIRED = "Access token expired."
MSG_INVALID_TOKEN = "Token is invalid, expired, or not supported for this endpoint."
#: What ``GET /user`` and ``/user/workspaces`` answer an access token (403; the text follows
#: Bitbucket's answer for an endpoint that does not take a kind of credential: UNCONFIRMED).
MSG_NOT_FOR_ACCESS_TOKENS = (
    "This API is only accessible with the following authentication types: session, oauth, api_token"
)

API_TOKEN_GIT_USER = "x-bitbucket-api-token-auth"
TOKEN_GIT_USER = "x-token-auth"

# The granular scope an API token needs for what a classic scope allows, per kind of endpoint
# (bitbucket-cloud.md "Git over HTTPS": clone read:repository, push write:repository, GET /user
# read:user, GET /user/workspaces read:workspace). Granular scopes imply nothing (UNCONFIRMED).
GRANULAR = {
    ("account", "user"): "read:user:bitbucket",
    ("account", "workspaces"): "read:workspace:bitbucket",
    ("repository", None): "read:repository:bitbucket",
    ("repository:write", None): "write:repository:bitbucket",
}


@dataclass(frozen=True)
class Principal:
    """A request's authenticated credential: ``kind`` is "oauth", "api_token" or
    "access_token"; ``username`` whose view it has (an access token's own bot account);
    ``scopes`` as the credential names them (granular for an API token)."""

    kind: str
    username: str
    scopes: tuple[str, ...]
    resource: ResourceToken | None = None

    def missing(self, scope: str, endpoint: str | None = None) -> str | None:
        """The scope name to report when this credential lacks the classic ``scope`` (None when
        it has it). ``endpoint`` is "user" or "workspaces" for the account endpoints."""
        if self.kind == "api_token":
            needed = GRANULAR.get((scope, endpoint if scope == "account" else None), scope)
            return None if needed in self.scopes else needed
        return None if scope in expand_scopes(list(self.scopes)) else scope

    def sees(self, ws: Workspace, repo: Repo | None = None) -> bool:
        """Whether the credential reaches ``repo`` of ``ws`` (or, without ``repo``, anything of
        ``ws``): a person as a member of the workspace, an access token within its reach."""
        if self.resource is None:
            return self.username in ws.members
        if repo is not None:
            return self.resource.reaches(repo)
        return self.resource.workspace == ws.slug

    @property
    def is_access_token(self) -> bool:
        return self.kind == "access_token"


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(user, password) of a ``Basic`` Authorization header, or None."""
    if authorization[:6].lower() != "basic ":
        return None
    try:
        user, sep, password = base64.b64decode(authorization[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError):
        return None
    return (user, password) if sep else None


def _api_token_alive(emu: State, token: ApiToken) -> bool:
    return bool(token.scopes) and (token.expires_at is None or emu.clock() < token.expires_at.timestamp())


def rest_principal(emu: State, authorization: str) -> Principal | str:
    """The principal of a REST request, or the 401 message that refuses it."""
    if authorization[:7].lower() == "bearer ":
        value = authorization[7:].strip()
        with emu._lock:
            access = emu._access.get(value)
            resource = emu.world.access_tokens.get(value)
        if access is not None:
            if access.expires_at <= emu.clock():
                return MSG_EXPIRED
            return Principal("oauth", access.username, tuple(access.scopes))
        if resource is not None:
            return Principal("access_token", resource.bot, tuple(resource.scopes), resource)
        return MSG_INVALID_TOKEN  # an API token as Bearer too
    creds = basic_credentials(authorization)
    if creds is None:
        return MSG_INVALID_TOKEN
    user, password = creds
    with emu._lock:
        token = emu.world.api_tokens.get(password)
    # Only the account's email goes with an API token on REST: not its username, not git's user.
    if token is None or not token.email or user.lower() != token.email.lower() or not _api_token_alive(emu, token):
        return MSG_INVALID_TOKEN
    return Principal("api_token", token.username, tuple(token.scopes))


def git_principal(emu: State, authorization: str) -> Principal | None:
    """The principal of git's Basic credentials, or None (git then gets the 401 challenge)."""
    creds = basic_credentials(authorization)
    if creds is None:
        return None
    user, password = creds
    with emu._lock:
        access = emu._access.get(password)
        api_token = emu.world.api_tokens.get(password)
        resource = emu.world.access_tokens.get(password)
    if access is not None:
        if access.expires_at > emu.clock() and user in (TOKEN_GIT_USER, access.username):
            return Principal("oauth", access.username, tuple(access.scopes))
        return None
    if api_token is not None:
        # The email as git's username is refused, as Bitbucket does: 401.
        if user in (API_TOKEN_GIT_USER, api_token.username) and _api_token_alive(emu, api_token):
            return Principal("api_token", api_token.username, tuple(api_token.scopes))
        return None
    if resource is not None and user == TOKEN_GIT_USER:
        return Principal("access_token", resource.bot, tuple(resource.scopes), resource)
    return None
