"""git's progress on stderr, read into small event records (:class:`CloneProgress`,
:class:`CloneOutput`) for a progress bar."""

from __future__ import annotations

import re
from collections import namedtuple

from bbwizard.secret import printable, redact


class CloneProgress(
    namedtuple(
        "CloneProgress",
        "phase percent done total finished remote received rate",
        defaults=(False, False, None, None),
    )
):
    """A step of git's progress: ``phase`` is git's own words ("Receiving objects"); ``percent``,
    ``done`` and ``total`` may be None; ``received`` ("1.20 MiB") and ``rate`` ("1.00 MiB/s") come
    while receiving."""

    __slots__ = ()

    @property
    def overall(self) -> float:
        """One 0–100 figure for a single bar: where this phase sits in a whole clone."""
        low, high = _PHASE_SPAN.get(self.phase.lower(), (0.0, 0.0))
        if self.finished:
            return high
        share = (self.percent or 0) / 100
        return round(low + (high - low) * share, 1)


class CloneOutput(namedtuple("CloneOutput", "text")):
    """A line of git's output that is not progress ("Cloning into …", warnings), redacted."""

    __slots__ = ()


CloneEvent = CloneProgress | CloneOutput

_PHASE_SPAN = {
    "enumerating objects": (0.0, 2.0),
    "counting objects": (2.0, 5.0),
    "compressing objects": (5.0, 10.0),
    "receiving objects": (10.0, 80.0),
    "resolving deltas": (80.0, 90.0),
    "checking connectivity": (90.0, 91.0),
    "checking objects": (90.0, 91.0),
    "updating files": (91.0, 100.0),
    "checking out files": (91.0, 100.0),
    "filtering content": (91.0, 100.0),
}

_PROGRESS = (
    r"^(?P<remote>remote:\s*)?(?P<phase>[A-Z][A-Za-z ]*?):\s+"
    r"(?:(?P<percent>\d{1,3})%\s+\((?P<done>\d+)/(?P<total>\d+)\)|(?P<count>\d+))"
    r"(?P<rest>.*)$"
)
_RECEIVED = r",\s*(?P<received>[\d.]+ [KMGT]?i?B)\s*\|\s*(?P<rate>[\d.]+ [KMGT]?i?B/s)"
def parse_progress_line(line: str) -> CloneEvent | None:
    """One piece of git's stderr (already split on ``\\r``/``\\n``) as an event, or None if blank."""
    line = printable(line).strip()
    if not line:
        return None
    match = re.match(_PROGRESS, line)
    if match and match["phase"].lower() in _PHASE_SPAN:
        rest = match["rest"] or ""
        finished = "done" in rest
        if match["percent"] is not None:
            percent, done, total = int(match["percent"]), int(match["done"]), int(match["total"])
        else:
            percent, done, total = (100 if finished else None), int(match["count"]), None
        received = rate = None
        if got := re.search(_RECEIVED, rest):
            received, rate = got["received"], got["rate"]
        return CloneProgress(
            phase=match["phase"],
            percent=percent,
            done=done,
            total=total,
            finished=finished,
            remote=bool(match["remote"]),
            received=received,
            rate=rate,
        )
    return CloneOutput(redact(line))


class ProgressSplitter:
    """Cuts git's stderr stream into pieces on ``\\r`` and ``\\n``, across read boundaries."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, chunk: str) -> list[str]:
        pieces = re.split(r"[\r\n]", self._pending + chunk)
        self._pending = pieces.pop()
        return [p for p in pieces if p.strip()]

    def flush(self) -> list[str]:
        rest, self._pending = self._pending, ""
        return [rest] if rest.strip() else []
