"""Clones that never leak the token.

The new repository's ``.git/config`` gets the helper command (never a secret), so ``git pull``
keeps working after the token expires: the helper refreshes it. Progress leaves as small event
records through a callback; failures leave as :mod:`bbwizard.errors`, with git's stderr redacted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bbwizard.config import utc_now
from bbwizard.errors import (
    CloneCancelled,
    DestinationExists,
    GitError,
    ScopeError,
    SignInRequired,
    UsageError,
)
from bbwizard.git.env import (
    LOW_SPEED_LIMIT,
    LOW_SPEED_TIME,
    _config_path_for,
    bypass_proxy_for_loopback,
    ca_bundle_config,
    clone_config,
    git_env,
    helper_config,
)
from bbwizard.git.failures import _branch_not_found, explain_git_failure
from bbwizard.git.progress import CloneEvent, CloneOutput, ProgressSplitter, parse_progress_line
from bbwizard.git.refs import RepositoryRef, _check_name, clone_url, site_base
from bbwizard.secret import printable, redact

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from bbwizard.config import ConfigStore, Profile

    Clock = Callable[[], datetime]

# How long git gets to clean up after SIGTERM before it is killed.
TERMINATE_GRACE = 5.0


@dataclass(eq=True)
class CloneResult:
    """How one clone ended: ``ok`` with its ``path``, ``branch`` and ``size_bytes`` (None when not
    measured), or not, with ``error`` (a redacted sentence) and the ``exception`` behind it."""

    workspace: str
    slug: str
    path: Path
    ok: bool
    branch: str | None = None
    size_bytes: int | None = None
    seconds: float = 0.0
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False)
    # The branch asked for that the repository doesn't have, when the clone fell back to its
    # main branch (``branch_fallback``); None otherwise.
    missing_branch: str | None = None

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
        if not os.access(path, os.W_OK | os.X_OK):
            raise GitError(f"You can't write into {path}. Choose another destination.")
        return path, False
    # A file above it, or a folder without write access: said as --into says it, not a traceback.
    problem = _destination_problem(path)
    if problem is not None:
        raise GitError(f"Can't clone into {path}: {problem}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir()
    except FileExistsError:
        raise DestinationExists(
            f"{path} appeared while the clone was starting. Choose another destination."
        ) from None
    except OSError as error:
        raise GitError(f"Can't make the folder {path} ({error.strerror or error}). Choose another destination.") from None
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



async def _terminate(proc) -> None:  # asyncio.subprocess.Process
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
    except (TimeoutError, asyncio.CancelledError):
        _kill_now(proc)
        await proc.wait()


def _kill_now(proc) -> None:
    if proc.returncode is not None:
        return
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:
        pass


async def _fresh_profile(profile: Profile, store: ConfigStore | None, *, force: bool = False,
                         clock: Clock = utc_now) -> Profile:
    if store is None:
        return profile
    if not force:
        current = store.get(profile.name)
        if current.token_state(clock()) == "fresh":  # the common case: no oauth, no thread
            return current
    from bbwizard.oauth import ensure_fresh

    return await asyncio.to_thread(lambda: ensure_fresh(store, profile.name, force=force, clock=clock))


async def _run_git_clone(argv: list[str], env: dict[str, str], on_progress: ProgressCallback | None) -> tuple[int, list[str]]:
    """Run one ``git clone``; returns (exit code, kept output lines). Stops git if interrupted."""
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


def _cancelled(ref: RepositoryRef, path: Path, created: bool) -> CloneCancelled:
    where = f" and removed {path}" if created else f" and emptied {path}"
    return CloneCancelled(f"Cancelled the clone of {ref.full_name}{where}.")


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
    measure_size: bool = True,
    extra_args: Sequence[str] = (),
    branch_fallback: bool = False,
    clock: Clock = utc_now,
) -> CloneResult:
    """Clone ``workspace/slug`` of the profile's site into ``dest`` (default ``./slug``).

    git asks for the token through bbwizard's own helper process (``bbwizard credential
    --profile NAME``, the command written into the new repository's ``.git/config``), which reads
    the profile from ``store``'s config file (default: the usual one): the profile must be saved
    there. With ``store``, the token is made fresh first (so a needed sign-in is reported before
    git starts), and a 401 from git refreshes it once and tries once more (never a loop).
    Cancelling the task stops git, removes what this clone created, and raises
    :class:`~bbwizard.errors.CloneCancelled`; a destination that exists and is not empty is
    refused before anything starts (:class:`~bbwizard.errors.DestinationExists`).

    ``extra_args`` are options for ``git clone`` (see :func:`check_clone_arguments`, which refuses
    what could move the destination, add an address or touch credentials); with
    ``branch_fallback`` a missing ``branch`` clones the main branch instead (``missing_branch``):
    git's answer says so before any object is fetched. With ``measure_size=False`` the result's
    ``size_bytes`` stays None (no walk of the new tree). ``clock`` tells the time the token's
    freshness is judged by (the wizard's, a test's; by default the real one).
    """
    ref = _check_clone_request(workspace, slug, branch, depth)
    extra_args = check_clone_arguments(extra_args)
    started = time.monotonic()
    path, created = prepare_destination(dest if dest is not None else ref.slug)
    try:
        profile = await _fresh_profile(profile, store, clock=clock)
        site = site_base(profile.site_url)
        host = urlsplit(site).netloc
        config_path = _config_path_for(store)
        # Progress only for someone who listens: without a callback nobody sees it, and git's
        # progress costs the clone a few percent (as plain git, which shows none off a terminal).
        progress = on_progress is not None
        argv = [git, "clone", "--progress" if progress else "--no-progress"]
        # Persisted in the new repository's .git/config: a command, no secret.
        for key, value in [*helper_config(site, profile.name, config_path=config_path),
                           *ca_bundle_config(site, profile.ca_bundle)]:
            argv += ["-c", f"{key}={value}"]
        if depth:
            argv += ["--depth", str(depth)]
        tail = [*extra_args, "--", clone_url(site, ref.workspace, ref.slug), str(path)]
        argv_main = [*argv, *tail]
        if branch:
            argv += ["--branch", branch]
        argv += tail
        env = git_env(
            clone_config(site, profile.name, config_path=config_path, ca_bundle=profile.ca_bundle),
            low_speed_limit=low_speed_limit,
            low_speed_time=low_speed_time,
        )
        if not progress:  # else git's checkout reports every percent even with --no-progress
            del env["GIT_PROGRESS_DELAY"]
        bypass_proxy_for_loopback(env, site)
        missing_branch: str | None = None
        refreshed = False
        while True:
            code, kept = await _run_git_clone(argv, env, on_progress)
            if code == 0:
                break
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
                profile = await _fresh_profile(profile, store, force=True, clock=clock)
                continue
            if branch_fallback and branch and missing_branch is None and _branch_not_found(kept):
                # git stops at the list of refs, before fetching anything: start again on the main branch.
                missing_branch = branch
                _remove_destination(path, created=False)
                argv = argv_main
                continue
            raise error
        # Walking the new tree costs a large repository seconds: only for someone who shows it.
        size = await asyncio.to_thread(folder_size, path) if measure_size else None
    except asyncio.CancelledError:
        _remove_destination(path, created)
        raise _cancelled(ref, path, created) from None
    except BaseException:
        _remove_destination(path, created)
        raise
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
    clock: Clock = utc_now,
) -> list[CloneResult]:
    """Clone several repositories, ``jobs`` at a time, each with its own events (by index).
    ``extra_args``, ``branch_fallback`` and ``clock`` apply to each (see :func:`clone_repository`).

    Never raises for one failed clone: each result says ok or carries the error sentence.
    Cancelling stops every clone (each removes what it created) and raises CloneCancelled.
    """
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
        profile = await _fresh_profile(profile, store, clock=clock)
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
                    clock=clock,
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
