"""More ways through the wizard: paste, client credentials, saved profiles; and what is always there
(status bar, refresh, help, palette commands, errors nobody expected)."""

from __future__ import annotations

from datetime import timedelta

from bbwizard.emulator import PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET
from bbwizard.tui.screens.authorize import AuthorizeScreen
from bbwizard.tui.screens.clone import CloneScreen
from bbwizard.tui.screens.code import CodeScreen
from bbwizard.tui.screens.consumer import ConsumerScreen
from bbwizard.tui.screens.modals import ConfirmModal, ErrorModal, HelpModal
from bbwizard.tui.screens.profiles import ProfilesScreen
from bbwizard.tui.screens.repositories import RepositoriesScreen
from bbwizard.tui.screens.token import TokenScreen
from bbwizard.tui.widgets.status import StatusBar

SIZE = (100, 30)


def text_of(app, widget_id: str) -> str:
    return app.screen.query_one(f"#{widget_id}").visual.plain


def heading(app) -> str:
    return text_of(app, "step-title")


async def clone_first_repository(app, pilot, wait, headings: list[str] | None = None) -> str:
    """Repositories, then Clone; each step's heading goes into ``headings``."""
    await wait.screen(RepositoriesScreen)
    (headings if headings is not None else []).append(heading(app))
    await wait.until(lambda: app.screen.query_one("#repositories").rows, "repositories listed")
    await pilot.press("space", "enter")
    await wait.screen(CloneScreen)
    (headings if headings is not None else []).append(heading(app))
    await pilot.press("ctrl+s")
    return await wait.text("clone-result", "Press Enter to finish")


async def test_new_profile_through_paste(make_app, emulator, waiter_for, wizard_env, callback_url):
    from bbwizard.config import ConfigStore
    from bbwizard.emulator.approve import approve
    from bbwizard.loopback import LoopbackCatcher
    from bbwizard.tui.screens.kind import KindScreen

    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.screen(KindScreen)
        headings = [heading(app)]
        await wait.to_consumer()
        headings.append(heading(app))
        await wait.to_authorize()
        headings.append(heading(app))
        url = text_of(app, "authorize-url")
        state = app.screen.authorization.state
        await pilot.press("p")
        await wait.screen(CodeScreen)
        headings.append(heading(app))
        # The browser, elsewhere, lands on the callback address; the person copies it from there.
        with LoopbackCatcher(callback_url, state) as elsewhere:
            approve(url)
            landed = f"{callback_url}?code={elsewhere.wait(10).code}&state={state}"
        app.screen.query_one("#code").value = f"  '{landed[:-1]}"
        await pilot.press("end", landed[-1], "'")
        assert text_of(app, "code-verdict") == "That looks right. Press Enter to use it."
        await pilot.press("enter")
        await wait.screen(TokenScreen)
        saved = await wait.text("token-saved", "Saved as profile")
        assert saved == f"Saved as profile “demo” in {wizard_env}"
        headings.append(heading(app))
        await pilot.press("enter")
        summary = await clone_first_repository(app, pilot, wait, headings)
        assert summary.startswith("All cloned.")
    # No profile saved, a loopback callback: six steps (the three ways in first), until the code
    # is pasted (then seven).
    assert headings == [
        "Step 1 of 6 · How you sign in",
        "Step 2 of 6 · OAuth client",
        "Step 3 of 6 · Grant access in the browser",
        "Step 4 of 7 · Paste the code",
        "Step 5 of 7 · Token",
        "Step 6 of 7 · Repositories",
        "Step 7 of 7 · Clone",
    ]
    profile = ConfigStore(wizard_env).get("demo")
    assert profile.user.username == "alice" and profile.refresh_token
    assert profile.workspaces == ["acme", "alice", "open-tools"]  # for the Profiles step's count


async def test_new_profile_through_client_credentials(make_app, emulator, waiter_for, wizard_env):
    from bbwizard.config import ConfigStore

    app = make_app(emulator, name="ci", key=PRIVATE_CONSUMER_KEY, secret=PRIVATE_CONSUMER_SECRET)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.to_consumer()
        headings = [heading(app)]
        await pilot.press("enter")
        await wait.text("check-result", "may use client credentials")
        await pilot.click("#own-identity")
        await wait.screen(TokenScreen)
        headings.append(heading(app))
        await wait.text("token-saved", "Saved as profile “ci”")
        assert emulator.stats.authorizations == []  # no browser was involved
        await pilot.press("enter")
        summary = await clone_first_repository(app, pilot, wait, headings)
        assert summary.startswith("All cloned.")
    # The consumer's own identity: no Authorize, no Code.
    assert headings == ["Step 2 of 6 · OAuth client", "Step 3 of 5 · Token", "Step 4 of 5 · Repositories",
                        "Step 5 of 5 · Clone"]
    assert ConfigStore(wizard_env).get("ci").grant == "client_credentials"


async def test_saved_profile_with_expired_token_is_refreshed_on_the_way(make_app, emulator, signed_in, waiter_for):
    signed_in("work", expires_in=timedelta(minutes=-5))
    app = make_app(emulator, prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.screen(ProfilesScreen)
        await wait.until(lambda: app.screen.query_one("#profiles").row_count == 1, "the profile listed")
        assert "expired, refreshable" in str(app.screen.query_one("#profiles").get_row_at(0)[1])
        headings = [heading(app)]
        await pilot.press("enter")
        await wait.screen(RepositoriesScreen)
        assert emulator.stats.grants["refresh_token"] == 1
        status = app.screen.query_one(StatusBar)
        countdown = await wait.until(lambda: "token expires in 1:5" in status.countdown and status.countdown, "a fresh countdown")
        assert countdown.startswith("token expires in 1:5")
        summary = await clone_first_repository(app, pilot, wait, headings)
        assert summary.startswith("All cloned.")
    # A saved profile: from Profiles straight to the repositories.
    assert headings == ["Step 1 of 3 · Profiles", "Step 2 of 3 · Repositories", "Step 3 of 3 · Clone"]


async def test_saved_profile_that_cannot_refresh_asks_to_sign_in_again(make_app, emulator, signed_in, waiter_for):
    signed_in("work", expires_in=timedelta(minutes=-5))
    emulator.revoke_refresh_tokens()
    app = make_app(emulator, prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.screen(ProfilesScreen)
        await wait.until(lambda: app.screen.query_one("#profiles").row_count == 1, "the profile listed")
        await pilot.press("enter")
        await wait.screen(ErrorModal)
        assert text_of(app, "dialog-title") == "Sign in again"
        assert "Sign in again" in text_of(app, "dialog-message")
        await pilot.press("enter")
        await wait.screen(ConsumerScreen)
        assert heading(app) == "Step 2 of 6 · OAuth client"  # Profiles, then a sign-in's five steps
        assert app.screen.query_one("#name").value == "work"
        assert app.screen.query_one("#key").value == app.screen.prefill.client_id != ""


async def test_escape_goes_back_a_step(make_app, emulator, waiter_for):
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.to_authorize()
        await pilot.press("p")
        await wait.screen(CodeScreen)
        await pilot.press("escape")
        await wait.screen(AuthorizeScreen)
        await pilot.press("escape")
        await wait.screen(ConsumerScreen)
        assert app.screen.query_one("#key").value == app.prefill.client_id


# Always there: the status bar


async def test_countdown_turns_yellow_then_red(make_app, emulator, signed_in, waiter_for):
    from datetime import datetime, timezone

    now = [datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)]
    profile = signed_in()
    profile.expires_at = now[0] + timedelta(minutes=30)
    app = make_app(emulator, start="none", clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        app.profile = profile
        app.push_screen(ProfilesScreen())
        await pilot.pause()
        status = app.screen.query_one(StatusBar)

        def line() -> str:
            return status.render_line(0).text

        status.tick()
        assert status.countdown == "token expires in 30:00" and status.has_class("fresh")
        assert line().endswith(" token expires in 30:00  ") and len(line()) == status.size.width
        now[0] += timedelta(minutes=21)
        status.tick()
        assert status.countdown == "token expires in 9:00" and status.has_class("expiring")
        assert not status.has_class("fresh")
        now[0] += timedelta(minutes=10)
        status.tick()
        assert status.countdown == "token expired 1:00 ago" and status.has_class("expired")
        assert line().startswith("profile: demo  user: Alice Liddell (alice)  ")
        expired = status.get_component_rich_style("status-bar--countdown")
        assert expired.bold and expired.color != status.rich_style.color


async def test_token_refreshes_on_its_own_shortly_before_expiry(make_app, emulator, signed_in, waiter_for, wizard_env):
    from bbwizard.config import ConfigStore

    signed_in(expires_in=timedelta(minutes=3))
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ProfilesScreen())
        app.profile = ConfigStore(wizard_env).get("demo")
        await waiter_for(pilot).until(lambda: emulator.stats.grants["refresh_token"] == 1, "the automatic refresh")
        await waiter_for(pilot).until(lambda: app.profile.expires_in() > timedelta(hours=1), "the new token in the app")
    assert ConfigStore(wizard_env).get("demo").expires_in() > timedelta(hours=1)


async def test_r_refreshes_now(make_app, emulator, signed_in, waiter_for):
    profile = signed_in()
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.profile = profile
        app.push_screen(ProfilesScreen())
        await pilot.pause()
        await pilot.press("r")
        await waiter_for(pilot).until(lambda: emulator.stats.grants["refresh_token"] == 1, "the refresh")
        await waiter_for(pilot).until(lambda: app.profile.access_token != profile.access_token, "the new token")


async def test_r_without_a_profile_is_not_offered_and_the_palette_says_why(make_app, emulator):
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ProfilesScreen())
        await pilot.pause()
        await pilot.press("r")  # not a key of this step until a profile is chosen
        await pilot.pause()
        assert [n.message for n in app._notifications] == []
        app.action_refresh_token()  # what the palette's "Refresh token" runs
        await pilot.pause()
        assert [n.message for n in app._notifications] == ["There is no profile yet: sign in first."]
    assert emulator.stats.grants["refresh_token"] == 0


async def test_r_typed_in_a_text_box_is_just_a_letter(make_app, emulator):
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ConsumerScreen(app.prefill))
        await pilot.pause()
        app.screen.query_one("#name").focus()
        app.screen.query_one("#name").value = ""
        await pilot.press("r")
        assert app.screen.query_one("#name").value == "r"


# Help, palette, errors


async def test_f1_shows_help_for_the_step(make_app, emulator):
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ConsumerScreen(app.prefill))
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        assert text_of(app, "dialog-title") == "Help: Step 1 of 5 · OAuth client"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConsumerScreen)


async def test_copy_token_from_the_palette_warns_first(make_app, emulator, signed_in, waiter_for):
    profile = signed_in()
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.profile = profile
        app.push_screen(ProfilesScreen())
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"copy token")
        await pilot.pause()
        await pilot.press("enter")
        await waiter_for(pilot).screen(ConfirmModal)
        assert text_of(app, "dialog-title") == "Copy the access token to the clipboard?"
        assert text_of(app, "dialog-message").startswith("Anyone who can read your clipboard can act as you")
        assert app.clipboard == ""
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == profile.access_token.reveal()
        assert profile.access_token.reveal() not in app.export_screenshot()


async def test_open_config_folder_names_it(make_app, emulator, wizard_env):
    app = make_app(emulator, start="none", demo=True)
    async with app.run_test(size=SIZE) as pilot:
        app.action_open_config_folder()
        await pilot.pause()
        assert [n.message for n in app._notifications] == [f"The config folder is {wizard_env.parent}"]


class BrokenStore:
    """A config store with a bug in it: the error carries a secret, which must not reach the screen."""

    path = "/nowhere/config.toml"

    def __init__(self, secret) -> None:
        self.secret = secret

    def load(self):
        raise RuntimeError(f"kaboom while holding {self.secret.reveal()}")


async def test_unexpected_error_is_a_sentence_without_secrets_and_a_way_back(make_app, emulator, tmp_path, monkeypatch):
    from bbwizard.secret import Secret

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    secret = Secret("s3cr3t-value-that-must-not-show")
    app = make_app(emulator, store=BrokenStore(secret))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(20):
            await pilot.pause()
            if isinstance(app.screen, ErrorModal):
                break
        assert isinstance(app.screen, ErrorModal)
        assert text_of(app, "dialog-title") == "Something went wrong"
        message = text_of(app, "dialog-message")
        assert message.startswith("bbwizard hit an unexpected error (RuntimeError): kaboom while holding ***")
        assert "Press Enter to go back and try again." in text_of(app, "dialog-hint")
        assert secret.reveal() not in app.export_screenshot()
        await pilot.press("enter")
        await pilot.pause()
        from bbwizard.tui.screens.kind import KindScreen

        assert isinstance(app.screen, KindScreen)  # a new profile's first step


async def test_escape_cancels_running_clones_and_leaves_nothing_behind(make_app, emulator, signed_in, waiter_for, tmp_path):
    from bbwizard.api import Repository

    profile = signed_in()
    webapp = Repository(uuid="{1}", full_name="acme/webapp", slug="webapp", name="webapp", workspace="acme",
                        mainbranch="main")
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(CloneScreen(profile, [webapp]))
        await pilot.pause()
        emulator.latency = 2.0  # every request to the emulator, git's included, now takes 2 s
        await pilot.press("ctrl+s")
        wait = waiter_for(pilot)
        await wait.until(lambda: app.screen.running, "the clone to start")
        await pilot.press("escape")
        summary = await wait.text("clone-result", "Press Enter to finish")
        emulator.latency = 0.0
        assert summary.startswith("1 of 1 did not clone.")
        assert "X acme/webapp:" in summary and "cancel" in summary.lower()
        assert isinstance(app.screen, CloneScreen)  # the first escape cancels; it does not leave
    assert not (tmp_path / "work" / "webapp").exists()


async def test_switch_profile_from_the_palette(make_app, emulator, signed_in, waiter_for):
    signed_in("work")
    signed_in("home")
    app = make_app(emulator, prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.screen(ProfilesScreen)
        await wait.until(lambda: app.screen.query_one("#profiles").row_count == 2, "two profiles")
        await pilot.press("enter")
        await wait.screen(RepositoriesScreen)
        app.action_switch_profile()
        await wait.screen(ProfilesScreen)
        await wait.until(lambda: app.screen.query_one("#profiles").row_count == 2, "two profiles again")
        assert len(app.screen_stack) == 2  # the default screen and Profiles: nothing left underneath


async def test_a_bug_in_a_step_becomes_a_modal_and_a_way_back(make_app, emulator, waiter_for, monkeypatch, tmp_path):
    from bbwizard.secret import Secret

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    secret = Secret("the-consumer-secret-in-a-local")

    def broken(self, result, value):
        raise ValueError(f"a bug that mentions {secret.reveal()}")

    monkeypatch.setattr(CodeScreen, "show_verdict", broken)
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.to_authorize()
        await pilot.press("p")
        await wait.screen(CodeScreen)
        await pilot.press("x")
        await wait.screen(ErrorModal)
        message = text_of(app, "dialog-message")
        assert message == "bbwizard hit an unexpected error (ValueError): a bug that mentions ***"
        assert secret.reveal() not in app.export_screenshot()
        await pilot.press("enter")
        await wait.screen(AuthorizeScreen)  # one step back, and the wizard goes on
        assert app.is_running
    log = (tmp_path / "state" / "bbwizard" / "log" / "wizard.log")
    assert log.exists() and secret.reveal() not in log.read_text() and "ValueError" in log.read_text()
