"""What every wizard step shares: a title line, the body, and the bottom bar (status + Footer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from bbwizard.tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from bbwizard.tui.app import WizardApp

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


class StepFooter(Footer):
    """Textual's Footer, laying out its keys once per change of what it shows.

    Textual's Footer recomposes after the next refresh for every bindings update, even when the
    keys it shows stay the same; a step's start publishes several (mount, focus, the app's
    bindings), so it built its keys three times and drew the screen once without them. This one
    builds them before the first frame, and again only when a key, its label or its state changes.
    """

    _recompose_pending = False
    _shown: tuple[Any, ...] | None = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._recompose_pending:
            self._recompose_pending = True
            self.call_later(self._recompose_keys)

    def _keys_shown(self) -> tuple[Any, ...]:
        return (
            self.show_command_palette,
            tuple(
                (binding.key, binding.action, binding.description, binding.group, enabled, tooltip)
                for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
                if binding.show
            ),
        )

    async def _recompose_keys(self) -> None:
        self._recompose_pending = False
        if not self.is_attached:
            return
        shown = self._keys_shown()
        if shown == self._shown:
            return
        self._shown = shown
        await self.recompose()


class WizardStep(Screen[T], Generic[T]):
    """A step of the wizard. Subclasses yield their widgets from `compose_body`."""

    STEP: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    # Each step focuses what a person types into first, in on_mount; Textual's automatic focus
    # would race with it and sometimes pick the first Input instead.
    AUTO_FOCUS = ""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back", tooltip="Go back one step"),
    ]

    _resumed = False

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before Screen's own handler. A step is made fresh for each push, and Textual styled
        # every widget when compose mounted it (after all its siblings), so restyling the whole
        # screen on the first resume only redoes that work (a third of the start-up's CSS time).
        # Later resumes (a modal closed) keep Textual's behaviour.
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False
            from bbwizard.tui.app import start_up_done

            self.call_after_refresh(start_up_done)

    @property
    def wizard(self) -> WizardApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(id="body"):
            yield Static(self.STEP, id="step-title", markup=False)
            yield from self.compose_body()
        with Vertical(id="bottom"):
            yield StatusBar(id="status-bar")
            yield StepFooter()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def action_back(self) -> None:
        self.dismiss(BACK)  # type: ignore[arg-type]

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
