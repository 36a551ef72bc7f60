"""What every wizard step shares: a title line, the body, and the bottom bar (status + keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from bbwizard.tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from bbwizard.tui.wizard import Wizard

T = TypeVar("T")


class Back:
    """What a step dismisses with when the person presses escape: the flow goes one step back."""

    _instance: ClassVar[Back | None] = None

    def __new__(cls) -> Back:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "BACK"


BACK = Back()


class SignInAgain:
    """What the Profiles step dismisses with when the chosen profile's sign-in has ended."""

    def __repr__(self) -> str:
        return "SIGN_IN_AGAIN"


SIGN_IN_AGAIN = SignInAgain()


class WizardStep(Screen[T], Generic[T]):
    """A step of the wizard. Subclasses yield their widgets from `compose_body`."""

    # The step's key in the app's table of steps (`app.STEPS`), which gives its title and its
    # number on the road taken.
    STEP: ClassVar[str] = ""
    heading = ""  # "Step 2 of 5 · Grant access in the browser", as drawn
    HELP: ClassVar[str] = ""
    # Each step focuses what a person types into first, in on_mount; Textual's automatic focus
    # would race with it and sometimes pick the first Input instead.
    AUTO_FOCUS = ""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back", tooltip="Go back one step"),
        # On the first step there is nothing to go back to: escape asks whether to quit.
        Binding("escape", "quit_wizard", "Quit", id="quit", tooltip="Quit bbwizard (asks first)"),
    ]

    # Set by the flow on the step it starts with (Profiles, or Consumer when no profile is saved).
    first_step = False
    QUIT_DETAIL: ClassVar[str] = "Nothing is lost: saved profiles stay saved."

    _resumed = False

    def __init__(self) -> None:
        super().__init__()
        # Saved profiles this step's form may save over without asking: the profile being signed
        # in again, or one the person already said yes to replacing.
        self.may_replace: set[str] = set()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before Screen's own handler (Textual dispatches a class's handlers along its MRO).
        # A step is made fresh for each push, and Textual styled every widget when compose mounted
        # it, so restyling the whole screen on the first resume only redoes that work. Later
        # resumes (a modal closed) keep Textual's behaviour.
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    @property
    def wizard(self) -> Wizard:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        self.heading = self.wizard.step_heading(self.STEP)
        with Vertical(id="body"):
            yield Static(self.heading, id="step-title", markup=False)
            yield from self.compose_body()
        # Under the body (height 1fr) in the screen's vertical layout, the status bar; the keys
        # (Textual's Footer) are docked under it.
        yield StatusBar(id="status-bar")
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return not self.first_step
        if action == "quit_wizard":
            return self.first_step
        return True

    def action_back(self) -> None:
        self.dismiss(BACK)  # type: ignore[arg-type]

    def action_quit_wizard(self) -> None:
        """Escape on the first step: quit, once the person says so (the flow ends on BACK there)."""
        from bbwizard.tui.screens.modals import ConfirmModal

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(BACK)  # type: ignore[arg-type]

        self.app.push_screen(ConfirmModal("Quit bbwizard?", self.QUIT_DETAIL, yes="Quit"), answered)

    async def may_save_as(self, name: str, result_id: str) -> bool:
        """True when saving under `name` replaces nothing, or the person said to replace it. No
        leaves the form as typed, with its `#name` field focused for another name and the reason
        in `#{result_id}`."""
        import asyncio

        from bbwizard.errors import BBWizardError

        if name in self.may_replace:
            return True
        try:
            saved = (await asyncio.to_thread(self.wizard.store.load)).get(name)
        except BBWizardError:
            return True  # the config's own trouble is said where it is saved
        if saved is None:
            return True
        from bbwizard.secret import printable
        from bbwizard.tui.screens.modals import ConfirmModal
        from bbwizard.tui.widgets.status import user_label

        who = printable(user_label(saved.user))
        replace = await self.app.push_screen_wait(
            ConfirmModal(
                f"Replace the profile “{name}”?",
                f"A profile named “{name}” is saved already"
                + (f" (signed in as {who})" if who else "")
                + ". Signing in replaces its credentials and tokens. Choose No to pick another name.",
                yes="Replace",
            )
        )
        if replace:
            self.may_replace.add(name)
            return True
        self.query_one("#name").focus()
        self.say(result_id, f"A profile named “{name}” is saved already: choose another name, or replace it.", "warning")
        return False

    def say(self, widget_id: str, text: str, state: str | None = None) -> None:
        """Put a sentence in a message line, with `error`, `warning` or `ok` as its class."""
        line = self.query_one(f"#{widget_id}", Static)
        line.update(text)
        for name in ("error", "warning", "ok", "busy"):
            line.set_class(name == state, name)
