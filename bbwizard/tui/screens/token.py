"""Step 5: the code becomes a token; who it belongs to, what it may do, until when. Saved here."""

from __future__ import annotations

import asyncio
from datetime import timezone
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, LoadingIndicator, Static

from bbwizard.errors import BBWizardError
from bbwizard.humanize import human_duration
from bbwizard.secret import printable
from bbwizard.tui.screens.base import WizardStep
from bbwizard.tui.widgets.status import display_path

if TYPE_CHECKING:
    from bbwizard.config import Profile
    from bbwizard.oauth import Authorization


def widget_text(widget: Static) -> str:
    return str(getattr(widget.visual, "plain", widget.visual))


def scopes_line(granted: list[str] | None) -> tuple[str, str | None]:
    """The granted scopes, and each missing one with the consumer permission to tick; with the
    line's state class (`ok`, or `error` when one is missing)."""
    from bbwizard.oauth import PERMISSION_FOR_SCOPE, missing_scopes

    if granted is None:
        return "Scopes: (Bitbucket did not say)", None
    text = "Scopes: " + (" ".join(granted) or "(none)")
    missing = missing_scopes(granted)
    for scope in missing:
        text += f"  missing: {scope} (tick “{PERMISSION_FOR_SCOPE[scope]}” in the consumer)"
    return text, "error" if missing else "ok"


class TokenScreen(WizardStep[Any]):
    STEP = "token"
    HELP = """\
# The token

The code from the browser is exchanged, once, for an access token (valid about two hours) and a
refresh token. bbwizard then asks Bitbucket who the token belongs to and saves the profile, so that
later `bbwizard clone`, `bbwizard token` and git's credential helper can use it.

Missing scopes are named, with the box to tick in the consumer's settings; after ticking it,
press escape and sign in again.
"""

    BINDINGS = [
        Binding("enter", "continue", "Continue", id="token-continue", tooltip="Choose repositories"),
    ]

    def __init__(self, consumer: Profile, *, code: str | None = None, authorization: Authorization | None = None) -> None:
        """`consumer`: the Consumer step's answer (no tokens); its `grant` says whether a code is
        exchanged or the consumer's own identity is used."""
        super().__init__()
        self.consumer = consumer
        self.code = code
        self.authorization = authorization
        self.profile: Any = None
        self.granted: list[str] | None = None
        self.ready = False
        self.shown = False  # who, scopes and expiry are on the screen

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="token"):
            with Horizontal(id="exchange-line"):
                yield LoadingIndicator(id="exchange-spinner")
                yield Static("", id="exchange", markup=False)
            # Shown as they are filled: after a refused code only the sentence saying so is there.
            yield Static("", id="token-user", classes="hidden", markup=False)
            yield Static("", id="token-scopes", classes="hidden", markup=False)
            yield Static("", id="token-expiry", classes="hidden", markup=False)
            yield Static("", id="token-saved", classes="hidden", markup=False)
            yield Static("", id="token-result", classes="hidden", markup=False)
            yield Button("Continue to repositories", id="token-go", variant="success", disabled=True, classes="hidden")

    def on_mount(self) -> None:
        # The expiry counts down with the clock, as the status bar's does.
        self.set_interval(1, self.show_expiry, name="token-expiry")
        self.exchange()

    def say(self, widget_id: str, text: str, state: str | None = None) -> None:
        super().say(widget_id, text, state)
        if widget_id != "exchange":
            self.query_one(f"#{widget_id}").set_class(not text, "hidden")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "continue":
            return self.ready  # no Enter offered while there is nothing to continue with
        return super().check_action(action, parameters)

    def show_expiry(self) -> None:
        profile = self.profile
        if not self.shown or profile is None or profile.expires_at is None:
            return
        # A refresh by the app (on its own, or r) gives this profile a new expiry.
        current = self.wizard.profile
        if current is not None and current.name == profile.name and current.expires_at is not None:
            profile = current
        left = profile.expires_at - self.wizard.now()
        if left.total_seconds() > 0:
            sentence = (
                f"The access token expires in {human_duration(left, clock=True)} "
                f"(at {profile.expires_at.astimezone(timezone.utc).strftime('%H:%M')} UTC); "
                "bbwizard refreshes it on its own."
            )
        else:
            sentence = f"The access token expired {human_duration(left, clock=True)} ago; bbwizard refreshes it on its own."
        if widget_text(self.query_one("#token-expiry", Static)) != sentence:
            self.say("token-expiry", sentence)

    @work(group="token", exclusive=True, exit_on_error=False)
    async def exchange(self) -> None:
        from bbwizard import oauth
        from bbwizard.signin import finish_sign_in

        consumer = self.consumer
        own_identity = consumer.grant == "client_credentials"
        if own_identity:
            self.say("exchange", "Getting a token with the consumer's own identity…", "busy")
        else:
            self.say("exchange", "Exchanging the code for a token…", "busy")
        try:
            transport = self.wizard.oauth_transport
            clock = self.wizard.clock
            if own_identity:
                tokens = await asyncio.to_thread(oauth.client_credentials, consumer, transport=transport, clock=clock)
            else:
                tokens = await asyncio.to_thread(
                    oauth.exchange_code, consumer, self.code, self.authorization, transport=transport, clock=clock
                )
            self.say("exchange", "Asking Bitbucket who this token belongs to…", "busy")
            store = self.wizard.store
            done = await asyncio.to_thread(finish_sign_in, store, consumer, tokens, transport=transport, clock=clock)
        except BBWizardError as error:
            self.query_one("#exchange-line").display = False
            self.say_error(error)
            return
        self.query_one("#exchange-line").display = False
        self.granted = done.granted
        self.profile = done.profile
        self.wizard.profile = done.profile
        self.user_note = done.user_note
        self.show_profile(done.profile, store, done.user_error)

    def say_error(self, error: BBWizardError) -> None:
        self.say(
            "token-result",
            str(error) + (f"\n{error.hint}" if error.hint else "") + "\nPress escape to go back and try again.",
            "error",
        )

    def show_profile(self, profile: Any, store: Any, user_error: BBWizardError | None = None) -> None:
        self.shown = True
        note = getattr(self, "user_note", None)
        if profile.user is None and note:
            self.say("token-user", f"Signed in. {printable(note)}", "warning")
        else:
            self.say("token-user", f"Signed in as {printable(profile.user.label) if profile.user else 'an unknown user'}", "ok")
        self.say("token-scopes", *scopes_line(self.granted))
        self.show_expiry()
        self.say("token-saved", f"Saved as profile “{profile.name}” in {display_path(store.path)}")
        from bbwizard.oauth import PERMISSION_FOR_SCOPE, missing_scopes

        missing = missing_scopes(self.granted) if self.granted is not None else []
        if missing:
            ticks = " and ".join(f"“{PERMISSION_FOR_SCOPE[scope]}”" for scope in missing)
            self.say(
                "token-result",
                f"This token can't list or clone repositories. In Bitbucket, edit the consumer, tick {ticks}, "
                "save, then press escape and sign in again.",
                "error",
            )
            return
        if user_error is not None:
            # The tokens are saved; who they belong to is unknown, and why is said here.
            self.say_error(user_error)
            return
        self.ready = True
        self.refresh_bindings()
        button = self.query_one("#token-go", Button)
        button.disabled = False
        button.remove_class("hidden")
        button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_continue()

    def action_continue(self) -> None:
        if self.ready and self.profile is not None:
            self.dismiss(self.profile)

