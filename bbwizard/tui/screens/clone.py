"""Step 7: a branch and a destination per repository, then parallel clones with progress."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Checkbox, Input, Label, Log, ProgressBar, Select, Static

from bbwizard.errors import BBWizardError, CloneCancelled
from bbwizard.secret import printable, redact
from bbwizard.tui.screens.base import WizardStep
from bbwizard.tui.widgets.repository_list import RepositoryRow
from bbwizard.tui.widgets.status import display_path

if TYPE_CHECKING:
    from bbwizard.api import Repository
    from bbwizard.config import Profile
    from bbwizard.git import CloneEvent, CloneResult


def clone_base(profile: Profile, fallback: str | Path | None = None) -> Path:
    """Where the clones go: the profile's clone folder, else the app's (the demo's own folder),
    else the current folder."""
    base = getattr(profile, "clone_dir", None) or fallback
    return Path(base).expanduser() if base else Path.cwd()


def planned_base(plan: dict[str, Any], profile: Profile, fallback: str | Path | None = None) -> Path:
    """The "Clone into" folder of a Clone step's plan, as the person left it."""
    text = str(plan.get("base") or "").strip()
    return folder_of(text) if text else clone_base(profile, fallback)


def folder_of(text: str) -> Path:
    """A folder as typed in the step: ``~`` is home, a relative path is read from the current folder."""
    return Path(text.strip()).expanduser().absolute()


def shorten_home(text: str) -> str:
    home = str(Path.home())
    return text.replace(home + "/", "~/") if home not in ("", "/") else text


#: Clones at the same time, as ``bbwizard clone --jobs`` defaults to.
CLONE_JOBS = 4


def safe_id(index: int) -> str:
    return f"repo-{index}"


class CloneScreen(WizardStep[Any]):
    STEP = "clone"
    # Below 100 columns a repository's name gets its own line, so the branch and the destination
    # keep room to be read and typed into.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    # Below 26 lines the plan, the button and the summary share the height; git's log is left out.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (26, "-tall")]
    HELP = """\
# Clone

"Clone into" is the folder the clones go to, each in a folder named after its repository; tick
"Remember" to make it this profile's clone folder (`bbwizard clone` uses it too). Each repository
gets a branch (its main branch first; pick another, or press ctrl+b for `develop` wherever there is
one) and a destination folder, which you can change. A destination that can't be used (it exists
and is not empty, it is a file, its folder can't be written to, or two rows aim at one folder) is
marked as you type, and the clones don't start until it is fixed.

The clones run side by side, each with its progress bar; git's output (without any secret) goes to
the log pane. The token reaches git through bbwizard's credential helper, never on the command line
or in `.git/config`, so `git pull` keeps working later. While the clones run, escape cancels
them; before, it goes back, and the selection and these choices stay. When they are done, Enter
finishes.
"""

    BINDINGS = [
        Binding("ctrl+s", "start", "Clone", id="clone-start", tooltip="Start cloning"),
        Binding("ctrl+b", "develop", "develop everywhere", id="clone-develop", tooltip="Choose the develop branch where there is one"),
    ]

    def __init__(self, profile: Profile, repositories: list[Repository], *, plan: dict[str, Any] | None = None) -> None:
        """`plan`: the person's choices (base folder, each row's branch and destination), kept by
        the flow so going back to the repositories and forward again loses none of them."""
        super().__init__()
        self.profile = profile
        self.rows = [RepositoryRow.from_repository(repo) for repo in repositories]
        self.plan: dict[str, Any] = plan if plan is not None else {}
        self.branches: dict[int, list[str]] = {}
        self.running = False
        self.finished = False
        self.results: dict[int, str] = {}
        # Destinations as this step last wrote them: a row typed into by hand no longer follows
        # "Clone into".
        self.written: dict[int, str] = {}
        self.problems: list[str | None] = []
        self.saved_base: str | None = None

    def compose_body(self) -> ComposeResult:
        fallback = getattr(self.wizard, "clone_dir", None)
        base = self.plan.get("base") or display_path(clone_base(self.profile, fallback))
        with Horizontal(id="clone-base-row"):
            yield Label("Clone into", id="clone-base-label")
            yield Input(base, id="clone-base")
            yield Checkbox(
                Content(f"Remember for “{printable(self.profile.name)}”"),
                bool(self.plan.get("remember")),
                id="clone-remember",
                compact=True,
            )
        yield Static(f"{'Repository':<28}{'Branch':<24}Destination", id="clone-header", markup=False)
        with VerticalScroll(id="clone-plan"):
            for index, row in enumerate(self.rows):
                chosen = self.plan.get(row.key, {})
                branch = chosen.get("branch") or row.main_branch or "main"
                dest = chosen.get("dest") or display_path(folder_of(base) / row.slug)
                self.written[index] = "" if chosen.get("custom") else dest
                with Vertical(classes="clone-item", id=safe_id(index)):
                    with Horizontal(classes="clone-row"):
                        yield Label(row.key, classes="clone-name", markup=False)
                        yield Select([(branch, branch)], value=branch, allow_blank=False, classes="clone-branch", id=f"branch-{index}")
                        yield Input(dest, classes="clone-dest", id=f"dest-{index}")
                    yield Static("", classes="clone-verdict hidden", id=f"verdict-{index}", markup=False)
                    with Horizontal(classes="clone-progress-row"):
                        yield ProgressBar(total=100, show_eta=False, classes="clone-progress", id=f"progress-{index}")
                        yield Static("ready", classes="clone-state", id=f"state-{index}", markup=False)
        yield Button("Clone", id="clone-go", variant="success")
        yield Log(id="clone-log", highlight=False, max_lines=2000)
        yield Static("", id="clone-result", markup=False)

    def on_mount(self) -> None:
        self.query_one("#clone-log", Log).border_title = "git output"
        self.query_one("#clone-go", Button).focus()
        self.judge_destinations()
        for index in range(len(self.rows)):
            self.load_branches(index)

    @work(group="branches", exit_on_error=False)
    async def load_branches(self, index: int) -> None:
        from bbwizard.api import BitbucketClient

        row = self.rows[index]
        workspace, _, slug = row.key.partition("/")
        client = BitbucketClient.for_profile(
            self.wizard.store, self.profile.name, transport=self.wizard.transport, clock=self.wizard.clock
        )
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

    # The plan as it is typed

    @on(Input.Changed, "#clone-base")
    def base_changed(self, event: Input.Changed) -> None:
        self.plan["base"] = event.value
        if not event.value.strip():
            self.judge_destinations()
            return
        base = folder_of(event.value)
        for index, row in enumerate(self.rows):
            dest = self.query_one(f"#dest-{index}", Input)
            if self.written.get(index) == dest.value:  # still this step's own: it follows the base
                self.written[index] = dest.value = display_path(base / row.slug)
        self.judge_destinations()

    @on(Input.Changed, ".clone-dest")
    def destination_changed(self, event: Input.Changed) -> None:
        if event.value != event.input.value:
            return  # a later change is on its way
        index = int((event.input.id or "-0").rsplit("-", 1)[1])
        custom = self.written.get(index) != event.value
        if custom:
            self.written[index] = ""
        self.plan.setdefault(self.rows[index].key, {}).update(dest=event.value, custom=custom)
        self.judge_destinations()

    @on(Select.Changed, ".clone-branch")
    def branch_changed(self, event: Select.Changed) -> None:
        index = int((event.select.id or "-0").rsplit("-", 1)[1])
        if isinstance(event.value, str):
            self.plan.setdefault(self.rows[index].key, {})["branch"] = event.value

    @on(Checkbox.Changed, "#clone-remember")
    def remember_changed(self, event: Checkbox.Changed) -> None:
        self.plan["remember"] = event.value

    def destinations(self) -> list[str]:
        return [self.query_one(f"#dest-{index}", Input).value for index in range(len(self.rows))]

    @work(group="judge", exclusive=True, exit_on_error=False)
    async def judge_destinations(self) -> None:
        """Ask the core whether each destination can be cloned into, off the event loop (it looks
        at the disk), and mark the rows it refuses."""
        from bbwizard import git

        problems = await asyncio.to_thread(git.destination_problems, self.destinations())
        self.show_problems(problems)

    def show_problems(self, problems: list[str | None]) -> None:
        if self.running or self.finished:
            return
        self.problems = problems
        for index, problem in enumerate(problems):
            verdict = self.query_one(f"#verdict-{index}", Static)
            verdict.update(problem or "")
            verdict.set_class(problem is None, "hidden")
            self.query_one(f"#dest-{index}", Input).set_class(problem is not None, "-invalid")
            self.query_one(f"#state-{index}", Static).update("ready" if problem is None else "")
        refused = sum(1 for problem in problems if problem)
        self.query_one("#clone-go", Button).disabled = bool(refused)
        if refused:
            self.say(
                "clone-result",
                f"{refused} destination{'s' if refused != 1 else ''} can't be used: change "
                f"{'them' if refused != 1 else 'it'} to clone.",
                "warning",
            )
        else:
            self.say("clone-result", "")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start" and (self.running or self.finished or any(self.problems)):
            return None  # shown, dimmed: the sentence beside the row says why
        return True

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
        self.query_one("#clone-go", Button).disabled = True
        self.refresh_bindings()
        self.clone_all()

    @work(group="clone", exclusive=True, exit_on_error=False)
    async def clone_all(self) -> None:
        """Every row through ``git.clone_many``: CLONE_JOBS at a time, as ``bbwizard clone`` does,
        so fifty selected repositories don't start fifty gits at once. The destinations are judged
        once more first: the disk may have changed since the last key."""
        from bbwizard import git

        self.workers.cancel_group(self, "judge")
        problems = await asyncio.to_thread(git.destination_problems, self.destinations())
        if any(problems):
            self.running = False
            self.show_problems(problems)
            return
        for widget in self.query(".clone-branch, .clone-dest, #clone-base, #clone-remember"):
            widget.disabled = True
        self.say("clone-result", "Cloning… escape cancels.", "busy")
        await self.remember_base()
        requests = []
        for index, row in enumerate(self.rows):
            workspace, _, slug = row.key.partition("/")
            branch = self.query_one(f"#branch-{index}", Select).value
            dest = folder_of(self.query_one(f"#dest-{index}", Input).value)
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
                clock=self.wizard.clock,
                **({"git": self.wizard.git_runner} if self.wizard.git_runner else {}),
            )
        except CloneCancelled as error:
            self.query_one("#clone-log", Log).write_line(str(error))
            for index, request in enumerate(requests):
                if index not in self.results:
                    self.query_one(f"#state-{index}", Static).update("cancelled")
                    self.results[index] = f"X {self.rows[index].key}: cancelled; nothing left behind in {display_path(request.dest)}"
        except BBWizardError as error:  # refused before any clone started
            self.query_one("#clone-log", Log).write_line(redact(str(error)))
            for index in range(len(self.rows)):
                self.results.setdefault(index, f"X {self.rows[index].key}: not started: {error}")
        finally:
            self.running = False
            self.finished = True
            self.show_summary()

    async def remember_base(self) -> None:
        """With "Remember" ticked, "Clone into" becomes the profile's clone folder. Re-read under
        the lock first: saving a stale copy could put back a refresh token that has since rotated."""
        if not self.query_one("#clone-remember", Checkbox).value:
            return
        text = self.query_one("#clone-base", Input).value.strip()
        if not text:
            return
        folder = display_path(folder_of(text))
        store = self.wizard.store

        def save() -> None:
            with store.lock():
                current = store.get(self.profile.name)
                if current.clone_dir != folder:
                    store.save(current.replace(clone_dir=folder), make_default=False)

        try:
            await asyncio.to_thread(save)
        except BBWizardError as error:
            self.query_one("#clone-log", Log).write_line(redact(f"The clone folder was not remembered: {error}"))
            return
        self.profile = self.profile.replace(clone_dir=folder)
        self.saved_base = folder

    def clone_progress(self, index: int, event: CloneEvent) -> None:
        from bbwizard import git

        key = self.rows[index].key
        if isinstance(event, git.CloneOutput):
            self.query_one("#clone-log", Log).write_line(shorten_home(redact(f"{key}: {event.text}")))
            return
        self.query_one(f"#progress-{index}", ProgressBar).update(total=100, progress=float(event.overall))
        phase = event.phase or ""
        self.query_one(f"#state-{index}", Static).update(f"{phase} {int(event.percent or 0)}%" if phase else "")

    def clone_done(self, index: int, result: CloneResult) -> None:
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
        if self.saved_base:
            lines.append(f"{self.saved_base} is now the clone folder of profile “{printable(self.profile.name)}”.")
        self.say("clone-result", head + "\n" + "\n".join(lines) + "\nPress Enter to finish.", "error" if failed else "ok")
        button = self.query_one("#clone-go", Button)
        button.label = "Finish"
        button.disabled = False
        button.focus()
        self.refresh_bindings()

    def action_back(self) -> None:
        if self.running:
            self.workers.cancel_group(self, "clone")
            self.say("clone-result", "Cancelling the clones…", "warning")
            return
        super().action_back()


class DemoFinishedScreen(WizardStep[Any]):
    """After the demo's last step: where everything went, before quitting removes it."""

    STEP = "The demo is done"
    HELP = """\
# The demo is done

The demo's clones and its config live in a temporary folder that bbwizard removes when you quit,
with the emulator. Look at them from another terminal before you quit; escape goes back to the
repositories, to clone more.
"""

    BINDINGS = [Binding("enter", "quit_demo", "Quit", id="demo-quit", tooltip="Quit; the demo's folder is removed")]

    def __init__(self, demo_folder: Path, clone_folder: Path, results: dict[int, str] | None = None) -> None:
        super().__init__()
        self.demo_folder = demo_folder
        self.clone_folder = clone_folder
        self.results = results or {}

    def compose_body(self) -> ComposeResult:
        lines = [self.results[index] for index in sorted(self.results)]
        yield Static(
            "\n".join(
                [
                    f"The clones are in {self.clone_folder}",
                    *(f"  {line}" for line in lines),
                    f"The demo's config is in {self.demo_folder}",
                    "",
                    f"Everything in {self.demo_folder} is removed when you quit, with the emulator:"
                    " the clones' credential helper points at this demo's config. To look at the"
                    " clones, open another terminal now:",
                    "",
                    f"  cd {self.clone_folder}",
                ]
            ),
            id="demo-where",
            markup=False,
        )
        yield Button("Quit and remove the demo folder", id="demo-quit", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#demo-quit", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_quit_demo()

    def action_quit_demo(self) -> None:
        self.dismiss(True)
