"""Defect 6 of the hardening review: short token lifetimes refreshed on every call.

The refresh window was a fixed 5 minutes, so a server issuing tokens shorter than that made every
``bbwizard token`` and every git fetch refresh. The window is now the smaller of 5 minutes and half
the token's lifetime (known from ``issued_at``, saved with the token), in one place used by
``ensure_fresh``, the fast path and ``token_state``. Times are injected where the code takes them;
the end-to-end tests count refreshes at the emulator.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

from bbwizard.config import ConfigStore, Profile
from bbwizard.freshtoken import MIN_VALID_SECONDS, refresh_window_seconds
from bbwizard.secret import Secret

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def profile(lifetime: float | None, **changes) -> Profile:
    base = Profile(
        name="work", client_id="key", client_secret=Secret("a-consumer-secret"),
        access_token=Secret("an-access-token"), refresh_token=Secret("a-refresh-token"),
        expires_at=T0 + timedelta(seconds=lifetime or 7200), issued_at=T0 if lifetime else None,
    )
    return base.replace(**changes)


def test_the_window_is_half_a_short_lifetime_and_five_minutes_at_most() -> None:
    assert refresh_window_seconds(T0 + timedelta(seconds=60), T0) == 30
    assert refresh_window_seconds(T0 + timedelta(seconds=3), T0) == 1.5
    assert refresh_window_seconds(T0 + timedelta(hours=2), T0) == MIN_VALID_SECONDS
    # Unknown or nonsense lifetimes keep the full window.
    assert refresh_window_seconds(T0, None) == MIN_VALID_SECONDS
    assert refresh_window_seconds(T0, T0 + timedelta(seconds=5)) == MIN_VALID_SECONDS
    assert refresh_window_seconds(T0, "yesterday") == MIN_VALID_SECONDS


def test_token_state_uses_the_token_s_own_window() -> None:
    sixty = profile(60)
    assert sixty.token_state(T0 + timedelta(seconds=1)) == "fresh"
    assert sixty.token_state(T0 + timedelta(seconds=29)) == "fresh"
    assert sixty.token_state(T0 + timedelta(seconds=31)) == "expiring"
    assert sixty.token_state(T0 + timedelta(seconds=61)) == "expired"
    two_hours = profile(7200)
    assert two_hours.token_state(T0 + timedelta(seconds=7200 - 301)) == "fresh"
    assert two_hours.token_state(T0 + timedelta(seconds=7200 - 299)) == "expiring"
    legacy = profile(None)  # saved before issued_at was recorded: five minutes, as before
    assert legacy.token_state(T0 + timedelta(seconds=7200 - 299)) == "expiring"
    assert sixty.token_state(T0 + timedelta(seconds=1), min_valid=timedelta(seconds=100)) == "expiring"  # asked for


def test_issued_at_is_saved_with_the_token(tmp_path) -> None:
    store = ConfigStore(tmp_path / "config.toml")
    store.save(profile(60))
    assert store.get("work").issued_at == T0
    assert store.get("work").refresh_window == timedelta(seconds=30)
    assert "issued_at" in (tmp_path / "config.toml").read_text()
    assert store.get("work").signed_out().issued_at is None


def refreshes(emu) -> int:
    return emu.stats.grants["refresh_token"]


def test_a_short_token_is_not_refreshed_by_every_call(emulator, signed_in, bbw) -> None:
    emulator.token_lifetime = 240  # shorter than the old fixed five-minute window
    signed_in(emulator, expired=True)
    first = bbw("token")
    assert first.returncode == 0, first.stderr
    assert refreshes(emulator) == 1
    for _ in range(4):
        again = bbw("token")
        assert again.returncode == 0 and again.stdout == first.stdout, again.stderr
    host = emulator.git_host
    answer = bbw("credential", "get", input=f"protocol=http\nhost={host}\n\n")
    assert answer.returncode == 0, answer.stderr
    assert f"password={first.stdout.strip()}" in answer.stdout
    assert refreshes(emulator) == 1


def test_twelve_processes_with_short_tokens_refresh_once(emulator, signed_in, sec_env) -> None:
    emulator.token_lifetime = 60
    signed_in(emulator, expired=True)
    processes = [
        subprocess.Popen([sys.executable, "-m", "bbwizard", "token"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True, env=sec_env)
        for _ in range(12)
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in processes]
    assert all(code == 0 for code, _, _ in results), [err for _, _, err in results]
    # One refresh; a second only if a process re-read the file after the new token's 30-second
    # window had passed (a very busy machine). Before: every process refreshed (12).
    assert 1 <= refreshes(emulator) <= 2
    assert len({out for _, out, _ in results}) <= 2
