"""A new profile starts at the three ways in; each way reaches Repositories and Clone, and Back
from Repositories returns to where the road began."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from textual.widgets import Input, OptionList

from bbwizard.config import ConfigStore

from .conftest import SIZE


async def _sign_in_with_token(pilot, wait, kind_index: int, **values: str):
    from bbwizard.tui.screens.kind import KindScreen, TokenFormScreen
    from bbwizard.tui.screens.repositories import RepositoriesScreen

    await wait.screen(KindScreen)
    pilot.app.screen.query_one("#kinds", OptionList).highlighted = kind_index
    await pilot.press("enter")
    form = await wait.screen(TokenFormScreen)
    for widget_id, value in values.items():
        form.query_one(f"#{widget_id}", Input).value = value
    form.query(Input).last().focus()
    await pilot.press("enter")
    return await wait.screen(RepositoriesScreen)


async def _clone_listed(app, pilot, wait) -> str:
    from bbwizard.tui.screens.clone import CloneScreen

    await wait.until(lambda: app.screen.query_one("#repositories").rows, "repositories listed")
    await pilot.press("space", "enter")
    await wait.screen(CloneScreen)
    await pilot.press("ctrl+s")
    return await wait.text("clone-result", "Press Enter to finish")


async def test_with_no_profile_the_first_step_offers_the_three_ways_and_enter_is_the_oauth_client(
        make_app, emulator, waiter_for):
    from bbwizard.tui.screens.kind import KindScreen

    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        kind = await wait.screen(KindScreen)
        assert kind.first_step and kind.heading == "Step 1 of 6 · How you sign in"
        assert kind.query_one("#kinds", OptionList).highlighted == 0  # the OAuth client
        consumer = await wait.to_consumer()  # one Enter
        assert consumer.heading == "Step 2 of 6 · OAuth client"
        assert consumer.query_one("#key", Input).value == app.prefill.client_id != ""


async def test_an_access_token_shows_what_it_reaches_clones_and_goes_back_to_the_kind_step(
        make_app, emulator, waiter_for, texts, tmp_path):
    from bbwizard.tui.screens.kind import KindScreen

    token = emulator.add_access_token("repository", "acme", repository="webapp")
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        repositories = await _sign_in_with_token(pilot, wait, 2, name="ci", token=token, workspace="acme",
                                                 repository="webapp")
        assert repositories.heading == "Step 3 of 4 · Repositories"
        # Bitbucket refuses to list workspaces for an access token: the one it was made for is shown.
        workspaces = repositories.query_one("#workspaces", OptionList)
        await wait.until(lambda: workspaces.option_count == 1, "the token's workspace")
        assert workspaces.get_option_at_index(0).id == "acme"
        assert texts.widget(app, "reach-note") == "An access token for acme/webapp: it reaches that repository only."
        await wait.until(lambda: [row.key for row in repositories.query_one("#repositories").rows] == ["acme/webapp"],
                         "the one repository it reaches")
        assert "error" not in repositories.query_one("#repositories-result").classes
        summary = await _clone_listed(app, pilot, wait)
        assert summary.startswith("All cloned."), summary
        assert (tmp_path / "work" / "webapp" / ".git").is_dir()
        await pilot.press("escape")  # Clone → Repositories
        await wait.until(lambda: app.screen is not repositories and app.screen.STEP == "repositories",
                         "Repositories again")
        await pilot.press("escape")
        await wait.screen(KindScreen)  # where this road began, though a profile is saved now


async def test_an_api_token_lists_its_workspaces_and_clones(make_app, emulator, waiter_for, tmp_path, wizard_env):
    token = emulator.add_api_token("alice@example.com")
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        repositories = await _sign_in_with_token(pilot, wait, 1, name="me", email="alice@example.com", token=token)
        workspaces = repositories.query_one("#workspaces", OptionList)
        await wait.until(lambda: workspaces.option_count > 0, "the account's workspaces")
        assert not repositories.query("#reach-note")
        summary = await _clone_listed(app, pilot, wait)
        assert summary.startswith("All cloned."), summary
    config = (tmp_path / "work").rglob("config")
    assert not any(token in path.read_text() for path in config if path.parent.name == ".git")
    assert ConfigStore(wizard_env).get("me").kind == "api_token"


async def test_back_from_repositories_returns_to_profiles_when_the_road_came_from_there(
        make_app, emulator, signed_in, waiter_for):
    from bbwizard.tui.screens.profiles import ProfilesScreen

    signed_in("work")
    token = emulator.add_access_token("repository", "acme", repository="webapp")
    app = make_app(emulator)  # its hosts are the emulator's; `n` keeps them and nothing else
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.screen(ProfilesScreen)
        await pilot.press("n")
        repositories = await _sign_in_with_token(pilot, wait, 2, name="ci", token=token, workspace="acme",
                                                 repository="webapp")
        assert repositories.heading == "Step 4 of 5 · Repositories"
        await pilot.press("escape")
        await wait.screen(ProfilesScreen)


async def test_a_token_form_asks_before_replacing_a_saved_profile(make_app, emulator, signed_in, waiter_for, wizard_env):
    from bbwizard.tui.screens.kind import TokenFormScreen
    from bbwizard.tui.screens.modals import ConfirmModal

    saved = signed_in("work")
    token = emulator.add_access_token("repository", "acme", repository="webapp")
    app = make_app(emulator)  # its hosts are the emulator's; `n` keeps them and nothing else
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.until(lambda: app.screen.STEP == "profiles", "the profiles")
        await pilot.press("n")
        from bbwizard.tui.screens.kind import KindScreen

        await wait.screen(KindScreen)
        app.screen.query_one("#kinds", OptionList).highlighted = 2
        await pilot.press("enter")
        form = await wait.screen(TokenFormScreen)
        for widget_id, value in {"name": "work", "token": token, "workspace": "acme"}.items():
            form.query_one(f"#{widget_id}", Input).value = value
        form.query(Input).last().focus()
        await pilot.press("enter")
        await wait.screen(ConfirmModal)
        await pilot.press("n")
        await wait.text("sign-in-result", "A profile named “work” is saved already")
        assert form.query_one("#token", Input).value == token  # nothing lost
    assert ConfigStore(wizard_env).get("work").access_token == saved.access_token


async def test_choosing_a_profile_reads_the_token_state_on_the_injected_clock(make_app, emulator, signed_in, waiter_for):
    # Expired an hour ago by the wall clock, fresh on the app's clock: no refresh is spent.
    profile = signed_in("work", expires_in=timedelta(hours=-1))
    app_now = profile.expires_at - timedelta(hours=1)
    app = make_app(emulator, prefill=False, start="none", clock=lambda: app_now)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        usable = await app.make_usable(profile)
    assert usable is profile
    assert emulator.stats.grants["refresh_token"] == 0
    assert profile.expires_at < datetime.now(timezone.utc)
