"""The wizard as `bbwizard` runs it: App.run(), where Textual turns on asyncio's eager tasks
(Python 3.12+). A pushed step is then composed inside push_screen, before Textual reads the step's
own stylesheet; the steps must still be drawn with it."""

from __future__ import annotations

import asyncio
import html
import re

import pytest

from bbwizard.config import Profile
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET
from bbwizard.secret import Secret
from bbwizard.tui.screens.authorize import AuthorizeScreen

SIZE = (100, 30)

pytestmark = pytest.mark.skipif(
    not hasattr(asyncio, "eager_task_factory"), reason="Textual uses eager tasks only where asyncio has them (3.12+)"
)


def screenshot_text(svg: str) -> str:
    return html.unescape("".join(re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S))).replace("\xa0", " ")


def test_authorize_under_app_run_is_drawn_with_the_steps_stylesheet(make_app, emulator, callback_url):
    port = callback_url.rsplit(":", 1)[1].strip("/")
    form = Profile(name="demo", client_id=DEMO_CONSUMER_KEY, client_secret=Secret(DEMO_CONSUMER_SECRET),
                   callback_url=callback_url, site_url=emulator.site_url, api_url=emulator.api_url)
    app = make_app(emulator, start="none")
    seen: dict[str, object] = {}

    async def auto_pilot(pilot) -> None:
        try:
            app.push_screen(AuthorizeScreen(form))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while not (isinstance(app.screen, AuthorizeScreen) and f"port {port}" in app.screen.query_one("#waiting").visual.plain):
                assert loop.time() < deadline, "the loopback catcher never said it was waiting"
                await pilot.pause(0.05)
            await pilot.pause()
            seen["waiting width"] = str(app.screen.query_one("#waiting").styles.width)
            seen["url border"] = app.screen.query_one("#authorize-url").styles.border.top[0]
            seen["screen"] = screenshot_text(app.export_screenshot())
        finally:
            app.exit()

    app.run(headless=True, size=SIZE, auto_pilot=auto_pilot)
    assert seen["waiting width"] == "1fr"
    assert seen["url border"] == "round"
    assert f"waiting for the browser… (port {port})" in seen["screen"]
