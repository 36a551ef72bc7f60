"""Opening the authorize address in a browser, without a browser writing over the wizard.

`webbrowser` honours `$BROWSER`, but the programs it starts inherit our terminal: anything they
print lands on top of the full-screen app. So a `$BROWSER` command runs here with its output
discarded; without `$BROWSER` we defer to `webbrowser`, except where there is plainly no display
(a console browser would take over the terminal the wizard is drawing on).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys


class NoDisplay(Exception):
    """No graphical browser can open here (an SSH session, a container)."""


def has_display() -> bool:
    if os.environ.get("BROWSER"):
        return True
    if sys.platform in ("win32", "darwin"):
        return not os.environ.get("SSH_CONNECTION")
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def ssh_forward_hint(port: int) -> str:
    """The `ssh -L` line that brings the browser's redirect back to this machine."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "you"
    connection = os.environ.get("SSH_CONNECTION", "").split()
    host = connection[2] if len(connection) >= 3 else os.uname().nodename if hasattr(os, "uname") else "this-machine"
    return f"ssh -L {port}:localhost:{port} {user}@{host}"


def open_in_browser(url: str, timeout: float = 60.0) -> None:
    """Open `url`; raise NoDisplay when nothing can show it, OSError when the browser fails."""
    command = os.environ.get("BROWSER", "").strip()
    if command:
        last_error: Exception | None = None
        for entry in command.split(os.pathsep):
            argv = shlex.split(entry)
            if not argv:
                continue
            if any("%s" in arg for arg in argv):
                argv = [arg.replace("%s", url) for arg in argv]
            else:
                argv.append(url)
            try:
                completed = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=timeout,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as error:
                last_error = error
                continue
            if completed.returncode == 0:
                return
            last_error = OSError(f"the browser command {argv[0]} exited with status {completed.returncode}")
        raise OSError(str(last_error) if last_error else "the $BROWSER setting names no command")
    if not has_display():
        raise NoDisplay()
    import webbrowser

    if not webbrowser.open(url):
        raise OSError("no browser could be started")
