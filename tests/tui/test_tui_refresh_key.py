"""The keys line offers `r Refresh token` only where it can do something: with a signed-in
profile whose token can be refreshed, and not while a text box has the focus (where r types r)."""

from __future__ import annotations

from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from bbwizard.tui.app import Road
from bbwizard.tui.screens.consumer import ConsumerScreen
from bbwizard.tui.screens.kind import KindScreen
from bbwizard.tui.screens.repositories import RepositoriesScreen

SIZE = (100, 30)


def footer_keys(app) -> list[str]:
    return [key.description for key in app.screen.query_one(Footer).query(FooterKey)]


async def keys_shown(wait, app) -> list[str]:
    await wait.until(lambda: app.screen.query_one(Footer).children, "the Footer's keys")
    await wait.pilot.pause()
    return footer_keys(app)


async def test_no_refresh_key_before_there_is_a_profile(make_app, emulator, waiter_for):
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.screen(KindScreen)
        keys = await keys_shown(wait, app)
        assert "Help" in keys and "Refresh token" not in keys

        await wait.to_consumer()
        assert isinstance(app.screen, ConsumerScreen)
        keys = await keys_shown(wait, app)
        assert "Help" in keys and "Refresh token" not in keys


async def test_the_refresh_key_shows_with_a_profile_and_hides_in_a_text_box(
        make_app, emulator, signed_in, waiter_for, texts):
    profile = signed_in()
    app = make_app(emulator, prefill=False, start="none")
    app.road = Road(profiles=True, sign_in=False)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        app.profile = profile
        app.push_screen(RepositoriesScreen(profile))
        await wait.until(lambda: texts.widget(app, "repositories-count") == "acme: 4 repositories", "the listing")
        await wait.until(lambda: "Refresh token" in footer_keys(app), "the Refresh token key")

        app.screen.query_one("#filter").focus()
        await wait.until(lambda: "Refresh token" not in footer_keys(app), "the key gone in the filter box")
        await pilot.press("r")
        await wait.until(lambda: app.screen.query_one("#filter").value == "r", "r typed into the filter")
        assert emulator.stats.grants["refresh_token"] == 0

        app.screen.query_one("#repositories").focus()
        await wait.until(lambda: "Refresh token" in footer_keys(app), "the key back on the list")

        # Bitbucket refused the refresh token: nothing to refresh until the next sign-in.
        app.profile = profile.with_refresh_refused()
        await wait.until(lambda: "Refresh token" not in footer_keys(app), "the key gone once refresh is refused")
