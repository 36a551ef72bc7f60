"""``python -m bbwizard.emulator``: what ``bbwizard emulator`` runs, without the client's CLI."""

import argparse

from bbwizard.emulator.foreground import add_arguments, run

parser = argparse.ArgumentParser(
    prog="python -m bbwizard.emulator",
    description="Serve bitbucket.org's OAuth pages, api.bitbucket.org/2.0 and git over HTTP on 127.0.0.1, "
    "from a seed file (TOML or JSON; default: the built-in demo seed).",
)
add_arguments(parser)
raise SystemExit(run(parser.parse_args()))
