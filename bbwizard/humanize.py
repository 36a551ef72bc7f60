"""Numbers as a person reads them, the same in the CLI and the wizard."""

from __future__ import annotations

from datetime import datetime

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


def human_age(when: datetime | None, now: datetime) -> str:
    """How long ago ``when`` was, as ``gh repo list`` says it ("3 days ago"); "" when unknown."""
    if when is None:
        return ""
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return "just now"
    for limit, unit, size in ((3600, "minute", 60), (86400, "hour", 3600), (86400 * 60, "day", 86400), (86400 * 730, "month", 86400 * 30)):
        if seconds < limit:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    count = int(seconds // (86400 * 365))
    return f"{count} years ago"
