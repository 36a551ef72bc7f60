"""What breaks sign-ins in practice, found before it breaks one: ``bbwizard doctor``.

:func:`diagnose` looks at the config file, each profile (with one live question to Bitbucket),
git's credential helpers, git's credential store and the current repository's remotes, and the
environment, and returns :class:`Finding`s, each with the sentence that fixes it. Nothing here
prints, and no finding holds a secret: a password found in a file or a URL is named by where it
is, never shown.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

# The live check of a token is the one ``status`` uses too; named here for doctor's callers.
from bbwizard.signin import check_live, check_with_bitbucket

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from bbwizard.config import ConfigStore, Profile

Level = Literal["ok", "note", "warning", "problem"]

#: An unused refresh token lives three months (bitbucket-cloud.md): warn this long before.
REFRESH_TOKEN_LIFETIME = timedelta(days=90)
REFRESH_TOKEN_WARNING = timedelta(days=14)
#: The day SSH moved from ``git@bitbucket.org:`` to ``git@ssh.bitbucket.org:``.
SSH_MOVE_DATE = "2026-11-12"
APP_PASSWORDS_ENDED = "2026-07-28"
#: git credential helpers that keep what git gives them (a token handed to them outlives its use).
STORING_HELPERS = frozenset(
    {"store", "cache", "osxkeychain", "manager", "manager-core", "libsecret", "gnome-keyring", "wincred", "netrc"}
)
#: The usernames bbwizard's kinds of token use with git: a line with one of them is a token, not an app password.
TOKEN_USERNAMES = frozenset({"x-token-auth", "x-bitbucket-api-token-auth"})
_BITBUCKET_HOSTS = frozenset({"bitbucket.org", "www.bitbucket.org"})
_SSH_OLD = "bitbucket.org"
_SSH_NEW = "ssh.bitbucket.org"


@dataclass(frozen=True)
class Finding:
    """One thing doctor looked at. ``level``: ``ok``, ``note`` (worth knowing, nothing to fix),
    ``warning`` or ``problem``; ``fix`` the sentence (or command) that fixes it; ``subject`` what
    it is about (a profile, a file, a remote, a variable)."""

    area: str
    level: Level
    message: str
    fix: str | None = None
    subject: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def all_well(findings: Iterable[Finding]) -> bool:
    """True when nothing needs fixing (notes are fine)."""
    return all(f.level in ("ok", "note") for f in findings)


def diagnose(
    store: ConfigStore,
    *,
    profile: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
    live: bool = True,
    transport: httpx.BaseTransport | None = None,
    git: str = "git",
) -> list[Finding]:
    """Every check, in the order a person fixes things: config, profiles, git, stored passwords,
    remotes, environment. ``profile`` limits the profile checks to that one (an unknown name is a
    finding). ``live=False`` skips the question to Bitbucket."""
    from bbwizard.config import utc_now

    env = dict(os.environ if environ is None else environ)
    now = now or utc_now()
    findings = check_config_file(store)
    profiles: dict[str, Profile] = {}
    try:
        profiles = store.load()
    except Exception as error:  # a ConfigError or an OS error: both are a finding
        from bbwizard.secret import redact

        findings.append(Finding("config", "problem", redact(str(error)), "Fix or move the file, then sign in again: bbwizard login"))
    chosen = profiles
    if profile is not None:
        if profile in profiles:
            chosen = {profile: profiles[profile]}
        else:
            known = ", ".join(sorted(profiles)) or "none"
            findings.append(Finding("profile", "problem", f"There is no profile named '{profile}' (profiles: {known}).",
                                    f"Sign in with it: bbwizard login --profile {profile}", profile))
            chosen = {}
    if not profiles and not env.get("BBWIZARD_TOKEN"):
        findings.append(Finding("profile", "problem", "No profile is saved, so git and bbwizard have no token to use.",
                                "Sign in: bbwizard login (or run `bbwizard` for the wizard)"))
    live_verdicts = check_live(list(chosen.values()), now=now, transport=transport) if live else {}
    for name in sorted(chosen):
        findings += check_profile(chosen[name], now=now, live=live_verdicts.get(name))
    findings += check_git_helpers(profiles, store=store, cwd=cwd, git=git, env=env)
    findings += check_credential_store(env)
    findings += check_remotes(cwd=cwd, git=git, env=env)
    findings += check_environment(env)
    return findings


# --- config file and folder ---------------------------------------------------------------------


def check_config_file(store: ConfigStore) -> list[Finding]:
    """Mode, owner and links of the config file and its folder."""
    path = store.path
    found: list[Finding] = []
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if not target.exists():
            return [Finding("config", "problem", f"The config file {path} is a link to {target}, which doesn't exist.",
                            f"Point the link at your config file, or remove it (rm {path}) and sign in again.", str(path))]
        found.append(Finding("config", "note", f"The config file {path} is a link to {target}; saves write through it.",
                             None, str(path)))
    if not path.exists():
        return found + [Finding("config", "note", f"There is no config file yet at {path}.", None, str(path))]
    if os.name != "posix":
        return found + [Finding("config", "ok", f"Config file {path}", None, str(path))]
    target = Path(os.path.realpath(path))
    info = target.stat()
    problems = 0
    if info.st_mode & 0o077:
        problems += 1
        found.append(Finding("config", "problem",
                             f"The config file {target} can be read by other users (mode {info.st_mode & 0o777:o}); it holds secrets.",
                             f"chmod 600 {target}", str(target)))
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        problems += 1
        found.append(Finding("config", "problem", f"The config file {target} belongs to another user (uid {info.st_uid}).",
                             "Don't trust secrets in a file someone else can change: sign in again into a file of your own "
                             "(BBWIZARD_CONFIG names another place).", str(target)))
    folder = target.parent
    folder_info = folder.stat()
    if folder_info.st_mode & 0o022 and not folder_info.st_mode & 0o1000:
        problems += 1
        found.append(Finding("config", "problem",
                             f"The folder {folder} can be changed by other users (mode {folder_info.st_mode & 0o777:o}): "
                             "they could swap the config file for one of their own.", f"chmod 700 {folder}", str(folder)))
    elif folder_info.st_mode & 0o077 and not folder_info.st_mode & 0o1000:
        problems += 1
        found.append(Finding("config", "warning",
                             f"Other users can list the folder {folder} (mode {folder_info.st_mode & 0o777:o}).",
                             f"chmod 700 {folder}", str(folder)))
    if hasattr(os, "geteuid") and folder_info.st_uid != os.geteuid() and not folder_info.st_mode & 0o1000:
        problems += 1
        found.append(Finding("config", "problem", f"The folder {folder} belongs to another user (uid {folder_info.st_uid}).",
                             "Keep the config in a folder of your own (BBWIZARD_CONFIG names another place).", str(folder)))
    if not problems:
        found.append(Finding("config", "ok", f"Config file {target}: only you can read it", None, str(target)))
    return found


# --- profiles -----------------------------------------------------------------------------------


def check_profile(profile: Profile, *, now: datetime, live: tuple[str, str] | None = None) -> list[Finding]:
    """Token state, the live verdict, the refresh token's age and the scopes of one profile."""
    from bbwizard import oauth
    from bbwizard.secret import printable

    name = profile.name
    login = oauth.login_command(profile)
    area = "profile"
    found: list[Finding] = []
    state = profile.token_state(now)
    label = f"Profile '{name}' ({profile.describe_kind()}, {profile.site_host})"
    if profile.refresh_refused_at is not None or state == "signed_out":
        why = "Bitbucket refused its refresh token: the sign-in has ended" if profile.refresh_refused_at else "it holds no token"
        return [Finding(area, "problem", f"{label}: {why}.", f"Sign in again: {login}", name)]
    if state == "expired" and not profile.can_refresh:
        if profile.kind == "api_token" and profile.token_expires_on:
            what = f"its API token expired on {profile.token_expires_on:%Y-%m-%d}"
        else:
            what = "its token has expired and can't be renewed without signing in"
        where = oauth.WHERE_TOKENS_ARE_MADE.get(profile.kind)
        fix = f"Make a new one ({where}), then run: {login}" if where else f"Sign in again: {login}"
        return [Finding(area, "problem", f"{label}: {what}.", fix, name)]
    verdict, detail = live or ("skipped", "")
    if verdict == "refused":
        found.append(Finding(area, "problem", f"{label}: Bitbucket refuses its token ({printable(detail)})", f"Sign in again: {login}", name))
    elif verdict == "unreachable":
        found.append(Finding(area, "warning", f"{label}: Bitbucket could not be asked about the token: {printable(detail)}",
                             "Check the network, the proxy and the CA settings below, then run bbwizard doctor again.", name))
    elif verdict == "ok":
        found.append(Finding(area, "ok", f"{label}: Bitbucket accepts the token (checked just now)", None, name))
    elif state == "expired":
        found.append(Finding(area, "ok", f"{label}: the access token has expired; bbwizard renews it on next use", None, name))
    else:
        found.append(Finding(area, "ok", f"{label}: the token is usable (not checked with Bitbucket)", None, name))
    if profile.kind == "api_token" and profile.token_expires_on and state != "expired":
        days = (profile.token_expires_on - now.date()).days
        if days <= 14:
            found.append(Finding(area, "warning", f"Profile '{name}': its API token expires on {profile.token_expires_on:%Y-%m-%d} "
                                 f"(in {days} day{'s' if days != 1 else ''}).",
                                 f"Make a new one ({oauth.WHERE_TOKENS_ARE_MADE['api_token']}), then run: {login}", name))
    found += _refresh_token_age(profile, now=now, login=login)
    if profile.kind == "oauth" and profile.access_token:
        missing = oauth.missing_scopes(profile.scopes)
        if missing:
            ticks = " and ".join(oauth.PERMISSION_FOR_SCOPE.get(s, s) for s in missing)
            found.append(Finding(area, "problem", f"Profile '{name}': the token lacks the {' and '.join(missing)} "
                                 f"scope{'s' if len(missing) > 1 else ''} bbwizard needs.",
                                 f"Tick {ticks} on the OAuth consumer, then sign in again: {login}", name))
    return found


def _refresh_token_age(profile: Profile, *, now: datetime, login: str) -> list[Finding]:
    """An unused refresh token dies after three months. The token request that brought the
    current pair (a sign-in or a refresh) is ``issued_at``: each refresh rotates the refresh
    token, so that is when the one in the file was issued."""
    if profile.kind != "oauth" or not profile.refresh_token or profile.grant == "client_credentials":
        return []
    name = profile.name
    if profile.issued_at is None:
        return [Finding("profile", "note", f"Profile '{name}': when its refresh token was issued isn't recorded "
                        "(it was saved by an older bbwizard); the next refresh records it.", None, name)]
    age = now - profile.issued_at
    dies = profile.issued_at + REFRESH_TOKEN_LIFETIME
    if age >= REFRESH_TOKEN_LIFETIME:
        return [Finding("profile", "problem", f"Profile '{name}': its refresh token has not been used since "
                        f"{profile.issued_at:%Y-%m-%d} ({age.days} days); Bitbucket drops unused ones after three months.",
                        f"Sign in again: {login}", name)]
    if age >= REFRESH_TOKEN_LIFETIME - REFRESH_TOKEN_WARNING:
        return [Finding("profile", "warning", f"Profile '{name}': its refresh token has not been used since "
                        f"{profile.issued_at:%Y-%m-%d}; unused, it dies around {dies:%Y-%m-%d}.",
                        f"Use it once to renew it: bbwizard token --profile {name} >/dev/null", name)]
    return []


# --- git's credential helpers -------------------------------------------------------------------


def _git(args: list[str], *, cwd: str | os.PathLike[str] | None, git: str, env: Mapping[str, str]) -> tuple[int, str]:
    import subprocess

    from bbwizard.git.env import git_env

    try:
        result = subprocess.run([git, *args], cwd=cwd, env=git_env(base=env), stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, errors="replace")
    except OSError:
        return 127, ""
    return result.returncode, result.stdout


def _helper_entries(scope: str, *, cwd: str | os.PathLike[str] | None, git: str, env: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(url, value)`` of every ``credential[.<url>].helper`` line in the file of ``scope``, in order."""
    code, out = _git(["config", f"--{scope}", "--null", "--list"], cwd=cwd, git=git, env=env)
    if code != 0:
        return []
    entries = []
    for entry in out.split("\0"):
        key, _, value = entry.partition("\n")
        lowered = key.lower()
        if lowered.startswith("credential.") and lowered.endswith(".helper"):
            entries.append((key[len("credential.") : -len(".helper")], value))
    return entries


def _inside_repository(cwd: str | os.PathLike[str] | None, git: str, env: Mapping[str, str]) -> bool:
    code, out = _git(["rev-parse", "--is-inside-work-tree"], cwd=cwd, git=git, env=env)
    return code == 0 and out.strip() == "true"


def _helper_words(value: str) -> list[str]:
    import shlex

    try:
        return shlex.split(value[1:])
    except ValueError:
        return []


def _option(words: list[str], name: str) -> str | None:
    return words[words.index(name) + 1] if name in words[:-1] else None


def helper_program_problem(value: str, *, env: Mapping[str, str]) -> tuple[Level, str, str] | None:
    """Whether the bbwizard helper line ``value`` still starts this bbwizard: None when it does,
    else ``(level, what, fix)``. Three forms are ours: ``!bbwizard credential …`` (through PATH),
    ``!/path/to/bbwizard credential …`` and ``!/path/to/python -m bbwizard credential …``."""
    from bbwizard.git.setup import is_this_bbwizard

    words = _helper_words(value)
    program = words[0] if words else ""
    if program == "bbwizard":
        from shutil import which

        found = which("bbwizard", path=env.get("PATH"))
        if found is None:
            return "problem", "git runs `bbwizard` through PATH, and no bbwizard is on PATH", \
                "Put bbwizard's folder on PATH (pipx ensurepath), or run bbwizard setup-git again"
        if not is_this_bbwizard(found):
            return "warning", f"git runs the bbwizard on PATH, {found}, which is not this one ({sys.executable})", \
                "Run setup-git again with the bbwizard you mean to use"
        return None
    if not os.path.isabs(program):
        return None
    if not os.access(program, os.X_OK):
        return "problem", f"the helper starts {program}, which no longer exists (moved by an upgrade, or a venv removed)", \
            "Run bbwizard setup-git again: it writes a command that survives upgrades"
    if words[1:3] == ["-m", "bbwizard"]:
        if os.path.realpath(os.path.dirname(program)) != os.path.realpath(os.path.dirname(sys.executable)):
            return "warning", f"the helper starts bbwizard with {program}, another Python than this bbwizard's ({sys.executable})", \
                "Run bbwizard setup-git again with the bbwizard you mean to use"
        return None
    if not is_this_bbwizard(program):
        return "warning", f"the helper starts {program}, another bbwizard than this one ({sys.executable})", \
            "Run bbwizard setup-git again with the bbwizard you mean to use"
    return None


def _url_site(url: str) -> str | None:
    from bbwizard.git.refs import _netloc

    try:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{_netloc(parts.scheme, parts.hostname or '', parts.port)}".lower()
    except ValueError:
        return None


def check_git_helpers(profiles: Mapping[str, Profile], *, store: ConfigStore | None = None,
                      cwd: str | os.PathLike[str] | None = None, git: str = "git",
                      env: Mapping[str, str] | None = None) -> list[Finding]:
    """bbwizard's helper lines in the global config and the current repository: do they still
    start this bbwizard, name a profile that exists, and come last for their host?"""
    from bbwizard.git.setup import _is_our_helper

    env = dict(os.environ if env is None else env)
    scopes = ["global"] + (["local"] if _inside_repository(cwd, git, env) else [])
    found: list[Finding] = []
    for scope in scopes:
        where = "your global git config" if scope == "global" else "this repository's .git/config"
        fix_scope = " --global" if scope == "global" else ""
        entries = _helper_entries(scope, cwd=cwd, git=git, env=env)
        for index, (url, value) in enumerate(entries):
            if not _is_our_helper(value):
                continue
            words = _helper_words(value)
            site = _url_site(url) if url else None
            profile_name = _option(words, "--profile")
            subject = f"credential.{url}.helper" if url else "credential.helper"
            setup = f"bbwizard setup-git{fix_scope}" + (f" --profile {profile_name}" if profile_name else "")
            problem = helper_program_problem(value, env=env)
            if problem is not None:
                level, what, fix = problem
                found.append(Finding("git", level, f"bbwizard's helper for {url or 'every host'} in {where}: {what}.",
                                     f"{fix}: {setup}", subject))
            elif profile_name and profiles and profile_name not in profiles and _option(words, "--config") is None:
                found.append(Finding("git", "problem", f"bbwizard's helper for {url or 'every host'} in {where} names the "
                                     f"profile '{profile_name}', which doesn't exist.", f"Sign in with it (bbwizard login --profile "
                                     f"{profile_name}) or point git at another one: bbwizard setup-git{fix_scope} --profile NAME", subject))
            else:
                how = "through PATH" if words and words[0] == "bbwizard" else words[0] if words else value
                found.append(Finding("git", "ok", f"git asks bbwizard for {url or 'every host'} in {where} ({how})", None, subject))
            for later_url, later in entries[index + 1 :]:
                if later_url and _url_site(later_url) != site:
                    continue
                if _is_our_helper(later):
                    continue
                program = later.split()[0] if later.strip() else ""
                stores = program.removeprefix("!").rsplit("/", 1)[-1].removeprefix("git-credential-") in STORING_HELPERS
                shown = later or "(an empty line, which switches bbwizard's helper off)"
                found.append(Finding(
                    "git", "problem" if stores or not later else "warning",
                    f"The helper “{shown}” comes after bbwizard's for {url or 'every host'} in {where}: git hands it each token "
                    "after use" + (" and it keeps them" if stores else "") + ".",
                    f"Remove that line or move it above bbwizard's, then run: {setup}", subject))
    return found


# --- passwords in git's credential store and in remote URLs --------------------------------------


def credential_store_files(env: Mapping[str, str]) -> list[Path]:
    """Where git's ``store`` helper keeps passwords: ``~/.git-credentials`` and
    ``$XDG_CONFIG_HOME/git/credentials`` (``~/.config/git/credentials``)."""
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    return [home / ".git-credentials", xdg / "git" / "credentials"]


def _is_bitbucket(host: str | None, extra: Iterable[str] = ()) -> bool:
    from bbwizard.net import normalise_host

    try:
        host = normalise_host(host or "")
    except Exception:  # a host that doesn't normalise is not Bitbucket's
        return False
    return host in _BITBUCKET_HOSTS or host in set(extra)


def _password_finding(user: str, where: str, host: str, fix: str, subject: str) -> Finding:
    from bbwizard.secret import printable

    user = printable(unquote(user))
    if user in TOKEN_USERNAMES:
        what = f"a token (user {user}) for {host}, kept in plain text"
        why = "bbwizard's helper hands git a fresh token each time; a copy kept here goes stale and is readable by anyone with the file"
    else:
        what = f"a password for {user}@{host}"
        why = f"app passwords stopped working on {APP_PASSWORDS_ENDED}, so git tries it, gets 401 and fails"
    return Finding("credentials", "problem", f"{where} holds {what} (not shown): {why}.", fix, subject)


def check_credential_store(env: Mapping[str, str] | None = None) -> list[Finding]:
    """``https://user:password@bitbucket.org`` lines in git's credential store files."""
    env = dict(os.environ if env is None else env)
    found: list[Finding] = []
    for path in credential_store_files(env):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines, start=1):
            try:
                parts = urlsplit(line.strip())
                host, password = parts.hostname, parts.password
            except ValueError:
                continue
            if password and _is_bitbucket(host):
                found.append(_password_finding(parts.username or "", f"Line {number} of {path}", host or "",
                                               f"Delete line {number} of {path} (it holds nothing bbwizard needs).",
                                               f"{path}:{number}"))
    return found


def _remotes(cwd: str | os.PathLike[str] | None, git: str, env: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """``(remote, "url" | "pushurl", value)`` of the repository at ``cwd`` (none outside one)."""
    code, out = _git(["config", "--local", "--null", "--get-regexp", r"^remote\..*\.(url|pushurl)$"], cwd=cwd, git=git, env=env)
    if code != 0:
        return []
    remotes = []
    for entry in out.split("\0"):
        key, _, value = entry.partition("\n")
        if not key:
            continue
        name, _, which = key[len("remote.") :].rpartition(".")
        remotes.append((name, which, value))
    return remotes


def _ssh_path(url: str) -> tuple[str, str] | None:
    """``(host, path)`` of an SSH remote (``git@host:path`` or ``ssh://git@host/path``)."""
    if url.startswith("ssh://"):
        parts = urlsplit(url)
        return (parts.hostname or "", parts.path.lstrip("/")) if parts.hostname else None
    if "://" in url or ":" not in url:
        return None
    who, _, path = url.partition(":")
    host = who.rpartition("@")[2]
    return (host.lower(), path) if host and "/" not in host else None


def check_remotes(*, cwd: str | os.PathLike[str] | None = None, git: str = "git",
                  env: Mapping[str, str] | None = None) -> list[Finding]:
    """The current repository's remotes: a password in a URL, and SSH on the old host."""
    from bbwizard.secret import printable

    env = dict(os.environ if env is None else env)
    found: list[Finding] = []
    flag = {"url": "", "pushurl": " --push"}
    for name, which, url in _remotes(cwd, git, env):
        shown_name = printable(name)
        try:
            parts = urlsplit(url) if "://" in url else None
            password = parts.password if parts and parts.scheme in ("http", "https") else None
        except ValueError:
            parts, password = None, None
        if parts is not None and password and _is_bitbucket(parts.hostname):
            clean = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
            fix = f"git remote set-url{flag[which]} {shown_name} {printable(clean)}"
            found.append(_password_finding(parts.username or "", f"The remote '{shown_name}' ({which})",
                                           parts.hostname or "", f"Take the password out of the URL: {fix}", f"remote.{name}.{which}"))
            continue
        ssh = _ssh_path(url)
        if ssh and ssh[0] == _SSH_OLD:
            new = f"git@{_SSH_NEW}:{ssh[1]}"
            found.append(Finding("remote", "warning",
                                 f"The remote '{shown_name}' uses SSH on {_SSH_OLD}, which moved to {_SSH_NEW} on {SSH_MOVE_DATE}.",
                                 f"git remote set-url{flag[which]} {shown_name} {printable(new)}", f"remote.{name}.{which}"))
    return found


# --- the environment ----------------------------------------------------------------------------

_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _without_password(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.password or parts.username:
            return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
    except ValueError:
        return "(a value that is not an address)"
    return url


def check_environment(env: Mapping[str, str] | None = None) -> list[Finding]:
    """Variables that change what bbwizard or git does with a token."""
    from bbwizard.secret import printable

    env = dict(os.environ if env is None else env)
    found: list[Finding] = []
    area = "environment"
    if env.get("BBWIZARD_TOKEN"):
        kind = env.get("BBWIZARD_TOKEN_KIND") or "access_token"
        found.append(Finding(area, "note", f"BBWIZARD_TOKEN is set (kind {printable(kind)}): token, credential, clone and repos "
                             "use it instead of the saved profile.", "Unset it to use the saved profile: unset BBWIZARD_TOKEN", "BBWIZARD_TOKEN"))
        if kind not in ("api_token", "access_token", "oauth"):
            found.append(Finding(area, "problem", f"BBWIZARD_TOKEN_KIND is '{printable(kind)}'; bbwizard knows api_token, access_token and oauth.",
                                 "export BBWIZARD_TOKEN_KIND=api_token (or access_token)", "BBWIZARD_TOKEN_KIND"))
        elif kind == "api_token" and not env.get("BBWIZARD_EMAIL"):
            found.append(Finding(area, "problem", "BBWIZARD_TOKEN holds an API token but BBWIZARD_EMAIL is not set: "
                                 "Bitbucket's REST API takes an API token only with its account's email.",
                                 "export BBWIZARD_EMAIL=you@example.com", "BBWIZARD_EMAIL"))
    if env.get("GIT_ASKPASS"):
        found.append(Finding(area, "warning", f"GIT_ASKPASS is set ({printable(env['GIT_ASKPASS'])}): when no helper answers, "
                             "git asks that program for a password instead of failing with a sentence. bbwizard's own clones drop it.",
                             "Unset it unless you mean it: unset GIT_ASKPASS", "GIT_ASKPASS"))
    if env.get("GIT_TERMINAL_PROMPT") == "0":
        found.append(Finding(area, "note", "GIT_TERMINAL_PROMPT=0: git never asks for a password in the terminal; without "
                             "bbwizard's helper a fetch fails instead.", None, "GIT_TERMINAL_PROMPT"))
    for variable in _PROXY_VARIABLES:
        if env.get(variable):
            found.append(Finding(area, "note", f"{variable}={printable(_without_password(env[variable]))}: bbwizard and git reach "
                                 "Bitbucket through this proxy (loopback addresses excepted).", None, variable))
    for variable in ("NO_PROXY", "no_proxy"):
        if env.get(variable):
            found.append(Finding(area, "note", f"{variable}={printable(env[variable])}: these hosts are reached without the proxy.", None, variable))
    for variable in ("SSL_CERT_FILE", "GIT_SSL_CAINFO"):
        value = env.get(variable)
        if value and not os.path.isfile(value):
            found.append(Finding(area, "problem", f"{variable} names {printable(value)}, which is not a file: every TLS check fails.",
                                 f"Point {variable} at your CA bundle (a PEM file), or unset it.", variable))
        elif value:
            users = "bbwizard and git check" if variable == "SSL_CERT_FILE" else "git checks"
            found.append(Finding(area, "note", f"{variable}={printable(value)}: {users} Bitbucket's certificate against this CA bundle "
                                 "(a profile's --ca-bundle wins).", None, variable))
    if env.get("SSL_CERT_DIR") and not os.path.isdir(env["SSL_CERT_DIR"]):
        found.append(Finding(area, "problem", f"SSL_CERT_DIR names {printable(env['SSL_CERT_DIR'])}, which is not a folder.",
                             "Point SSL_CERT_DIR at your CA folder, or unset it.", "SSL_CERT_DIR"))
    if env.get("REQUESTS_CA_BUNDLE") and not env.get("SSL_CERT_FILE"):
        found.append(Finding(area, "warning", f"REQUESTS_CA_BUNDLE is set ({printable(env['REQUESTS_CA_BUNDLE'])}), but bbwizard "
                             "doesn't read it (it is the requests library's): bbwizard and git trust their own CAs.",
                             f"export SSL_CERT_FILE={printable(env['REQUESTS_CA_BUNDLE'])} (or bbwizard login --ca-bundle FILE)",
                             "REQUESTS_CA_BUNDLE"))
    if env.get("GIT_SSL_NO_VERIFY"):
        found.append(Finding(area, "problem", "GIT_SSL_NO_VERIFY is set: plain git (git pull) sends your token to any server "
                             "that answers for Bitbucket, unchecked. bbwizard's own clones drop it.",
                             "unset GIT_SSL_NO_VERIFY (for a company CA: export SSL_CERT_FILE=CA.pem)", "GIT_SSL_NO_VERIFY"))
    return found


__all__ = [
    "Finding",
    "all_well",
    "check_config_file",
    "check_credential_store",
    "check_environment",
    "check_git_helpers",
    "check_live",
    "check_profile",
    "check_remotes",
    "check_with_bitbucket",
    "credential_store_files",
    "diagnose",
    "helper_program_problem",
]
