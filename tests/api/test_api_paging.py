"""Listing repositories: concurrent pages streamed as they arrive, and the fall back to ``next``.

The emulator always tells the truth about ``size`` and ``next``; Bitbucket doesn't promise to. The
lying cases go through the real HTTP transport with a hook that rewrites the JSON on its way back
(``tampering`` fixture), so the client still talks to the emulator over loopback.
"""

from __future__ import annotations

from contextlib import aclosing

import pytest

from bbwizard.errors import ProtocolError


async def collect(api, workspace="big", **kwargs):
    pages = []
    async for page in api.iter_repositories(workspace, **kwargs):
        pages.append(page)
    return pages


def assert_complete(pages, count):
    uuids = [repo.uuid for page in pages for repo in page.values]
    assert len(uuids) == count
    assert len(set(uuids)) == count  # no duplicates
    names = {repo.slug for page in pages for repo in page.values}
    assert names == {f"repo-{i:05d}" for i in range(1, count + 1)}
    loaded = [page.loaded for page in pages]
    assert loaded == sorted(loaded) and loaded[-1] == count


async def test_ten_thousand_repositories_arrive_complete_and_streamed(big_seed, emulator_factory, api_for, tampering):
    emulator = emulator_factory(big_seed)
    transport = tampering(None)  # counts requests in flight, changes nothing
    api = api_for(emulator, transport=transport)
    pages = []
    requests_when_first_page_arrived = None
    async for page in api.iter_repositories("big"):
        if not pages:
            requests_when_first_page_arrived = transport.sent
        pages.append(page)
    assert requests_when_first_page_arrived == 1  # the first hundred are shown before the rest are asked for
    assert len(pages[0].values) == 100 and pages[0].size == 10_000
    assert len(pages) == 100 and all(page.size == 10_000 for page in pages)
    assert sorted(page.number for page in pages) == list(range(1, 101))
    in_order = [repo.updated_on for page in sorted(pages, key=lambda p: p.number) for repo in page.values]
    assert in_order == sorted(in_order, reverse=True)  # page numbers give back the -updated_on order
    assert_complete(pages, 10_000)
    assert transport.sent == 100  # no page asked twice
    assert 1 < transport.max_in_flight <= 16


async def test_concurrency_is_bounded(seed_with_repos, emulator_factory, api_for, tampering):
    emulator = emulator_factory(seed_with_repos(1500), latency=0.02)
    transport = tampering(None)
    pages = await collect(api_for(emulator, transport=transport, max_concurrency=3))
    assert_complete(pages, 1500)
    assert transport.max_in_flight == 3


async def test_following_next_one_page_at_a_time(seed_with_repos, emulator_factory, api_for, tampering):
    emulator = emulator_factory(seed_with_repos(950))
    transport = tampering(None)
    pages = await collect(api_for(emulator, transport=transport), paging="next")
    assert_complete(pages, 950)
    assert transport.max_in_flight == 1
    assert [len(p.values) for p in pages] == [100] * 9 + [50]


async def test_size_missing_falls_back_to_next(seed_with_repos, emulator_factory, api_for, tampering):
    emulator = emulator_factory(seed_with_repos(1000))

    def drop_size(request, page):
        page.pop("size", None)
        return page

    transport = tampering(drop_size)
    pages = await collect(api_for(emulator, transport=transport))
    assert_complete(pages, 1000)
    assert transport.max_in_flight == 1 and transport.sent == 10
    assert all(page.size is None for page in pages)


async def test_size_too_small_carries_on_from_the_last_page(seed_with_repos, emulator_factory, api_for, tampering):
    emulator = emulator_factory(seed_with_repos(1000))

    def shrink(request, page):
        if "page" not in request.url.params:
            page["size"] = 250  # repositories were added after Bitbucket counted
        return page

    transport = tampering(shrink)
    pages = await collect(api_for(emulator, transport=transport))
    assert_complete(pages, 1000)
    assert transport.sent == 10  # pages 2-3 at once, then 4-10 by `next`
    assert pages[0].size == 250 and pages[-1].size is None  # a total that proved wrong is not repeated


async def test_size_too_large_stops_at_the_real_end(seed_with_repos, emulator_factory, api_for, tampering):
    emulator = emulator_factory(seed_with_repos(1000))

    def inflate(request, page):
        if "page" not in request.url.params:
            page["size"] = 2000
        return page

    transport = tampering(inflate)
    pages = await collect(api_for(emulator, transport=transport))
    assert_complete(pages, 1000)
    # The ten real pages and at least the empty page 11 that proves the end; how many of the claimed
    # pages 12-20 were already in flight when page 11 came back depends on timing, but never one past
    # the claim (and test_api_lying_size.py bounds them for claims far larger).
    assert 11 <= transport.sent <= 20


async def test_short_page_in_the_middle_starts_over_by_next_without_duplicates(
    seed_with_repos, emulator_factory, api_for, tampering
):
    emulator = emulator_factory(seed_with_repos(1000))
    cut = []

    def shorten_page_3_once(request, page):
        if request.url.params.get("page") == "3" and not cut:
            cut.append(page["values"][:10])
            page["values"] = page["values"][10:]  # a repository was deleted while we listed
        return page

    transport = tampering(shorten_page_3_once)
    pages = await collect(api_for(emulator, transport=transport))
    assert_complete(pages, 1000)
    assert transport.sent == 10 + 9  # the concurrent pages, then next from page 2 on


async def test_page_with_more_than_pagelen_falls_back(seed_with_repos, emulator_factory, api_for, tampering):
    emulator = emulator_factory(seed_with_repos(500))
    extra = []

    def stuff_page_2_once(request, page):
        if request.url.params.get("page") == "2" and not extra:
            extra.append(True)
            page["values"] = page["values"] + page["values"][:5]
        return page

    pages = await collect(api_for(emulator, transport=tampering(stuff_page_2_once)))
    assert_complete(pages, 500)


async def test_next_on_another_host_is_refused(seed_with_repos, emulator_factory, api_for, tampering):
    emulator = emulator_factory(seed_with_repos(300))

    def redirect(request, page):
        page.pop("size", None)
        if "next" in page:
            page["next"] = "https://evil.example/2.0/repositories/big?page=2&pagelen=100"
        return page

    transport = tampering(redirect)
    api = api_for(emulator, transport=transport)
    with pytest.raises(ProtocolError) as caught:
        await collect(api)
    origin = emulator.api_url.rsplit("/2.0", 1)[0]
    assert str(caught.value) == (
        "Bitbucket's answer for the repositories of workspace 'big' points to another host (https://evil.example); "
        f"bbwizard only follows links on {origin}, the API URL of this profile."
    )
    assert transport.sent == 1


async def test_next_on_another_port_of_the_same_host_is_refused(emulator, api_for, tampering):
    def other_port(request, page):
        if request.url.path.endswith("/user/workspaces"):
            page["next"] = emulator.api_url.replace("127.0.0.1:", "127.0.0.1:1") + "/user/workspaces?page=2"
        return page

    with pytest.raises(ProtocolError) as caught:
        await api_for(emulator, transport=tampering(other_port)).list_workspaces()
    assert "points to another host (http://127.0.0.1:1" in str(caught.value)


async def test_next_that_leads_in_a_circle_is_refused(seed_with_repos, emulator_factory, api_for, tampering):
    emulator = emulator_factory(seed_with_repos(300))

    def circle(request, page):
        page.pop("size", None)
        page["next"] = emulator.api_url + "/repositories/big?pagelen=100&page=2"
        return page

    with pytest.raises(ProtocolError) as caught:
        await collect(api_for(emulator, transport=tampering(circle)))
    assert str(caught.value) == (
        "Bitbucket's pages for the repositories of workspace 'big' lead in a circle; the list can't be completed."
    )


async def test_leaving_early_cancels_the_pages_in_flight(seed_with_repos, emulator_factory, api_for, tampering):
    emulator = emulator_factory(seed_with_repos(3000), latency=0.05)
    transport = tampering(None)
    api = api_for(emulator, transport=transport)
    seen = 0
    async with aclosing(api.iter_repositories("big")) as pages:
        async for _page in pages:
            seen += 1
            if seen == 2:  # the concurrent pages are under way now
                assert transport.in_flight > 0
                break
    assert transport.in_flight == 0  # nothing left running behind the caller's back
    assert transport.sent < 30
    assert (await api.get_user()).username == "alice"  # and the client still works


async def test_emulator_without_size_is_listed_by_next(seed_with_repos, emulator_factory, api_for):
    emulator = emulator_factory(seed_with_repos(450), list_size="missing")
    pages = await collect(api_for(emulator))
    assert_complete(pages, 450)
    assert [page.number for page in pages] == [1, 2, 3, 4, 5]


async def test_emulator_with_a_size_too_small_is_completed_by_next(seed_with_repos, emulator_factory, api_for):
    emulator = emulator_factory(seed_with_repos(1005), list_size="off")  # says 998: ten pages, there are eleven
    pages = await collect(api_for(emulator))
    assert_complete(pages, 1005)
    assert sorted(page.number for page in pages) == list(range(1, 12))
