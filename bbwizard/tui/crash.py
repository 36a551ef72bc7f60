"""When the wizard stops on a bug: a sentence without secrets on the terminal, the details (redacted)
in a log file.

Textual's own crash report prints every frame's local variables, and one of them may hold a token,
so the app replaces it (`App._fatal_error`, private: Textual gives no public hook for it; recheck it
when Textual moves past 8.2).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from datetime import datetime, timezone

from textual.app import App

from bbwizard.secret import redact

log = logging.getLogger("bbwizard.tui")


def write_crash_log(error: BaseException) -> str:
    """The traceback, redacted, appended to `wizard.log` (mode 0600); where it went, for a sentence."""
    text = redact("".join(traceback.format_exception(type(error), error, error.__traceback__)))
    log.error("unexpected error: %s", text)
    try:
        import platformdirs

        folder = platformdirs.user_log_path("bbwizard")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "wizard.log"
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{datetime.now(timezone.utc).isoformat()} {text}\n")
        os.chmod(path, 0o600)
        return str(path)
    except OSError:
        return "the Textual log"


class SecretSafeApp(App[int]):
    """An App whose crash report is a redacted sentence and a log file, never Textual's traceback
    with locals."""

    def _fatal_error(self) -> None:
        error = sys.exc_info()[1] or self._exception
        text = "bbwizard stopped on an unexpected error."
        if error is not None:
            where = write_crash_log(error)
            text = (
                f"bbwizard stopped on an unexpected error ({type(error).__name__}): {redact(str(error))}\n"
                f"Details, without secrets: {where}"
            )
        from rich.text import Text

        self.panic(Text(text))
