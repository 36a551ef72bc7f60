"""The ``bbwizard`` command: argument parsing and dispatch to the subcommands.

Each subcommand lives in a module of this package that exposes ``register(subparsers)``; the
module adds its parser and sets ``func``. Modules import nothing heavy at import time (no Textual,
no httpx, no rich): ``bbwizard token`` and ``bbwizard credential get`` must start fast.

Exit codes: 0 ok, 1 failed, 2 bad usage, 3 needs sign-in again.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from bbwizard import __version__
from bbwizard.errors import EXIT_FAILED, EXIT_USAGE, BBWizardError

# Which module registers which command. Order here is the order of `bbwizard --help`.
_COMMANDS = {
    "login": "bbwizard.cli.auth",
    "token": "bbwizard.cli.auth",
    "status": "bbwizard.cli.auth",
    "logout": "bbwizard.cli.auth",
    "clone": "bbwizard.cli.gitcmds",
    "repos": "bbwizard.cli.repos",
    "credential": "bbwizard.cli.gitcmds",
    "setup-git": "bbwizard.cli.gitcmds",
    "config": "bbwizard.cli.configcmd",
    "doctor": "bbwizard.cli.doctor",
    "demo": "bbwizard.cli.app",
    "emulator": "bbwizard.cli.emulator",
}

# Commands whose arguments after `--` are handed to another program (read as ``args.passed_on``).
_PASSES_ON_AFTER_DASHES = frozenset({"clone"})


def _terminal_columns() -> int:
    """What ``shutil.get_terminal_size().columns`` answers, without importing shutil."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class _Formatter(argparse.HelpFormatter):
    """argparse's own formatter, told the width instead of importing shutil to find it: argparse
    makes one for every ``add_argument``, and shutil brings bz2, lzma and zlib (``credential get``
    runs on every git fetch)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _terminal_columns() - 2 if width is None else width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:  # argparse's own
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # exit 2 with one sentence, as documented
        self.print_usage(sys.stderr)
        print(f"X {_without_stray_values(message)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def positive_number(text: str) -> int:
    """An argparse ``type`` for counts (``--jobs``, ``--limit``, ``--depth``): a whole number, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not at least 1")
    return value


def _without_stray_values(message: str) -> str:
    """argparse echoes words it did not expect, and a secret pasted in the wrong place is one."""
    prefix = "unrecognized arguments: "
    if message.startswith(prefix):
        count = len(message[len(prefix) :].split())
        return (
            f"{count} unexpected argument{'s' if count != 1 else ''} (not shown: it could be a secret). "
            "Secrets are read from a prompt or stdin, never from the command line."
        )
    from bbwizard.secret import redact

    return redact(message)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or only the part that ``command`` needs.

    ``bbwizard credential get`` runs on every ``git fetch``: it must not pay for importing the
    modules of the other commands.
    """
    parser = _Parser(
        prog="bbwizard",
        description="Sign in to Bitbucket Cloud with an OAuth consumer, then clone and keep it working.",
        epilog="Run `bbwizard` with no command for the wizard, or `bbwizard demo` to try it offline.",
    )
    parser.add_argument("--version", action="version", version=f"bbwizard {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = [_COMMANDS[command]] if command in _COMMANDS else list(dict.fromkeys(_COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    passed_on: list[str] = []
    if argv and argv[0] in _PASSES_ON_AFTER_DASHES and "--" in argv:
        # `bbwizard clone ws/repo -- --single-branch`: what follows `--` is git's, as with `gh repo clone`
        cut = argv.index("--")
        argv, passed_on = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    args.passed_on = passed_on
    func = getattr(args, "func", None)
    if func is None:
        from bbwizard.cli.wizard import run_wizard

        func = run_wizard
    try:
        return int(func(args) or 0)
    except BBWizardError as error:
        from bbwizard.cli import output

        output.fail(str(error))
        if error.hint:
            output.info(f"  {error.hint}")
        return error.exit_code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except Exception as error:  # never a traceback with locals: it could hold a secret
        from bbwizard.cli import output
        from bbwizard.secret import redact

        output.fail(f"Unexpected error ({type(error).__name__}): {redact(str(error))}")
        output.info("  This is a bug in bbwizard. Run again with BBWIZARD_DEBUG=1 for a (redacted) traceback.")
        import os

        if os.environ.get("BBWIZARD_DEBUG"):
            import traceback

            print(redact("".join(traceback.format_exception(error))), file=sys.stderr)
        return EXIT_FAILED
    finally:
        # The command is over and its files and children are closed: spare the interpreter's last
        # garbage collection, which walks every object the imports made. It pays: without it
        # benchmarks/bench_credential.py --runs 20 measured `credential get` (run by git on every
        # fetch) 36-38 ms instead of 30-31 ms (0.88-0.92 of gh's time instead of 0.76-0.78), and
        # benchmarks/bench_token.py `bbwizard token` 32 ms instead of 28-29 ms.
        import gc

        gc.freeze()
