"""A clone judges the token before git starts by the clock its caller gives (the wizard's, a
test's): a token the real clock calls fresh but that clock calls expired is refreshed first, once,
and the new pair counts its expiry from that clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bbwizard import git
from bbwizard.git import CloneRequest

LATER = datetime.now(UTC).replace(microsecond=0) + timedelta(days=40)


def later() -> datetime:
    return LATER


async def test_clone_repository_refreshes_by_the_clock_given(emulator, sign_in):
    store, profile = sign_in(emulator)  # two hours to go by the real clock

    result = await git.clone_repository(profile, "acme", "webapp", store=store, clock=later)

    assert result.ok and (result.path / "README.md").exists()
    # One refresh before git, by the clock given; git's helper then finds the new token fresh.
    assert emulator.stats.grants["refresh_token"] == 1
    saved = store.get(profile.name)
    assert saved.access_token != profile.access_token
    assert saved.issued_at == LATER and saved.expires_at > LATER


async def test_clone_many_refreshes_once_by_the_clock_given(emulator, sign_in):
    store, profile = sign_in(emulator)

    results = await git.clone_many(profile, [CloneRequest("acme", "webapp"), CloneRequest("acme", "firmware")],
                                   store=store, clock=later)

    assert [result.ok for result in results] == [True, True]
    assert emulator.stats.grants["refresh_token"] == 1
    assert store.get(profile.name).issued_at == LATER


async def test_without_a_clock_a_token_fresh_by_the_real_one_is_not_refreshed(emulator, sign_in):
    store, profile = sign_in(emulator)

    result = await git.clone_repository(profile, "acme", "webapp", store=store)

    assert result.ok
    assert emulator.stats.grants["refresh_token"] == 0
    assert store.get(profile.name).access_token == profile.access_token
