"""Numbers as a person reads them, the same in the CLI and the wizard: sizes, spans of time and
ages. Every formatter of these lives here, once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def human_size(size: int | None) -> str:
    """Bytes in git's own units (KiB, MiB, …), so a size here reads like git's progress lines.

    An unknown size (None) is the empty string; a caller that wants a mark puts its own.
    """
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in _UNITS[:-1]:
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_UNITS[-1]}"


def human_duration(span: timedelta, *, clock: bool = False) -> str:
    """How long ``span`` lasts, its sign dropped (the caller says "in" or "ago"): "1 h 59 min",
    "3 min", "42 s"; with ``clock``, the live countdown's "1:59:58", or "9:59" under an hour.
    Whole seconds, cut down, never rounded up: a countdown never shows more than is left."""
    seconds = int(abs(span.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if clock:
        return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


#: (below this many seconds, the unit, its long name, seconds per unit) of an age.
_AGES = (
    (3600, "min", "minute", 60),
    (86400, "h", "hour", 3600),
    (86400 * 60, "d", "day", 86400),
    (86400 * 730, "mo", "month", 86400 * 30),
    (float("inf"), "y", "year", 86400 * 365),
)


def human_age(when: datetime | None, now: datetime, *, short: bool = False) -> str:
    """How long ago ``when`` was, as ``gh repo list`` says it ("3 days ago"), or with ``short`` as a
    narrow column does ("3 d ago"); "just now" under a minute, "" when unknown. A time without a
    timezone is UTC (the core's times always have one)."""
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return "just now"
    unit, name, size = next((unit, name, size) for limit, unit, name, size in _AGES if seconds < limit)
    count = int(seconds // size)
    if short:
        return f"{count} {unit} ago"
    return f"{count} {name}{'s' if count != 1 else ''} ago"
