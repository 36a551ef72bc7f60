"""git: clones that never leak the token, and the credential helper that keeps them working.

The token reaches git through one door only: a credential helper that is bbwizard itself. For a
clone it is injected for that one process with ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/
``GIT_CONFIG_VALUE_n``, after an empty value that resets the host's helper list, so a person's own
``store`` helper or Git Credential Manager never sees the token. The same two lines (a command,
never a secret) are written into the new repository's ``.git/config`` so ``git pull`` keeps working
after the token expires: the helper refreshes it.

This module is core: it never prints. Progress leaves as small event records through a
callback; failures leave as :mod:`bbwizard.errors`, with git's stderr redacted.

Import cost matters here: ``bbwizard credential get`` imports this module on every git request, so
``asyncio`` and friends are imported inside the functions that run a subprocess.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
import unicodedata
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from bbwizard.errors import (
    CloneCancelled,
    DestinationExists,
    GitError,
    ScopeError,
    SignInRequired,
    UsageError,
)
from bbwizard.records import Record
from bbwizard.secret import printable, redact

TYPE_CHECKING = False  # typing costs every `bbwizard credential get` a few ms; annotations are strings
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from bbwizard.config import ConfigStore, Profile

GIT_USERNAME = "x-token-auth"

# Scopes that let a token read a repository over HTTPS (`repository:admin` does not).
_READ_SCOPES = frozenset({"repository", "repository:write", "pullrequest", "pullrequest:write", "project", "project:write"})

# Stall guard: abort when fewer than LIMIT bytes/s flow for TIME seconds.
LOW_SPEED_LIMIT = 1000
LOW_SPEED_TIME = 60

# How long git gets to clean up after SIGTERM before it is killed.
TERMINATE_GRACE = 5.0

# Environment a clone must not inherit: askpass programs would prompt (or leak) outside our
# control; tracing would print the Authorization header; a parent git's GIT_DIR & co would point
# the clone at the wrong repository; a parent git's -c parameters would come after our reset.
_DROPPED_ENV_PREFIXES = ("GIT_TRACE",)
_DROPPED_ENV = frozenset(
    {
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "GIT_CURL_VERBOSE",
        "GIT_SSL_NO_VERIFY",  # TLS verification is never switched off (security.md 19)
        "GIT_CONFIG_PARAMETERS",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
        "GIT_COMMON_DIR",
        "GIT_CEILING_DIRECTORIES",
        "GIT_TERMINAL_PROMPT",
        "GIT_HTTP_LOW_SPEED_LIMIT",
        "GIT_HTTP_LOW_SPEED_TIME",
        "LC_ALL",
        "LANGUAGE",
    }
)


# --------------------------------------------------------------------------------------------
# Repository references


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
    hostname = hostname.lower()
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


# --------------------------------------------------------------------------------------------
# The helper command and the environment of a clone


def bbwizard_argv() -> list[str]:
    """The command that starts this bbwizard again: the ``bbwizard`` script pip installed beside
    this interpreter (for this same environment), else ``python -m bbwizard``. The script spares
    each start runpy's imports, a few ms of every credential request git makes."""
    here = os.path.dirname(sys.executable)
    script = os.path.join(here, "bbwizard")
    if os.name == "posix" and here:
        try:
            with open(script, "rb") as handle:
                first = handle.readline(4096)
        except OSError:
            first = b""
        interpreter = first[2:].strip().decode("utf-8", "replace") if first.startswith(b"#!") else ""
        if os.path.dirname(interpreter) == here and os.access(script, os.X_OK):
            return [script]
    return [sys.executable, "-m", "bbwizard"]


def helper_command(profile_name: str, *, config_path: str | os.PathLike[str] | None = None) -> str:
    """The credential helper value git runs (through its shell): bbwizard itself, never a secret."""
    words = [*bbwizard_argv(), "credential", "--profile", profile_name]
    if config_path is not None:
        words += ["--config", os.fspath(config_path)]
    return "!" + " ".join(shlex.quote(word) for word in words)


def helper_key(site_url: str) -> str:
    return f"credential.{site_base(site_url)}.helper"


def helper_config(site_url: str, profile_name: str, *, config_path: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """Config entries, in order: reset the host's helper list, then point it at bbwizard."""
    key = helper_key(site_url)
    return [(key, ""), (key, helper_command(profile_name, config_path=config_path))]


def git_env(
    config: Sequence[tuple[str, str]] = (),
    *,
    base: Mapping[str, str] | None = None,
    low_speed_limit: int = LOW_SPEED_LIMIT,
    low_speed_time: int = LOW_SPEED_TIME,
) -> dict[str, str]:
    """The environment for a git child: no prompts, no tracing, C locale, the stall guard, and
    ``config`` injected for that process alone after any ``GIT_CONFIG_*`` the person set."""
    source = dict(os.environ if base is None else base)
    env = {
        k: v
        for k, v in source.items()
        if k not in _DROPPED_ENV and not k.startswith(_DROPPED_ENV_PREFIXES)
    }
    try:
        count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    except ValueError:
        count = 0
    if count < 0:
        count = 0
    for index, (key, value) in enumerate(config, start=count):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env["GIT_CONFIG_COUNT"] = str(count + len(config))
    # One CA bundle setting for httpx and git alike (security.md 19): httpx reads SSL_CERT_FILE and
    # SSL_CERT_DIR; git's libcurl, built with a bundle of its own, ignores them.
    if env.get("SSL_CERT_FILE") and not env.get("GIT_SSL_CAINFO"):
        env["GIT_SSL_CAINFO"] = env["SSL_CERT_FILE"]
    if env.get("SSL_CERT_DIR") and not env.get("GIT_SSL_CAPATH"):
        env["GIT_SSL_CAPATH"] = env["SSL_CERT_DIR"]
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GCM_INTERACTIVE"] = "never"
    env["LC_ALL"] = "C"
    env["GIT_HTTP_LOW_SPEED_LIMIT"] = str(low_speed_limit)
    env["GIT_HTTP_LOW_SPEED_TIME"] = str(low_speed_time)
    env["GIT_PROGRESS_DELAY"] = "0"
    return env


def _is_loopback(hostname: str) -> bool:
    hostname = hostname.strip("[]").lower()
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def bypass_proxy_for_loopback(env: dict[str, str], site_url: str) -> dict[str, str]:
    """Add a loopback site (the emulator) to ``NO_PROXY``/``no_proxy`` for git's libcurl, which,
    unlike bbwizard's httpx, would send it (and the token) through ``http_proxy`` (security.md 19)."""
    hostname = (urlsplit(site_url).hostname or "").strip("[]")
    if not hostname or not _is_loopback(hostname):
        return env
    for key in ("NO_PROXY", "no_proxy"):
        current = [part.strip() for part in env.get(key, "").split(",") if part.strip()]
        if hostname not in current:
            env[key] = ",".join([*current, hostname])
    return env


def clone_config(site_url: str, profile_name: str, *, config_path: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """What a clone injects: the helper reset and bbwizard's helper for the host, an empty
    ``core.askPass`` so a configured askpass program can't be asked either, and TLS verification
    on whatever a config file says (the token must not go to a host nobody verified)."""
    return [
        *helper_config(site_url, profile_name, config_path=config_path),
        ("core.askPass", ""),
        ("http.sslVerify", "true"),
    ]


# --------------------------------------------------------------------------------------------
# Progress events


class CloneProgress(
    namedtuple(
        "CloneProgress",
        "phase percent done total finished remote received rate",
        defaults=(False, False, None, None),
    )
):
    """A step of git's progress: ``phase`` is git's own words ("Receiving objects"); ``percent``,
    ``done`` and ``total`` may be None; ``received`` ("1.20 MiB") and ``rate`` ("1.00 MiB/s") come
    while receiving."""

    __slots__ = ()

    @property
    def overall(self) -> float:
        """One 0–100 figure for a single bar: where this phase sits in a whole clone."""
        low, high = _PHASE_SPAN.get(self.phase.lower(), (0.0, 0.0))
        if self.finished:
            return high
        share = (self.percent or 0) / 100
        return round(low + (high - low) * share, 1)


class CloneOutput(namedtuple("CloneOutput", "text")):
    """A line of git's output that is not progress ("Cloning into …", warnings), redacted."""

    __slots__ = ()


CloneEvent = CloneProgress | CloneOutput

_PHASE_SPAN = {
    "enumerating objects": (0.0, 2.0),
    "counting objects": (2.0, 5.0),
    "compressing objects": (5.0, 10.0),
    "receiving objects": (10.0, 80.0),
    "resolving deltas": (80.0, 90.0),
    "checking connectivity": (90.0, 91.0),
    "checking objects": (90.0, 91.0),
    "updating files": (91.0, 100.0),
    "checking out files": (91.0, 100.0),
    "filtering content": (91.0, 100.0),
}

_PROGRESS = (
    r"^(?P<remote>remote:\s*)?(?P<phase>[A-Z][A-Za-z ]*?):\s+"
    r"(?:(?P<percent>\d{1,3})%\s+\((?P<done>\d+)/(?P<total>\d+)\)|(?P<count>\d+))"
    r"(?P<rest>.*)$"
)
_RECEIVED = r",\s*(?P<received>[\d.]+ [KMGT]?i?B)\s*\|\s*(?P<rate>[\d.]+ [KMGT]?i?B/s)"
def parse_progress_line(line: str) -> CloneEvent | None:
    """One piece of git's stderr (already split on ``\\r``/``\\n``) as an event, or None if blank."""
    line = printable(line).strip()
    if not line:
        return None
    match = re.match(_PROGRESS, line)
    if match and match["phase"].lower() in _PHASE_SPAN:
        rest = match["rest"] or ""
        finished = "done" in rest
        if match["percent"] is not None:
            percent, done, total = int(match["percent"]), int(match["done"]), int(match["total"])
        else:
            percent, done, total = (100 if finished else None), int(match["count"]), None
        received = rate = None
        if got := re.search(_RECEIVED, rest):
            received, rate = got["received"], got["rate"]
        return CloneProgress(
            phase=match["phase"],
            percent=percent,
            done=done,
            total=total,
            finished=finished,
            remote=bool(match["remote"]),
            received=received,
            rate=rate,
        )
    return CloneOutput(redact(line))


class ProgressSplitter:
    """Cuts git's stderr stream into pieces on ``\\r`` and ``\\n``, across read boundaries."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, chunk: str) -> list[str]:
        pieces = re.split(r"[\r\n]", self._pending + chunk)
        self._pending = pieces.pop()
        return [p for p in pieces if p.strip()]

    def flush(self) -> list[str]:
        rest, self._pending = self._pending, ""
        return [rest] if rest.strip() else []


# --------------------------------------------------------------------------------------------
# Turning git's failure into a sentence


def has_read_scope(scopes: Iterable[str]) -> bool:
    return bool(_READ_SCOPES.intersection(s.strip() for s in scopes))


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


# --------------------------------------------------------------------------------------------
# Clone


class CloneResult(Record):
    _fields = ("workspace", "slug", "path", "ok", "branch", "size_bytes", "seconds", "error", "exception", "missing_branch")
    _hidden = frozenset({"exception"})

    def __init__(
        self,
        workspace: str,
        slug: str,
        path: Path,
        ok: bool,
        branch: str | None = None,
        size_bytes: int | None = None,
        seconds: float = 0.0,
        error: str | None = None,
        exception: BaseException | None = None,
        missing_branch: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.slug = slug
        self.path = path
        self.ok = ok
        self.branch = branch
        self.size_bytes = size_bytes
        self.seconds = seconds
        self.error = error
        self.exception = exception
        # The branch asked for that the repository doesn't have, when the clone fell back to its
        # main branch (``branch_fallback``); None otherwise.
        self.missing_branch = missing_branch

    @property
    def full_name(self) -> str:
        return f"{self.workspace}/{self.slug}"


ProgressCallback = Callable[[CloneEvent], None]


def prepare_destination(dest: str | os.PathLike[str]) -> tuple[Path, bool]:
    """Make ``dest`` absolute and claim it. Returns (path, created_by_us).

    A folder that exists and is not empty, or a file, is refused before anything starts. A new
    folder is created here with ``mkdir`` (atomic), so "created by this clone" is certain.
    """
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(dest))))
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise DestinationExists(f"{path} exists and is not a folder. Choose another destination.")
        if any(path.iterdir()):
            raise DestinationExists(
                f"{path} already exists and is not empty. Choose another destination, or remove it first."
            )
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir()
    except FileExistsError:
        raise DestinationExists(
            f"{path} appeared while the clone was starting. Choose another destination."
        ) from None
    return path, True


def destination_problems(
    destinations: Sequence[str | os.PathLike[str] | None], *, base: str | os.PathLike[str] | None = None
) -> list[str | None]:
    """Judge clone destinations before anything starts: for each, None when a clone could go
    there, else a short sentence saying why not. Only looks (stat and access, no folder is made),
    so a form can ask as the person types.

    Refused: an empty destination; one that exists as a file or as a folder that is not empty; one
    whose nearest existing parent is a file or can't be written to; two destinations that are one
    folder, or one inside the other. Relative paths are read from ``base`` (default: the current
    folder), ``~`` is the home folder.
    """
    root = os.path.abspath(os.path.expanduser(os.fspath(base))) if base is not None else os.getcwd()
    paths: list[Path | None] = []
    for dest in destinations:
        text = os.fspath(dest).strip() if dest is not None else ""
        paths.append(Path(os.path.abspath(os.path.join(root, os.path.expanduser(text)))) if text else None)
    # Compared where they really lead: a symlinked folder and its target are one folder.
    real = [path.resolve(strict=False) if path is not None else None for path in paths]
    problems: list[str | None] = []
    for index, path in enumerate(real):
        if path is None:
            problems.append("Give a folder to clone into.")
            continue
        problem = _destination_problem(paths[index])
        if problem is None:
            for other, elsewhere in enumerate(real):
                if other == index or elsewhere is None:
                    continue
                if elsewhere == path:
                    problem = f"Row {other + 1} clones into this folder too. Choose another one."
                elif elsewhere in path.parents or path in elsewhere.parents:
                    problem = f"This folder and row {other + 1}'s are one inside the other. Choose another one."
                if problem:
                    break
        problems.append(problem)
    return problems


def _destination_problem(path: Path) -> str | None:
    try:
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                return "This is a file, not a folder. Choose another destination."
            if any(path.iterdir()):
                return "This folder exists and is not empty. Choose another one, or empty it first."
            if not os.access(path, os.W_OK | os.X_OK):
                return "You can't write into this folder. Choose another one."
            return None
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            return f"{parent} is a file, so no folder can be made under it."
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"You can't make folders in {parent}. Choose a folder you can write to."
    except OSError as error:
        return f"This folder can't be used: {error.strerror or error}."
    return None


def _remove_destination(path: Path, created: bool) -> None:
    import shutil

    if created:
        shutil.rmtree(path, ignore_errors=True)
        return
    # It existed empty before: everything inside is ours.
    if path.is_dir():
        for child in path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                try:
                    child.unlink()
                except OSError:
                    pass


def folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def current_branch(repo: Path) -> str | None:
    """The checked-out branch, read from .git/HEAD (no subprocess)."""
    try:
        head = (repo / ".git" / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    prefix = "ref: refs/heads/"
    return head[len(prefix) :] if head.startswith(prefix) else None


def _config_path_for(store: ConfigStore | None) -> str | None:
    """The config file to name in the helper command when it isn't the one found by default.

    The helper in a repository's .git/config runs days later, from a shell that may not have the
    ``BBWIZARD_CONFIG`` of today; naming a non-default file keeps it pointing at the right one.
    """
    path = getattr(store, "path", None)
    if path is None:
        return None
    if os.environ.get("BBWIZARD_CONFIG"):  # an override today may be gone tomorrow: name the file
        return os.path.abspath(os.fspath(path))
    from bbwizard.paths import user_config_dir

    absolute = os.path.abspath(os.fspath(path))
    if absolute == os.path.abspath(os.path.join(user_config_dir(), "config.toml")):
        return None
    return absolute


async def _terminate(proc) -> None:  # noqa: ANN001 - asyncio.subprocess.Process
    import asyncio
    import signal

    if proc.returncode is not None:
        return
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
    except ProcessLookupError:
        return
    try:
        await asyncio.wait_for(proc.wait(), TERMINATE_GRACE)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        _kill_now(proc)
        await proc.wait()


def _kill_now(proc) -> None:  # noqa: ANN001
    import signal

    if proc.returncode is not None:
        return
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:
        pass


async def _fresh_profile(profile: Profile, store: ConfigStore | None, *, force: bool = False) -> Profile:
    if store is None:
        return profile
    import asyncio

    if not force:
        current = store.get(profile.name)
        if current.token_state() == "fresh":  # the common case: no oauth, no thread
            return current
    from bbwizard.oauth import ensure_fresh

    return await asyncio.to_thread(lambda: ensure_fresh(store, profile.name, force=force))


_ANSWER_FIFO = "credential"
_DONE_FIFO = "read"


def _private_folder(prefix: str) -> str:
    """A new folder of mode 0700 in the temporary folder, made as ``tempfile.mkdtemp`` makes it
    (a random name, never an existing folder) without importing tempfile, which brings random,
    shutil, bz2 and lzma: a few ms of every ``bbwizard clone``. POSIX only, as the pipe."""
    base = os.environ.get("TMPDIR") or "/tmp"
    for _ in range(100):
        path = os.path.join(base, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free name for a temporary folder in {base}")


class CredentialPipe:
    """Answers git's ``get`` for one clone from this process, through a private FIFO.

    Starting Python for bbwizard's helper costs a clone a fifth of a second; during a clone the
    fresh token is already here. So the clone's injected helper is a shell function that ``cat``s a
    FIFO in a 0700 folder while a thread writes the answer into it, then opens a second FIFO to say
    it has read everything (without that handshake a second answer could reach the same ``cat``).
    The token goes through a kernel pipe only: never argv, never the environment, never a file on
    disk. The FIFOs and their folder are removed when the clone ends. POSIX only.

    This side opens the FIFOs through a descriptor of the folder taken when it was made, never by
    path: if the folder's name were swapped for another folder (a temp folder without the sticky
    bit lets another user rename it), the token would still go only into our own FIFO.
    """

    def __init__(self, answer: Callable[[], str]) -> None:
        import threading

        self._answer = answer
        #: Why the last answer could not be given (git then got an empty one), for the caller.
        self.error: BaseException | None = None
        self._folder = _private_folder("bbwizard-git-")
        self.path = os.path.join(self._folder, "credential")
        self.done_path = os.path.join(self._folder, "read")
        self._dir_fd = -1
        try:
            self._dir_fd = os.open(self._folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
            info = os.fstat(self._dir_fd)
            if info.st_uid != os.geteuid() or info.st_mode & 0o077:
                raise PermissionError(f"{self._folder} is not private")
            os.mkfifo(_ANSWER_FIFO, 0o600, dir_fd=self._dir_fd)
            os.mkfifo(_DONE_FIFO, 0o600, dir_fd=self._dir_fd)
        except BaseException:  # a filesystem without FIFOs: leave nothing behind
            import shutil

            if self._dir_fd >= 0:
                os.close(self._dir_fd)
                self._dir_fd = -1
            shutil.rmtree(self._folder, ignore_errors=True)
            raise
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="bbwizard-credential-pipe", daemon=True)
        self._thread.start()

    @staticmethod
    def available() -> bool:
        return (
            os.name == "posix"
            and hasattr(os, "mkfifo")
            and os.mkfifo in os.supports_dir_fd
            and os.open in os.supports_dir_fd
        )

    def _open(self, name: str, flags: int) -> int:
        return os.open(name, flags, dir_fd=self._dir_fd)

    @property
    def helper(self) -> str:
        """The helper value: answers ``get`` from the pipe, ignores ``store`` and ``erase``."""
        answer, done = shlex.quote(self.path), shlex.quote(self.done_path)
        return f'!f() {{ test "$1" = get && cat {answer} && : > {done}; }}; f'

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                fd = self._open(_ANSWER_FIFO, os.O_WRONLY)  # blocks until a helper opens the FIFO
            except OSError:
                return
            try:
                if self._closed.is_set():
                    return
                try:
                    data = self._answer().encode()
                except Exception as error:  # noqa: BLE001 - the thread must live to finish the handshake
                    # Dying here would leave the helper waiting on the second FIFO, and git on the
                    # helper, forever. Answer nothing (git then fails) and keep the reason.
                    self.error = error
                    data = b""
                while data:
                    data = data[os.write(fd, data) :]
            except OSError:  # the reader went away
                pass
            finally:
                os.close(fd)
            try:
                done = self._open(_DONE_FIFO, os.O_RDONLY)  # blocks until the helper has read it all
            except OSError:
                return
            try:
                while os.read(done, 64):
                    pass
            finally:
                os.close(done)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        # Wake the thread wherever it waits (in open() of either FIFO), until it has gone.
        deadline = time.monotonic() + 5
        while self._thread.is_alive() and time.monotonic() < deadline:
            for name, flags in ((_ANSWER_FIFO, os.O_RDONLY), (_DONE_FIFO, os.O_WRONLY)):
                try:
                    os.close(self._open(name, flags | os.O_NONBLOCK))
                except OSError:
                    pass
            self._thread.join(timeout=0.05)
        for name in (_ANSWER_FIFO, _DONE_FIFO):
            try:
                os.unlink(name, dir_fd=self._dir_fd)
            except OSError:
                pass
        if not self._thread.is_alive():  # else it may still use it: leave it (and one fd) open
            os.close(self._dir_fd)
            self._dir_fd = -1
        try:
            os.rmdir(self._folder)  # empty now; a folder with anything in it is not ours
        except OSError:
            pass


def _pipe_answer(holder: list[Profile]) -> Callable[[], str]:
    def answer() -> str:
        profile = holder[0]
        site = urlsplit(site_base(profile.site_url))
        reply = credential_answer(profile, {"protocol": site.scheme, "host": site.netloc}) or {}
        return format_credential(reply)

    return answer


async def _run_git_clone(argv: list[str], env: dict[str, str], on_progress: ProgressCallback | None) -> tuple[int, list[str]]:
    """Run one ``git clone``; returns (exit code, kept output lines). Stops git if interrupted."""
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        # Its own process group: Ctrl+C reaches us, and we stop git and its helpers together.
        start_new_session=(os.name == "posix"),
    )
    try:
        splitter = ProgressSplitter()
        kept: list[str] = []
        assert proc.stderr is not None
        while True:
            chunk = await proc.stderr.read(8192)
            if not chunk:
                break
            for piece in splitter.feed(chunk.decode("utf-8", "replace")):
                _emit(piece, on_progress, kept)
        for piece in splitter.flush():
            _emit(piece, on_progress, kept)
        code = await proc.wait()
        return code, kept
    except BaseException:
        try:
            await _terminate(proc)
        finally:
            _kill_now(proc)
        raise


def _run_git_clone_sync(argv: list[str], env: dict[str, str], on_progress: ProgressCallback | None) -> tuple[int, list[str]]:
    """:func:`_run_git_clone` without an event loop, for the command's single clone: the same
    child (no stdin, its own process group, stderr read as it comes); stopped if interrupted."""
    import codecs
    import subprocess

    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=(os.name == "posix"),
    )
    try:
        assert proc.stderr is not None
        stderr = proc.stderr.fileno()
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        splitter = ProgressSplitter()
        kept: list[str] = []
        while True:
            chunk = os.read(stderr, 8192)
            if not chunk:
                break
            for piece in splitter.feed(decoder.decode(chunk)):
                _emit(piece, on_progress, kept)
        for piece in splitter.feed(decoder.decode(b"", final=True)) + splitter.flush():
            _emit(piece, on_progress, kept)
        code = proc.wait()
        return code, kept
    except BaseException:
        try:
            _terminate_sync(proc)
        finally:
            _kill_now(proc)
        raise
    finally:
        if proc.stderr is not None:
            proc.stderr.close()


def _terminate_sync(proc) -> None:  # noqa: ANN001 - subprocess.Popen
    import signal
    import subprocess

    if proc.poll() is not None:
        return
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
    except ProcessLookupError:
        return
    try:
        proc.wait(TERMINATE_GRACE)
    except subprocess.TimeoutExpired:
        _kill_now(proc)
        proc.wait()


def _fresh_profile_sync(profile: Profile, store: ConfigStore | None, *, force: bool = False) -> Profile:
    if store is None:
        return profile
    if not force:
        current = store.get(profile.name)
        if current.token_state() == "fresh":
            return current
    from bbwizard.oauth import ensure_fresh

    return ensure_fresh(store, profile.name, force=force)


# Options ``bbwizard clone … -- OPTIONS`` hands to ``git clone`` (placed after bbwizard's own and
# before its ``--``). An allowlist: git's option parser takes unique abbreviations (``--sep`` is
# ``--separate-git-dir``) and gains options with every release, so anything not named here is
# refused rather than guessed about. None of these can add an address or move the destination.
_PASSED_FLAGS = frozenset(
    {
        "--single-branch", "--no-single-branch", "--no-tags", "--tags", "--sparse", "--no-checkout", "-n",
        "--recurse-submodules", "--recursive", "--no-recurse-submodules", "--shallow-submodules",
        "--no-shallow-submodules", "--remote-submodules", "--no-remote-submodules", "--also-filter-submodules",
        "--reject-shallow", "--no-reject-shallow", "--no-hardlinks", "--dissociate",
    }
)
_PASSED_WITH_VALUE = frozenset(
    {
        "--depth", "--shallow-since", "--shallow-exclude", "--filter", "--jobs", "-j", "--origin", "-o",
        "--server-option", "--reference", "--reference-if-able", "--config", "-c",
    }
)
# Known options that are refused, and why (the rest get the general sentence).
_REFUSED_OPTIONS = {
    "--bare": "a bare clone has no work tree to check out a branch in",
    "--mirror": "a mirror has no work tree to check out a branch in",
    "--separate-git-dir": "it puts the repository outside the destination, where a cancelled clone can't clean up",
    "--template": "it copies hooks into the new repository from elsewhere",
    "--upload-pack": "it runs another program; over HTTPS it has no use",
    "-u": "it runs another program; over HTTPS it has no use",
    "--bundle-uri": "it fetches from another address",
    "--branch": "use bbwizard's own --branch, which falls back to the main branch where the branch is missing",
    "-b": "use bbwizard's own --branch, which falls back to the main branch where the branch is missing",
    "--progress": "bbwizard reads git's progress itself",
    "--no-progress": "bbwizard reads git's progress itself",
    "--quiet": "bbwizard reads git's progress itself",
    "-q": "bbwizard reads git's progress itself",
    "--verbose": "bbwizard reads git's progress itself",
    "-v": "bbwizard reads git's progress itself",
}
# ``-c KEY=VALUE`` keys that would reach the token or its road: other credential helpers (a
# ``store`` helper writes tokens to ~/.git-credentials), askpass programs, URL rewrites and remote
# addresses (the token would go to another host), TLS switched off, includes (more config of any
# kind), and headers, which git writes into .git/config as they are.
_REFUSED_CONFIG_SECTIONS = ("credential.", "url.", "remote.", "include.", "includeif.", "protocol.")
_REFUSED_CONFIG_KEYS = frozenset({"core.askpass", "core.sshcommand", "http.sslverify", "http.extraheader", "http.proxy"})


def _config_key_refused(key: str) -> bool:
    low = key.strip().lower()
    if low.startswith(_REFUSED_CONFIG_SECTIONS) or low in _REFUSED_CONFIG_KEYS:
        return True
    # http.<url>.sslVerify and friends: the section and the variable are case-insensitive
    section, _, rest = low.partition(".")
    variable = rest.rpartition(".")[2]
    return section == "http" and f"http.{variable}" in _REFUSED_CONFIG_KEYS


def check_clone_arguments(arguments: Sequence[str]) -> list[str]:
    """The options after ``--`` of ``bbwizard clone``, checked for ``git clone``: returned as a new
    list when every one is allowed, else :class:`UsageError` naming the first refused option (never
    a value: a value may be a secret). Only options: no word that git could read as an address or
    a destination, no second ``--``, no ``-c`` that touches credentials, URLs or TLS."""
    checked: list[str] = []
    words = list(arguments)
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if not word.startswith("-") or word == "-" or word == "--":
            raise UsageError(
                "After --, bbwizard passes only options to git clone; the repository and the destination "
                "come before -- (one argument was not an option; it is not shown)."
            )
        if word.startswith("--"):
            name, has_value, value = word.partition("=")
        else:
            name, value = word[:2], word[2:]
            has_value = "=" if value else ""
        if name in _PASSED_FLAGS and not has_value:
            checked.append(word)
            continue
        if name == "--recurse-submodules":  # --recurse-submodules=PATHSPEC
            checked.append(word)
            continue
        if name in _PASSED_WITH_VALUE:
            if not has_value:
                if index >= len(words):
                    raise UsageError(f"The git clone option {name} needs a value after it.")
                value = words[index]
                index += 1
                checked += [name, value]
            else:
                checked.append(word)
            if name in ("-c", "--config") and _config_key_refused(value.partition("=")[0]):
                key = printable(redact(value.partition("=")[0]))[:80]
                raise UsageError(
                    f"bbwizard does not pass {name} {key} to git clone: settings for credentials, "
                    "askpass, URLs, remotes, includes, headers, proxies and TLS checks would let the token "
                    "go where bbwizard can't see it. Leave that setting out."
                )
            continue
        shown = printable(redact(name))[:60]
        reason = _REFUSED_OPTIONS.get(name)
        if reason:
            raise UsageError(f"bbwizard does not pass {shown} to git clone: {reason}.")
        raise UsageError(
            f"bbwizard does not pass {shown} to git clone. After -- it passes: "
            + ", ".join(sorted(_PASSED_FLAGS | _PASSED_WITH_VALUE, key=lambda n: n.lstrip("-")))
            + "."
        )
    return checked


def _check_clone_request(workspace: str, slug: str, branch: str | None, depth: int | None) -> RepositoryRef:
    ref = RepositoryRef(_check_name(workspace, f"{workspace}/{slug}"), _check_name(slug, f"{workspace}/{slug}"))
    if depth is not None and depth < 1:
        raise UsageError("--depth must be a whole number of at least 1.")
    if branch is not None and (not branch.strip() or branch.startswith("-") or any(c in branch for c in "\x00\n\r")):
        raise UsageError(f"“{branch}” is not a branch name.")
    return ref


def _clone_steps(
    profile: Profile,
    ref: RepositoryRef,
    path: Path,
    created: bool,
    *,
    branch: str | None,
    depth: int | None,
    store: ConfigStore | None,
    git: str,
    low_speed_limit: int,
    low_speed_time: int,
    started: float,
    progress: bool = True,
    measure_size: bool = True,
    extra_args: Sequence[str] = (),
    branch_fallback: bool = False,
):  # noqa: ANN202 - a generator driven by clone_repository and clone_repository_sync
    """What a clone does, with its waits left to the caller (an event loop or plain blocking
    calls), so both ways of running a clone share every rule. Yields ``("fresh", profile, force)``
    (send back the fresh Profile), ``("git", argv, env)`` (send back ``(code, kept lines)``) and
    ``("size", path)`` (send back the size); returns the CloneResult. An exception thrown in at a
    yield (cancel, Ctrl+C) removes what this clone created and goes on up; the pipe is always closed.

    With ``branch_fallback``, a ``branch`` the repository doesn't have is not an error: git's
    answer says so before any object is fetched, and the clone starts again on the main branch
    (the result's ``missing_branch`` names the branch). ``extra_args`` (already checked by
    :func:`check_clone_arguments`) go after bbwizard's options, before ``--``.
    """
    holder: list[Profile] = [profile]
    pipe: CredentialPipe | None = None
    try:
        profile = yield ("fresh", profile, False)
        site = site_base(profile.site_url)
        host = urlsplit(site).netloc
        config_path = _config_path_for(store)
        helper = helper_config(site, profile.name, config_path=config_path)
        # Progress only for someone who listens: without a callback nobody sees it, and git's
        # progress costs the clone a few percent (as plain git, which shows none off a terminal).
        argv = [git, "clone", "--progress" if progress else "--no-progress"]
        for key, value in helper:  # persisted in the new repository's .git/config: a command, no secret
            argv += ["-c", f"{key}={value}"]
        if depth:
            argv += ["--depth", str(depth)]
        tail = [*extra_args, "--", clone_url(site, ref.workspace, ref.slug), str(path)]
        argv_main = [*argv, *tail]
        if branch:
            argv += ["--branch", branch]
        argv += tail
        missing_branch: str | None = None
        injected = clone_config(site, profile.name, config_path=config_path)
        if CredentialPipe.available():
            holder[0] = profile
            try:
                pipe = CredentialPipe(_pipe_answer(holder))
            except OSError:  # no FIFOs in the temp folder's filesystem: bbwizard's helper answers
                pipe = None
            else:
                injected[1] = (injected[1][0], pipe.helper)
        env = git_env(injected, low_speed_limit=low_speed_limit, low_speed_time=low_speed_time)
        if not progress:  # else git's checkout reports every percent even with --no-progress
            del env["GIT_PROGRESS_DELAY"]
        bypass_proxy_for_loopback(env, site)
        refreshed = False
        while True:
            code, kept = yield ("git", argv, env)
            if code == 0:
                break
            if pipe is not None and pipe.error is not None:  # our answer failed, not Bitbucket
                failure = pipe.error
                if isinstance(failure, (GitError, ScopeError, SignInRequired, UsageError)):
                    raise failure
                raise GitError(f"bbwizard could not hand the token to git ({type(failure).__name__}).")
            error = explain_git_failure(
                "\n".join(kept),
                profile=profile,
                full_name=ref.full_name,
                host=host,
                branch=branch,
                low_speed=(low_speed_limit, low_speed_time),
            )
            if not refreshed and store is not None and isinstance(error, SignInRequired):
                # Bitbucket refused a token we thought fresh: refresh once, try once more.
                refreshed = True
                _remove_destination(path, created=False)
                profile = yield ("fresh", profile, True)
                holder[0] = profile
                continue
            if branch_fallback and branch and missing_branch is None and _branch_not_found(kept):
                # git stops at the list of refs, before fetching anything: start again on the main branch.
                missing_branch = branch
                _remove_destination(path, created=False)
                argv = argv_main
                continue
            raise error
        if pipe is not None:  # git has finished with it: no need to wait for the size
            pipe.close()
        # Walking the new tree costs a large repository seconds: only for someone who shows it.
        size = (yield ("size", path)) if measure_size else None
        return CloneResult(
            workspace=ref.workspace,
            slug=ref.slug,
            path=path,
            ok=True,
            branch=current_branch(path),
            size_bytes=size,
            seconds=time.monotonic() - started,
            missing_branch=missing_branch,
        )
    except BaseException:
        _remove_destination(path, created)
        raise
    finally:
        if pipe is not None:
            pipe.close()


def _cancelled(ref: RepositoryRef, path: Path, created: bool) -> CloneCancelled:
    where = f" and removed {path}" if created else f" and emptied {path}"
    return CloneCancelled(f"Cancelled the clone of {ref.full_name}{where}.")


def _begin_clone(
    profile: Profile,
    workspace: str,
    slug: str,
    dest: str | os.PathLike[str] | None,
    *,
    progress: bool,
    **options: Any,
) -> tuple[RepositoryRef, Path, bool, Any]:
    """What both drivers of :func:`_clone_steps` do first: check the request, claim the
    destination (refusing a non-empty one before anything starts), and start the steps."""
    ref = _check_clone_request(workspace, slug, options["branch"], options["depth"])
    options["extra_args"] = check_clone_arguments(options.get("extra_args") or ())
    started = time.monotonic()
    path, created = prepare_destination(dest if dest is not None else ref.slug)
    steps = _clone_steps(profile, ref, path, created, started=started, progress=progress, **options)
    return ref, path, created, steps


async def clone_repository(
    profile: Profile,
    workspace: str,
    slug: str,
    dest: str | os.PathLike[str] | None = None,
    *,
    branch: str | None = None,
    depth: int | None = None,
    on_progress: ProgressCallback | None = None,
    store: ConfigStore | None = None,
    git: str = "git",
    low_speed_limit: int = LOW_SPEED_LIMIT,
    low_speed_time: int = LOW_SPEED_TIME,
    extra_args: Sequence[str] = (),
    branch_fallback: bool = False,
) -> CloneResult:
    """Clone ``workspace/slug`` of the profile's site into ``dest`` (default ``./slug``).

    With ``store``, the token is made fresh first (so a needed sign-in is reported before git
    starts), and a 401 from git refreshes it once and tries once more (never a loop). Cancelling
    the task stops git, removes what this clone created, and raises
    :class:`~bbwizard.errors.CloneCancelled`.

    ``extra_args`` are options for ``git clone`` (see :func:`check_clone_arguments`, which refuses
    what could move the destination, add an address or touch credentials); with
    ``branch_fallback`` a missing ``branch`` clones the main branch instead (``missing_branch``).
    """
    import asyncio

    ref, path, created, steps = _begin_clone(
        profile, workspace, slug, dest, branch=branch, depth=depth, store=store, git=git,
        low_speed_limit=low_speed_limit, low_speed_time=low_speed_time, progress=on_progress is not None,
        extra_args=extra_args, branch_fallback=branch_fallback,
    )
    reply: object = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as done:
            return done.value
        except asyncio.CancelledError:  # thrown in below: the steps have removed what they created
            raise _cancelled(ref, path, created) from None
        try:
            if step[0] == "fresh":
                reply = await _fresh_profile(step[1], store, force=step[2])
            elif step[0] == "git":
                reply = await _run_git_clone(step[1], step[2], on_progress)
            else:
                reply = await asyncio.to_thread(folder_size, step[1])
        except BaseException as error:  # noqa: BLE001 - handed to the steps, which clean up and re-raise
            try:
                steps.throw(error)
            except asyncio.CancelledError:
                raise _cancelled(ref, path, created) from None
            raise  # pragma: no cover - the steps always re-raise


def clone_repository_sync(
    profile: Profile,
    workspace: str,
    slug: str,
    dest: str | os.PathLike[str] | None = None,
    *,
    branch: str | None = None,
    depth: int | None = None,
    on_progress: ProgressCallback | None = None,
    store: ConfigStore | None = None,
    git: str = "git",
    low_speed_limit: int = LOW_SPEED_LIMIT,
    low_speed_time: int = LOW_SPEED_TIME,
    measure_size: bool = True,
    extra_args: Sequence[str] = (),
    branch_fallback: bool = False,
) -> CloneResult:
    """:func:`clone_repository` without an event loop, for ``bbwizard clone`` of one repository:
    the same steps, so the same rules, without the cost of importing and starting asyncio (a
    tenth of a second of a command that lasts a few). Ctrl+C (KeyboardInterrupt) stops git,
    removes what this clone created, and raises :class:`~bbwizard.errors.CloneCancelled`.
    With ``measure_size=False`` the result's ``size_bytes`` stays None (no walk of the new tree).
    """
    ref, path, created, steps = _begin_clone(
        profile, workspace, slug, dest, branch=branch, depth=depth, store=store, git=git,
        low_speed_limit=low_speed_limit, low_speed_time=low_speed_time, progress=on_progress is not None,
        measure_size=measure_size, extra_args=extra_args, branch_fallback=branch_fallback,
    )
    reply: object = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as done:
            return done.value
        except KeyboardInterrupt:
            raise _cancelled(ref, path, created) from None
        try:
            if step[0] == "fresh":
                reply = _fresh_profile_sync(step[1], store, force=step[2])
            elif step[0] == "git":
                reply = _run_git_clone_sync(step[1], step[2], on_progress)
            else:
                reply = folder_size(step[1])
        except BaseException as error:  # noqa: BLE001 - handed to the steps, which clean up and re-raise
            try:
                steps.throw(error)
            except KeyboardInterrupt:
                raise _cancelled(ref, path, created) from None
            raise  # pragma: no cover - the steps always re-raise


def _emit(piece: str, on_progress: ProgressCallback | None, kept: list[str]) -> None:
    event = parse_progress_line(piece)
    if event is None:
        return
    if isinstance(event, CloneOutput):
        kept.append(event.text)
        del kept[:-200]
    if on_progress is not None:
        on_progress(event)


class CloneRequest(namedtuple("CloneRequest", "workspace slug dest branch depth", defaults=(None, None, None))):
    """One repository of :func:`clone_many`; ``dest``, ``branch`` and ``depth`` may be None."""

    __slots__ = ()

    @property
    def full_name(self) -> str:
        return f"{self.workspace}/{self.slug}"


async def clone_many(
    profile: Profile,
    requests: Sequence[CloneRequest],
    *,
    into: str | os.PathLike[str] | None = None,
    jobs: int = 4,
    on_progress: Callable[[int, CloneEvent], None] | None = None,
    on_done: Callable[[int, CloneResult], None] | None = None,
    store: ConfigStore | None = None,
    git: str = "git",
    extra_args: Sequence[str] = (),
    branch_fallback: bool = False,
) -> list[CloneResult]:
    """Clone several repositories, ``jobs`` at a time, each with its own events (by index).
    ``extra_args`` and ``branch_fallback`` apply to each (see :func:`clone_repository`).

    Never raises for one failed clone: each result says ok or carries the error sentence.
    Cancelling stops every clone (each removes what it created) and raises CloneCancelled.
    """
    import asyncio

    if jobs < 1:
        raise UsageError("--jobs must be at least 1.")
    extra_args = check_clone_arguments(extra_args)  # refused once, before any clone starts
    base = Path(os.path.abspath(os.path.expanduser(os.fspath(into)))) if into is not None else Path.cwd()
    targets: list[Path] = []
    seen: dict[Path, str] = {}
    for request in requests:
        target = Path(request.dest) if request.dest is not None else base / request.slug
        target = Path(os.path.abspath(target))
        if target in seen:
            raise UsageError(
                f"{seen[target]} and {request.full_name} would both go to {target}. "
                "Clone them into different folders."
            )
        seen[target] = request.full_name
        targets.append(target)
    if store is not None:  # one refresh for all, before any git starts
        profile = await _fresh_profile(profile, store)
    limit = asyncio.Semaphore(jobs)

    async def one(index: int, request: CloneRequest) -> CloneResult:
        async with limit:
            started = time.monotonic()
            callback = (lambda event: on_progress(index, event)) if on_progress else None
            try:
                result = await clone_repository(
                    profile,
                    request.workspace,
                    request.slug,
                    targets[index],
                    branch=request.branch,
                    depth=request.depth,
                    on_progress=callback,
                    store=store,
                    git=git,
                    extra_args=extra_args,
                    branch_fallback=branch_fallback,
                )
            except (GitError, ScopeError, SignInRequired, UsageError, OSError) as error:
                if isinstance(error, CloneCancelled):
                    raise
                message = redact(str(error)) if not isinstance(error, OSError) else redact(f"{targets[index]}: {error.strerror or error}")
                result = CloneResult(
                    workspace=request.workspace,
                    slug=request.slug,
                    path=targets[index],
                    ok=False,
                    seconds=time.monotonic() - started,
                    error=message,
                    exception=error,
                )
            if on_done is not None:
                on_done(index, result)
            return result

    tasks = [asyncio.ensure_future(one(i, r)) for i, r in enumerate(requests)]
    try:
        return list(await asyncio.gather(*tasks))
    except (asyncio.CancelledError, CloneCancelled):
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        stopped = sum(isinstance(o, (CloneCancelled, asyncio.CancelledError)) for o in outcomes)
        finished = len(outcomes) - stopped
        raise CloneCancelled(
            f"Cancelled {stopped} clone{'s' if stopped != 1 else ''} and removed what they had created; "
            f"{finished} had finished and {'were' if finished != 1 else 'was'} kept."
        ) from None


# --------------------------------------------------------------------------------------------
# The credential helper protocol


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


# --------------------------------------------------------------------------------------------
# setup-git


class SetupResult(namedtuple("SetupResult", "key scope changed replaced where after_ours", defaults=((), "", ()))):
    """What :func:`setup_git` or :func:`unset_git` did: ``scope`` is "local" or "global";
    ``replaced`` the helper values that were there before and are now gone; ``after_ours`` the
    helpers for the host that git reads *after* bbwizard's in that file (git hands each of them
    the token after every use; empty when bbwizard's helper comes last)."""

    __slots__ = ()


def _run_git(args: Sequence[str], *, cwd: str | os.PathLike[str] | None = None, git: str = "git", check: bool = True):  # noqa: ANN202
    import subprocess

    result = subprocess.run(
        [git, *args],
        cwd=cwd,
        env=git_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        detail = _error_lines(redact(result.stderr)) or [f"exit status {result.returncode}"]
        raise GitError(f"git config failed: {detail[-1]}")
    return result


def _scope_args(scope: str) -> list[str]:
    return ["--global"] if scope == "global" else ["--local"]


def _repository_root(cwd: str | os.PathLike[str] | None, git: str) -> str:
    result = _run_git(["rev-parse", "--show-toplevel"], cwd=cwd, git=git, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        raise UsageError(
            "This folder is not inside a git repository. Run `bbwizard setup-git` in one, or add "
            "--global to set up every repository of this account."
        )
    return result.stdout.strip()


def _is_our_helper(value: str) -> bool:
    """A value :func:`helper_command` wrote: ``!… -m bbwizard credential …`` or ``!…/bbwizard credential …``."""
    if not value.startswith("!"):
        return False
    try:
        words = shlex.split(value[1:])
    except ValueError:
        return False
    if words[1:4] == ["-m", "bbwizard", "credential"]:
        return True
    return len(words) > 1 and os.path.basename(words[0]) == "bbwizard" and words[1] == "credential"


def configured_helpers(key: str, scope: str, *, cwd: str | os.PathLike[str] | None = None, git: str = "git") -> list[str]:
    result = _run_git(["config", *_scope_args(scope), "--get-all", key], cwd=cwd, git=git, check=False)
    if result.returncode not in (0, 1):
        detail = _error_lines(redact(result.stderr)) or [f"exit status {result.returncode}"]
        raise GitError(f"git config failed: {detail[-1]}")
    return result.stdout.splitlines() if result.returncode == 0 else []


def helpers_after_ours(site_url: str, scope: str, *, cwd: str | os.PathLike[str] | None = None, git: str = "git") -> list[str]:
    """Helper values for the site's URL that come after bbwizard's helper in the file of ``scope``.

    git calls every helper in its list with ``store`` after a credential worked, and a helper line
    read after bbwizard's (a plain ``credential.helper`` included) joins that list: ``store``
    would write the token to ``~/.git-credentials``. An empty line after ours would drop ours.
    """
    result = _run_git(["config", *_scope_args(scope), "--null", "--list"], cwd=cwd, git=git, check=False)
    if result.returncode != 0:
        return []
    site = site_base(site_url).lower()
    seen_ours = False
    after: list[str] = []
    for entry in result.stdout.split("\0"):
        key, _, value = entry.partition("\n")
        lowered = key.lower()
        if not (lowered.startswith("credential.") and lowered.endswith(".helper")):
            continue
        url = key[len("credential.") : -len(".helper")]
        if url:  # credential.<url>.helper: only those that match the site
            try:
                parts = urlsplit(url)
                if f"{parts.scheme.lower()}://{_netloc(parts.scheme, parts.hostname or '', parts.port)}" != site:
                    continue
            except ValueError:
                continue
        if _is_our_helper(value):
            seen_ours, after = True, []
        elif seen_ours:
            after.append(value if value else "(an empty line, which switches bbwizard's helper off)")
    return after


def setup_git(
    profile: Profile,
    *,
    scope: str = "local",
    store: ConfigStore | None = None,
    cwd: str | os.PathLike[str] | None = None,
    git: str = "git",
) -> SetupResult:
    """Make bbwizard the credential helper for the profile's site, like ``gh auth setup-git``:
    the host's helper list is reset, then bbwizard's helper added. Local (the repository at
    ``cwd``) unless ``scope="global"``. Writes a command, never a secret."""
    where = "your global git config" if scope == "global" else _repository_root(cwd, git)
    key, wanted = helper_config(profile.site_url, profile.name, config_path=_config_path_for(store))[1]
    before = configured_helpers(key, scope, cwd=cwd, git=git)
    if before == ["", wanted]:
        after = tuple(helpers_after_ours(profile.site_url, scope, cwd=cwd, git=git))
        return SetupResult(key=key, scope=scope, changed=False, where=where, after_ours=after)
    _run_git(["config", *_scope_args(scope), "--replace-all", key, ""], cwd=cwd, git=git)
    _run_git(["config", *_scope_args(scope), "--add", key, wanted], cwd=cwd, git=git)
    replaced = tuple(v for v in before if v and v != wanted)
    after = tuple(helpers_after_ours(profile.site_url, scope, cwd=cwd, git=git))
    return SetupResult(key=key, scope=scope, changed=True, replaced=replaced, where=where, after_ours=after)


def unset_git(
    profile: Profile,
    *,
    scope: str = "local",
    cwd: str | os.PathLike[str] | None = None,
    git: str = "git",
) -> SetupResult:
    """Undo :func:`setup_git`: remove bbwizard's helper for the site, and the empty reset line
    when nothing else is left under that key."""
    where = "your global git config" if scope == "global" else _repository_root(cwd, git)
    key = helper_key(profile.site_url)
    before = configured_helpers(key, scope, cwd=cwd, git=git)
    ours = [v for v in before if _is_our_helper(v)]
    if not ours:
        return SetupResult(key=key, scope=scope, changed=False, where=where)
    for value in dict.fromkeys(ours):
        _run_git(["config", *_scope_args(scope), "--fixed-value", "--unset-all", key, value], cwd=cwd, git=git)
    rest = [v for v in before if not _is_our_helper(v)]
    if all(v == "" for v in rest):
        _run_git(["config", *_scope_args(scope), "--unset-all", key], cwd=cwd, git=git, check=False)
        _remove_empty_section(key, scope, cwd=cwd, git=git)
    return SetupResult(key=key, scope=scope, changed=True, where=where)


def _remove_empty_section(key: str, scope: str, *, cwd: str | os.PathLike[str] | None, git: str) -> None:
    section = key.rsplit(".", 1)[0]
    result = _run_git(["config", *_scope_args(scope), "--get-regexp", "^" + re.escape(section) + r"\."], cwd=cwd, git=git, check=False)
    if result.returncode == 1:  # nothing left in it
        _run_git(["config", *_scope_args(scope), "--remove-section", section], cwd=cwd, git=git, check=False)
