"""The Consumer step's check against the 2026 emulator: only the documented texts stop a sign-in;
any other refusal, a 429 or a 5xx is said (as a warning) and the browser sign-in goes on."""

from __future__ import annotations

import pytest

from bbwizard.tui.screens.authorize import AuthorizeScreen
from bbwizard.tui.screens.consumer import ConsumerScreen

SIZE = (100, 30)


def _line(app) -> object:
    return app.screen.query_one("#check-result")


async def _check_then_continue(app, pilot, wait, needle: str) -> None:
    await wait.to_consumer()  # Enter on the kind step: the OAuth client
    await pilot.press("enter")  # Check (focused when prefilled)
    await wait.text("check-result", needle)
    assert _line(app).has_class("warning") and not _line(app).has_class("error")
    await pilot.press("enter")  # Continue in the browser
    await wait.screen(AuthorizeScreen)


async def test_a_refusal_that_proves_nothing_is_a_warning_and_the_browser_comes_next(
    emulator, make_app, waiter_for, wizard_env
):
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        await _check_then_continue(
            app, pilot, waiter_for(pilot),
            "Bitbucket refused the check without saying the key or secret is wrong (unauthorized_client: This OAuth "
            "client is not allowed to use the client_credentials grant.)",
        )


@pytest.mark.parametrize(("status", "seen"), [(429, "(HTTP 429)"), (503, "(HTTP 503)")])
async def test_a_busy_token_endpoint_does_not_stop_the_sign_in(status, seen, emulator, make_app, waiter_for, wizard_env):
    emulator.inject(kind="status", status=status, count=1, path_prefix="/site/oauth2/access_token")
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        await _check_then_continue(app, pilot, waiter_for(pilot), f"Bitbucket couldn't check the consumer just now {seen}")


async def test_the_legacy_public_text_still_says_the_key_is_right(emulator, make_app, waiter_for, wizard_env):
    emulator.client_credentials_refusal = "legacy"
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.to_consumer()
        await pilot.press("enter")  # Check
        await wait.text("check-result", "The key and secret are right. This consumer is public")
        assert _line(app).has_class("ok")


async def test_a_wrong_secret_still_stops_at_the_consumer_step(emulator, make_app, waiter_for, wizard_env):
    emulator.client_credentials_refusal = ("unauthorized_client", "Something new.")  # must not hide a wrong secret
    app = make_app(emulator, secret="not-the-secret")
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.to_consumer()
        await pilot.press("enter")  # Check
        await wait.text("check-result", "Bitbucket doesn't accept this key and secret.")
        assert _line(app).has_class("error") and isinstance(app.screen, ConsumerScreen)


async def test_continue_goes_to_the_browser_and_says_what_the_check_saw(emulator, make_app, waiter_for, wizard_env):
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.to_consumer()  # Enter on the kind step: the OAuth client
        await pilot.press("ctrl+n")  # Continue without a separate Check
        await wait.screen(AuthorizeScreen)
        said = [n.message for n in app._notifications]
        assert any(m.startswith("Bitbucket refused the check without saying the key or secret is wrong") for m in said), said
