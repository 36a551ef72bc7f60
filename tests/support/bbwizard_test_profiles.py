"""The one way the tests and the benchmarks sign a profile in without a browser.

A plain module, not a fixture, so the benchmarks (``benchmarks/bench_clone_common.py``) build their
profile the same way: they put this folder on ``sys.path`` as ``tests/conftest.py`` does.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from bbwizard.config import ConfigStore, Profile
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET
from bbwizard.secret import Secret


class MintsTokens(Protocol):
    """An emulator, in this process (``bbwizard.emulator.Emulator``) or in another one (the
    benchmarks' ``EmulatorProcess``)."""

    site_url: str
    api_url: str

    def mint_token(self, consumer_key: str, username: str | None = None, scopes: list[str] | None = None) -> dict: ...


def save_signed_in(emu: MintsTokens, store: ConfigStore, *, name: str = "default", key: str = DEMO_CONSUMER_KEY,
                   secret: str = DEMO_CONSUMER_SECRET, scopes: list[str] | None = None,
                   expires_at: datetime | None = None, make_default: bool | None = None, **fields: Any) -> Profile:
    """A pair the emulator minted for consumer ``key`` (``scopes`` narrows it), saved under ``name``
    as after the browser step; returns the profile as the store reads it back. ``expires_at``
    defaults to the answer's ``expires_in`` from now; ``fields`` are any other Profile fields (user,
    callback_url, grant, clone_dir...), and win over the minted ones (``access_token=None``, a
    ``site_url`` elsewhere)."""
    answer = emu.mint_token(key, scopes=scopes)
    granted = answer.get("scope") or answer.get("scopes") or ""  # the 2026 answer says "scope"
    minted: dict[str, Any] = {
        "name": name, "client_id": key, "client_secret": Secret(secret), "site_url": emu.site_url,
        "api_url": emu.api_url, "access_token": Secret(answer["access_token"]),
        "refresh_token": Secret(answer["refresh_token"]),
        "expires_at": expires_at or datetime.now(timezone.utc) + timedelta(seconds=answer["expires_in"]),
        "scopes": granted.split(),
    }
    store.save(Profile(**{**minted, **fields}), make_default=make_default)
    return store.get(name)
