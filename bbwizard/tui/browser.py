"""What the Authorize step says about browsers: whether one can open here.

Opening the browser and the `ssh -L` line are the core's (`bbwizard.loopback`), shared with the CLI.
"""

from __future__ import annotations

import os
import sys


def has_display() -> bool:
    """False where no browser can appear on this machine (an SSH session, a container)."""
    if os.environ.get("BROWSER"):
        return True
    if sys.platform in ("win32", "darwin", "cygwin"):
        return not os.environ.get("SSH_CONNECTION")
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
