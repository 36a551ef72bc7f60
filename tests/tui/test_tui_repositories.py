"""The Repositories step: column headings, wide characters, counts, and escape in the filter box."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from bbwizard.tui.screens.base import BACK
from bbwizard.tui.screens.repositories import RepositoriesScreen, count_text

SIZE = (100, 30)
WIDE_NAMES = ("Café Menü ☕", "日本語のリポジトリ", "한국어 저장소 이름이 아주 길어서 잘려야 하는 저장소")


@pytest.fixture
def emulator(emulator_factory, callback_url):
    """The demo seed, plus a workspace whose repositories have wide characters in every column."""
    from bbwizard.emulator import demo_seed

    seed = demo_seed(callback_url=callback_url)
    seed["workspaces"].append({
        "slug": "wide", "name": "Wide", "members": ["alice"], "administrators": ["alice"], "is_private": True,
        "repositories": [
            {"slug": "cafe-menu", "name": WIDE_NAMES[0], "language": "python", "mainbranch": "main",
             "updated_on": "2026-11-01T10:00:00+00:00"},
            {"slug": "nihongo", "name": WIDE_NAMES[1], "language": "日本語のことば", "mainbranch": "メイン",
             "updated_on": "2026-10-01T10:00:00+00:00"},
            {"slug": "hangul", "name": WIDE_NAMES[2], "language": "rust", "mainbranch": "main",
             "updated_on": "2026-09-01T10:00:00+00:00"},
        ],
    })
    seed["workspaces"].append({
        "slug": "single", "name": "Single", "members": ["alice"], "administrators": ["alice"], "is_private": True,
        "repositories": [{"slug": "only", "name": "only"}],
    })
    return emulator_factory(seed)


async def show(app, pilot, waiter_for, profile, workspace: str, count: str):
    results: list = []
    app.push_screen(RepositoriesScreen(profile), results.append)
    wait = waiter_for(pilot)
    await wait.until(lambda: len(app.screen.query_one("#workspaces").options) >= 2, "the workspaces")
    options = app.screen.query_one("#workspaces")
    options.highlighted = next(i for i in range(options.option_count) if options.get_option_at_index(i).id == workspace)
    await wait.text("repositories-count", f"{workspace}: {count}")
    await pilot.pause()
    return results


def drawn_lines(widget) -> list[str]:
    return [widget.render_line(y).text for y in range(widget.size.height)]


def test_counts_say_repository_for_one():
    assert count_text(1, None, True) == "1 repository"
    assert count_text(2, None, True) == "2 repositories"
    assert count_text(0, None, True) == "0 repositories"
    assert count_text(1, 5000, False) == "1 of 5,000 repositories"
    assert count_text(1_200, 5000, True) == "1,200 repositories"


async def test_one_repository_is_counted_as_one(make_app, emulator, signed_in, waiter_for):
    profile = signed_in()
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await show(app, pilot, waiter_for, profile, "single", "1 repository")
        assert app.screen.query_one("#repositories-count").visual.plain == "single: 1 repository"


async def test_rows_with_wide_characters_line_up_with_the_headings(make_app, emulator, signed_in, waiter_for):
    profile = signed_in()
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await show(app, pilot, waiter_for, profile, "wide", "3 repositories")
        repositories = app.screen.query_one("#repositories")
        width = repositories.size.width
        header, *rows = drawn_lines(repositories)[:4]
        assert header.split() == ["privacy", "name", "language", "size", "main", "branch", "updated"]
        assert header.index("name") == rows[0].index("Café")
        for line in (header, *rows):
            assert cell_len(line) == width, (line, cell_len(line), width)
        # Names are cut to the name column's cells (a wide character never split in two).
        assert "Café Menü" in rows[0] and "日本語の" in rows[1] and "한국어" in rows[2]
        assert rows[1].index("日本語の") == rows[2].index("한국어") == rows[0].index("Café")
        # Each column starts at the same cell on every line, the headings' line included.
        def cell_of(line: str, value: str) -> int:
            return cell_len(line[: line.rindex(value)])

        for heading, values in (("language", ("python", "日本語", "rust")), ("main branch", ("main ", "メイン", "main "))):
            assert {cell_of(row, value) for row, value in zip(rows, values)} == {cell_of(header, heading)}, heading


async def test_headings_stay_while_the_rows_scroll(make_app, emulator, signed_in, waiter_for):
    profile = signed_in()
    app = make_app(emulator, start="none")
    async with app.run_test(size=(100, 12)) as pilot:
        await show(app, pilot, waiter_for, profile, "wide", "3 repositories")
        repositories = app.screen.query_one("#repositories")
        repositories.focus()
        assert repositories.rows_visible < 3, repositories.size  # the list is shorter than its rows
        await pilot.press("end")
        lines = drawn_lines(repositories)
        assert lines[0].split()[:2] == ["privacy", "name"]
        assert "한국어" in lines[-1]
        await pilot.press("home")
        assert "Café" in drawn_lines(repositories)[1]


async def test_escape_in_the_filter_clears_it_then_leaves_the_box_then_the_step(make_app, emulator, signed_in, waiter_for):
    profile = signed_in()
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        results = await show(app, pilot, waiter_for, profile, "acme", "4 repositories")
        repositories = app.screen.query_one("#repositories")
        box = app.screen.query_one("#filter")
        repositories.focus()
        await pilot.press("space")
        chosen = set(repositories.selected)
        assert len(chosen) == 1
        await pilot.press("slash", *"fw")
        assert box.value == "fw" and repositories.filter_text == "fw"
        await pilot.press("escape")
        assert box.value == "" and repositories.filter_text == ""
        assert app.focused is box and isinstance(app.screen, RepositoriesScreen)
        assert repositories.selected == chosen and len(repositories.shown) == 4
        await pilot.press("escape")
        assert app.focused is repositories and isinstance(app.screen, RepositoriesScreen) and not results
        assert repositories.selected == chosen
        await pilot.press("escape")
        await pilot.pause()
        assert results == [BACK]
