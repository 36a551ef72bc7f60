"""The wizard's first steps (Profiles, Consumer) and the Token step as a person meets them: new
profiles start empty and never replace a saved one unasked, escape on the first step asks before
quitting, states and countdowns age with the (injected) clock, profiles that only a new sign-in can
mend say so, and the bottom lines hold at 60x20."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET
from bbwizard.humanize import human_duration
from bbwizard.tui.screens.authorize import AuthorizeScreen
from bbwizard.tui.screens.consumer import ConsumerScreen
from bbwizard.tui.screens.modals import ConfirmModal, ErrorModal, HelpModal
from bbwizard.tui.screens.profiles import ProfilesScreen
from bbwizard.tui.screens.repositories import RepositoriesScreen
from bbwizard.tui.screens.token import TokenScreen
from bbwizard.tui.widgets.status import StatusBar

SIZE = (100, 30)
SMALL = (60, 20)


def text_of(app, widget_id: str) -> str:
    return app.screen.query_one(f"#{widget_id}").visual.plain


def form_values(app) -> dict[str, str]:
    return {field: app.screen.query_one(f"#{field}").value for field in ("name", "key", "secret")}


def escape_key(app) -> str:
    """What the keys line offers for escape on the current screen."""
    return app.screen.active_bindings["escape"].binding.description


def footer_descriptions(screen) -> list[str]:
    """The keys Textual's Footer shows on ``screen``, left of the command palette's."""
    return [key.description for key in screen.query(FooterKey) if not key.has_class("-command-palette")]


def profile_rows(app) -> dict[str, dict[str, str]]:
    table = app.screen.query_one("#profiles")
    return {key.value: {column.value: str(table.get_cell(key, column)) for column in table.columns} for key in table.rows}


async def profiles_listed(app, wait, count: int) -> None:
    await wait.screen(ProfilesScreen)
    await wait.until(lambda: app.screen.query_one("#profiles").row_count == count, f"{count} profiles listed")


# Profiles: a new profile, and a name that is taken


async def test_n_opens_an_empty_form_after_another_profile_filled_it(make_app, emulator, signed_in, waiter_for):
    signed_in("work", expires_in=timedelta(minutes=-5))
    emulator.revoke_refresh_tokens()
    app = make_app(emulator, prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await profiles_listed(app, wait, 1)
        await pilot.press("enter")  # its refresh is refused: sign in again, the form filled from "work"
        await wait.screen(ErrorModal)
        await pilot.press("enter")
        await wait.screen(ConsumerScreen)
        assert form_values(app)["name"] == "work"
        assert escape_key(app) == "Back"  # Profiles comes first: escape goes back there
        await pilot.press("escape")
        await profiles_listed(app, wait, 1)
        await pilot.press("n")  # a new profile: the three ways in, then (Enter) the OAuth client's form
        await wait.to_consumer()
        assert form_values(app) == {"name": "", "key": "", "secret": ""}
        assert app.screen.focused is app.screen.query_one("#name")


async def test_saving_under_a_saved_name_asks_before_replacing_it(make_app, emulator, signed_in, waiter_for, wizard_env):
    from bbwizard.config import ConfigStore

    saved = signed_in("work")
    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await profiles_listed(app, wait, 1)
        await pilot.press("n")
        await wait.to_consumer()
        typed = {"name": "work", "key": DEMO_CONSUMER_KEY, "secret": DEMO_CONSUMER_SECRET}
        for field, value in typed.items():
            app.screen.query_one(f"#{field}").value = value
        await pilot.press("ctrl+n")
        await wait.screen(ConfirmModal)
        assert text_of(app, "dialog-title") == "Replace the profile “work”?"
        assert "(signed in as Alice Liddell (alice))" in text_of(app, "dialog-message")
        await pilot.press("n")
        await wait.screen(ConsumerScreen)
        assert form_values(app) == typed  # nothing lost
        assert text_of(app, "check-result").startswith("A profile named “work” is saved already")
        assert app.screen.focused is app.screen.query_one("#name")
        assert ConfigStore(wizard_env).get("work").access_token == saved.access_token
        await pilot.press("ctrl+n")
        await wait.screen(ConfirmModal)
        await pilot.press("y")
        await wait.screen(AuthorizeScreen)
        await pilot.press("escape")  # back to the form: the answer is remembered
        await wait.screen(ConsumerScreen)
        await pilot.press("ctrl+n")
        await wait.screen(AuthorizeScreen)


async def test_signing_a_profile_in_again_replaces_it_without_asking(make_app, emulator, signed_in, waiter_for):
    signed_in("work", access_token=None, refresh_token=None, expires_at=None)
    app = make_app(emulator, prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await profiles_listed(app, wait, 1)
        assert profile_rows(app)["work"]["token"] == "must sign in"
        await pilot.press("enter")
        await wait.screen(ConfirmModal)
        assert text_of(app, "dialog-title") == "Sign in to “work” again?"
        assert "is signed out" in text_of(app, "dialog-message")
        assert emulator.stats.grants["refresh_token"] == 0
        await pilot.press("y")
        await wait.screen(ConsumerScreen)
        assert form_values(app)["name"] == "work" and form_values(app)["key"] == DEMO_CONSUMER_KEY
        await pilot.press("ctrl+n")
        await wait.screen(AuthorizeScreen)


async def test_a_signed_out_profile_is_not_said_to_be_refreshing(make_app, emulator, signed_in, waiter_for):
    signed_in("work", access_token=None, refresh_token=None, expires_at=None)
    app = make_app(emulator, prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await profiles_listed(app, wait, 1)
        await pilot.press("enter")
        await wait.screen(ConfirmModal)
        await pilot.press("n")
        await wait.screen(ProfilesScreen)
        assert "Refreshing" not in text_of(app, "profiles-result")
        assert emulator.stats.grants["refresh_token"] == 0


async def test_a_profile_without_the_repository_scope_says_which_permission_to_tick(make_app, emulator, signed_in,
                                                                                   waiter_for):
    signed_in("narrow", scopes=["account"])
    app = make_app(emulator, prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await profiles_listed(app, wait, 1)
        assert profile_rows(app)["narrow"]["token"] == "scope missing: repository"
        await pilot.press("enter")
        await wait.screen(ConfirmModal)
        assert text_of(app, "dialog-title") == "“narrow” can't list or clone repositories"
        message = text_of(app, "dialog-message")
        assert "lacks the repository scope" in message and "tick “Repositories: Read”" in message
        await pilot.press("n")
        await wait.screen(ProfilesScreen)
        assert not any(isinstance(screen, RepositoriesScreen) for screen in app.screen_stack)
        await pilot.press("enter")
        await wait.screen(ConfirmModal)
        await pilot.press("y")
        await wait.screen(ConsumerScreen)
        assert form_values(app)["name"] == "narrow"


# Escape on the first step


async def test_escape_on_the_first_step_asks_before_quitting(make_app, emulator, waiter_for):
    from bbwizard.tui.screens.kind import KindScreen

    app = make_app(emulator)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.to_consumer()  # the kind step came first: escape on the form goes back to it
        assert escape_key(app) == "Back"
        app.screen.query_one("#name").value = "typed"
        await pilot.press("escape")
        await wait.screen(KindScreen)
        assert escape_key(app) == "Quit"
        await pilot.press("escape")
        await wait.screen(ConfirmModal)
        assert text_of(app, "dialog-title") == "Quit bbwizard?"
        await pilot.press("n")
        await wait.screen(KindScreen)
        assert app.is_running
        await pilot.press("escape")
        await wait.screen(ConfirmModal)
        await pilot.press("y")
        await wait.until(lambda: not app.is_running, "the wizard to quit")
    assert app.return_value == 0


async def test_escape_on_profiles_asks_before_quitting(make_app, emulator, signed_in, waiter_for):
    signed_in("work")
    app = make_app(emulator, prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await profiles_listed(app, wait, 1)
        assert escape_key(app) == "Quit"
        await pilot.press("escape")
        await wait.screen(ConfirmModal)
        assert text_of(app, "dialog-title") == "Quit bbwizard?"
        await pilot.press("escape")  # escape on the question is No
        await profiles_listed(app, wait, 1)
        assert app.is_running


# The status bar on Profiles; states and countdowns that age


async def test_profiles_status_bar_says_what_is_saved(make_app, emulator, signed_in, waiter_for, wizard_env):
    from bbwizard.config import ConfigStore

    signed_in("work")
    signed_in("home")
    default = ConfigStore(wizard_env).default_name
    app = make_app(emulator, prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await profiles_listed(app, wait, 2)
        status = app.screen.query_one(StatusBar)
        line = await wait.until(lambda: "saved" in status.render_line(0).text and status.render_line(0).text,
                                "the summary")
        assert line.startswith(f"2 profiles saved, default: {default}")
        assert "no profile yet" not in line and "not signed in" not in line


async def test_profiles_token_states_age_with_the_clock(make_app, emulator, signed_in, waiter_for):
    now = [datetime.now(timezone.utc).replace(microsecond=0)]
    signed_in("work", expires_at=now[0] + timedelta(minutes=12))
    app = make_app(emulator, prefill=False, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await profiles_listed(app, wait, 1)
        assert profile_rows(app)["work"]["token"] == "fresh (12 min left)"
        now[0] += timedelta(minutes=3)
        await wait.until(lambda: profile_rows(app)["work"]["token"] == "expires in 9 min", "the state to turn to expiring")
        now[0] += timedelta(minutes=10)
        await wait.until(lambda: profile_rows(app)["work"]["token"] == "expired, refreshable", "the state to turn to expired")


async def test_token_step_expiry_counts_down(make_app, emulator, consumer_form, waiter_for):
    now = [datetime.now(timezone.utc).replace(microsecond=0)]
    form = consumer_form(key=PRIVATE_CONSUMER_KEY, secret=PRIVATE_CONSUMER_SECRET, own_identity=True)
    app = make_app(emulator, start="none", clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        app.push_screen(TokenScreen(form))
        await wait.text("token-saved", "Saved as profile")
        expires_at = app.screen.profile.expires_at

        def expected() -> str:
            return f"The access token expires in {human_duration(expires_at - now[0], clock=True)} "

        assert text_of(app, "token-expiry").startswith(expected())
        now[0] += timedelta(minutes=61, seconds=7)
        await wait.until(lambda: text_of(app, "token-expiry").startswith(expected()), "the countdown to move")
        now[0] = expires_at + timedelta(seconds=90)
        await wait.text("token-expiry", "The access token expired 1:30 ago")


# The Token step after a refused code


async def test_refused_code_shows_the_sentence_and_offers_no_continue(make_app, emulator, consumer_form, waiter_for):
    from bbwizard import oauth

    authorization = oauth.start_authorization(emulator.site_url, DEMO_CONSUMER_KEY)
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(TokenScreen(consumer_form(), code="not-a-real-code", authorization=authorization))
        await waiter_for(pilot).text("token-result", "Press escape to go back and try again.")
        screen = app.screen
        assert not screen.query_one("#token-go").display
        for line in ("token-user", "token-scopes", "token-expiry", "token-saved"):
            assert not screen.query_one(f"#{line}").display, line
        assert "enter" not in screen.active_bindings
        await waiter_for(pilot).until(lambda: footer_descriptions(screen), "the Footer's keys")
        keys = footer_descriptions(screen)
        assert "Continue" not in keys and "Back" in keys
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen  # nothing to continue with: Enter does nothing


# f1 and the palette's Screenshot


async def test_help_scrolls_with_the_arrow_keys_at_once(make_app, emulator, waiter_for):
    app = make_app(emulator, start="none")
    async with app.run_test(size=SMALL) as pilot:
        app.push_screen(ConsumerScreen(app.prefill))
        await pilot.pause()
        await pilot.press("f1")
        help_screen = await waiter_for(pilot).screen(HelpModal)
        body = help_screen.query_one("#help-body")
        await waiter_for(pilot).until(lambda: body.max_scroll_y > 0, "the help taller than its box")
        assert help_screen.focused is body
        await pilot.press("pagedown")
        await waiter_for(pilot).until(lambda: body.scroll_y > 0, "the help to scroll")


async def test_screenshot_without_a_downloads_folder_lands_in_the_current_folder(make_app, emulator, waiter_for,
                                                                               tmp_path, monkeypatch):
    home = tmp_path / "empty-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ConsumerScreen(app.prefill))
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"screenshot")
        await pilot.pause()
        await pilot.press("enter")
        notice = await waiter_for(pilot).until(
            lambda: [n for n in app._notifications if n.title == "Screenshot"], "the screenshot's notice")
        assert "Saved screenshot to" in notice[0].message, notice[0].message
    saved = list((tmp_path / "work").glob("*.svg"))
    assert len(saved) == 1 and not (home / "Downloads").exists()
    assert str(saved[0]) in notice[0].message


# 60x20


async def test_bottom_lines_hold_at_60_by_20(make_app, emulator, signed_in, waiter_for):
    from bbwizard.config import UserInfo

    user = UserInfo(display_name="Alice Pleasance Liddell of Wonderland", username="alice-liddell")
    signed_in("work-laptop", user=user)
    app = make_app(emulator, prefill=False)
    async with app.run_test(size=SMALL) as pilot:
        wait = waiter_for(pilot)
        await profiles_listed(app, wait, 1)
        table = app.screen.query_one("#profiles")
        keys = [column.key.value for column in table.ordered_columns]
        widths = [column.get_render_width(table) for column in table.ordered_columns]
        assert sum(widths[: keys.index("token") + 1]) <= table.size.width  # the state is in view
        footer = app.screen.query_one(Footer)
        palette = await wait.until(lambda: footer.query(".-command-palette"), "the palette's key")
        assert footer.region.y == SMALL[1] - 1 and footer.region.width == SMALL[0]
        assert palette.first().region.right == SMALL[0]  # whole, against the right edge

        await pilot.press("enter")
        await wait.screen(RepositoriesScreen)
        status = app.screen.query_one(StatusBar)
        line = await wait.until(lambda: "user: " in status.render_line(0).text and "token expires in"
                                in status.render_line(0).text and status.render_line(0).text, "the countdown")
        assert len(line) == status.size.width
        countdown = line.index("token expires in")
        assert line[:countdown].endswith("…  "), line  # the left part ends in an ellipsis, two cells before
        assert line.startswith("profile: work-laptop  user: A"), line
        for widget in (app.screen.query_one("#body"), status, app.screen.query_one(Footer)):
            assert widget.region.bottom <= SMALL[1]
        assert status.region.y == app.screen.query_one("#body").region.bottom
        assert app.screen.query_one(Footer).region.y == status.region.bottom


async def test_dialogs_fit_at_60_by_20(make_app, emulator, signed_in, waiter_for):
    signed_in("work")
    app = make_app(emulator, prefill=False)
    async with app.run_test(size=SMALL) as pilot:
        wait = waiter_for(pilot)
        await profiles_listed(app, wait, 1)
        await pilot.press("d")
        await wait.screen(ConfirmModal)
        await pilot.pause()
        dialog = app.screen.query_one("#dialog")
        assert dialog.outer_size.width <= SMALL[0]
        no = app.screen.query_one("#dialog-no")
        assert app.screen.get_widget_at(no.region.x + 2, no.region.y + 1)[0] is no
        await pilot.press("escape")
        await profiles_listed(app, wait, 1)
        await pilot.press("f1")
        await wait.screen(HelpModal)
        await pilot.pause()
        dialog = app.screen.query_one("#dialog")
        assert dialog.outer_size.width <= SMALL[0] and dialog.outer_size.height <= SMALL[1]
        close = app.screen.query_one("#dialog-ok")
        assert app.screen.get_widget_at(close.region.x + 2, close.region.y + 1)[0] is close  # not cut off
