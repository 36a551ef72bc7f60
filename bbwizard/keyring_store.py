"""Profile secrets in the operating system's keyring (the optional ``keyring`` package).

Each secret (a profile's consumer secret, access token, refresh token) is its own entry under the
service ``bbwizard``, in chunks: Windows Credential Manager holds about 1,280 characters and a
Bitbucket token is a JWT of 2.5 KB and more. The usernames carry a schema version::

    v1:<profile>:<secret>                   header: "<generation> <count>"
    v1:<profile>:<secret>:<generation>:<i>/<count>   chunk i (1-based), under 1,000 characters

A write puts new chunks under a fresh generation, then the header, reads the whole secret back,
and only then removes the previous generation's chunks: a write cut short leaves the old secret
readable, never a mix of two.

Every keyring call runs in a daemon thread and is given up after :func:`call_timeout` seconds
(3, or ``BBWIZARD_KEYRING_TIMEOUT``): a locked or missing Secret Service must never hang a git
fetch. Once the keyring has not answered, later calls in the same process fail at once instead of
waiting again. Failures are :class:`KeyringUnavailable`, a :class:`~bbwizard.errors.ConfigError`
with a sentence; no secret ever appears in one.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import Any

from bbwizard.errors import ConfigError
from bbwizard.secret import redact

SERVICE = "bbwizard"
SCHEMA = "v1"
#: Characters per entry: under Windows Credential Manager's ~1,280 with room to spare.
CHUNK_SIZE = 900
#: A header never names more chunks than this (a secret of 180,000 characters): a value read
#: back from a keyring is a claim, and no list is built from it unbounded.
MAX_CHUNKS = 200
DEFAULT_TIMEOUT = 3.0
#: The profile fields that hold secrets.
SECRET_FIELDS = ("client_secret", "access_token", "refresh_token")

_unanswered = threading.Event()  # a keyring call was given up on in this process


class KeyringUnavailable(ConfigError):
    """The system keyring could not be used; the message says why and what to do."""


def call_timeout() -> float:
    """Seconds each keyring call may take: ``BBWIZARD_KEYRING_TIMEOUT``, else 3."""
    text = os.environ.get("BBWIZARD_KEYRING_TIMEOUT", "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if 0 < value < 3600 else DEFAULT_TIMEOUT


def _backend() -> Any:
    try:
        import keyring
    except ImportError:
        raise KeyringUnavailable(
            "The keyring package is not installed, so secrets stay in the config file. "
            "Install it with: pip install 'bbwizard[keyring]'"
        ) from None
    from keyring.backends import chainer, fail, null

    backend = _bounded(keyring.get_keyring, what="find")
    if isinstance(backend, (fail.Keyring, null.Keyring)) or (
        isinstance(backend, chainer.ChainerBackend) and not backend.backends
    ):
        raise KeyringUnavailable(
            "No usable system keyring was found (no Secret Service, macOS Keychain or Windows Credential "
            "Manager), so secrets stay in the config file, mode 600."
        )
    return backend


def _bounded(function: Callable[..., Any], *args: Any, what: str) -> Any:
    """``function(*args)`` in a daemon thread, given up after :func:`call_timeout` seconds."""
    if _unanswered.is_set():  # the keyring didn't answer once: don't make git wait again
        raise KeyringUnavailable(_no_answer_sentence(what))
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # carried to the caller's thread
            outcome["error"] = error
        finally:
            done.set()

    thread = threading.Thread(target=run, name="bbwizard-keyring", daemon=True)
    thread.start()
    if not done.wait(call_timeout()):
        _unanswered.set()
        raise KeyringUnavailable(_no_answer_sentence(what))
    if "error" in outcome:
        error = outcome.pop("error")
        if isinstance(error, KeyringUnavailable):
            raise error
        reason = redact(str(error))[:200] or type(error).__name__
        del error
        raise KeyringUnavailable(
            f"The system keyring refused to {what} a bbwizard secret ({reason}). Unlock it, or keep this "
            "profile's secrets in the config file: bbwizard config secrets file"
        )
    return outcome.get("value")


def _no_answer_sentence(what: str) -> str:
    return (
        f"The system keyring did not answer within {call_timeout():g} seconds (asked to {what} a bbwizard "
        "secret): it may be locked or its service not running. Unlock it, set BBWIZARD_KEYRING_TIMEOUT to wait "
        "longer, or keep this profile's secrets in the config file: bbwizard config secrets file"
    )


def forget_unanswered() -> None:
    """Ask a backend that once didn't answer again (tests, and a long-running wizard)."""
    _unanswered.clear()


def problem() -> str | None:
    """None when a keyring is usable now (found, and it answers a read in time); else the sentence
    that says why not."""
    try:
        backend = _backend()
        _bounded(backend.get_password, SERVICE, f"{SCHEMA}:probe", what="read")
    except KeyringUnavailable as error:
        return error.message
    return None


def backend_name() -> str:
    """A short name of the backend in use (``SecretService Keyring``…), for ``status``."""
    try:
        backend = _backend()
    except KeyringUnavailable:
        return "none"
    return getattr(backend, "name", None) or type(backend).__name__


def _header_key(profile: str, field: str) -> str:
    return f"{SCHEMA}:{profile}:{field}"


def _chunk_key(profile: str, field: str, generation: str, index: int, count: int) -> str:
    return f"{SCHEMA}:{profile}:{field}:{generation}:{index}/{count}"


def _parse_header(value: object) -> tuple[str, int] | None:
    if not isinstance(value, str):
        return None
    parts = value.split()
    if len(parts) != 2 or not parts[0].isalnum() or not parts[1].isdigit():
        return None
    count = int(parts[1])
    return (parts[0], count) if 0 < count <= MAX_CHUNKS else None


def read_secret(profile: str, field: str) -> str | None:
    """The secret ``field`` of ``profile``, or None when the keyring holds none."""
    backend = _backend()
    header = _parse_header(_bounded(backend.get_password, SERVICE, _header_key(profile, field), what="read"))
    if header is None:
        return None
    generation, count = header
    chunks = []
    for index in range(1, count + 1):
        chunk = _bounded(backend.get_password, SERVICE, _chunk_key(profile, field, generation, index, count), what="read")
        if not isinstance(chunk, str):
            raise KeyringUnavailable(
                f"The system keyring holds only part of the {field.replace('_', ' ')} of profile '{profile}' "
                f"(chunk {index} of {count} is missing). Sign in again: bbwizard login --profile {profile}"
            )
        chunks.append(chunk)
    return "".join(chunks)


def write_secret(profile: str, field: str, value: str) -> None:
    """Store ``value`` as ``field`` of ``profile``, read it back, then remove the old chunks."""
    backend = _backend()
    old = _parse_header(_bounded(backend.get_password, SERVICE, _header_key(profile, field), what="read"))
    generation = secrets.token_hex(4)
    pieces = [value[i : i + CHUNK_SIZE] for i in range(0, len(value), CHUNK_SIZE)] or [""]
    count = len(pieces)
    for index, piece in enumerate(pieces, 1):
        _bounded(backend.set_password, SERVICE, _chunk_key(profile, field, generation, index, count), piece, what="store")
    _bounded(backend.set_password, SERVICE, _header_key(profile, field), f"{generation} {count}", what="store")
    if read_secret(profile, field) != value:
        raise KeyringUnavailable(
            f"The system keyring did not give back the {field.replace('_', ' ')} of profile '{profile}' as it was "
            "stored. Keep this profile's secrets in the config file: bbwizard config secrets file"
        )
    if old is not None and old[0] != generation:
        _remove_chunks(backend, profile, field, *old)


def delete_secret(profile: str, field: str) -> None:
    """Remove ``field`` of ``profile`` (nothing to do when the keyring holds none)."""
    backend = _backend()
    header = _parse_header(_bounded(backend.get_password, SERVICE, _header_key(profile, field), what="read"))
    _delete(backend, _header_key(profile, field))
    if header is not None:
        _remove_chunks(backend, profile, field, *header)


def _remove_chunks(backend: Any, profile: str, field: str, generation: str, count: int) -> None:
    for index in range(1, count + 1):
        _delete(backend, _chunk_key(profile, field, generation, index, count))


def _delete(backend: Any, username: str) -> None:
    from keyring.errors import PasswordDeleteError

    def delete() -> None:
        try:
            backend.delete_password(SERVICE, username)
        except PasswordDeleteError:
            pass  # not there: already gone

    _bounded(delete, what="remove")


def read_secrets(profile: str) -> dict[str, str | None]:
    """Every secret field of ``profile`` (None where the keyring holds none)."""
    return {field: read_secret(profile, field) for field in SECRET_FIELDS}


def write_secrets(profile: str, values: Mapping[str, str | None]) -> None:
    """Store each secret that has a value (read back), and remove each that is None."""
    for field in SECRET_FIELDS:
        value = values.get(field)
        if value:
            write_secret(profile, field, value)
        else:
            delete_secret(profile, field)


def delete_secrets(profile: str) -> None:
    for field in SECRET_FIELDS:
        delete_secret(profile, field)


__all__ = [
    "CHUNK_SIZE",
    "KeyringUnavailable",
    "SECRET_FIELDS",
    "SERVICE",
    "backend_name",
    "call_timeout",
    "delete_secret",
    "delete_secrets",
    "forget_unanswered",
    "problem",
    "read_secret",
    "read_secrets",
    "write_secret",
    "write_secrets",
]
