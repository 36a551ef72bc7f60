"""Modals: an error with a way back, a yes/no confirmation, and the help for the current step."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from bbwizard.secret import printable


class _ClosingModal(ModalScreen[None]):
    """A dialog whose one button (``#dialog-ok``) has the focus and closes it, as escape does."""

    FOCUS = "#dialog-ok"

    def on_mount(self) -> None:
        self.query_one(self.FOCUS).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class ErrorModal(_ClosingModal):
    """An error as sentences, never a traceback. Escape or Enter goes back."""

    BINDINGS = [Binding("escape", "close", "Back", id="error-back", tooltip="Close and go back")]

    def __init__(self, title: str, message: str, hint: str | None = None) -> None:
        super().__init__(classes="modal")
        # A message may quote a server (an error description, a name): cleaned like all such text.
        self.title_text = printable(title)
        self.message = printable(message)
        self.hint = printable(hint) if hint else hint

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="error"):
            yield Static(self.title_text, id="dialog-title", markup=False)
            yield Static(self.message, id="dialog-message", markup=False)
            if self.hint:
                yield Static(self.hint, id="dialog-hint", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Back", id="dialog-ok", variant="primary")


class ConfirmModal(ModalScreen[bool]):
    """A question with Yes and No; No is focused so a stray Enter does no harm."""


    BINDINGS = [
        Binding("escape", "answer(False)", "No", id="confirm-no", tooltip="Answer no"),
        Binding("y", "answer(True)", "Yes", id="confirm-yes", tooltip="Answer yes"),
        Binding("n", "answer(False)", "No", show=False),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes") -> None:
        super().__init__(classes="modal")
        self.question = printable(question)
        self.detail = printable(detail)
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="dialog-title", markup=False)
            if self.detail:
                yield Static(self.detail, id="dialog-message", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button(self.yes, id="dialog-yes", variant="error")
                yield Button("No", id="dialog-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#dialog-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "dialog-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class HelpModal(_ClosingModal):
    """f1: what this step is for and its keys."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="help-close", tooltip="Close the help"),
        Binding("f1", "close", "Close", show=False),
    ]
    # The text has the focus, so arrows and page keys scroll it at once; Tab reaches Close.
    FOCUS = "#help-body"

    def __init__(self, title: str, text: str) -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="help"):
            yield Static(f"Help: {self.title_text}", id="dialog-title", markup=False)
            with VerticalScroll(id="help-body"):
                from textual.widgets import Markdown  # markdown-it is slow to import; only help needs it

                yield Markdown(self.text)
            with Horizontal(id="dialog-buttons"):
                yield Button("Close", id="dialog-ok", variant="primary")
