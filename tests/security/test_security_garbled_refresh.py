"""A refresh answered with a web page or cut-off JSON, while the stored token still works for a few
minutes: ``token`` and ``credential get`` hand out the stored token, as they do after a 503. When
Bitbucket refuses the refresh token itself, there is no such fallback."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from bbwizard.config import ConfigStore, utc_now

TOKEN_PATH = "/site/oauth2/access_token"
FAULTS = {
    "html": {"kind": "html200"},
    "truncated": {"kind": "truncated"},  # processed (the refresh token spent), the answer cut in half
    "503": {"kind": "status", "status": 503},
}


def _expiring(store: ConfigStore) -> None:
    profile = store.get("work")
    profile.expires_at = utc_now() + timedelta(minutes=2)  # inside the refresh-early window
    store.save(profile)


def _saved_refresh_token(config_file) -> str:
    return tomllib.loads(config_file.read_text(encoding="utf-8"))["profiles"]["work"]["refresh_token"]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_token_falls_back_to_the_stored_token_while_it_is_valid(emulator, signed_in, bbw, config_file, fault):
    store, before = signed_in(emulator)
    _expiring(store)
    emulator.inject(path_prefix=TOKEN_PATH, **FAULTS[fault])
    done = bbw("token")
    assert done.returncode == 0, done.stderr
    assert done.stdout == before.access_token.reveal() + "\n"
    assert emulator.stats.grants["refresh_token"] == (1 if fault == "truncated" else 0)
    assert _saved_refresh_token(config_file) == before.refresh_token.reveal()
    # The next refresh works: a garbled answer that spent the token leaves the old one alive a while.
    emulator.expire_tokens()
    again = bbw("token")
    assert again.returncode == 0, again.stderr
    assert emulator.token_info(again.stdout.strip())["expired"] is False
    assert _saved_refresh_token(config_file) != before.refresh_token.reveal()


@pytest.mark.parametrize("fault", ["html", "truncated"])
def test_credential_get_falls_back_to_the_stored_token_while_it_is_valid(emulator, signed_in, bbw, fault):
    store, before = signed_in(emulator)
    _expiring(store)
    emulator.inject(path_prefix=TOKEN_PATH, **FAULTS[fault])
    host = urlsplit(emulator.site_url).netloc
    done = bbw("credential", "get", input=f"protocol=http\nhost={host}\n\n")
    assert done.returncode == 0, done.stderr
    assert f"password={before.access_token.reveal()}\n" in done.stdout


@pytest.mark.parametrize("fault", ["html", "truncated"])
def test_an_expired_token_is_not_handed_out_after_a_garbled_refresh(emulator, signed_in, bbw, fault):
    signed_in(emulator, expired=True)
    emulator.inject(path_prefix=TOKEN_PATH, **FAULTS[fault])
    done = bbw("token")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "The refresh may have reached Bitbucket; if the next try says the sign-in has ended, run: bbwizard login --profile work" in done.stderr


def test_a_refused_refresh_token_is_never_covered_by_the_stored_token(emulator, signed_in, bbw):
    store, before = signed_in(emulator)
    _expiring(store)
    emulator.revoke_refresh_tokens()
    done = bbw("token")
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    assert "Bitbucket no longer accepts this profile's refresh token" in done.stderr
