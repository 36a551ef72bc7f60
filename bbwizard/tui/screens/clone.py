"""Step 7: a branch and a destination per repository, then parallel clones with progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Log, ProgressBar, Select, Static

from bbwizard.errors import BBWizardError, CloneCancelled
from bbwizard.secret import redact
from bbwizard.tui.screens.base import STEPS_CSS, WizardStep
from bbwizard.tui.widgets.repository_list import RepositoryRow
from bbwizard.tui.widgets.status import display_path


def default_destination(profile: Any, slug: str) -> str:
    base = getattr(profile, "clone_dir", None)
    folder = Path(base) if base else Path.cwd()
    return display_path(folder / slug)


def shorten_home(text: str) -> str:
    home = str(Path.home())
    return text.replace(home + "/", "~/") if home not in ("", "/") else text


#: Clones at the same time, as ``bbwizard clone --jobs`` defaults to.
CLONE_JOBS = 4


def safe_id(index: int) -> str:
    return f"repo-{index}"


class CloneScreen(WizardStep[Any]):
    STEP = "Step 7 of 7 · Clone"
    CSS_PATH = STEPS_CSS
    HELP = """\
# Clone

Each repository gets a branch (its main branch first; pick another, or press ctrl+b for `develop`
wherever there is one) and a destination folder (editable; a folder that exists and is not empty is
refused before anything starts).

The clones run side by side, each with its progress bar; git's output (without any secret) goes to
the log pane. The token reaches git through bbwizard's credential helper, never on the command line
or in `.git/config`, so `git pull` keeps working later.

| key | what it does |
|---|---|
| ctrl+s | start cloning |
| ctrl+b | choose `develop` wherever a repository has it |
| escape | cancel the clones (while they run), or go back |
| enter | when done: finish |
"""

    BINDINGS = [
        Binding("ctrl+s", "start", "Clone", id="clone-start", tooltip="Start cloning"),
        Binding("ctrl+b", "develop", "develop everywhere", id="clone-develop", tooltip="Choose the develop branch where there is one"),
    ]

    def __init__(self, profile: Any, repositories: list[Any]) -> None:
        super().__init__()
        self.profile = profile
        self.rows = [RepositoryRow.from_repository(repo) for repo in repositories]
        self.branches: dict[int, list[str]] = {}
        self.running = False
        self.finished = False
        self.results: dict[int, str] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(f"{'Repository':<28}{'Branch':<26}Destination", id="clone-header", markup=False)
        with VerticalScroll(id="clone-plan"):
            for index, row in enumerate(self.rows):
                with Horizontal(classes="clone-row", id=safe_id(index)):
                    yield Label(row.key, classes="clone-name", markup=False)
                    yield Select(
                        [(row.main_branch or "main", row.main_branch or "main")],
                        value=row.main_branch or "main",
                        allow_blank=False,
                        classes="clone-branch",
                        id=f"branch-{index}",
                    )
                    yield Input(default_destination(self.profile, row.slug), classes="clone-dest", id=f"dest-{index}")
                with Horizontal(classes="clone-progress-row"):
                    yield ProgressBar(total=100, show_eta=False, classes="clone-progress", id=f"progress-{index}")
                    yield Static("ready", classes="clone-state", id=f"state-{index}", markup=False)
        yield Button("Clone (ctrl+s)", id="clone-go", variant="success")
        yield Log(id="clone-log", highlight=False, max_lines=2000)
        yield Static("", id="clone-result", markup=False)

    def on_mount(self) -> None:
        self.query_one("#clone-log", Log).border_title = "git output"
        self.query_one("#clone-go", Button).focus()
        for index in range(len(self.rows)):
            self.load_branches(index)

    @work(group="branches", exit_on_error=False)
    async def load_branches(self, index: int) -> None:
        from bbwizard.api import BitbucketClient

        row = self.rows[index]
        workspace, _, slug = row.key.partition("/")
        client = BitbucketClient.for_profile(self.wizard.store, self.profile.name, transport=self.wizard.transport)
        try:
            branches = await client.list_branches(workspace, slug or row.slug)
        except BBWizardError as error:
            self.query_one("#clone-log", Log).write_line(redact(f"{row.key}: {error}"))
            return
        finally:
            await client.aclose()
        names = sorted({branch.name for branch in branches}, key=lambda name: (name != row.main_branch, name))
        if not names:
            return
        self.branches[index] = names
        select = self.query_one(f"#branch-{index}", Select)
        current = select.value
        select.set_options([(name, name) for name in names])
        select.value = current if current in names else names[0]

    def action_develop(self) -> None:
        changed = 0
        for index in range(len(self.rows)):
            if "develop" in self.branches.get(index, []):
                self.query_one(f"#branch-{index}", Select).value = "develop"
                changed += 1
        if changed:
            self.notify(f"develop chosen for {changed} of {len(self.rows)} repositories.")
        else:
            self.notify("None of these repositories has a develop branch.", severity="warning")

    @on(Button.Pressed, "#clone-go")
    def start_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.finished:
            self.dismiss(self.results)
        else:
            self.action_start()

    def action_start(self) -> None:
        if self.running or self.finished:
            return
        self.running = True
        for widget in self.query(".clone-branch, .clone-dest"):
            widget.disabled = True
        button = self.query_one("#clone-go", Button)
        button.disabled = True
        self.say("clone-result", "Cloning… escape cancels.", "busy")
        self.clone_all()

    @work(group="clone", exclusive=True, exit_on_error=False)
    async def clone_all(self) -> None:
        """Every row through ``git.clone_many``: CLONE_JOBS at a time, as ``bbwizard clone`` does,
        so fifty selected repositories don't start fifty gits at once."""
        from bbwizard import git

        requests = []
        for index, row in enumerate(self.rows):
            workspace, _, slug = row.key.partition("/")
            branch = self.query_one(f"#branch-{index}", Select).value
            dest = Path(self.query_one(f"#dest-{index}", Input).value.strip()).expanduser()
            requests.append(git.CloneRequest(workspace, slug or row.slug, dest, str(branch) if branch else None))
            self.query_one(f"#state-{index}", Static).update("waiting")
        try:
            await git.clone_many(
                self.profile,
                requests,
                jobs=CLONE_JOBS,
                on_progress=self.clone_progress,
                on_done=self.clone_done,
                store=self.wizard.store,
                **({"git": self.wizard.git_runner} if self.wizard.git_runner else {}),
            )
        except CloneCancelled as error:
            self.query_one("#clone-log", Log).write_line(str(error))
            for index, request in enumerate(requests):
                if index not in self.results:
                    self.query_one(f"#state-{index}", Static).update("cancelled")
                    self.results[index] = f"X {self.rows[index].key}: cancelled; nothing left behind in {display_path(request.dest)}"
        except BBWizardError as error:  # refused before any clone started (two rows, one folder)
            self.query_one("#clone-log", Log).write_line(redact(str(error)))
            for index in range(len(self.rows)):
                self.results.setdefault(index, f"X {self.rows[index].key}: not started: {error}")
        finally:
            self.running = False
            self.finished = True
            self.show_summary()

    def clone_progress(self, index: int, event: Any) -> None:
        from bbwizard import git

        key = self.rows[index].key
        if isinstance(event, git.CloneOutput):
            self.query_one("#clone-log", Log).write_line(shorten_home(redact(f"{key}: {event.text}")))
            return
        self.query_one(f"#progress-{index}", ProgressBar).update(total=100, progress=float(event.overall))
        phase = event.phase or ""
        self.query_one(f"#state-{index}", Static).update(f"{phase} {int(event.percent or 0)}%" if phase else "")

    def clone_done(self, index: int, result: Any) -> None:
        key = self.rows[index].key
        state = self.query_one(f"#state-{index}", Static)
        if result.ok:
            self.query_one(f"#progress-{index}", ProgressBar).update(total=100, progress=100)
            state.update("done")
            state.add_class("ok")
            branch = result.branch or self.query_one(f"#branch-{index}", Select).value
            self.results[index] = f"✓ {key} ({branch}) → {display_path(result.path)}"
            return
        state.update("failed")
        state.add_class("error")
        self.query_one("#clone-log", Log).write_line(redact(f"{key}: {result.error}"))
        hint = getattr(result.exception, "hint", None)
        self.results[index] = f"X {key}: {result.error}" + (f" {hint}" if hint else "")

    def show_summary(self) -> None:
        lines = [self.results.get(index, f"X {row.key}: not started") for index, row in enumerate(self.rows)]
        failed = sum(1 for line in lines if line.startswith("X"))
        head = "All cloned." if not failed else f"{failed} of {len(lines)} did not clone."
        self.say("clone-result", head + "\n" + "\n".join(lines) + "\nPress Enter to finish.", "error" if failed else "ok")
        button = self.query_one("#clone-go", Button)
        button.label = "Finish"
        button.disabled = False
        button.focus()

    def action_back(self) -> None:
        if self.running:
            self.workers.cancel_group(self, "clone")
            self.say("clone-result", "Cancelling the clones…", "warning")
            return
        super().action_back()
