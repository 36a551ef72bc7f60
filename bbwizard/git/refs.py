"""What a person types to name a repository, and the site's clone URLs.

``parse_repository_ref`` reads ``ws/repo``, an https clone or web URL or an SSH address; names are
checked to be single path components, so nothing typed can become an option of git or a path
outside the destination folder.
"""

from __future__ import annotations

import re
import unicodedata
from collections import namedtuple
from urllib.parse import quote, unquote, urlsplit

from bbwizard.errors import UsageError
from bbwizard.secret import redact


class RepositoryRef(namedtuple("RepositoryRef", "workspace slug")):
    """A repository named by its workspace and slug; unpacks as ``(workspace, slug)``."""

    __slots__ = ()

    @property
    def full_name(self) -> str:
        return f"{self.workspace}/{self.slug}"


# Path segments after ws/repo in a Bitbucket web address a person may paste from the browser.
_WEB_SEGMENTS = frozenset(
    {"src", "branch", "branches", "commits", "commit", "pull-requests", "downloads", "overview", "browse"}
)
_BARE_HOST = r"^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?$"
_SCP_LIKE = r"^(?:(?P<user>[^@/\s]+)@)?(?P<host>[A-Za-z0-9.\-]+):(?P<path>(?!//).+)$"


def _ref_help(text: str) -> str:
    shown = redact(text.strip())
    if len(shown) > 80:
        shown = shown[:77] + "…"
    return (
        f"“{shown}” is not a repository bbwizard can clone. Give WORKSPACE/REPO (for example "
        "acme/website) or the repository's clone URL (https://bitbucket.org/acme/website.git)."
    )


def _check_name(part: str, text: str) -> str:
    """One workspace or slug: a single, harmless path component."""
    part = unicodedata.normalize("NFC", part)
    if part in ("", ".", "..") or part.strip() != part:
        raise UsageError(_ref_help(text))
    for char in part:
        if char in "/\\:*?\"<>|%#" or unicodedata.category(char)[0] in ("C", "Z"):
            raise UsageError(_ref_help(text))
    return part


def _split_path(path: str, text: str, *, allow_web: bool) -> RepositoryRef:
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if len(parts) > 2 and allow_web and parts[2] in _WEB_SEGMENTS:
        parts = parts[:2]
    if len(parts) != 2:
        raise UsageError(_ref_help(text))
    workspace, slug = parts
    if slug.endswith(".git"):
        slug = slug[: -len(".git")]
    return RepositoryRef(_check_name(workspace, text), _check_name(slug, text))


def _site_host(host: str) -> str:
    """The web host behind an SSH host: ``ssh.bitbucket.org`` serves ``bitbucket.org``."""
    host = host.lower()
    return host[len("ssh.") :] if host.startswith("ssh.") else host


def parse_repository_ref(text: str, *, site_url: str | None = None) -> RepositoryRef:
    """Read ``ws/repo``, an https clone or web URL, or an SSH address into a :class:`RepositoryRef`.

    With ``site_url``, a URL that points at another host is refused (the profile can't sign in
    there). Names are checked to be single path components, so nothing from the input can become
    an option of git or a path outside the destination folder.
    """
    raw = text
    text = text.strip()
    if not text or "\n" in text or "\x00" in text:
        raise UsageError(_ref_help(raw))
    host: str | None = None
    if "://" in text:
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            raise UsageError(_ref_help(raw)) from None
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http", "ssh", "git+ssh") or not parts.hostname:
            raise UsageError(_ref_help(raw))
        if parts.query or parts.fragment:
            raise UsageError(_ref_help(raw))
        if scheme in ("https", "http"):
            host = _netloc(scheme, parts.hostname, port)
            ref = _split_path(parts.path, raw, allow_web=True)
        else:
            host = _site_host(parts.hostname)
            ref = _split_path(parts.path, raw, allow_web=False)
    elif (match := re.match(_SCP_LIKE, text)) and "." in match["host"]:
        host = _site_host(match["host"])
        ref = _split_path(match["path"], raw, allow_web=False)
    elif text.count("/") >= 2 and re.match(_BARE_HOST, text.split("/", 1)[0]):  # bitbucket.org/ws/repo
        return parse_repository_ref("https://" + text, site_url=site_url)
    else:
        ref = _split_path(text, raw, allow_web=False)
    if site_url and host is not None:
        site = urlsplit(site_url)
        wanted = _netloc(site.scheme, site.hostname or "", site.port)
        if host not in (wanted, (site.hostname or "").lower()):
            raise UsageError(
                f"{ref.full_name} is on {host}, but this profile signs in to {wanted}. "
                "Use a profile for that site, or give WORKSPACE/REPO."
            )
    return ref


def _netloc(scheme: str, hostname: str, port: int | None) -> str:
    if hostname.isascii() and not hostname.endswith("."):
        hostname = hostname.lower()
    else:  # the one normaliser (IDNA, Unicode full stops, trailing dot); rare, so imported here
        from bbwizard.net import normalise_host

        hostname = normalise_host(hostname)
    if ":" in hostname:  # IPv6 literal
        hostname = f"[{hostname}]"
    default = {"https": 443, "http": 80}.get(scheme.lower())
    return hostname if port in (None, default) else f"{hostname}:{port}"


def site_base(site_url: str) -> str:
    """The site URL as git's config and credential matching want it: scheme://host[:port]."""
    parts = urlsplit(site_url.strip())
    if parts.scheme.lower() not in ("https", "http") or not parts.hostname:
        raise UsageError(f"The profile's site URL {site_url!r} is not an http(s) address.")
    return f"{parts.scheme.lower()}://{_netloc(parts.scheme, parts.hostname, parts.port)}"


def clone_url(site_url: str, workspace: str, slug: str) -> str:
    """``{site}/{ws}/{slug}.git``, with no credentials in it."""
    return f"{site_base(site_url)}/{quote(workspace, safe='')}/{quote(slug, safe='')}.git"
