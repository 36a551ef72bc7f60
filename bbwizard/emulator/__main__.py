"""``python -m bbwizard.emulator`` = ``bbwizard emulator``."""

import sys

from bbwizard.cli import main

raise SystemExit(main(["emulator", *sys.argv[1:]]))
