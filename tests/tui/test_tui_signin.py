"""The Token step finishes a sign-in through `bbwizard.signin`, as `bbwizard login` does."""

from __future__ import annotations

from bbwizard.config import ConfigStore, Profile
from bbwizard.emulator import PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET
from bbwizard.secret import Secret
from bbwizard.tui.screens.token import TokenScreen

SIZE = (100, 32)


async def test_signing_in_again_in_the_wizard_keeps_the_clone_folder(make_app, emulator, consumer_form, waiter_for, wizard_env):
    store = ConfigStore()
    store.save(Profile(name="work", client_id=PRIVATE_CONSUMER_KEY, client_secret=Secret(PRIVATE_CONSUMER_SECRET),
                       site_url=emulator.site_url, api_url=emulator.api_url, clone_dir="/srv/clones"))
    form = consumer_form(key=PRIVATE_CONSUMER_KEY, secret=PRIVATE_CONSUMER_SECRET, name="work", own_identity=True)
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(TokenScreen(form))
        await waiter_for(pilot).text("token-saved", "Saved as profile")
        assert app.screen.ready
    saved = store.get("work")
    assert saved.clone_dir == "/srv/clones" and saved.user is not None and saved.token_state() == "fresh"


async def test_a_failing_who_am_i_shows_what_was_saved_and_why(make_app, emulator, consumer_form, waiter_for, wizard_env):
    form = consumer_form(key=PRIVATE_CONSUMER_KEY, secret=PRIVATE_CONSUMER_SECRET, name="work", own_identity=True)
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        emulator.inject(kind="status", status=500, count=3, path_prefix="/2.0/user")
        app.push_screen(TokenScreen(form))
        wait = waiter_for(pilot)
        await wait.text("token-result", "Bitbucket's API failed (HTTP 500). Try again in a minute.")
        await wait.text("token-saved", "Saved as profile “work”")
        assert not app.screen.ready and "enter" not in app.screen.active_bindings
    assert ConfigStore().get("work").access_token is not None
