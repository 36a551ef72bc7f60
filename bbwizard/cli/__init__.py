"""The ``bbwizard`` command: argument parsing and dispatch to the subcommands.

Each subcommand lives in a module of this package that exposes ``register(subparsers)``; the
module adds its parser and sets ``func``. Modules import nothing heavy at import time (no Textual,
no httpx, no rich): ``bbwizard token`` and ``bbwizard credential get`` must start fast.

Exit codes: 0 ok, 1 failed, 2 bad usage, 3 needs sign-in again.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bbwizard import __version__
from bbwizard.errors import EXIT_FAILED, EXIT_USAGE, BBWizardError

# Order here is the order of `bbwizard --help`.
_COMMAND_MODULES = (
    "bbwizard.cli.auth",  # login, token, status, logout
    "bbwizard.cli.gitcmds",  # clone, credential, setup-git
    "bbwizard.cli.app",  # demo (and no subcommand: the wizard)
    "bbwizard.cli.emulator",  # emulator
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one sentence, as documented
        self.print_usage(sys.stderr)
        print(f"X {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bbwizard",
        description="Sign in to Bitbucket Cloud with an OAuth consumer, then clone and keep it working.",
        epilog="Run `bbwizard` with no command for the wizard, or `bbwizard demo` to try it offline.",
    )
    parser.add_argument("--version", action="version", version=f"bbwizard {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a command module not written yet must not break the rest
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        from bbwizard.cli.app import run_wizard

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
