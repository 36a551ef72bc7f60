"""Step 6: workspaces on the left, their repositories on the right, streamed and filtered as you type."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from bbwizard.errors import BBWizardError
from bbwizard.secret import printable
from bbwizard.tui.screens.base import WizardStep
from bbwizard.tui.widgets.repository_list import RepositoryList, RepositoryRow

if TYPE_CHECKING:
    from bbwizard.api import BitbucketClient, Repository
    from bbwizard.config import Profile


def reach_text(reach: dict[str, str]) -> str:
    """"An access token for acme/webapp: it reaches that repository only." (config text, cleaned)."""
    workspace = reach["workspace"]
    if reach.get("repository"):
        where, what = f"{workspace}/{reach['repository']}", "that repository only"
    elif reach.get("project"):
        where, what = f"project {reach['project']} in {workspace}", "that project's repositories only"
    else:
        where, what = workspace, "that workspace's repositories only"
    return printable(f"An access token for {where}: it reaches {what}.")


def listing_failure(error: Exception) -> str:
    """Why a listing stopped, as a line: the sentence of a bbwizard error, or, for a bug, its kind
    and where its details went (the traceback, without secrets, in the wizard's log)."""
    if isinstance(error, BBWizardError):
        return printable(str(error) + (f" {error.hint}" if error.hint else ""))
    from bbwizard.tui.crash import write_crash_log

    where = write_crash_log(error)
    return printable(
        f"The listing stopped on an unexpected error ({type(error).__name__}). "
        f"Details, without secrets, are in {where}."
    )


def count_text(loaded: int, total: int | None, done: bool) -> str:
    """"1 repository", "12 repositories", or mid-listing "1,200 of 5,000 repositories"."""
    if total and not done:
        return f"{loaded:,} of {total:,} {'repository' if total == 1 else 'repositories'}"
    return f"{loaded:,} {'repository' if loaded == 1 else 'repositories'}"


class RepositoriesScreen(WizardStep["list[Repository] | Back"]):
    STEP = "repositories"
    HELP = """\
# Repositories

Workspaces are on the left, the chosen workspace's repositories on the right, most recently
updated first. They stream in as Bitbucket answers.

Type in the filter box: letters match in order anywhere in a repository's name, slug, project or
language (fuzzy), and the matched letters are highlighted. Escape in the filter box clears it,
a second escape leaves the box. Tab moves between workspaces, filter and repositories; Enter clones
the selected repositories, or the one under the cursor.
"""

    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="repos-filter", tooltip="Type to filter repositories"),
        Binding("s", "sort", "Sort", id="repos-sort", tooltip="Sort by last update or by name"),
        Binding("enter", "continue", "Clone selected", id="repos-continue", tooltip="Go on with the selection"),
    ]

    def __init__(self, profile: Profile, selected: list[Repository] | None = None) -> None:
        """`selected`: repositories chosen before (back from the Clone step), chosen again when
        their workspace is listed."""
        super().__init__()
        self.profile = profile
        self.kept = {RepositoryRow.from_repository(repo).key for repo in selected or []}
        self.kept_workspace = next(iter(sorted(self.kept)), "").partition("/")[0]
        self.workspace: str | None = None
        self.total: int | None = None
        # Not `loading`: that is Textual's Widget.loading, which covers the whole step with a spinner.
        self.listing = False
        self.client: BitbucketClient | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="repositories-panes"):
            with Vertical(id="workspaces-pane"):
                yield Static("Workspaces", classes="pane-title", markup=False)
                yield OptionList(id="workspaces")
                reach = self.reach()
                if reach is not None:
                    yield Static(reach_text(reach), id="reach-note", classes="note", markup=False)
            with Vertical(id="repositories-pane"):
                yield Input(placeholder="filter: name, slug, project, language", id="filter")
                yield Static("", id="repositories-count", markup=False)
                yield RepositoryList(id="repositories", clock=self.wizard.now)
        yield Static("", id="repositories-result", markup=False)

    def on_mount(self) -> None:
        self.query_one("#repositories", RepositoryList).focus()
        self.load_workspaces()

    async def on_unmount(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:
                pass

    async def get_client(self) -> BitbucketClient:
        if self.client is None:
            from bbwizard.api import BitbucketClient

            self.client = BitbucketClient.for_profile(
                self.wizard.store, self.profile.name, transport=self.wizard.transport, clock=self.wizard.clock
            )
        return self.client

    def reach(self) -> dict[str, str] | None:
        """What an access token was made for (its workspace, and repository or project); None for
        the other kinds, which list the account's workspaces."""
        reach = self.profile.reach if self.profile.kind == "access_token" else None
        return reach if reach and reach.get("workspace") else None

    @work(group="workspaces", exclusive=True, exit_on_error=False)
    async def load_workspaces(self) -> None:
        reach = self.reach()
        if reach is not None:
            # Bitbucket refuses to list workspaces for an access token: its workspace is the one
            # it was made for, and listing that workspace shows what the token reaches in it.
            slug = reach["workspace"]
            options = self.query_one("#workspaces", OptionList)
            options.clear_options()
            options.add_option(Option(Text(printable(slug)), id=slug))
            options.highlighted = 0
            self.show_workspace(slug)
            return
        self.say("repositories-count", "loading workspaces…", "busy")
        try:
            client = await self.get_client()
            workspaces = await client.list_workspaces()
        except BBWizardError as error:
            self.say("repositories-count", "")
            self.say("repositories-result", str(error) + (f" {error.hint}" if error.hint else ""), "error")
            return
        options = self.query_one("#workspaces", OptionList)
        options.clear_options()
        for workspace in workspaces:
            slug = workspace.slug
            name = getattr(workspace, "name", None) or slug
            options.add_option(Option(Text(printable(name if name == slug else f"{name} ({slug})")), id=slug))
        if not workspaces:
            self.say("repositories-count", "")
            self.say("repositories-result", "This account belongs to no workspace yet.", "warning")
            return
        slugs = [workspace.slug for workspace in workspaces]
        first = slugs.index(self.kept_workspace) if self.kept_workspace in slugs else 0
        options.highlighted = first
        self.show_workspace(slugs[first])
        self.remember_workspaces([workspace.slug for workspace in workspaces])

    @work(group="remember-workspaces", thread=True, exit_on_error=False)
    def remember_workspaces(self, slugs: list[str]) -> None:
        """Keep the workspace list in the profile, for the Profiles step's count. Re-read under the
        lock first: saving a stale copy could put back a refresh token that has since rotated."""
        store = self.wizard.store
        try:
            with store.lock():
                current = store.get(self.profile.name)
                if list(current.workspaces) != slugs:
                    store.save(current.replace(workspaces=slugs), make_default=False)
        except BBWizardError:
            pass  # only a display nicety; the listing itself worked

    @on(OptionList.OptionHighlighted, "#workspaces")
    def workspace_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.workspace:
            self.show_workspace(event.option.id)

    @on(OptionList.OptionSelected, "#workspaces")
    def workspace_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#repositories", RepositoryList).focus()

    def show_workspace(self, slug: str) -> None:
        self.workspace = slug
        repositories = self.query_one("#repositories", RepositoryList)
        repositories.clear_rows()
        if slug == self.kept_workspace:
            repositories.selected = set(self.kept)
        self.say("repositories-result", "")
        self.stream_repositories(slug)

    @work(group="listing", exclusive=True, exit_on_error=False)
    async def stream_repositories(self, slug: str) -> None:
        repositories = self.query_one("#repositories", RepositoryList)
        self.listing = True
        self.total = None
        loaded = 0
        self.say("repositories-count", f"{slug}: loading…", "busy")
        try:
            client = await self.get_client()
            # aclosing: leaving early cancels the page requests still in flight at once.
            async with contextlib.aclosing(client.iter_repositories(slug)) as pages:
                async for page in pages:
                    if self.workspace != slug:
                        return
                    repositories.add_repositories(list(page.values))
                    loaded = len(repositories.rows)
                    self.total = page.size
                    self.say("repositories-count", f"{slug}: {count_text(loaded, page.size, False)}", "busy")
        except Exception as error:  # every failure is said here: a screen's worker error reaches no one
            self.say(
                "repositories-count",
                f"{slug}: {count_text(len(repositories.rows), self.total, False)} (stopped)",
            )
            self.say("repositories-result", listing_failure(error), "error")
            return
        finally:
            self.listing = False
        self.say("repositories-count", f"{slug}: {count_text(loaded, self.total, True)}")
        self.update_selection_line()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.query_one("#repositories", RepositoryList).set_filter(event.value)
        self.update_selection_line()

    @on(Input.Submitted, "#filter")
    def filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.set_focus(self.query_one("#repositories", RepositoryList))  # now, before the next key

    @on(RepositoryList.SelectionChanged)
    def selection_changed(self, event: RepositoryList.SelectionChanged) -> None:
        self.update_selection_line()

    def update_selection_line(self) -> None:
        repositories = self.query_one("#repositories", RepositoryList)
        parts = []
        if repositories.filter_text:
            parts.append(f"{len(repositories.shown):,} match “{repositories.filter_text}”")
        if repositories.selected:
            parts.append(f"{len(repositories.selected)} selected")
        parts.append(f"sorted by {'name' if repositories.sort_by == 'name' else 'last update'}")
        if not self.query_one("#repositories-result", Static).has_class("error"):
            self.say("repositories-result", " · ".join(parts))

    def action_back(self) -> None:
        """Escape in the filter box clears it, a second one leaves the box (as in fzf and Textual's
        command palette); escape anywhere else goes back a step."""
        box = self.query_one("#filter", Input)
        if self.focused is box:
            if box.value:
                box.value = ""
            else:
                self.set_focus(self.query_one("#repositories", RepositoryList))
            return
        super().action_back()

    def action_focus_filter(self) -> None:
        # Focus after this key is done, or the "/" itself lands in the filter box.
        self.call_after_refresh(self.query_one("#filter", Input).focus)

    def action_sort(self) -> None:
        repositories = self.query_one("#repositories", RepositoryList)
        repositories.set_sort("name" if repositories.sort_by == "updated" else "updated")
        self.update_selection_line()

    def action_continue(self) -> None:
        repositories = self.query_one("#repositories", RepositoryList)
        chosen = repositories.selected_repositories
        if not chosen and repositories.current_row is not None:
            chosen = [repositories.current_row.repository]
        if not chosen:
            self.say("repositories-result", "Select a repository first (space), or wait for the list.", "warning")
            return
        self.dismiss(chosen)
