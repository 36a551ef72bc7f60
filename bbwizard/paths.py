"""Where bbwizard keeps its config file, found without importing anything heavy.

``BBWIZARD_CONFIG`` when it is set; else ``config.toml`` in the user's config folder as
platformdirs names it. On Linux and the BSDs that folder is ``$XDG_CONFIG_HOME/bbwizard`` (when
that variable is an absolute path, as the XDG spec asks) or ``~/.config/bbwizard``, and it is said
here directly: importing platformdirs costs about 8 ms (its unix module brings tempfile, shutil,
bz2 and lzma), and git pays that on every credential request. Elsewhere platformdirs answers.
"""

from __future__ import annotations

import os
import sys

_XDG_PLATFORMS = ("linux", "freebsd", "openbsd", "netbsd", "dragonfly")


def user_config_dir() -> str:
    """``platformdirs.user_config_dir("bbwizard")``."""
    if sys.platform.startswith(_XDG_PLATFORMS) and "ANDROID_DATA" not in os.environ:
        base = os.environ.get("XDG_CONFIG_HOME", "")
        if not os.path.isabs(base):
            base = os.path.expanduser("~/.config")
        return os.path.join(base, "bbwizard")
    import platformdirs

    return platformdirs.user_config_dir("bbwizard")


def config_file() -> str:
    """The config file: ``BBWIZARD_CONFIG`` (``~`` expanded), else ``config.toml`` in :func:`user_config_dir`."""
    override = os.environ.get("BBWIZARD_CONFIG")
    if override:
        return os.path.expanduser(override)
    return os.path.join(user_config_dir(), "config.toml")
