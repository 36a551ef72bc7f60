"""git's credential-helper protocol: what ``bbwizard credential get`` reads and answers.

Import cost matters here: git runs ``bbwizard credential get`` on every request it
authenticates, so this module imports only what reading a request and answering it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from urllib.parse import urlsplit

from bbwizard.errors import GitError
from bbwizard.git.refs import _netloc, site_base
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from bbwizard.config import ConfigStore, Profile

GIT_USERNAME = "x-token-auth"


def parse_credential_request(text: str) -> dict[str, str]:
    """git's ``key=value`` lines up to a blank line or the end. Repeated ``key[]`` keys keep the
    last value (bbwizard needs none of them)."""
    request: dict[str, str] = {}
    for line in text.splitlines():
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


def _usernames(profile: Profile) -> set[str] | None:
    """Usernames git may bring for this profile's account; None when the account is unknown."""
    user = getattr(profile, "user", None)
    names = {getattr(user, attr, None) for attr in ("username", "nickname")} - {None, ""}
    return {GIT_USERNAME, *map(str, names)} if names else None


def credential_answer(profile: Profile, request: Mapping[str, str]) -> dict[str, str] | None:
    """The answer for a ``get`` when the request is for this profile's site, else None. Pure."""
    if not request_matches(request, profile.site_url):
        return None
    asked_user = request.get("username")
    known = _usernames(profile)
    if asked_user and asked_user != GIT_USERNAME and known is not None and asked_user not in known:
        return None  # the URL names another account: not ours to answer
    token = getattr(profile, "access_token", None)
    if not token:
        return None
    answer = {"username": GIT_USERNAME, "password": token.reveal()}
    expires_at = getattr(profile, "expires_at", None)
    if isinstance(expires_at, datetime):
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=timezone.utc)
        answer["password_expiry_utc"] = str(int(expires_at.timestamp()))
    return answer


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
