"""The wizard's clock reaches every freshness check of the steps after sign-in: a token fresh by
the wizard's clock but expired by the real one is used as it is, with no refresh behind the
screen, while the Repositories step lists and the Clone step loads branches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bbwizard.tui.app import Road
from bbwizard.tui.screens.clone import CloneScreen
from bbwizard.tui.screens.repositories import RepositoriesScreen

SIZE = (100, 30)
# A month ago: the saved token's hour to go by this clock ended long ago by the real one.
FROZEN = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=30)


async def test_listing_and_branches_refresh_nothing_while_the_wizards_clock_says_fresh(
        emulator, make_app, signed_in, waiter_for, texts):
    profile = signed_in(expires_at=FROZEN + timedelta(hours=1))
    assert profile.token_state() == "expired" and profile.token_state(FROZEN) == "fresh"
    app = make_app(emulator, prefill=False, clock=lambda: FROZEN, start="none")
    app.road = Road(profiles=True, sign_in=False)

    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        app.profile = profile
        app.push_screen(RepositoriesScreen(profile))
        await wait.until(lambda: texts.widget(app, "repositories-count") == "acme: 4 repositories", "the listing")
        repositories = [row.repository for row in app.screen.query_one("#repositories").rows
                        if row.repository.slug in ("webapp", "firmware")]
        assert emulator.stats.grants["refresh_token"] == 0

        app.push_screen(CloneScreen(profile, repositories))
        await wait.until(lambda: len(app.screen.branches) == 2, "the branches")

    assert emulator.stats.grants["refresh_token"] == 0
    assert app.store.get(profile.name).access_token == profile.access_token
