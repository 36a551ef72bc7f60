"""How the CLI talks to a person: prompts and progress on stderr, data on stdout.

gh's marks: ✓ done, ! warning, X failed. Colour only when stderr is a terminal and NO_COLOR is not
set. Plain ANSI on purpose: importing rich costs more than ``bbwizard token`` may spend.
"""

from __future__ import annotations

import os
import sys

from bbwizard.secret import printable, redact


def _colour(code: str, text: str) -> str:
    if os.environ.get("NO_COLOR") or not sys.stderr.isatty():
        return text
    return f"\033[{code}m{text}\033[0m"


def plain(text: str) -> str:
    """``text`` redacted, with terminal control characters removed or replaced by spaces."""
    return printable(redact(text))


def _say(mark: str, message: str) -> None:
    print(f"{mark} {plain(message)}" if mark else plain(message), file=sys.stderr, flush=True)


def ok(message: str) -> None:
    _say(_colour("32", "✓"), message)


def warn(message: str) -> None:
    _say(_colour("33", "!"), message)


def fail(message: str) -> None:
    _say(_colour("31", "X"), message)


def info(message: str) -> None:
    _say("", message)

