"""The Code step takes a pasted address that spans two lines whole: Textual's Input keeps only
the first line of a paste, and the start of an address is no code."""

from __future__ import annotations

from textual import events

from bbwizard.emulator import DEMO_CONSUMER_KEY
from bbwizard.tui.screens.code import CodeScreen

SIZE = (100, 30)


async def _code_step(app, pilot, authorization):
    results = []
    app.push_screen(CodeScreen(authorization), results.append)
    await pilot.pause()
    return results


def _verdict(app) -> str:
    return app.screen.query_one("#code-verdict").visual.plain


async def test_an_address_pasted_over_two_lines_is_joined(make_app, emulator):
    from bbwizard import oauth

    authorization = oauth.start_authorization(emulator.site_url, DEMO_CONSUMER_KEY)
    landed = f"http://localhost:8976/?code=wrapped-code-1234&state={authorization.state}"
    cut = landed.index("1234")
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        results = await _code_step(app, pilot, authorization)
        app.post_message(events.Paste(landed[:cut] + " \r\n  " + landed[cut:] + "\n"))  # as the terminal sends it
        await pilot.pause()
        assert app.screen.query_one("#code").value == landed
        assert _verdict(app) == "That looks right. Press Enter to use it."
        await pilot.press("enter")
        await pilot.pause()
        assert results == ["wrapped-code-1234"]


async def test_the_first_line_alone_is_called_cut_off(make_app, emulator):
    from bbwizard import oauth

    authorization = oauth.start_authorization(emulator.site_url, DEMO_CONSUMER_KEY)
    landed = f"http://localhost:8976/?code=wrapped-code-1234&state={authorization.state}"
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        results = await _code_step(app, pilot, authorization)
        app.post_message(events.Paste(landed[: landed.index("1234")]))
        await pilot.pause()
        assert _verdict(app).startswith("That address looks cut off: it ends before its state, so bbwizard won't use the code in it.")
        await pilot.press("enter")
        await pilot.pause()
        assert results == []
