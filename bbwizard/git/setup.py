"""``bbwizard setup-git``: make bbwizard git's credential helper for a site, and undo it."""

from __future__ import annotations

import os
import re
import shlex
from collections import namedtuple
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bbwizard.errors import GitError, UsageError
from bbwizard.git.env import _config_path_for, ca_bundle_config, git_env, helper_command, helper_key
from bbwizard.git.failures import _error_lines
from bbwizard.git.refs import _netloc, site_base
from bbwizard.secret import redact

if TYPE_CHECKING:  # pragma: no cover
    from bbwizard.config import ConfigStore, Profile


class SetupResult(namedtuple("SetupResult", "key scope changed replaced where after_ours ca_bundle",
                             defaults=((), "", (), ()))):
    """What :func:`setup_git` or :func:`unset_git` did: ``scope`` is "local" or "global";
    ``replaced`` the helper values that were there before and are now gone; ``after_ours`` the
    helpers for the host that git reads *after* bbwizard's in that file (git hands each of them
    the token after every use; empty when bbwizard's helper comes last). ``changed`` is about the
    helper; ``ca_bundle`` is the ``(key, path)`` of the profile's CA bundle this call wrote or
    removed, else empty."""

    __slots__ = ()


def _run_git(args: Sequence[str], *, cwd: str | os.PathLike[str] | None = None, git: str = "git", check: bool = True):
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


def is_this_bbwizard(script: str | os.PathLike[str]) -> bool:
    """Whether the ``bbwizard`` script at ``script`` starts this bbwizard: it is the script beside
    this interpreter (links followed), or its ``#!`` line names an interpreter in this
    interpreter's folder (a venv's python is a link to the system's, so folders are compared)."""
    import sys

    from bbwizard.git.env import bbwizard_argv

    ours = bbwizard_argv()
    if len(ours) == 1 and os.path.realpath(ours[0]) == os.path.realpath(script):
        return True
    try:
        with open(script, "rb") as handle:
            first = handle.readline(4096)
    except OSError:
        return False
    if not first.startswith(b"#!"):
        return False
    words = first[2:].strip().decode("utf-8", "replace").split()
    if not words:
        return False
    interpreter = words[-1] if os.path.basename(words[0]) == "env" and len(words) > 1 else words[0]
    if not os.path.isabs(interpreter):
        return False
    here = os.path.dirname(sys.executable)
    return os.path.realpath(os.path.dirname(interpreter)) == os.path.realpath(here)


def lasting_helper_command(profile_name: str, *, config_path: str | os.PathLike[str] | None = None) -> str:
    """The helper ``setup-git`` writes into a git config that outlives this install: ``!bbwizard
    credential …``, found through PATH when the bbwizard on PATH is this one, so an upgrade that
    moves the venv (pipx reinstall, a new Python) doesn't break ``git pull``; else the absolute
    command of :func:`~bbwizard.git.env.helper_command` (``bbwizard doctor`` checks it still exists)."""
    from shutil import which

    on_path = which("bbwizard")
    if on_path is None or not is_this_bbwizard(on_path):
        return helper_command(profile_name, config_path=config_path)
    words = ["bbwizard", "credential", "--profile", profile_name]
    if config_path is not None:
        words += ["--config", os.fspath(config_path)]
    return "!" + " ".join(shlex.quote(word) for word in words)


def helper_words(value: str) -> list[str]:
    """The command line of a ``!command`` helper value, split as git's shell would; empty for a
    helper of another form (a name, a path) or one that doesn't split."""
    if not value.startswith("!"):
        return []
    try:
        return shlex.split(value[1:])
    except ValueError:
        return []


def _is_our_helper(value: str) -> bool:
    """A value bbwizard wrote: ``!bbwizard credential …`` (through PATH), ``!…/bbwizard
    credential …`` or ``!… -m bbwizard credential …``."""
    words = helper_words(value)
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
    entries = (entry.partition("\n")[::2] for entry in result.stdout.split("\0"))
    return [value if value else "(an empty line, which switches bbwizard's helper off)"
            for _, value, *_ in entries_after_ours(entries, site_url)]


def entries_after_ours(entries: Iterable[Sequence[str]], site_url: str) -> list[Sequence[str]]:
    """The helper entries for the site's URL that git's list holds after bbwizard's last helper.

    ``entries`` are git's config entries in the order git reads them, each ``(key, value, …)``
    (anything after the value, such as where git read it, comes back untouched); entries that are
    not ``credential.helper`` or ``credential.<url>.helper`` for the site are skipped.
    """
    site = site_base(site_url).lower()
    seen_ours = False
    after: list[Sequence[str]] = []
    for entry in entries:
        key, value = entry[0], entry[1]
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
            after.append(entry)
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
    key = helper_key(profile.site_url)
    wanted = lasting_helper_command(profile.name, config_path=_config_path_for(store))
    before = configured_helpers(key, scope, cwd=cwd, git=git)
    # The profile's CA bundle, as bbwizard's own clones keep it: without it a later `git pull`
    # from a site with a private CA fails TLS before the helper is ever asked.
    trust = ca_bundle_config(profile.site_url, profile.ca_bundle)
    trust_changed = False
    for ca_key, ca_path in trust:
        if configured_helpers(ca_key, scope, cwd=cwd, git=git) != [ca_path]:
            _run_git(["config", *_scope_args(scope), "--replace-all", ca_key, ca_path], cwd=cwd, git=git)
            trust_changed = True
    ca_bundle = trust[0] if trust else ()
    if before == ["", wanted]:
        after = tuple(helpers_after_ours(profile.site_url, scope, cwd=cwd, git=git))
        return SetupResult(key=key, scope=scope, changed=False, where=where, after_ours=after,
                           ca_bundle=ca_bundle if trust_changed else ())
    _run_git(["config", *_scope_args(scope), "--replace-all", key, ""], cwd=cwd, git=git)
    _run_git(["config", *_scope_args(scope), "--add", key, wanted], cwd=cwd, git=git)
    replaced = tuple(v for v in before if v and v != wanted)
    after = tuple(helpers_after_ours(profile.site_url, scope, cwd=cwd, git=git))
    return SetupResult(key=key, scope=scope, changed=True, replaced=replaced, where=where, after_ours=after,
                       ca_bundle=ca_bundle)


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
    ca_bundle = _unset_ca_bundle(profile, scope, cwd=cwd, git=git)
    ours = [v for v in before if _is_our_helper(v)]
    if not ours:
        return SetupResult(key=key, scope=scope, changed=False, where=where, ca_bundle=ca_bundle)
    for value in dict.fromkeys(ours):
        _run_git(["config", *_scope_args(scope), "--fixed-value", "--unset-all", key, value], cwd=cwd, git=git)
    rest = [v for v in before if not _is_our_helper(v)]
    if all(v == "" for v in rest):
        _run_git(["config", *_scope_args(scope), "--unset-all", key], cwd=cwd, git=git, check=False)
        _remove_empty_section(key, scope, cwd=cwd, git=git)
    return SetupResult(key=key, scope=scope, changed=True, where=where, ca_bundle=ca_bundle)


def _unset_ca_bundle(profile: Profile, scope: str, *, cwd: str | os.PathLike[str] | None, git: str) -> tuple[str, ...]:
    """Remove the ``http.<site>/.sslCAInfo`` that :func:`setup_git` wrote: only while it still
    names the profile's bundle (a path the person set there themselves stays)."""
    removed: tuple[str, ...] = ()
    for ca_key, ca_path in ca_bundle_config(profile.site_url, profile.ca_bundle):
        if ca_path not in configured_helpers(ca_key, scope, cwd=cwd, git=git):
            continue
        _run_git(["config", *_scope_args(scope), "--fixed-value", "--unset-all", ca_key, ca_path], cwd=cwd, git=git)
        _remove_empty_section(ca_key, scope, cwd=cwd, git=git)
        removed = (ca_key, ca_path)
    return removed


def _remove_empty_section(key: str, scope: str, *, cwd: str | os.PathLike[str] | None, git: str) -> None:
    section = key.rsplit(".", 1)[0]
    result = _run_git(["config", *_scope_args(scope), "--get-regexp", "^" + re.escape(section) + r"\."], cwd=cwd, git=git, check=False)
    if result.returncode == 1:  # nothing left in it
        _run_git(["config", *_scope_args(scope), "--remove-section", section], cwd=cwd, git=git, check=False)
