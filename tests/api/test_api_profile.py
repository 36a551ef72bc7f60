"""BitbucketClient.for_profile: tokens come from the auth core's ensure_fresh and a saved profile."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bbwizard.api import BitbucketClient
from bbwizard.config import ConfigStore, Profile
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET
from bbwizard.errors import SignInRequired
from bbwizard.secret import Secret


@pytest.fixture
def saved_profile(emulator, tmp_path):
    def save(expires_in: timedelta = timedelta(hours=2)) -> ConfigStore:
        answer = emulator.mint_token(DEMO_CONSUMER_KEY)
        store = ConfigStore(tmp_path / "config.toml")
        store.save(
            Profile(
                name="work",
                client_id=DEMO_CONSUMER_KEY,
                client_secret=Secret(DEMO_CONSUMER_SECRET),
                callback_url="http://localhost:8976/",
                site_url=emulator.site_url,
                api_url=emulator.api_url,
                access_token=Secret(answer["access_token"]),
                refresh_token=Secret(answer["refresh_token"]),
                expires_at=datetime.now(UTC) + expires_in,
                scopes=answer["scope"].split(),
            ),
            make_default=True,
        )
        return store

    return save


async def test_fresh_profile_lists_without_refreshing(emulator, saved_profile):
    store = saved_profile()
    async with BitbucketClient.for_profile(store) as api:
        assert api.api_url == emulator.api_url
        assert (await api.get_user()).username == "alice"
        assert len(await api.list_repositories("acme")) == 4
    assert emulator.stats.grants["refresh_token"] == 0


async def test_stale_profile_is_refreshed_first_and_saved(emulator, saved_profile, recorded):
    store = saved_profile(expires_in=timedelta(seconds=-5))
    before = store.get("work").refresh_token
    async with BitbucketClient.for_profile(store, "work") as api:
        assert (await api.get_user()).username == "alice"
    assert emulator.stats.grants["refresh_token"] == 1
    assert store.get("work").refresh_token != before  # the rotated refresh token was kept
    assert await recorded(emulator, "/2.0/user", 1) == [200]


async def test_token_refused_server_side_is_refreshed_once_through_the_profile(emulator, saved_profile, recorded):
    store = saved_profile()
    emulator.expire_tokens()  # the file still says "fresh"; Bitbucket says 401
    async with BitbucketClient.for_profile(store) as api:
        assert (await api.get_user()).username == "alice"
    assert emulator.stats.grants["refresh_token"] == 1
    assert await recorded(emulator, "/2.0/user", 2) == [401, 200]


async def test_dead_refresh_token_asks_to_sign_in_again(emulator, saved_profile):
    store = saved_profile()
    emulator.expire_tokens()
    emulator.revoke_refresh_tokens()
    async with BitbucketClient.for_profile(store) as api:
        with pytest.raises(SignInRequired) as caught:
            await api.get_user()
    assert str(caught.value) == (
        "Bitbucket no longer accepts this profile's refresh token, so the sign-in has ended. "
        "Sign in again: bbwizard login --profile work"
    )
    assert emulator.stats.grants["refresh_token"] == 0


async def test_a_refresh_done_by_another_process_is_reused_not_repeated(emulator, saved_profile, recorded):
    from bbwizard import oauth

    store = saved_profile()
    async with BitbucketClient.for_profile(store) as api:
        assert (await api.get_user()).username == "alice"  # the client now holds the first token
        emulator.expire_tokens()
        await asyncio.to_thread(oauth.ensure_fresh, store, "work", force=True)  # e.g. `bbwizard token`
        assert emulator.stats.grants["refresh_token"] == 1
        assert (await api.get_user()).username == "alice"
    assert emulator.stats.grants["refresh_token"] == 1  # the 401 took the saved token instead
    assert await recorded(emulator, "/2.0/user", 3) == [200, 401, 200]
