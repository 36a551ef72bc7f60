"""The wizard's three ways in: the kind step, "which one do I have?", and the form of each token,
signed in through the core against the emulator and on to Repositories."""

from __future__ import annotations

from textual.widgets import Input, OptionList

from bbwizard.config import ConfigStore

from .conftest import FROZEN_NOW, SIZE


async def _choose(pilot, waiter, kind_index: int):
    from bbwizard.tui.screens.kind import KindScreen, TokenFormScreen

    await waiter.screen(KindScreen)
    options = pilot.app.screen.query_one("#kinds", OptionList)
    options.highlighted = kind_index
    await pilot.press("enter")
    return await waiter.screen(TokenFormScreen)


async def _send(pilot, form) -> None:
    """Enter in the last field, as a person sends the form (the button may be below the fold)."""
    form.query(Input).last().focus()
    await pilot.press("enter")


def _fill(screen, **values: str) -> None:
    for widget_id, value in values.items():
        screen.query_one(f"#{widget_id}", Input).value = value


async def test_the_kind_step_offers_three_ways_and_says_which_one_is_which(make_app, emulator, waiter_for, texts):
    from bbwizard.tui.screens.kind import KindScreen
    from bbwizard.tui.screens.modals import HelpModal

    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        waiter = waiter_for(pilot)
        screen = await waiter.screen(KindScreen)
        assert screen.heading.startswith("Step 1 of") and screen.heading.endswith("How you sign in")
        assert [o.id for o in screen.query_one("#kinds", OptionList).options] == ["oauth", "api_token", "access_token"]
        await pilot.press("question_mark")
        await waiter.screen(HelpModal)
        text = texts.screen(app)
        assert "id.atlassian.com → Security → Create API token with scopes" in text and "Access tokens" in text
        await pilot.press("escape")
        await waiter.screen(KindScreen)
        await pilot.press("enter")  # the first way: the OAuth client's Consumer step
        from bbwizard.tui.screens.consumer import ConsumerScreen

        consumer = await waiter.screen(ConsumerScreen)
        assert consumer.heading == "Step 2 of 6 · OAuth client"
        await pilot.press("escape")
        await waiter.screen(KindScreen)


async def test_an_api_token_signs_in_and_goes_on_to_repositories(make_app, emulator, wizard_env, waiter_for, texts):
    from bbwizard.tui.screens.repositories import RepositoriesScreen

    token = emulator.add_api_token("alice@example.com")
    app = make_app(emulator, clock=lambda: FROZEN_NOW)
    async with app.run_test(size=SIZE) as pilot:
        waiter = waiter_for(pilot)
        form = await _choose(pilot, waiter, 1)
        assert form.heading.startswith("Step 2 of 4 · Your token")
        _fill(form, name="me", email="alice", token=token)
        await _send(pilot, form)
        await waiter.text("sign-in-result", "is not an email")
        _fill(form, email="alice@example.com", token=token, expires="30-06-2027")
        await _send(pilot, form)
        await waiter.text("sign-in-result", "YYYY-MM-DD")
        _fill(form, token=token, expires="2027-06-30")
        await _send(pilot, form)
        await waiter.screen(RepositoriesScreen)
        assert token not in texts.screen(app)
    saved = ConfigStore(wizard_env).get("me")
    assert saved.kind == "api_token" and saved.email == "alice@example.com" and saved.access_token.reveal() == token
    assert saved.token_expires_on.isoformat() == "2027-06-30"


async def test_an_unscoped_api_token_is_a_sentence_and_nothing_is_saved(make_app, emulator, wizard_env, waiter_for):
    token = emulator.add_api_token("alice@example.com", scopes=())
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        waiter = waiter_for(pilot)
        form = await _choose(pilot, waiter, 1)
        _fill(form, name="me", email="alice@example.com", token=token)
        await _send(pilot, form)
        said = await waiter.until(lambda: "error" in form.query_one("#sign-in-result").classes
                                  and str(form.query_one("#sign-in-result").visual), "a refusal")
        assert said and token not in str(form.query_one("#sign-in-result").visual)
    assert "me" not in ConfigStore(wizard_env).load()


async def test_an_access_token_signs_in_for_its_repository(make_app, emulator, wizard_env, waiter_for):
    from bbwizard.tui.screens.repositories import RepositoriesScreen

    token = emulator.add_access_token("repository", "acme", repository="webapp")
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        waiter = waiter_for(pilot)
        form = await _choose(pilot, waiter, 2)
        _fill(form, name="ci", token=token, workspace="")
        await _send(pilot, form)
        await waiter.text("sign-in-result", "Say which workspace")
        _fill(form, token=token, workspace="acme", repository="webapp")
        await _send(pilot, form)
        await waiter.screen(RepositoriesScreen)
    saved = ConfigStore(wizard_env).get("ci")
    assert saved.kind == "access_token" and saved.reach == {"workspace": "acme", "repository": "webapp"}
    assert saved.git_username == "x-token-auth"
