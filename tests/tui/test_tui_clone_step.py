"""The Clone step: destinations judged as they are typed, the choices kept across Back, the clone
folder remembered per profile, room at 60x20, and where the demo's clones go."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Button, Checkbox, Input, Select

from bbwizard.api import Repository
from bbwizard.config import ConfigStore
from bbwizard.tui.screens.clone import CloneScreen, DemoFinishedScreen
from bbwizard.tui.screens.repositories import RepositoriesScreen
from bbwizard.tui.widgets.status import display_path

SIZE = (100, 30)


def text_of(app, widget_id: str) -> str:
    return app.screen.query_one(f"#{widget_id}").visual.plain


def repository(slug: str, index: int = 0) -> Repository:
    return Repository(uuid=f"{{{index}}}", full_name=f"acme/{slug}", slug=slug, name=slug, workspace="acme", mainbranch="main")


async def judged(app, pilot) -> None:
    """Until the step's latest look at the disk is on the screen (and a refused start is over)."""
    await pilot.pause()
    while pending := [w for w in app.workers if w.group in ("judge", "clone") and not w.is_finished]:
        await asyncio.gather(*(w.wait() for w in pending), return_exceptions=True)
        await pilot.pause()
    await pilot.pause()


async def type_into(pilot, widget: Input, text: str) -> None:
    """Clear the box, then type `text` key by key, as a person would."""
    widget.focus()
    widget.value = ""
    await pilot.pause()
    await pilot.press(*text)


async def test_a_destination_that_is_taken_is_marked_as_it_is_typed(make_app, emulator, signed_in, tmp_path):
    profile = signed_in()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(CloneScreen(profile, [repository("webapp")]))
        await judged(app, pilot)
        screen = app.screen
        dest = screen.query_one("#dest-0", Input)
        verdict = screen.query_one("#verdict-0")
        assert not verdict.display and not screen.query_one("#clone-go", Button).disabled

        await type_into(pilot, dest, str(taken))
        await judged(app, pilot)
        assert verdict.display
        assert text_of(app, "verdict-0") == "This folder exists and is not empty. Choose another one, or empty it first."
        assert dest.has_class("-invalid")
        assert screen.query_one("#clone-go", Button).disabled
        assert screen.check_action("start", ()) is None  # ctrl+s shown, dimmed
        await pilot.press("ctrl+s")
        await judged(app, pilot)
        assert not screen.running and not screen.finished and not dest.disabled  # nothing started, still editable

        await pilot.press("2")  # .../taken2: a new folder
        await judged(app, pilot)
        assert not verdict.display and not dest.has_class("-invalid")
        assert not screen.query_one("#clone-go", Button).disabled and screen.check_action("start", ()) is True
    assert (taken / "notes.txt").read_text() == "mine"


async def test_a_folder_that_fills_up_after_the_last_key_is_refused_at_ctrl_s(make_app, emulator, signed_in, tmp_path):
    profile = signed_in()
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(CloneScreen(profile, [repository("webapp")]))
        await judged(app, pilot)
        target = Path(app.screen.query_one("#dest-0", Input).value).expanduser()
        assert text_of(app, "state-0") == "ready"
        target.mkdir()
        (target / "late.txt").write_text("x")
        await pilot.press("ctrl+s")
        await judged(app, pilot)
        assert not app.screen.finished and "exists and is not empty" in text_of(app, "verdict-0")
        assert text_of(app, "clone-result") == "1 destination can't be used: change it to clone."
    assert (target / "late.txt").exists()


async def test_back_keeps_the_selection_and_the_clone_choices(make_app, emulator, signed_in, waiter_for, tmp_path):
    signed_in()
    app = make_app(emulator, prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        await wait.until(lambda: app.screen.query_one("#profiles").row_count == 1, "the profile")
        await pilot.press("enter")
        await wait.screen(RepositoriesScreen)
        await wait.until(lambda: len(app.screen.query_one("#repositories").rows) > 2, "repositories listed")
        await pilot.press("space", "down", "space")
        chosen = sorted(app.screen.query_one("#repositories").selected)
        await pilot.press("enter")
        clone = await wait.screen(CloneScreen)
        await judged(app, pilot)
        mine = str(tmp_path / "elsewhere" / "first")
        await type_into(pilot, clone.query_one("#dest-0", Input), mine)
        await judged(app, pilot)
        await pilot.press("escape")

        repos = await wait.screen(RepositoriesScreen)
        await wait.until(lambda: len(repos.query_one("#repositories").rows) > 2, "repositories listed again")
        assert sorted(repos.query_one("#repositories").selected) == chosen
        assert "2 selected" in text_of(app, "repositories-result")
        await pilot.press("enter")
        clone = await wait.screen(CloneScreen)
        assert sorted(row.key for row in clone.rows) == chosen
        assert clone.query_one("#dest-0", Input).value == mine
        assert clone.query_one("#dest-1", Input).value == display_path(Path.cwd() / clone.rows[1].slug)


async def test_clone_into_moves_the_rows_and_remember_saves_it_for_the_profile(make_app, emulator, signed_in, waiter_for, wizard_env, tmp_path):
    profile = signed_in()
    app = make_app(emulator, start="none")
    base = tmp_path / "projects"
    by_hand = tmp_path / "by-hand"
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(CloneScreen(profile, [repository("webapp", 1), repository("firmware", 2)]))
        await judged(app, pilot)
        screen = app.screen
        await type_into(pilot, screen.query_one("#dest-1", Input), str(by_hand))
        await type_into(pilot, screen.query_one("#clone-base", Input), str(base))
        await judged(app, pilot)
        assert screen.query_one("#dest-0", Input).value == str(base / "webapp")
        assert screen.query_one("#dest-1", Input).value == str(by_hand)  # typed by hand: stays
        screen.query_one("#clone-remember", Checkbox).value = True
        await pilot.press("ctrl+s")
        summary = await waiter_for(pilot, 60).text("clone-result", "Press Enter to finish")
    assert summary.startswith("All cloned."), summary
    assert f"{base} is now the clone folder of profile “demo”." in summary
    assert (base / "webapp" / ".git").is_dir() and (by_hand / ".git").is_dir()
    assert ConfigStore(wizard_env).get("demo").clone_dir == str(base)


async def test_the_profiles_clone_folder_is_where_the_step_starts(make_app, emulator, signed_in, tmp_path):
    profile = signed_in(clone_dir=str(tmp_path / "src"))
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(CloneScreen(profile, [repository("webapp")]))
        await judged(app, pilot)
        assert app.screen.query_one("#clone-base", Input).value == str(tmp_path / "src")
        assert app.screen.query_one("#dest-0", Input).value == str(tmp_path / "src" / "webapp")
        assert not app.screen.query_one("#clone-remember", Checkbox).value  # nothing is saved unasked


async def test_at_60x20_the_destination_has_room(make_app, emulator, signed_in):
    profile = signed_in()
    app = make_app(emulator, start="none")
    async with app.run_test(size=(60, 20)) as pilot:
        app.push_screen(CloneScreen(profile, [repository("webapp"), repository("firmware", 1)]))
        await judged(app, pilot)
        screen = app.screen
        assert screen.has_class("-narrow")
        dest = screen.query_one("#dest-0", Input)
        name = screen.query_one(".clone-name")
        assert dest.region.width >= 20, dest.region
        assert screen.query_one("#branch-0", Select).region.width >= 12
        assert screen.query_one("#clone-base", Input).region.width >= 20
        assert name.region.width >= len("acme/webapp") and name.region.y < dest.region.y
        assert screen.query_one("#clone-go", Button).region.bottom <= 18  # above the status bar and keys
    wide = make_app(emulator, start="none")
    async with wide.run_test(size=SIZE) as pilot:  # wide: one line per repository, as before
        wide.push_screen(CloneScreen(profile, [repository("webapp")]))
        await judged(wide, pilot)
        screen = wide.screen
        assert screen.has_class("-wide")
        assert screen.query_one(".clone-name").region.y == screen.query_one("#dest-0", Input).region.y


async def test_the_demo_clones_into_its_own_folder_and_says_where_at_the_end(emulator, wizard_env, waiter_for, callback_url, tmp_path):
    from bbwizard.cli.app import demo_app
    from bbwizard.emulator import demo_consumer, demo_seed

    demo_folder = tmp_path / "bbwizard-demo-x"
    demo_folder.mkdir()
    app = demo_app(emulator, demo_consumer(demo_seed(callback_url=callback_url)), callback_url, demo_folder)
    async with app.run_test(size=SIZE) as pilot:
        wait = waiter_for(pilot)
        wait.timeout = 60
        await wait.to_authorize()
        await pilot.press("o")
        await wait.text("token-saved", "Saved as profile")
        await pilot.press("enter")
        await wait.screen(RepositoriesScreen)
        await wait.until(lambda: app.screen.query_one("#repositories").rows, "repositories listed")
        await pilot.press("space", "enter")
        clone = await wait.screen(CloneScreen)
        slug = clone.rows[0].slug
        assert clone.query_one("#dest-0", Input).value == str(demo_folder / "clones" / slug)
        await judged(app, pilot)
        await pilot.press("ctrl+s")
        await wait.text("clone-result", "Press Enter to finish")
        await pilot.press("enter")
        done = await wait.screen(DemoFinishedScreen)
        where = text_of(app, "demo-where")
        assert f"The clones are in {demo_folder / 'clones'}" in where
        assert f"Everything in {demo_folder} is removed when you quit" in where
        assert f"cd {demo_folder / 'clones'}" in where
        assert done.query_one("#demo-quit", Button).has_focus
        await pilot.press("enter")
        await pilot.pause()
    assert app.return_code == 0
    assert (demo_folder / "clones" / slug / ".git").is_dir()
    assert not (tmp_path / "work" / slug).exists()  # not in the folder the demo was started from
