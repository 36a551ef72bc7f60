"""The whole wizard against the emulator over real loopback, with real git."""

from __future__ import annotations

from bbwizard.tui.screens.clone import CloneScreen
from bbwizard.tui.screens.repositories import RepositoriesScreen
from bbwizard.tui.screens.token import TokenScreen

SIZE = (100, 30)


async def test_new_profile_through_loopback_to_a_clone(emulator, make_app, waiter_for, wizard_env, tmp_path):
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.to_authorize()
        await wait.text("waiting", "waiting for the browser")
        await pilot.press("o")
        await wait.screen(TokenScreen)
        await wait.text("token-saved", "Saved as profile")
        assert "alice" in app.screen.query_one("#token-user").visual.plain.lower()
        await pilot.press("enter")
        await wait.screen(RepositoriesScreen)
        await wait.until(lambda: app.screen.query_one("#repositories").rows, "repositories listed")
        await pilot.press("space", "enter")
        await wait.screen(CloneScreen)
        await pilot.press("ctrl+s")
        await wait.text("clone-result", "Press Enter to finish")
        summary = app.screen.query_one("#clone-result").visual.plain
        assert "All cloned." in summary, summary
    print(summary)
