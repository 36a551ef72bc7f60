"""``bbwizard clone``, ``bbwizard credential get|store|erase`` and ``bbwizard setup-git``.

Nothing heavy at import time: git runs ``bbwizard credential get`` on every request it
authenticates, so rich, httpx and Textual are imported only inside the commands that draw or
refresh.
"""

from __future__ import annotations

import argparse
import sys

from bbwizard.cli import positive_number
from bbwizard.errors import EXIT_FAILED, EXIT_OK, BBWizardError

EXIT_CANCELLED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    clone = subparsers.add_parser(
        "clone",
        usage=(
            "bbwizard clone WORKSPACE/REPO [DEST] [--branch B] [--depth N] [--profile P] [-- GIT-CLONE-OPTIONS]\n"
            "       bbwizard clone WORKSPACE/REPO... --into DIR [--jobs N] [--branch B] [--depth N] [--profile P] [-- GIT-CLONE-OPTIONS]"
        ),
        help="clone Bitbucket repositories with a progress bar; git pull keeps working afterwards",
        description=(
            "Clone WORKSPACE/REPO (or its https or ssh URL) over HTTPS with the profile's token. "
            "The new repository gets bbwizard as its credential helper, so fetch, pull and push "
            "keep working after the token expires. The token is never written anywhere. "
            "A repository without the --branch given is cloned on its main branch, with a note. "
            "Options after -- go to git clone (for example -- --single-branch --no-tags); options that "
            "could change the destination, add an address or touch credentials are refused."
        ),
    )
    clone.add_argument("repositories", nargs="+", metavar="REPOSITORY", help="WORKSPACE/REPO or a clone URL, then an optional DEST folder; with --into, several repositories")
    clone.add_argument("--branch", "-b", metavar="BRANCH", help="check out BRANCH (for example develop) instead of the main branch; a repository without it gets its main branch")
    clone.add_argument("--depth", type=positive_number, metavar="N", help="shallow clone with the last N commits")
    clone.add_argument("--profile", "-p", metavar="NAME", help="the profile to use (default: the default profile)")
    clone.add_argument("--into", metavar="DIR", help="clone each repository into DIR/REPO (needed for several)")
    clone.add_argument("--jobs", "-j", type=positive_number, default=4, metavar="N", help="clones at the same time (default 4)")
    clone.set_defaults(func=run_clone)

    credential = subparsers.add_parser(
        "credential",
        help="git credential helper (git runs it; you don't need to)",
        description=(
            "git's credential-helper protocol on stdin/stdout. `get` answers x-token-auth and a "
            "fresh token, only for the profile's host. `store` and `erase` are ignored."
        ),
    )
    credential.add_argument("--profile", "-p", metavar="NAME", help="the profile to answer with")
    credential.add_argument("--config", metavar="PATH", help="the config file (default: the usual one)")
    credential.add_argument("action", metavar="get|store|erase", help="what git asks")
    credential.set_defaults(func=run_credential)

    setup = subparsers.add_parser(
        "setup-git",
        help="make bbwizard git's credential helper for the profile's host",
        description=(
            "Configure git to ask bbwizard for credentials for the profile's host, like "
            "`gh auth setup-git`: in the current repository, or with --global for every repository. "
            "Other helpers for that host are switched off there; --unset undoes it."
        ),
    )
    setup.add_argument("--profile", "-p", metavar="NAME", help="the profile to use (default: the default profile)")
    setup.add_argument("--global", dest="global_", action="store_true", help="edit your global git config instead of this repository's")
    setup.add_argument("--unset", action="store_true", help="remove what setup-git added")
    setup.set_defaults(func=run_setup_git)


# --- credential -------------------------------------------------------------------------------


def run_credential(args: argparse.Namespace) -> int:
    from bbwizard.git.credential import credential_get, format_credential, fresh_credential_get, read_credential_request

    request = read_credential_request(sys.stdin)
    if args.action != "get":
        # store, erase and anything newer: accepted and ignored, so a failed push can't sign out.
        return EXIT_OK
    try:
        answer = fresh_credential_get(request, args.profile, args.config)
        if answer is None:  # anything but a plainly fresh token for this host: the full road decides
            from bbwizard.config import ConfigStore

            answer = credential_get(ConfigStore(args.config), request, args.profile)
        if answer:
            sys.stdout.write(format_credential(answer))
            sys.stdout.flush()
            _warn_storing_helpers(request, args.config, answer.get("password", ""))
    except BBWizardError as error:
        from bbwizard.errors import SignInRequired
        from bbwizard.secret import redact

        if isinstance(error, SignInRequired):
            # The sign-in has ended: tell git to stop here, or it asks the next helper and then
            # the terminal for a "Username for …" that no Bitbucket password can answer.
            sys.stdout.write(format_credential({"quit": "1"}))
            sys.stdout.flush()
        print(f"bbwizard: {' '.join(redact(str(error)).split())}", file=sys.stderr)
        return error.exit_code
    return EXIT_OK


def _warn_storing_helpers(request, config_path: str | None, token: str) -> None:  # git's request
    """Say once on stderr (git shows it) that a helper after bbwizard's gets each token. The answer
    is already given: nothing here may fail the fetch."""
    from bbwizard.git.credential import storing_helper_warnings

    try:
        warnings = storing_helper_warnings(request, config_path, token=token)
    except (OSError, ValueError, BBWizardError):
        return
    for warning in warnings:
        print(f"bbwizard: warning: {warning}", file=sys.stderr)


# --- setup-git --------------------------------------------------------------------------------


def run_setup_git(args: argparse.Namespace) -> int:
    from bbwizard import git
    from bbwizard.cli import output
    from bbwizard.config import ConfigStore

    store = ConfigStore()
    profile = store.get(args.profile)
    scope = "global" if args.global_ else "local"
    site = git.site_base(profile.site_url)
    if args.unset:
        result = git.unset_git(profile, scope=scope)
        if result.changed:
            output.ok(f"Removed bbwizard as the credential helper for {site} from {result.where}.")
        _say_ca_bundle(result, output, removed=True)
        if not result.changed and not result.ca_bundle:
            output.ok(f"bbwizard was not the credential helper for {site} in {result.where}; nothing to undo.")
        return EXIT_OK
    result = git.setup_git(profile, scope=scope, store=store)
    if not result.changed:
        output.ok(f"git in {result.where} already asks bbwizard (profile “{profile.name}”) for {site}.")
        _say_ca_bundle(result, output)
        _warn_after_ours(result, site, output)
        return EXIT_FAILED if result.after_ours else EXIT_OK
    output.ok(f"git in {result.where} now asks bbwizard (profile “{profile.name}”) for credentials for {site}.")
    output.info(
        f"  It set {result.key} to an empty value (so no other helper answers for that host) and then to "
        "bbwizard's helper command. It stores a command, never a token."
    )
    _say_ca_bundle(result, output)
    for value in result.replaced:
        output.warn(f"The helper “{value}” for {site} was replaced.")
    undo = "bbwizard setup-git --unset" + (" --global" if args.global_ else "") + (f" --profile {profile.name}" if args.profile else "")
    output.info(f"  Undo with `{undo}`.")
    _warn_after_ours(result, site, output)
    return EXIT_FAILED if result.after_ours else EXIT_OK


def _say_ca_bundle(result, output, *, removed: bool = False) -> None:
    from bbwizard.secret import printable

    if not result.ca_bundle:
        return
    key, path = (printable(text, one_line=True) for text in result.ca_bundle)
    if removed:
        output.ok(f"Removed {key} (the profile's CA bundle) from {result.where}.")
    else:
        output.info(f"  It set {key} to {path}, so git trusts the profile's CA bundle for that site.")


def _warn_after_ours(result, site: str, output) -> None:
    for value in result.after_ours:
        output.warn(
            f"The helper “{value}” comes after bbwizard's for {site} in {result.where}, so git would hand it "
            "each token after use (a `store` helper writes it to ~/.git-credentials). Remove that line, or "
            "move it above bbwizard's [credential] section, then run this again."
        )


# --- clone ------------------------------------------------------------------------------------


def run_clone(args: argparse.Namespace) -> int:
    from bbwizard import git
    from bbwizard.cli import output
    from bbwizard.config import ConfigStore
    from bbwizard.errors import CloneCancelled, UsageError

    if args.into is None and len(args.repositories) > 2:
        raise UsageError("To clone several repositories, add --into DIR (each goes to DIR/REPO).")
    extra_args = git.check_clone_arguments(getattr(args, "passed_on", None) or ())
    store = ConfigStore()
    profile = store.get(args.profile)  # the clone itself makes the token fresh before git starts
    if args.into is None:
        refs = [git.parse_repository_ref(args.repositories[0], site_url=profile.site_url)]
        dest = args.repositories[1] if len(args.repositories) == 2 else None
        if dest is not None and _looks_like_a_repository(dest):
            output.warn(f"Cloning {refs[0].full_name} into the folder {dest}. To clone several repositories, add --into DIR.")
        if dest is None and profile.clone_dir:  # the profile's clone folder (login --clone-dir, the wizard)
            import os

            dest = os.path.join(os.path.expanduser(profile.clone_dir), refs[0].slug)
    else:
        refs = [git.parse_repository_ref(text, site_url=profile.site_url) for text in args.repositories]
        refs = list(dict.fromkeys(refs))  # the same repository twice is cloned once
        dest = None

    display = _LiveBars(refs) if sys.stderr.isatty() else _QuietDisplay(refs)

    async def single() -> list[git.CloneResult]:
        result = await git.clone_repository(
            profile,
            refs[0].workspace,
            refs[0].slug,
            dest,
            branch=args.branch,
            depth=args.depth,
            on_progress=(lambda event: display.progress(0, event)) if display.draws else None,
            store=store,
            measure_size=False,  # one clone's message names no size
            extra_args=extra_args,
            branch_fallback=True,
        )
        display.done(0, result)
        return [result]

    async def several() -> list[git.CloneResult]:
        requests = [git.CloneRequest(r.workspace, r.slug, branch=args.branch, depth=args.depth) for r in refs]
        return await git.clone_many(
            profile,
            requests,
            into=args.into,
            jobs=args.jobs,
            on_progress=display.progress if display.draws else None,
            on_done=display.done,
            store=store,
            extra_args=extra_args,
            branch_fallback=True,
        )

    import asyncio

    stopped_by: list[int] = []
    try:
        with display:
            results = asyncio.run(_stopped_by_signals(single() if args.into is None else several(), stopped_by))
    except CloneCancelled as error:
        _say_if_heard(output.warn, str(error))
        return _cancelled_exit(stopped_by)
    except KeyboardInterrupt:
        _say_if_heard(output.warn, "Cancelled.")
        return _cancelled_exit(stopped_by)

    for result in results:
        if result.ok and result.missing_branch:
            main = f" '{result.branch}'" if result.branch else ""
            output.warn(f"{result.full_name} has no branch '{result.missing_branch}'; cloned its main branch{main}.")
    if args.into is None:
        result = results[0]
        branch = f" (branch {result.branch})" if result.branch else ""
        output.ok(f"Cloned {result.full_name}{branch} into {result.path}")
        output.info("  git fetch, pull and push there ask bbwizard for a fresh token; nothing secret was stored.")
        return EXIT_OK
    display.summary(results)
    failed = [r for r in results if not r.ok]
    for result in failed:
        output.fail(f"{result.full_name}: {result.error}")
    if failed:
        output.fail(f"{len(failed)} of {len(results)} clones failed.")
        return EXIT_FAILED
    output.ok(f"Cloned {len(results)} repositories.")
    return EXIT_OK


async def _stopped_by_signals(work, stopped_by: list[int]):  # a coroutine and its result
    """Await ``work``; SIGTERM or SIGHUP (a closed terminal) cancel it as Ctrl+C does (``asyncio.run``
    turns Ctrl+C into a cancel itself), so git is stopped and the half-made folder removed. The
    signal is appended to ``stopped_by``."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    installed = []

    def stop(signum: int) -> None:
        stopped_by.append(signum)
        task.cancel()

    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        try:
            loop.add_signal_handler(signum, stop, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            continue
        installed.append(signum)
    try:
        return await work
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _cancelled_exit(stopped_by: list[int]) -> int:
    """130 for Ctrl+C, else 128 + the signal's number (SIGTERM 143, SIGHUP 129), as a shell reports it."""
    return 128 + stopped_by[0] if stopped_by else EXIT_CANCELLED


def _say_if_heard(say, message: str) -> None:  # an output function
    try:
        say(message)
    except OSError:  # the terminal has gone (SIGHUP): nobody is there to read it
        pass


def _looks_like_a_repository(dest: str) -> bool:
    """``bbwizard clone ws/a ws/b`` clones ws/a into ./ws/b, as git would; say so."""
    import os
    import re

    return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", dest)) and not os.path.isdir(dest.split("/")[0])


def _summary_rows(results) -> list[tuple[str, ...]]:  # list[CloneResult]
    from bbwizard.humanize import human_size

    return [
        (
            "✓" if r.ok else "✗",
            r.full_name,
            r.branch or "—",
            human_size(r.size_bytes) or "—",
            f"{r.seconds:.1f} s",
            str(r.path) if r.ok else "failed",
        )
        for r in results
    ]


_HEADERS = ("", "repository", "branch", "size", "time", "where")


class _QuietDisplay:
    """stderr is not a terminal: no animation (and no rich to import), a plain table at the end.
    Nothing draws progress, so git is not asked for any (``draws``), as plain git off a terminal."""

    draws = False

    def __init__(self, refs) -> None:
        self.refs = refs

    def __enter__(self) -> _QuietDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def progress(self, index: int, event) -> None:  # a CloneEvent
        return None

    def done(self, index: int, result) -> None:
        return None

    def summary(self, results) -> None:
        rows = [_HEADERS, *_summary_rows(results)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS))]
        right = {3, 4}
        for row in rows:
            cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
            print("  ".join(cells).rstrip(), file=sys.stderr)


class _LiveBars:
    """A rich progress bar per clone on a terminal, and a rich table at the end."""

    draws = True

    def __init__(self, refs) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True, highlight=False)
        self.bars = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[phase]}", markup=False),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.tasks = [self.bars.add_task(ref.full_name, total=100, phase="waiting") for ref in refs]

    def __enter__(self) -> _LiveBars:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def progress(self, index: int, event) -> None:
        from bbwizard.git import CloneProgress

        if not isinstance(event, CloneProgress):
            return
        detail = event.phase
        if event.percent is not None and not event.finished:
            detail += f" {event.percent}%"
        if event.rate:
            detail += f" · {event.rate}"
        task = self.bars.tasks[index]
        self.bars.update(self.tasks[index], completed=max(task.completed, event.overall), phase=detail)

    def done(self, index: int, result) -> None:
        if result.ok:
            self.bars.update(self.tasks[index], completed=100, phase="done")
        else:
            self.bars.update(self.tasks[index], phase="failed")

    def summary(self, results) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(show_edge=False, pad_edge=False, box=None)
        for header in _HEADERS:
            table.add_column(header, justify="right" if header in ("size", "time") else "left")
        for row in _summary_rows(results):
            style = "green" if row[0] == "✓" else "red"
            # names come from the command line and the network: plain Text, never markup
            table.add_row(Text(row[0], style=style), *(Text(cell) for cell in row[1:]))
        self.console.print(table)
