"""Step 4: paste the code, or the whole address the browser landed on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events, on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Static

from bbwizard.errors import BBWizardError
from bbwizard.tui.screens.base import WizardStep

if TYPE_CHECKING:
    from bbwizard.oauth import Authorization, PastedCode


class PastedCodeValidator(Validator):
    """Runs the core's parser on every keystroke; its refusal is the sentence shown."""

    def __init__(self, expected_state: str) -> None:
        super().__init__()
        self.expected_state = expected_state
        self.last: PastedCode | None = None

    def validate(self, value: str) -> ValidationResult:
        from bbwizard import oauth

        self.last = None
        try:
            self.last = oauth.parse_pasted(value, self.expected_state)
        except BBWizardError as error:
            return self.failure(str(error) + (f" {error.hint}" if error.hint else ""))
        return self.success()


class PastedAddressInput(Input):
    """The code's input: a paste that spans lines (a long address wrapped by a terminal) is put in
    whole, its lines joined, where Textual's Input would keep only the first line."""

    def on_paste(self, event: events.Paste) -> None:
        event.prevent_default()  # Input's own handler would keep the first line alone
        event.stop()
        text = "".join(line.strip() for line in event.text.splitlines())
        if not text:
            return
        if self.selection.is_empty:
            self.insert_text_at_cursor(text)
        else:
            self.replace(text, *self.selection)


class CodeScreen(WizardStep["str | Back"]):
    STEP = "code"
    HELP = """\
# Paste the code

After you grant access, the browser lands on your callback address with `?code=…` in it.
Paste the whole address, or only the code. Spaces, quotes and the address around the code are
handled. An address from another attempt (a different `state`) is refused, to keep a stranger's
code out. Enter uses the code; escape goes back to the browser step.
"""

    def __init__(self, authorization: Authorization) -> None:
        super().__init__()
        self.authorization = authorization
        self.validator = PastedCodeValidator(authorization.state)

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="code-form"):
            yield Static(
                "Paste the code, or the whole address the browser landed on, and press Enter.",
                classes="note",
                markup=False,
            )
            yield PastedAddressInput(
                placeholder="http://localhost:8976/?code=…&state=…",
                id="code",
                validators=[self.validator],
                validate_on=["changed", "submitted"],
            )
            yield Static("", id="code-verdict", markup=False)

    def on_mount(self) -> None:
        self.query_one("#code", Input).focus()

    @on(Input.Changed, "#code")
    def judge(self, event: Input.Changed) -> None:
        self.show_verdict(event.validation_result, event.value)

    def show_verdict(self, result: ValidationResult | None, value: str) -> None:
        if not value.strip():
            self.say("code-verdict", "")
            return
        if result is not None and not result.is_valid:
            self.say("code-verdict", " ".join(result.failure_descriptions), "error")
            return
        warning = getattr(self.validator.last, "warning", None)
        if warning:
            self.say("code-verdict", f"{warning} Press Enter to use it.", "warning")
        else:
            self.say("code-verdict", "That looks right. Press Enter to use it.", "ok")

    @on(Input.Submitted, "#code")
    def use_code(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.say("code-verdict", "Paste the code first.", "error")
            return
        result = event.validation_result
        if result is not None and not result.is_valid:
            self.show_verdict(result, event.value)
            return
        pasted = self.validator.last
        if pasted is None:
            return
        self.dismiss(pasted.code)
