"""A server that claims more repositories than it has: `size` is trusted only as far as the pages
bear it out. The emulator's ``lie_about_size`` knob claims a size and offers ``next`` links that far,
answering empty pages past the real end, as a hostile or broken server would."""

from __future__ import annotations

import argparse

import pytest

from bbwizard.emulator import Emulator
from bbwizard.emulator.foreground import add_arguments, knobs_from

LISTING = "/2.0/repositories/big"


async def collect(api, workspace="big", **kwargs):
    return [page async for page in api.iter_repositories(workspace, **kwargs)]


def slugs(pages) -> list[str]:
    return [repo.slug for page in pages for repo in page.values]


@pytest.mark.parametrize("claimed", [10**6, 10**12], ids=["1e6", "1e12"])
async def test_a_claimed_size_far_beyond_the_list_costs_a_page_and_the_pages_in_flight(
    claimed, seed_with_repos, emulator_factory, api_for
):
    emulator = emulator_factory(seed_with_repos(100), lie_about_size=claimed)
    pages = await collect(api_for(emulator))  # 10**12 would need 10**10 page numbers: none are listed
    assert sorted(slugs(pages)) == [f"repo-{i:05d}" for i in range(1, 101)]  # every repository, once
    assert pages[0].size == claimed
    assert pages[-1].size == 100 and pages[-1].loaded == 100  # the total the answers bore out
    # One real page, then at most the sixteen pages in flight when the first empty one came back.
    assert emulator.stats.pages[LISTING] <= 1 + 16


@pytest.mark.parametrize("in_flight", [1, 3, 16])
async def test_the_pages_past_the_end_are_bounded_by_the_pages_in_flight(
    in_flight, seed_with_repos, emulator_factory, api_for
):
    emulator = emulator_factory(seed_with_repos(450), lie_about_size=10**6)
    pages = await collect(api_for(emulator, max_concurrency=in_flight))
    assert sorted(slugs(pages)) == [f"repo-{i:05d}" for i in range(1, 451)]
    assert pages[-1].size == 450
    real_pages = 5  # 100, 100, 100, 100, 50
    assert real_pages <= emulator.stats.pages[LISTING] <= real_pages + in_flight


async def test_following_next_stops_at_an_empty_page_that_offers_more(seed_with_repos, emulator_factory, api_for):
    emulator = emulator_factory(seed_with_repos(150), lie_about_size=10**6)
    pages = await collect(api_for(emulator), paging="next")
    assert sorted(slugs(pages)) == [f"repo-{i:05d}" for i in range(1, 151)]
    assert emulator.stats.pages[LISTING] == 3  # 100, 50 with a `next`, then an empty one with a `next`


async def test_a_limit_under_a_lying_size_asks_for_no_more_than_it_needs(seed_with_repos, emulator_factory, api_for):
    emulator = emulator_factory(seed_with_repos(300), lie_about_size=10**12)
    pages = await collect(api_for(emulator), limit=150)
    assert len(slugs(pages)) >= 150
    assert emulator.stats.pages[LISTING] == 2


async def test_a_page_that_fails_mid_way_is_raised_not_dropped(seed_with_repos, emulator_factory, api_for):
    from bbwizard.errors import BBWizardError

    emulator = emulator_factory(seed_with_repos(500))
    emulator.inject(kind="status", status=400, count=1, path_prefix=LISTING, page=3)
    with pytest.raises(BBWizardError):
        await collect(api_for(emulator))


def test_the_emulator_command_lies_about_size_when_asked(seed_with_repos):
    import httpx

    from bbwizard.emulator import DEMO_CONSUMER_KEY

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--lie-about-size", "1000000000000"])
    with Emulator(seed_with_repos(3), **knobs_from(args)) as emulator:
        token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
        with httpx.Client(trust_env=False, timeout=60) as client:
            answer = client.get(
                emulator.api_url + "/repositories/big",
                params={"pagelen": 2, "page": 5},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
    assert answer["size"] == 10**12
    assert answer["values"] == []
    assert answer["next"].endswith("page=6")
    assert parser.parse_args([]).lie_about_size is None
