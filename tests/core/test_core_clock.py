"""The core tells the time with the clock its caller gives (the wizard's, a test's): token states,
the start a new token's expiry counts from, and the day an API token's expiry is judged by."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bbwizard import oauth
from bbwizard.config import ConfigStore, Profile
from bbwizard.emulator import PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET
from bbwizard.errors import SignInRequired
from bbwizard.secret import Secret
from bbwizard.signin import finish_sign_in, sign_in_with_api_token

LATER = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=40)


def later() -> datetime:
    return LATER


def private_consumer(emu) -> Profile:
    return Profile(name="work", client_id=PRIVATE_CONSUMER_KEY, client_secret=Secret(PRIVATE_CONSUMER_SECRET),
                   site_url=emu.site_url, api_url=emu.api_url, grant="client_credentials")


def test_a_new_token_counts_its_expiry_from_the_clock_given(emu, config_path: Path) -> None:
    store = ConfigStore(config_path)
    consumer = private_consumer(emu)

    tokens = oauth.client_credentials(consumer, clock=later)
    done = finish_sign_in(store, consumer, tokens, clock=later)

    assert tokens.issued_at == LATER
    assert timedelta(0) < tokens.expires_at - LATER <= timedelta(hours=2)
    saved = store.get("work")
    assert saved.issued_at == LATER and saved.expires_at == tokens.expires_at == done.profile.expires_at
    assert saved.token_state(LATER) == "fresh"


def test_ensure_fresh_judges_the_token_by_the_clock_given(emu, signed_in, config_path: Path) -> None:
    store = ConfigStore(config_path)
    before = signed_in()  # valid for two hours by the real clock

    assert oauth.ensure_fresh(store).access_token == before.access_token  # fresh now: kept
    assert emu.stats.count("/site/oauth2/access_token") == 0

    renewed = oauth.ensure_fresh(store, clock=later)  # forty days on it has long expired

    assert renewed.access_token != before.access_token
    assert emu.stats.count("/site/oauth2/access_token") == 1
    assert renewed.issued_at == LATER and renewed.expires_at > LATER
    assert store.get(before.name).expires_at == renewed.expires_at


def test_a_refused_refresh_is_dated_by_the_clock_given(emu, signed_in, config_path: Path) -> None:
    store = ConfigStore(config_path)
    signed_in(expired=True)
    emu.revoke_refresh_tokens()

    with pytest.raises(SignInRequired, match="sign-in has ended"):
        oauth.ensure_fresh(store, clock=later)

    assert store.get("default").refresh_refused_at == LATER
    with pytest.raises(SignInRequired, match=f"refused its refresh token on {LATER:%Y-%m-%d %H:%M} UTC"):
        oauth.ensure_fresh(store, clock=later)  # said from the file, without asking Bitbucket again


def test_an_api_token_expiry_date_is_judged_by_the_clock_given(emu, config_path: Path) -> None:
    store = ConfigStore(config_path)
    token = emu.add_api_token("alice@example.com")
    ends = date.today() + timedelta(days=30)

    with pytest.raises(SignInRequired, match=f"expired on {ends:%Y-%m-%d}"):
        sign_in_with_api_token(store, "mine", "alice@example.com", Secret(token), site_url=emu.site_url,
                               api_url=emu.api_url, expires_on=ends, clock=later)
    assert store.load() == {} or "mine" not in store.load()  # nothing saved

    done = sign_in_with_api_token(store, "mine", "alice@example.com", Secret(token), site_url=emu.site_url,
                                  api_url=emu.api_url, expires_on=ends)
    assert done.profile.token_expires_on == ends and store.get("mine").kind == "api_token"
