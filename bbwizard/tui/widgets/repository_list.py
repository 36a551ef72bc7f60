"""The repository list: thousands of rows, filtered as you type, drawn one visible line at a time.

A DataTable or OptionList builds a renderable per row on every refilter; with 10,000 repositories
that costs more than a keystroke may. This widget keeps the rows as plain tuples, filters with one
compiled subsequence pattern over a precomputed lower-case haystack, and renders (and highlights)
only the lines on screen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.fuzzy import FuzzySearch
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from bbwizard import secret
from bbwizard.humanize import human_age, human_size

if TYPE_CHECKING:
    from bbwizard.api import Repository


def printable(text: str) -> str:
    """Network text made safe to draw on one line (controls, line separators, bidi overrides,
    newlines and tabs become spaces)."""
    return secret.printable(text, one_line=True)


def _attr(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value not in (None, ""):
            return value
    return default


@dataclass(slots=True)
class RepositoryRow:
    """One repository as the list draws it; `repository` is the core's object, untouched."""

    repository: Repository
    key: str
    name: str
    slug: str
    project: str
    language: str
    private: bool
    size: int
    main_branch: str
    updated: datetime | None
    haystack: str = field(default="")

    @classmethod
    def from_repository(cls, repository: Repository) -> RepositoryRow:
        name = printable(str(_attr(repository, "name", "slug", default="")))
        slug = printable(str(_attr(repository, "slug", default=name)))
        project = _attr(repository, "project_name", "project_key", "project", default="")
        if not isinstance(project, str):
            project = str(_attr(project, "name", "key", default=""))
        project = printable(project)
        main = _attr(repository, "main_branch", "mainbranch", default="")
        if not isinstance(main, str):
            main = str(_attr(main, "name", default=""))
        updated = _attr(repository, "updated_on", "updated", default=None)
        if isinstance(updated, str):
            try:
                updated = datetime.fromisoformat(updated.replace("Z", "+00:00"))
            except ValueError:
                updated = None
        full_name = printable(str(_attr(repository, "full_name", default=slug)))
        language = printable(str(_attr(repository, "language", default="")))
        main = printable(main)
        row = cls(
            repository=repository,
            key=full_name,
            name=name,
            slug=slug,
            project=project,
            language=language,
            private=bool(_attr(repository, "is_private", "private", default=False)),
            size=int(_attr(repository, "size", default=0) or 0),
            main_branch=main,
            updated=updated,
        )
        row.haystack = f"{name}\t{slug}\t{project}\t{language}".lower()
        return row


# The columns right of the name, as (heading, cells, right-aligned, gap after); the name takes
# what is left. Widths are terminal cells, not characters: a wide character (☕, 日本) takes two.
MARK_CELLS = 4
PRIVACY_CELLS = 8
TRAILING_COLUMNS = (
    ("language", 11, False, 1),
    ("size", 11, True, 1),
    ("main branch", 12, False, 1),
    ("updated", 10, True, 0),
)
MIN_NAME_CELLS = 10


def name_cells(width: int) -> int:
    return max(MIN_NAME_CELLS, width - MARK_CELLS - PRIVACY_CELLS - sum(column[1] for column in TRAILING_COLUMNS))


def fit(text: str, cells: int, *, right: bool = False, gap: int = 1) -> str:
    """``text`` cut or padded to exactly ``cells`` terminal cells, the last ``gap`` of them blank."""
    text = set_cell_size(text.strip() if right else text, cells - gap)
    if right:
        text = text.rstrip()
        text = " " * (cells - gap - cell_len(text)) + text
    return text + " " * gap


def subsequence_pattern(query: str) -> re.Pattern[str] | None:
    """Letters of the query in order, anything between: the fuzzy rule, as one regex."""
    query = query.strip().lower()
    if not query:
        return None
    return re.compile("[^\t]*?".join(re.escape(ch) for ch in query))


class RepositoryList(ScrollView, can_focus=True):
    """Repositories with a cursor, a multi-selection and a fuzzy filter."""

    COMPONENT_CLASSES = {
        "repository-list--cursor",
        "repository-list--match",
        "repository-list--selected",
        "repository-list--dim",
        "repository-list--private",
        "repository-list--header",
    }

    DEFAULT_CSS = """
    RepositoryList { height: 1fr; overflow-x: hidden; }
    RepositoryList > .repository-list--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    RepositoryList:blur > .repository-list--cursor { background: $block-cursor-blurred-background; }
    RepositoryList > .repository-list--match { text-style: bold underline; color: $accent; }
    RepositoryList > .repository-list--selected { color: $success; text-style: bold; }
    RepositoryList > .repository-list--dim { color: $text-muted; }
    RepositoryList > .repository-list--private { color: $warning; }
    RepositoryList > .repository-list--header { color: $text-muted; text-style: bold; }
    """

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("space", "toggle", "Select", id="repo-select", tooltip="Select or unselect this repository"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class SelectionChanged(Message):
        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count

    def __init__(self, *, clock: Callable[[], datetime] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self.rows: list[RepositoryRow] = []
        self.shown: list[int] = []
        self.selected: set[str] = set()
        self.filter_text = ""
        self.sort_by = "updated"
        self._search = FuzzySearch()

    # Data

    def add_repositories(self, repositories: list[Repository]) -> None:
        """Add a page of repositories (they may arrive in any order) and keep the view sorted."""
        self.rows.extend(RepositoryRow.from_repository(repo) for repo in repositories)
        self._apply()

    def clear_rows(self) -> None:
        self.rows = []
        self.shown = []
        self.selected = set()
        self._apply()
        self.post_message(self.SelectionChanged(0))

    def set_filter(self, query: str) -> None:
        self.filter_text = query.strip()
        self._apply()

    def set_sort(self, sort_by: str) -> None:
        self.sort_by = sort_by
        self._apply()

    def _sort_rows(self) -> None:
        if self.sort_by == "name":
            self.rows.sort(key=lambda row: row.name.lower())
        else:
            epoch = datetime.min.replace(tzinfo=timezone.utc)
            self.rows.sort(key=lambda row: row.updated or epoch, reverse=True)

    def _apply(self) -> None:
        current = self.current_row
        self._sort_rows()
        pattern = subsequence_pattern(self.filter_text)
        if pattern is None:
            self.shown = list(range(len(self.rows)))
        else:
            search = pattern.search
            self.shown = [index for index, row in enumerate(self.rows) if search(row.haystack)]
        self.virtual_size = Size(self.size.width, len(self.shown) + 1)  # + the headings' line
        new_cursor = 0
        if current is not None:
            for position, index in enumerate(self.shown):
                if self.rows[index] is current:
                    new_cursor = position
                    break
        self.cursor = min(new_cursor, max(0, len(self.shown) - 1))
        self.refresh()

    @property
    def current_row(self) -> RepositoryRow | None:
        if 0 <= self.cursor < len(self.shown) and self.shown[self.cursor] < len(self.rows):
            return self.rows[self.shown[self.cursor]]
        return None

    @property
    def selected_repositories(self) -> list[Repository]:
        chosen = [row.repository for row in self.rows if row.key in self.selected]
        return chosen

    # Keys

    def action_cursor(self, delta: int) -> None:
        if self.shown:
            self.cursor = max(0, min(len(self.shown) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.rows_visible - 1))

    def action_jump(self, where: int) -> None:
        if self.shown:
            self.cursor = 0 if where == 0 else len(self.shown) - 1

    def action_toggle(self) -> None:
        row = self.current_row
        if row is None:
            return
        if row.key in self.selected:
            self.selected.discard(row.key)
        else:
            self.selected.add(row.key)
        self.refresh()
        self.post_message(self.SelectionChanged(len(self.selected)))

    @property
    def rows_visible(self) -> int:
        """Rows on screen at once: the widget's height less the headings' line."""
        return max(1, self.size.height - 1)

    def watch_cursor(self, cursor: int) -> None:
        height = self.rows_visible
        top = int(self.scroll_offset.y)
        if cursor < top:
            self.scroll_to(y=cursor, animate=False, immediate=True)
        elif cursor >= top + height:
            self.scroll_to(y=cursor - height + 1, animate=False, immediate=True)
        self.refresh()

    def on_hide(self, event: events.Hide) -> None:
        # While the screen is being pushed, a reflow at zero size can hide every widget for a
        # moment; Textual then moves the focus to the filter box. Keep it here in that case.
        if self.has_focus and not self.screen.region.area:
            event.prevent_default()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.shown) + 1)  # + the headings' line

    # Drawing

    def _name_segments(self, text: str, width: int, base: Style, match: Style) -> list[Segment]:
        text = set_cell_size(text, width)
        if not self.filter_text:
            return [Segment(text, base)]
        score, offsets = self._search.match(self.filter_text, text.rstrip())
        if not score:
            return [Segment(text, base)]
        marks = set(offsets)
        segments: list[Segment] = []
        run = ""
        run_marked = False
        for position, char in enumerate(text):
            marked = position in marks
            if marked != run_marked and run:
                segments.append(Segment(run, base + match if run_marked else base))
                run = ""
            run_marked = marked
            run += char
        if run:
            segments.append(Segment(run, base + match if run_marked else base))
        return segments

    def header_text(self, width: int) -> str:
        """The column headings, aligned with the rows drawn at ``width`` cells."""
        text = " " * MARK_CELLS + fit("privacy", PRIVACY_CELLS) + fit("name", name_cells(width))
        for heading, cells, right, gap in TRAILING_COLUMNS:
            text += fit(heading, cells, right=right, gap=gap)
        return set_cell_size(text, width)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width  # less the scrollbar, once the rows overflow
        base = self.rich_style
        if y == 0:  # the headings stay on top while the rows scroll under them
            heading = base + self.get_component_rich_style("repository-list--header", partial=True)
            return Strip([Segment(self.header_text(width), heading)], width)
        position = int(self.scroll_offset.y) + y - 1
        if position >= len(self.shown):
            if not self.rows and y == 1:
                return Strip([Segment(set_cell_size(" no repositories yet", width), base)], width)
            return Strip.blank(width, base)
        row = self.rows[self.shown[position]]
        is_cursor = position == self.cursor
        style = base + self.get_component_rich_style("repository-list--cursor") if is_cursor else base
        dim = style + self.get_component_rich_style("repository-list--dim", partial=True)
        match = self.get_component_rich_style("repository-list--match", partial=True)
        chosen = row.key in self.selected
        mark_style = (
            style + self.get_component_rich_style("repository-list--selected", partial=True) if chosen else dim
        )
        privacy_style = (
            style + self.get_component_rich_style("repository-list--private", partial=True) if row.private else dim
        )
        language, size, branch, updated = (
            fit(text, cells, right=right, gap=gap)
            for text, (_, cells, right, gap) in zip(
                (row.language, human_size(row.size), row.main_branch, human_age(row.updated, self._clock(), short=True)),
                TRAILING_COLUMNS,
            )
        )
        segments = [
            Segment(" ✓  " if chosen else " ·  ", mark_style),
            Segment(fit("private" if row.private else "public", PRIVACY_CELLS), privacy_style),
            *self._name_segments(row.name, name_cells(width) - 1, style, match),
            Segment(" ", style),
            Segment(language, dim),
            Segment(size, dim),
            Segment(branch, dim),
            Segment(updated, dim),
        ]
        return Strip(segments).crop_extend(0, width, style)
