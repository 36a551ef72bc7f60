"""BitbucketClient.for_profile judges the token by the clock its caller gives (the wizard's, a
test's), not by the real one: a token fresh by that clock is used as it is, one expired by it is
refreshed, and the new pair counts its expiry from that clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bbwizard.api import BitbucketClient
from bbwizard.config import ConfigStore

NOW = datetime.now(UTC).replace(microsecond=0)
EARLIER = NOW - timedelta(days=30)
LATER = NOW + timedelta(days=40)


async def test_a_token_fresh_by_the_clock_given_is_used_without_a_refresh(emulator, tmp_path, save_signed_in):
    store = ConfigStore(tmp_path / "config.toml")
    # Expired an hour ago by the real clock; an hour to go by the caller's.
    before = save_signed_in(emulator, store, expires_at=EARLIER + timedelta(hours=1), make_default=True)

    async with BitbucketClient.for_profile(store, clock=lambda: EARLIER) as api:
        assert (await api.get_user()).username == "alice"
        assert len(await api.list_repositories("acme")) == 4

    assert emulator.stats.grants["refresh_token"] == 0
    assert store.get().access_token == before.access_token


async def test_a_token_expired_by_the_clock_given_is_refreshed_from_that_clock(emulator, tmp_path, save_signed_in):
    store = ConfigStore(tmp_path / "config.toml")
    before = save_signed_in(emulator, store, make_default=True)  # two hours to go by the real clock

    async with BitbucketClient.for_profile(store, clock=lambda: LATER) as api:
        assert (await api.get_user()).username == "alice"

    assert emulator.stats.grants["refresh_token"] == 1
    saved = store.get()
    assert saved.access_token != before.access_token
    assert saved.issued_at == LATER and saved.expires_at > LATER
