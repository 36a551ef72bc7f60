"""Keyring backends for the tests: selected in-process with ``keyring.set_keyring``, or in a
subprocess with ``PYTHON_KEYRING_BACKEND=bbwizard_test_keyring.FileKeyring`` and this folder on
``PYTHONPATH``.

- ``FileKeyring``: entries in the JSON file ``BBWIZARD_TEST_KEYRING_FILE`` (one entry each, as a
  real keyring holds them), refusing values of 1,280 characters or more as Windows Credential
  Manager does.
- ``HangingKeyring``: every call waits forever (a locked Secret Service behind a prompt nobody
  answers).
- ``RefusingKeyring``: every call raises, as a locked keyring does.
"""

from __future__ import annotations

import json
import os
import threading

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError, PasswordSetError

#: Windows Credential Manager's limit, about 1,280 characters per entry.
LIMIT = 1280


class FileKeyring(KeyringBackend):
    priority = 1

    def __init__(self, path: str | None = None) -> None:
        super().__init__()
        self.path = path or os.environ["BBWIZARD_TEST_KEYRING_FILE"]

    def entries(self) -> dict[str, str]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return {}

    def _save(self, entries: dict[str, str]) -> None:
        with open(self.path, "w", encoding="utf-8") as handle:
            json.dump(entries, handle)

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries().get(f"{service}\n{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        if len(password) >= LIMIT:
            raise PasswordSetError(f"an entry holds at most {LIMIT} characters")
        entries = self.entries()
        entries[f"{service}\n{username}"] = password
        self._save(entries)

    def delete_password(self, service: str, username: str) -> None:
        entries = self.entries()
        if entries.pop(f"{service}\n{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._save(entries)


class HangingKeyring(KeyringBackend):
    priority = 1
    released = threading.Event()  # set by an in-process test at its end, so no thread lingers

    def get_password(self, service: str, username: str) -> str | None:
        self.released.wait()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.released.wait()

    def delete_password(self, service: str, username: str) -> None:
        self.released.wait()


class RefusingKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("the collection is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("the collection is locked")
