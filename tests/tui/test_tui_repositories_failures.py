"""The Repositories step when a page of the listing fails mid-way: every failure is a line on the
step, never a listing that silently stops at "200 of 500"."""

from __future__ import annotations

import httpx
import pytest

from bbwizard.tui.screens.repositories import RepositoriesScreen

SIZE = (100, 30)
LISTING = "/2.0/repositories/big"


@pytest.fixture
def emulator(emulator_factory, callback_url):
    """The demo seed plus a workspace ``big`` of 500 repositories (five pages)."""
    from bbwizard.emulator import demo_seed

    seed = demo_seed(callback_url=callback_url)
    seed["generators"] = [{"workspace": "big", "name": "Big Corp", "count": 500, "members": ["alice"]}]
    return emulator_factory(seed)


async def list_big(app, pilot, waiter_for, profile) -> None:
    app.push_screen(RepositoriesScreen(profile))
    wait = waiter_for(pilot)
    await wait.until(lambda: len(app.screen.query_one("#workspaces").options) >= 2, "the workspaces")
    options = app.screen.query_one("#workspaces")
    options.highlighted = next(i for i in range(options.option_count) if options.get_option_at_index(i).id == "big")
    await wait.text("repositories-count", "(stopped)")


def line(app, widget_id: str):
    return app.screen.query_one(f"#{widget_id}")


async def test_a_page_that_fails_is_said_on_the_step(make_app, emulator, signed_in, waiter_for):
    profile = signed_in()
    emulator.inject(kind="status", status=400, count=1, path_prefix=LISTING, page=3)
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await list_big(app, pilot, waiter_for, profile)
        result = line(app, "repositories-result")
        assert result.has_class("error")
        assert result.visual.plain == (
            "Bitbucket refused the request for the repositories of workspace 'big' (HTTP 400): Bad Request."
        )
        assert line(app, "repositories-count").visual.plain.startswith("big: ")


async def test_a_page_the_client_cannot_decode_is_said_on_the_step(make_app, emulator, signed_in, waiter_for):
    profile = signed_in()
    emulator.inject(kind="bad_encoding", count=1, path_prefix=LISTING, page=3)
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await list_big(app, pilot, waiter_for, profile)
        result = line(app, "repositories-result")
        assert result.has_class("error")
        assert "says it is compressed, but it isn't" in result.visual.plain


class BrokenOnPage3(httpx.AsyncHTTPTransport):
    """The real loopback transport, except that page 3 of the listing ends in an error no layer of
    bbwizard expects (standing in for a bug)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == LISTING and request.url.params.get("page") == "3":
            raise LookupError("nothing expected this")
        return await super().handle_async_request(request)


async def test_an_unexpected_error_is_said_on_the_step_and_logged(
    make_app, emulator, signed_in, waiter_for, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    profile = signed_in()
    app = make_app(emulator, start="none", transport=BrokenOnPage3())
    async with app.run_test(size=SIZE) as pilot:
        await list_big(app, pilot, waiter_for, profile)
        result = line(app, "repositories-result")
        assert result.has_class("error")
        text = result.visual.plain
        assert "unexpected error (LookupError)" in text
    logs = list((tmp_path / "state").rglob("wizard.log"))
    assert len(logs) == 1 and "nothing expected this" in logs[0].read_text()
