"""What the Authorize step says about browsers: whether one can open here, and the `ssh -L` line.

Opening the browser itself is the core's job (`bbwizard.loopback.open_browser`).
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


def ssh_forward_hint(port: int) -> str:
    """The `ssh -L` line that brings the browser's redirect back to this machine."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "you"
    connection = os.environ.get("SSH_CONNECTION", "").split()
    if len(connection) >= 3:
        host = connection[2]
    else:
        import platform

        host = platform.node() or "this-machine"
    return f"ssh -L {port}:localhost:{port} {user}@{host}"
