"""Numbers as a person reads them, the same in the CLI and the wizard."""

from __future__ import annotations

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
