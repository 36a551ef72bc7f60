"""git's credential-helper protocol: what ``bbwizard credential get`` reads and answers.

Import cost matters here: git runs ``bbwizard credential get`` on every request it
authenticates, so this module imports only what reading a request and answering it needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bbwizard.errors import GitError
from bbwizard.git.refs import _netloc, site_base

if TYPE_CHECKING:  # pragma: no cover
    from bbwizard.config import ConfigStore, Profile

#: git's username for an OAuth or access token; an API token's is ``x-bitbucket-api-token-auth``
#: (``Profile.git_username``). Never the email: Bitbucket refuses it for git.
GIT_USERNAME = "x-token-auth"


def parse_credential_request(text: str) -> dict[str, str]:
    """git's ``key=value`` lines up to a blank line or the end. Repeated ``key[]`` keys keep the
    last value (bbwizard needs none of them)."""
    request: dict[str, str] = {}
    # Lines end at "\n" alone, as git writes them: str.splitlines() would also split a value at
    # U+2028, U+0085 or a form feed, and a path holding "\u2028host=bitbucket.org" would then name
    # the host bbwizard answers for.
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if not line.strip():
            break
        key, sep, value = line.partition("=")
        if not sep:
            continue
        request[key.strip()] = value
    return request


def read_credential_request(stream) -> dict[str, str]:  # noqa: ANN001 - a text stream
    lines = []
    for line in stream:
        if not line.strip():
            break
        lines.append(line.rstrip("\r\n"))
    return parse_credential_request("\n".join(lines))


def format_credential(answer: Mapping[str, str]) -> str:
    for key, value in answer.items():
        if "\n" in key or "\n" in value or "=" in key or "\x00" in value or "\r" in value:
            raise GitError("Refusing to answer git with a value that holds a newline or NUL.")
    return "".join(f"{key}={value}\n" for key, value in answer.items())


def request_matches(request: Mapping[str, str], site_url: str) -> bool:
    """Does git's request name the profile's site (scheme, host and port)?"""
    protocol = request.get("protocol", "").lower()
    host = request.get("host", "")
    if not protocol or not host:
        return False
    site = urlsplit(site_base(site_url))
    try:
        asked = urlsplit(f"{protocol}://{host}")
        asked_netloc = _netloc(protocol, asked.hostname or "", asked.port)
    except ValueError:
        return False
    return protocol == site.scheme and asked_netloc == site.netloc


def _account_names(profile: Profile) -> set[str]:
    """The names of the profile's account that a clone URL may carry (empty when unknown)."""
    user = getattr(profile, "user", None)
    names = {str(name) for name in (getattr(user, attr, None) for attr in ("username", "nickname")) if name}
    if getattr(profile, "kind", "oauth") == "api_token" and profile.email:
        # A clone URL with the email as user: answered with x-bitbucket-api-token-auth, which
        # replaces it in git (Bitbucket refuses the email as git's username).
        names.add(profile.email)
    return names


def answer_for(
    request: Mapping[str, str],
    site_url: str,
    token: str,
    expires_at: datetime | None,
    account_names: Iterable[str],
    username: str = GIT_USERNAME,
) -> dict[str, str] | None:
    """The answer for a ``get`` when the request is for ``site_url`` and, when it names a user, for
    ``username`` (git's username for the profile's kind) or the account (``account_names``; any
    user when that is empty); else None.
    Pure: the fast road (a token read by :mod:`bbwizard.freshtoken`) and the full one (a Profile)
    both answer here."""
    if not request_matches(request, site_url):
        return None
    asked_user = request.get("username")
    known = {username, *account_names}
    if asked_user and len(known) > 1 and asked_user not in known:
        return None  # the URL names another account: not ours to answer
    if not token:
        return None
    answer = {"username": username, "password": token}
    if isinstance(expires_at, datetime):
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=timezone.utc)
        answer["password_expiry_utc"] = str(int(expires_at.timestamp()))
    return answer


def credential_answer(profile: Profile, request: Mapping[str, str]) -> dict[str, str] | None:
    """The answer for a ``get`` when the request is for this profile's site, else None. Pure."""
    token = getattr(profile, "access_token", None)
    if getattr(profile, "is_token_kind", False):
        expires_at = profile.token_expiry()  # an API token's expiry date; None for an access token
    else:
        expires_at = getattr(profile, "expires_at", None)
    return answer_for(request, profile.site_url, token.reveal() if token else "", expires_at,
                      _account_names(profile), getattr(profile, "git_username", GIT_USERNAME))


def fresh_credential_get(request: Mapping[str, str], name: str | None = None, config_path: str | None = None) -> dict[str, str] | None:
    """The answer from a plainly fresh stored token, read without :mod:`bbwizard.config`; None
    whenever :func:`credential_get` must decide (a stale token, an ended sign-in, another host or
    account, anything unusual in the file). git runs this on every fetch
    (``benchmarks/bench_credential.py``)."""
    from bbwizard.freshtoken import read_fresh_token

    fresh = read_fresh_token(name, config_path)
    if fresh is None or fresh.site_url is None:
        return None
    return answer_for(request, fresh.site_url, fresh.token, fresh.expires_at, fresh.usernames, fresh.git_username)


def credential_get(store: ConfigStore, request: Mapping[str, str], name: str | None = None) -> dict[str, str] | None:
    """Answer git's ``get``: a fresh token for the profile's site, refreshed when stale.

    Returns None when the request is for another host (git then asks its next helper). Raises
    SignInRequired when the token can't be refreshed.
    """
    profile = store.get(name)
    if not request_matches(request, profile.site_url):
        return None
    if profile.token_state() != "fresh":  # oauth (and on refresh httpx) only when needed: git waits
        from bbwizard.oauth import ensure_fresh

        profile = ensure_fresh(store, profile.name)
    return credential_answer(profile, request)
