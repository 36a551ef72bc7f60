"""git's failure (its redacted stderr) turned into the error a person can act on."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from bbwizard.errors import GitError, ScopeError, SignInRequired
from bbwizard.git.env import LOW_SPEED_LIMIT, LOW_SPEED_TIME
from bbwizard.git.progress import _PROGRESS
from bbwizard.secret import printable, redact

if TYPE_CHECKING:  # pragma: no cover
    from bbwizard.config import Profile

# Scopes that let a token read a repository over HTTPS (`repository:admin` does not).
_READ_SCOPES = frozenset({"repository", "repository:write", "pullrequest", "pullrequest:write", "project", "project:write"})


# How a line of bbwizard's credential helper starts on git's stderr (``bbwizard credential``).
_HELPER_SAYS = "bbwizard: "


def has_read_scope(scopes: Iterable[str]) -> bool:
    """True when the scopes let git read (granular names count as their classic ones; a name
    bbwizard doesn't know may well, so it is not taken as missing)."""
    from bbwizard.net import classic_scope

    names = [classic_scope(s.strip()) for s in scopes if s.strip()]
    return None in names or bool(_READ_SCOPES.intersection(names))


def scope_error(scopes: Iterable[str]) -> ScopeError:
    """The core's sentence for a token without the ``repository`` scope."""
    from bbwizard.oauth import check_scopes

    try:
        check_scopes([*scopes, "account"])  # git needs only `repository`; name only that
    except ScopeError as error:
        return error
    return ScopeError("The token lacks the repository scope bbwizard needs.", missing=["repository"])


def sign_in_error(profile_name: str) -> SignInRequired:
    """In the core's words (oauth's "… Sign in again: bbwizard login --profile NAME")."""
    return SignInRequired(
        f"Bitbucket refused the token of profile '{profile_name}': it has expired or was revoked. "
        f"Sign in again: bbwizard login --profile {profile_name}"
    )


def _error_lines(stderr: str) -> list[str]:
    lines = [ln.strip() for ln in re.split(r"[\r\n]", stderr) if ln.strip()]
    return [ln for ln in lines if not re.match(_PROGRESS, printable(ln))]


def _branch_not_found(lines: Sequence[str]) -> bool:
    """git's answer to ``clone --branch B`` for a repository without B ("Remote branch B not found")."""
    low = printable("\n".join(lines)).lower()
    return "remote branch" in low and "not found" in low


def explain_git_failure(
    stderr: str,
    *,
    profile: Profile,
    full_name: str,
    host: str,
    branch: str | None = None,
    action: str = "clone",
    low_speed: tuple[int, int] = (LOW_SPEED_LIMIT, LOW_SPEED_TIME),
) -> GitError | ScopeError | SignInRequired:
    """git's (redacted) stderr as the error a person can act on."""
    text = printable(redact(stderr.replace("\r", "\n")))
    low = text.lower()
    name = getattr(profile, "name", "default")
    auth_failed = (
        "authentication failed" in low
        or "error: 401" in low
        or "could not read username" in low
        or "could not read password" in low
        or "invalid username or password" in low
    )
    forbidden = "error: 403" in low or " 403 " in low
    # bbwizard's own helper (``bbwizard credential``) says why it gave git no token on a line of
    # its own, and answers ``quit=1`` when the sign-in has ended: its sentence is the reason.
    said = [ln[len(_HELPER_SAYS) :].strip() for ln in text.split("\n") if ln.startswith(_HELPER_SAYS)]
    if "told us to quit" in low:
        return SignInRequired(said[-1]) if said else sign_in_error(name)
    if said and auth_failed:
        return GitError(said[-1])
    if auth_failed or forbidden:
        scopes = list(getattr(profile, "scopes", None) or [])
        if scopes and not has_read_scope(scopes):
            return scope_error(scopes)
        if forbidden and not auth_failed:
            return GitError(
                f"Bitbucket refused access to {full_name}: this account can't read it. "
                "Ask a workspace admin for access, or check the workspace and repository names."
            )
        return sign_in_error(name)
    if branch and ("remote branch" in low and "not found" in low):
        return GitError(f"{full_name} has no branch “{branch}”. Leave --branch out for its main branch.")
    if "not found" in low and ("repository" in low or "error: 404" in low):
        return GitError(
            f"{full_name} was not found on {host}, or this account can't see it. "
            "Check the workspace and repository names."
        )
    if "operation too slow" in low or "low speed" in low:
        return GitError(
            f"The {action} of {full_name} stalled (under {low_speed[0]} bytes/s for "
            f"{low_speed[1]} s) and was stopped. Check the connection and try again."
        )
    if "certificate" in low and ("ssl" in low or "tls" in low or "verif" in low):
        return GitError(
            f"The TLS certificate of {host} isn't trusted, so git stopped before sending the token "
            "(bbwizard never turns verification off). If your network inspects TLS, point "
            "SSL_CERT_FILE at your organisation's CA bundle, then try again."
        )
    if "could not resolve host" in low or "failed to connect" in low or "connection refused" in low:
        return GitError(f"Could not reach {host} for {full_name}. Check the connection (or the proxy) and try again.")
    lines = _error_lines(text)
    fatal = [ln for ln in lines if ln.lower().startswith(("fatal:", "error:"))]
    detail = (fatal or lines or ["git gave no reason"])[-1]
    return GitError(f"git could not {action} {full_name}: {detail}")
