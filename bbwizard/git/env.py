"""What git is given for a clone or a ``git config``: its environment, and the helper settings.

The token reaches git through one door only: a credential helper that is bbwizard itself
(:func:`helper_command`). For a clone it is injected for that one process with
``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n``, after an empty value that resets
the host's helper list, so a person's own ``store`` helper or Git Credential Manager never sees the
token (:func:`clone_config`, :func:`git_env`).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bbwizard.git.refs import site_base

if TYPE_CHECKING:  # pragma: no cover
    from bbwizard.config import ConfigStore

# Stall guard: abort when fewer than LIMIT bytes/s flow for TIME seconds.
LOW_SPEED_LIMIT = 1000
LOW_SPEED_TIME = 60

# Environment a clone must not inherit: askpass programs would prompt (or leak) outside our
# control; tracing would print the Authorization header; a parent git's GIT_DIR & co would point
# the clone at the wrong repository; a parent git's -c parameters would come after our reset.
_DROPPED_ENV_PREFIXES = ("GIT_TRACE",)
_DROPPED_ENV = frozenset(
    {
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "GIT_CURL_VERBOSE",
        "GIT_SSL_NO_VERIFY",  # TLS verification is never switched off (security.md 19)
        "GIT_CONFIG_PARAMETERS",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
        "GIT_COMMON_DIR",
        "GIT_CEILING_DIRECTORIES",
        "GIT_TERMINAL_PROMPT",
        "GIT_HTTP_LOW_SPEED_LIMIT",
        "GIT_HTTP_LOW_SPEED_TIME",
        "LC_ALL",
        "LANGUAGE",
    }
)



def bbwizard_argv() -> list[str]:
    """The command that starts this bbwizard again: the ``bbwizard`` script pip installed beside
    this interpreter (for this same environment), else ``python -m bbwizard``. The script spares
    each start runpy's imports, a few ms of every credential request git makes."""
    here = os.path.dirname(sys.executable)
    script = os.path.join(here, "bbwizard")
    if os.name == "posix" and here:
        try:
            with open(script, "rb") as handle:
                first = handle.readline(4096)
        except OSError:
            first = b""
        interpreter = first[2:].strip().decode("utf-8", "replace") if first.startswith(b"#!") else ""
        if os.path.dirname(interpreter) == here and os.access(script, os.X_OK):
            return [script]
    return [sys.executable, "-m", "bbwizard"]


def helper_command(profile_name: str, *, config_path: str | os.PathLike[str] | None = None) -> str:
    """The credential helper value git runs (through its shell): bbwizard itself, never a secret."""
    words = [*bbwizard_argv(), "credential", "--profile", profile_name]
    if config_path is not None:
        words += ["--config", os.fspath(config_path)]
    return "!" + " ".join(shlex.quote(word) for word in words)


def helper_key(site_url: str) -> str:
    return f"credential.{site_base(site_url)}.helper"


def helper_config(site_url: str, profile_name: str, *, config_path: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """Config entries, in order: reset the host's helper list, then point it at bbwizard."""
    key = helper_key(site_url)
    return [(key, ""), (key, helper_command(profile_name, config_path=config_path))]


def git_env(
    config: Sequence[tuple[str, str]] = (),
    *,
    base: Mapping[str, str] | None = None,
    low_speed_limit: int = LOW_SPEED_LIMIT,
    low_speed_time: int = LOW_SPEED_TIME,
) -> dict[str, str]:
    """The environment for a git child: no prompts, no tracing, C locale, the stall guard, and
    ``config`` injected for that process alone after any ``GIT_CONFIG_*`` the person set."""
    source = dict(os.environ if base is None else base)
    env = {
        k: v
        for k, v in source.items()
        if k not in _DROPPED_ENV and not k.startswith(_DROPPED_ENV_PREFIXES)
    }
    try:
        count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    except ValueError:
        count = 0
    if count < 0:
        count = 0
    for index, (key, value) in enumerate(config, start=count):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env["GIT_CONFIG_COUNT"] = str(count + len(config))
    # One CA bundle setting for httpx and git alike (security.md 19): httpx reads SSL_CERT_FILE and
    # SSL_CERT_DIR; git's libcurl, built with a bundle of its own, ignores them. A profile's own
    # bundle (http.sslCAInfo in ``config``) wins, as it does for httpx: GIT_SSL_CAINFO would override it.
    own_bundle = any(key.lower() == "http.sslcainfo" for key, _ in config)
    if env.get("SSL_CERT_FILE") and not env.get("GIT_SSL_CAINFO") and not own_bundle:
        env["GIT_SSL_CAINFO"] = env["SSL_CERT_FILE"]
    if env.get("SSL_CERT_DIR") and not env.get("GIT_SSL_CAPATH"):
        env["GIT_SSL_CAPATH"] = env["SSL_CERT_DIR"]
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GCM_INTERACTIVE"] = "never"
    env["LC_ALL"] = "C"
    env["GIT_HTTP_LOW_SPEED_LIMIT"] = str(low_speed_limit)
    env["GIT_HTTP_LOW_SPEED_TIME"] = str(low_speed_time)
    env["GIT_PROGRESS_DELAY"] = "0"
    return env


def _is_loopback(hostname: str) -> bool:
    hostname = hostname.strip("[]").lower()
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def bypass_proxy_for_loopback(env: dict[str, str], site_url: str) -> dict[str, str]:
    """Add a loopback site (the emulator) to ``NO_PROXY``/``no_proxy`` for git's libcurl, which,
    unlike bbwizard's httpx, would send it (and the token) through ``http_proxy`` (security.md 19)."""
    hostname = (urlsplit(site_url).hostname or "").strip("[]")
    if not hostname or not _is_loopback(hostname):
        return env
    for key in ("NO_PROXY", "no_proxy"):
        current = [part.strip() for part in env.get(key, "").split(",") if part.strip()]
        if hostname not in current:
            env[key] = ",".join([*current, hostname])
    return env


def clone_config(
    site_url: str,
    profile_name: str,
    *,
    config_path: str | os.PathLike[str] | None = None,
    ca_bundle: str | None = None,
) -> list[tuple[str, str]]:
    """What a clone injects: the helper reset and bbwizard's helper for the host, an empty
    ``core.askPass`` so a configured askpass program can't be asked either, and TLS verification
    on whatever a config file says (the token must not go to a host nobody verified).

    The helper is the one of ``.git/config`` behind a shell guard that lets only ``get`` start it:
    git also tells its helpers ``store`` after a clone, which bbwizard ignores, and starting
    Python to ignore it would cost every clone a few tens of milliseconds.

    ``ca_bundle`` (a profile's own, ``login --ca-bundle``) becomes ``http.sslCAInfo``: git checks
    the site against the same CA as bbwizard's own requests."""
    key = helper_key(site_url)
    command = helper_command(profile_name, config_path=config_path)[1:]
    return [
        (key, ""),
        (key, f'!f() {{ test "$1" = get || exit 0; {command} "$@"; }}; f'),
        ("core.askPass", ""),
        ("http.sslVerify", "true"),
        *([("http.sslCAInfo", ca_bundle)] if ca_bundle else []),
    ]


def ca_bundle_config(site_url: str, ca_bundle: str | None) -> list[tuple[str, str]]:
    """What a new repository keeps so that a later ``git pull`` trusts the profile's CA bundle:
    ``http.<site>/.sslCAInfo``, for that site only (a path, never a secret)."""
    if not ca_bundle:
        return []
    return [(f"http.{site_base(site_url)}/.sslCAInfo", ca_bundle)]


def _config_path_for(store: ConfigStore | None) -> str | None:
    """The config file to name in the helper command when it isn't the one found by default.

    The helper in a repository's .git/config runs days later, from a shell that may not have the
    ``BBWIZARD_CONFIG`` of today; naming a non-default file keeps it pointing at the right one.
    """
    path = getattr(store, "path", None)
    if path is None:
        return None
    if os.environ.get("BBWIZARD_CONFIG"):  # an override today may be gone tomorrow: name the file
        return os.path.abspath(os.fspath(path))
    from bbwizard.paths import user_config_dir

    absolute = os.path.abspath(os.fspath(path))
    if absolute == os.path.abspath(os.path.join(user_config_dir(), "config.toml")):
        return None
    return absolute
