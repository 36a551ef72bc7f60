"""The OAuth client (formerly OAuth consumer): profile name, key, secret, callback URL, and a check
before any browser. The step answers with a :class:`~bbwizard.config.Profile` without tokens: the
consumer the rest of the sign-in uses (its ``grant`` says whether the browser is skipped)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Static

from bbwizard.config import Profile, is_profile_name
from bbwizard.errors import BBWizardError
from bbwizard.secret import Secret, printable
from bbwizard.tui.screens.base import WizardStep

if TYPE_CHECKING:
    from bbwizard.oauth import ConsumerCheck

WHERE_TO_PASTE = (
    "In Bitbucket: Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers) "
    "→ your client → Authorization: tick Authorization code, paste this address as Callback URL; "
    "Scopes: tick Account: Read and Repositories: Read."
)


def suggested_callback_url() -> str:
    from bbwizard.loopback import suggest_callback_url

    return suggest_callback_url()


def field_problems(name: str, key: str, has_secret: bool, callback: str) -> dict[str, str]:
    """What is wrong with each field, as a sentence; empty when all is well."""
    problems: dict[str, str] = {}
    if not name:
        problems["name"] = "Give the profile a name, for example work."
    elif not is_profile_name(name):
        problems["name"] = "A profile name uses letters, digits, dots, dashes and underscores only."
    if not key:
        problems["key"] = "Paste the consumer's Key from its page in Bitbucket."
    elif any(ch.isspace() for ch in key):
        problems["key"] = "The key has spaces in it; copy it again from Bitbucket."
    if not has_secret:
        problems["secret"] = "Paste the consumer's Secret (shown under the key in Bitbucket)."
    parts = urlsplit(callback)
    if not callback:
        problems["callback"] = "Bitbucket needs a callback URL; the suggested one works on this machine."
    elif parts.scheme not in ("http", "https") or not parts.hostname:
        problems["callback"] = "The callback URL must be an http:// or https:// address, like http://localhost:8976/."
    return problems


class ConsumerScreen(WizardStep[Any]):
    STEP = "consumer"
    HELP = """\
# The OAuth client (formerly OAuth consumer)

bbwizard signs in with an **OAuth client** you create in Bitbucket:
Workspace settings → Apps and features → OAuth clients → Create.
Atlassian's older pages call it an *OAuth consumer*: Workspace settings → OAuth consumers →
Add consumer. The form has three tabs:

- **Details**: a name. The **Key** and **Secret** are shown once it is saved; they are not
  git credentials. Keys of 32 characters and secrets of about 76 are normal (older
  consumers: 18 and 32).
- **Authorization**: tick **Authorization code**, and set the **Callback URL** to the
  address shown here (a loopback address, so this machine can catch the browser's redirect).
- **Scopes** (*Permissions* on the older form): tick **Account: Read** and
  **Repositories: Read**.

**Check** asks Bitbucket whether it knows the key and secret, before any browser opens.
A client with **Client credentials** ticked (a *private* consumer on the older form) can also
get a token without a browser. Enter moves to the next field;
on the last one it checks.
"""

    BINDINGS = [
        Binding("ctrl+t", "check", "Check", id="consumer-check", tooltip="Ask Bitbucket whether the consumer works"),
        Binding("ctrl+n", "continue", "Continue", id="consumer-continue", tooltip="Go on to sign in"),
    ]

    def __init__(self, prefill: Profile, *, replaces: str | None = None) -> None:
        """`prefill`: the consumer fields to start from (its tokens, if any, are not read).
        `replaces`: a saved profile's name this form may save over without asking (the profile
        being signed in again)."""
        super().__init__()
        self.prefill = prefill
        self.checked: Profile | None = None  # the consumer as last checked
        self.check: ConsumerCheck | None = None  # what Bitbucket said about it
        if replaces:
            self.may_replace.add(replaces)

    def compose_body(self) -> ComposeResult:
        prefill = self.prefill
        # No local holds the secret bare: Textual's crash report prints every frame's locals.
        fields = [
            ("name", "Profile name", Input(prefill.name or "", placeholder="work", id="name")),
            ("key", "Key", Input(prefill.client_id or "", placeholder="the consumer's Key", id="key")),
            ("secret", "Secret", Input(
                prefill.client_secret.reveal() if prefill.client_secret else "",
                placeholder="the consumer's Secret", password=True, id="secret",
            )),
            ("callback", "Callback URL", Input(prefill.callback_url or suggested_callback_url(), id="callback")),
        ]
        with VerticalScroll(id="form"):
            # Fewer widgets, sooner ready to type: a field's problem line is mounted only when there
            # is a problem (see show_problem), and the labels sit in the inputs' borders.
            for field_id, label, field in fields:
                field.border_title = label
                yield field
                if field_id == "callback":
                    yield Static(WHERE_TO_PASTE, id="callback-where", classes="note field-note", markup=False)
            yield Static("", id="check-result", markup=False)
            with Horizontal(id="consumer-buttons"):
                yield Button("Check", id="check", variant="primary")
                yield Button("Continue in the browser", id="continue", variant="success")
                # "Use the consumer's own identity" is mounted when a check finds a private consumer.

    def show_own_identity(self, shown: bool) -> None:
        """The button that skips the browser, for a private consumer: mounted the first time one is
        checked (most people never check one, and each widget costs the step's start)."""
        found = self.query("#own-identity")
        if found:
            found.first(Button).set_class(not shown, "hidden")
        elif shown:
            own = Button("Use the consumer's own identity (no browser)", id="own-identity")
            self.query_one("#consumer-buttons").mount(own)

    def show_problem(self, field_id: str, text: str) -> None:
        """The sentence under a field, mounted the first time one is needed."""
        found = self.query(f"#{field_id}-problem")
        if found:
            line = found.first(Static)
        elif text:
            line = Static("", id=f"{field_id}-problem", classes="problem field-note", markup=False)
            anchor = self.query_one("#callback-where" if field_id == "callback" else f"#{field_id}")
            self.query_one("#form").mount(line, after=anchor)
        else:
            return
        line.update(text)
        line.set_class(bool(text), "error")
        line.display = bool(text)

    def on_mount(self) -> None:
        prefill = self.prefill
        # set_focus at once, not focus() (which waits a frame): the first frame already has the
        # focus, and the Footer's keys for it.
        if prefill.name and prefill.client_id and prefill.client_secret:
            self.set_focus(self.query_one("#check", Button))
        else:
            for field_id in ("name", "key", "secret", "callback"):
                field = self.query_one(f"#{field_id}", Input)
                if not field.value:
                    self.set_focus(field)
                    break

    def read_form(self) -> Profile | None:
        values = {field_id: self.query_one(f"#{field_id}", Input).value.strip() for field_id in ("name", "key", "callback")}
        secret = Secret(self.query_one("#secret", Input).value.strip())  # wrapped the moment it is read
        problems = field_problems(values["name"], values["key"], bool(secret), values["callback"])
        for field_id in ("name", "key", "secret", "callback"):
            self.show_problem(field_id, problems.get(field_id, ""))
            self.query_one(f"#{field_id}", Input).set_class(field_id in problems, "-invalid")
        if problems:
            first = next(iter(problems))
            self.query_one(f"#{first}", Input).focus()
            self.say("check-result", "Fix the fields marked above first.", "error")
            return None
        return Profile(
            name=values["name"],
            client_id=values["key"],
            client_secret=secret,
            callback_url=values["callback"],
            site_url=self.prefill.site_url,
            api_url=self.prefill.api_url,
            ca_bundle=self.prefill.ca_bundle,
        )

    @on(Input.Changed)
    def forget_check(self, event: Input.Changed) -> None:
        if self.checked is not None:
            self.checked, self.check = None, None
            self.say("check-result", "")
            self.show_own_identity(False)

    @on(Input.Submitted)
    def next_field(self, event: Input.Submitted) -> None:
        if event.input.id == "callback":
            self.action_check()
        else:
            self.focus_next()

    @on(Button.Pressed, "#check")
    def action_check(self) -> None:
        form = self.read_form()
        if form is not None:
            self.run_check(form, then_continue=False)

    @on(Button.Pressed, "#continue")
    def action_continue(self) -> None:
        form = self.read_form()
        if form is not None:
            self.go_on(form)

    @work(group="consumer-continue", exclusive=True, exit_on_error=False)
    async def go_on(self, form: Profile) -> None:
        if not await self.may_save_as(form.name, "check-result"):
            return
        if self.checked is not None and self.checked.client_id == form.client_id:
            self.dismiss(self.checked)
        else:
            self.run_check(form, then_continue=True)

    @on(Button.Pressed, "#own-identity")
    def use_own_identity(self) -> None:
        if self.checked is not None:
            self.go_on_as_consumer(self.checked)

    @work(group="consumer-continue", exclusive=True, exit_on_error=False)
    async def go_on_as_consumer(self, checked: Profile) -> None:
        if not await self.may_save_as(checked.name, "check-result"):
            return
        self.dismiss(checked.replace(grant="client_credentials"))

    @work(group="consumer-check", exclusive=True, exit_on_error=False)
    async def run_check(self, form: Profile, then_continue: bool) -> None:
        import asyncio

        from bbwizard import oauth

        self.say("check-result", "Asking Bitbucket about this consumer…", "busy")
        self.query_one("#check", Button).disabled = True
        try:
            result = await asyncio.to_thread(oauth.check_consumer, form.site_url, form.client_id, form.client_secret)
        except BBWizardError as error:
            self.say("check-result", str(error) + (f"\n{error.hint}" if error.hint else ""), "error")
            return
        finally:
            self.query_one("#check", Button).disabled = False
        self.checked, self.check = form, result
        self.show_own_identity(result.kind == "private")
        if result.kind == "private":
            sentence = (
                f"{result.message} Choose “Use the consumer's own identity” to skip the browser, or "
                "continue in the browser to sign in as yourself."
            )
        else:
            sentence = f"{result.message} Next, the browser asks you to grant access."
        if then_continue and result.kind != "private":
            if result.kind == "unconfirmed":  # said, and on to the browser, as `bbwizard login` does
                self.app.notify(printable(result.message), severity="warning", markup=False)
            self.dismiss(form)
            return
        # Focus first, then the sentence: whoever reads it and presses Enter goes on.
        self.set_focus(self.query_one("#continue", Button))
        self.say("check-result", sentence, "warning" if result.kind == "unconfirmed" else "ok")
