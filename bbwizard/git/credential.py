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


def read_credential_request(stream) -> dict[str, str]:  # a text stream
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


# --- a storing helper after bbwizard's -------------------------------------------------------
#
# git hands a credential that worked to every helper in its list with ``store``: a
# ``credential.helper store`` added after ``setup-git --global`` writes each token to
# ~/.git-credentials. ``credential get`` notices it on the fetch that follows and says so once.
# It runs on every fetch, so the usual answer costs a few ``stat`` calls: a fingerprint of the git
# config files git reads here (each file's inode, size and times, git's config variables, the
# folder) is kept in a small file beside bbwizard's config, and git's whole list is read again
# (one ``git config --list``) only for a fingerprint not seen before.
#
# Known limits: files that ``[include]``/``[includeIf]`` bring in are watched once a reading has
# seen them (git names every file it read), so an include that points at a file which does not
# exist yet is noticed when the including file changes, or at the next repository's first fetch;
# a system config in another place than /etc/gitconfig (or GIT_CONFIG_SYSTEM) is watched once it
# exists at a reading. Two fetches that start at the same moment after a change may both warn.

#: The file beside the config that remembers what was read and what was said.
HELPER_CHECK_FILE = "git-helpers-checked"
_HELPER_CHECK_HEADER = "bbwizard git helper check 1"
_KEPT_FINGERPRINTS = 8
#: git's environment that changes what its config says.
_GIT_CONFIG_VARIABLES = ("GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_GLOBAL", "GIT_DIR",
                         "GIT_COMMON_DIR", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "HOME", "XDG_CONFIG_HOME")

#: What a storing helper does with a token (helper names as git spells them after ``credential-``).
_KEEPS = {
    "store": "which writes it to ~/.git-credentials",
    "cache": "which keeps it in memory",
    **dict.fromkeys(
        ("osxkeychain", "manager", "manager-core", "libsecret", "wincred", "gnome-keyring"),
        "which keeps it in the system's credential store",
    ),
}


def storing_helper_warnings(request: Mapping[str, str], config_path: str | None = None, *, token: str = "") -> list[str]:
    """Sentences about helpers git calls after bbwizard's for the request's site, each said once.

    Call it after answering ``request`` (its site is the profile's). Usually a few ``stat`` calls
    and the read of one small file (:data:`HELPER_CHECK_FILE`, beside the config at
    ``config_path`` or the usual place); git's list is read only when git's config files changed
    since the last time. ``token`` is taken out of every sentence (a helper line could hold it).
    """
    import os

    site = f"{request.get('protocol', '').lower()}://{request.get('host', '').lower()}"
    if config_path is None:
        from bbwizard.paths import config_file

        config_path = config_file()
    state_path = os.path.join(os.path.dirname(os.path.abspath(os.path.expanduser(config_path))), HELPER_CHECK_FILE)
    try:
        with open(state_path, encoding="utf-8") as handle:
            lines = handle.read().split("\n", 3)
    except (OSError, ValueError):
        lines = []
    if len(lines) < 4 or lines[0] != _HELPER_CHECK_HEADER:
        lines = [_HELPER_CHECK_HEADER, "", "", "[]"]
    watched = [path for path in lines[2].split("\0") if path]
    cwd = os.getcwd()
    usual = _usual_config_files(cwd)
    fingerprint = _config_fingerprint(site, cwd, [*usual, *watched])
    if fingerprint in lines[1].split():
        return []
    return _check_helpers(site, state_path, lines, fingerprint, cwd, usual, watched, token)


def _usual_config_files(cwd: str) -> list[str]:
    """The config files git reads for a helper run in ``cwd`` (a repository's top folder, where
    git runs its helpers, or ``GIT_DIR``'s), whether they exist or not."""
    import os

    env = os.environ
    files = []
    if not env.get("GIT_CONFIG_NOSYSTEM"):
        files.append(env.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig")
    if env.get("GIT_CONFIG_GLOBAL"):
        files.append(os.path.expanduser(env["GIT_CONFIG_GLOBAL"]))
    else:
        xdg = env.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        files += [os.path.join(xdg, "git", "config"), os.path.expanduser("~/.gitconfig")]
    git_dir = env.get("GIT_DIR")
    if not git_dir:
        dot_git = os.path.join(cwd, ".git")
        if os.path.isdir(dot_git):
            git_dir = dot_git
        else:  # a worktree or a submodule: "gitdir: PATH"
            try:
                with open(dot_git, encoding="utf-8") as handle:
                    first = handle.readline()
            except (OSError, ValueError):
                first = ""
            if first.startswith("gitdir:"):
                git_dir = first[len("gitdir:"):].strip()
    if git_dir:
        git_dir = os.path.join(cwd, git_dir)
        common = env.get("GIT_COMMON_DIR")
        if not common:
            try:
                with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as handle:
                    common = handle.readline().strip()
            except (OSError, ValueError):
                common = ""
        common = os.path.join(git_dir, common) if common else git_dir
        files += [os.path.normpath(os.path.join(common, "config")), os.path.normpath(os.path.join(git_dir, "config.worktree"))]
    return files


def _config_fingerprint(site: str, cwd: str, files: Iterable[str]) -> str:
    """16 hex digits that change when any of ``files`` is written, created or removed, or git's
    config variables change. Holds no value of them (GIT_CONFIG_PARAMETERS may carry a header)."""
    import os
    import zlib

    parts = [site, cwd]
    env = os.environ
    parts += [f"{name}={env.get(name, '')}" for name in _GIT_CONFIG_VARIABLES]
    try:
        count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    except ValueError:
        count = 0
    for index in range(max(0, min(count, 1000))):
        parts.append(f"{env.get(f'GIT_CONFIG_KEY_{index}', '')}={env.get(f'GIT_CONFIG_VALUE_{index}', '')}")
    for path in files:
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            parts.append(f"{path}:-")
            continue
        parts.append(f"{path}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}")
    data = "\0".join(parts).encode("utf-8", "surrogateescape")
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def _check_helpers(site: str, state_path: str, lines: list[str], fingerprint: str, cwd: str,
                   usual: list[str], watched: list[str], token: str) -> list[str]:
    """git's list read once: say what is new, remember what was read and said."""
    import json
    import os

    from bbwizard.git.setup import _run_git, entries_after_ours

    result = _run_git(["config", "--null", "--list", "--show-scope", "--show-origin"], check=False)
    if result.returncode != 0:
        return []  # git itself says what is wrong with its config on this fetch
    fields = result.stdout.split("\0")
    entries = []
    read_files = set()
    for scope, origin, entry in zip(fields[0::3], fields[1::3], fields[2::3]):
        key, _, value = entry.partition("\n")
        path = os.path.normpath(os.path.join(cwd, origin[len("file:"):])) if origin.startswith("file:") else ""
        if path:
            read_files.add(path)
        entries.append((key, value, scope, path))
    found = {
        (site, path, key, value): scope
        for key, value, scope, path in entries_after_ours(entries, site)
        if value and not _leaves_tokens_alone(value)
    }
    try:
        said = {tuple(record) for record in json.loads(lines[3]) if isinstance(record, list) and len(record) == 4}
    except ValueError:
        said = set()
    warnings = [_storing_helper_sentence(site, path, key, value, scope, cwd, usual, token)
                for (site_, path, key, value), scope in found.items() if (site_, path, key, value) not in said]
    # What was read and no longer holds a helper said before is forgotten, so adding it back is said again.
    looked_at = read_files | set(usual)
    said = {record for record in said if not (record[0] == site and record[1] in looked_at)} | set(found)
    new_watched = sorted(path for path in read_files if path not in usual and "\n" not in path)
    if new_watched != sorted(watched):
        fingerprint = _config_fingerprint(site, cwd, [*usual, *new_watched])
    fingerprints = [fingerprint, *(old for old in lines[1].split() if old != fingerprint)][:_KEPT_FINGERPRINTS]
    text = "\n".join([_HELPER_CHECK_HEADER, " ".join(fingerprints), "\0".join(new_watched),
                      json.dumps(sorted(said), ensure_ascii=True)])
    _write_state(state_path, text)
    return warnings


def _leaves_tokens_alone(value: str) -> bool:
    """A helper known to ignore ``store``: gh's (``gh auth git-credential``)."""
    import os

    from bbwizard.git.setup import helper_words

    words = helper_words(value)
    return len(words) >= 3 and os.path.basename(words[0]) == "gh" and words[1:3] == ["auth", "git-credential"]


def _helper_name(value: str) -> str:
    """``store`` for ``store --file x``, ``/usr/lib/git-core/git-credential-store`` or
    ``!git-credential-store``; the value's first word otherwise."""
    import os

    first = value.lstrip("!").split(maxsplit=1)[0] if value.strip("! ") else value
    return os.path.basename(first).removeprefix("git-credential-")


def _storing_helper_sentence(site: str, path: str, key: str, value: str, scope: str, cwd: str,
                             usual: list[str], token: str) -> str:
    import os
    import shlex

    from bbwizard.secret import printable, redact

    if scope == "command" or not path:
        where, remove = "git's command line or its GIT_CONFIG_* variables", None
    else:
        where = path
        home = os.path.expanduser("~")
        if where.startswith(home + os.sep):
            where = "~" + where[len(home):]
        if scope == "global" and path == os.path.expanduser(os.environ.get("GIT_CONFIG_GLOBAL") or "~/.gitconfig"):
            place = ["--global"]
        elif scope == "local" and path in usual and path.endswith(os.sep + "config"):
            place = ["--local"]
        elif scope == "system" and path == (os.environ.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig"):
            place = ["--system"]
        else:
            place = ["--file", path]
        remove = " ".join(shlex.quote(word) for word in ["git", "config", *place, "--fixed-value", "--unset-all", key, value])
    keeps = _KEEPS.get(_helper_name(value), "which may keep it")
    if _helper_name(value) == "store":
        try:
            words = shlex.split(value.lstrip("!"))
        except ValueError:
            words = []
        for index, word in enumerate(words):  # store --file PATH (or --file=PATH) writes there instead
            if word == "--file" and index + 1 < len(words):
                keeps = f"which writes it to {words[index + 1]}"
            elif word.startswith("--file="):
                keeps = f"which writes it to {word[len('--file='):]}"
    sentence = f"git hands each token for {site} to the credential helper “{value}” after bbwizard's (in {where}), {keeps}."
    sentence += f" Remove it with: {remove}" if remove else " Remove it there."
    return " ".join(printable(redact(sentence, [token] if token else [])).split())


def _write_state(path: str, text: str) -> None:
    """Replace the check's file at once (0600), or leave it: the check is then made again."""
    import os

    folder = os.path.dirname(path)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError:
        try:
            os.remove(temporary)
        except OSError:
            pass
