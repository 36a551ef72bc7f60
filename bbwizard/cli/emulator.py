"""``bbwizard emulator``: run the Bitbucket Cloud emulator in the foreground until Ctrl+C, SIGTERM
or SIGHUP (``bbwizard.emulator.foreground``), with the CLI's own marks and colours."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from bbwizard.emulator.foreground import add_arguments

    parser = subparsers.add_parser(
        "emulator",
        help="run the Bitbucket Cloud emulator on loopback (for trying bbwizard offline)",
        description="Serve bitbucket.org's OAuth pages, api.bitbucket.org/2.0 and git over HTTP on "
        "127.0.0.1, from a seed file (TOML or JSON; default: the built-in demo seed).",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bbwizard.cli import output
    from bbwizard.emulator.foreground import run as serve

    return serve(args, ok=output.ok, info=output.info, fail=output.fail)
