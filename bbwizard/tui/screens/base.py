"""What every wizard step shares: a title line, the body, and the bottom bar (status + keys)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Static

from bbwizard.tui.widgets.footer import StepFooter
from bbwizard.tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from bbwizard.tui.app import WizardApp

T = TypeVar("T")

# The later steps' and the modals' stylesheet, loaded by those screens when the first of them is
# shown (bbwizard.tcss, the app's, has the shared rules and the steps a start can show first).
STEPS_CSS = Path(__file__).parent.parent / "steps.tcss"


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

    STEP: ClassVar[str] = ""
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
    _styled_with_own_css = False

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before Screen's own handler. A step is made fresh for each push, and Textual styled
        # every widget when compose mounted it (after all its siblings), so restyling the whole
        # screen on the first resume only redoes that work (a third of the start-up's CSS time).
        # Later resumes (a modal closed) keep Textual's behaviour.
        if not self._resumed:
            self._resumed = True
            if self._styled_with_own_css:
                event.refresh_styles = False
            from bbwizard.tui.app import start_up_done

            self.call_after_refresh(start_up_done)

    def _screen_resized(self, size: Size) -> None:
        # Textual lays a screen out again for every Resize it gets, even at the size it is laid out
        # at: a step's first layout resizes the step itself, and at start-up the app passes the
        # terminal's size on twice (the driver's report and its own), so the first step was laid
        # out three times before it could be typed into. Layout requests do not come this way
        # (they go through the update timer), so an unchanged size has nothing to redo.
        if size == self._compositor.size and self.is_attached:
            return
        super()._screen_resized(size)

    @property
    def wizard(self) -> WizardApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        # Where asyncio has eager tasks (Python 3.12+), Textual's app.run() composes a pushed screen
        # inside push_screen, before it reads the screen's CSS_PATH: the widgets were then styled
        # without this step's rules, and only Textual's restyle on resume gives them their look.
        self._styled_with_own_css = all(self.app.stylesheet.has_source(str(path), "") for path in self.css_path)
        with Vertical(id="body"):
            yield Static(self.STEP, id="step-title", markup=False)
            yield from self.compose_body()
        # Under the body (height 1fr) in the screen's vertical layout: the status bar, then the keys.
        # Not docked: two widgets docked at the bottom overlap, and a container for them is one
        # more widget to style and lay out on every step's start.
        yield StatusBar(id="status-bar")
        yield StepFooter()

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

    def say(self, widget_id: str, text: str, state: str | None = None) -> None:
        """Put a sentence in a message line, with `error`, `warning` or `ok` as its class."""
        line = self.query_one(f"#{widget_id}", Static)
        line.update(text)
        for name in ("error", "warning", "ok", "busy"):
            line.set_class(name == state, name)

    def run_in_thread(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """For tests and the flow: call a sync core function off the event loop."""
        import asyncio

        return asyncio.to_thread(func, *args, **kwargs)
