"""How the person signs in: an OAuth client, an Atlassian API token, or an access token; and the
form for each token (the OAuth client has the Consumer step)."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from bbwizard.config import is_profile_name
from bbwizard.errors import BBWizardError
from bbwizard.secret import Secret, printable
from bbwizard.tui.screens.base import WizardStep

#: The three ways in, in the order shown: (kind, label).
KINDS = (
    ("oauth", "An OAuth client (key and secret): a browser sign-in, tokens renewed on their own"),
    ("api_token", "An Atlassian API token (with your account's email)"),
    ("access_token", "A repository, project or workspace access token"),
)

WHICH_ONE = """\
**An OAuth client** (formerly OAuth consumer) is a key and a secret, made in Bitbucket under
Workspace settings → Apps and features → OAuth clients. bbwizard signs you in through the browser
and renews the token on its own.

**An Atlassian API token** is a long token starting with `ATATT`, made at id.atlassian.com →
Security → Create API token with scopes → app Bitbucket. It goes with your account's email; it
expires on the date you chose (at most a year).

**An access token** (repository, project or workspace) is made in Bitbucket in the repository's
(or project's, or workspace's) settings → Access tokens. It reaches only what it was made for;
say which workspace (and repository) that is.

App passwords stopped working on 2026-07-28: make an API token instead.
"""


class KindScreen(WizardStep[str]):
    """Which of the three ways the person has."""

    STEP = "kind"
    HELP = WHICH_ONE
    AUTO_FOCUS = "#kinds"
    BINDINGS: ClassVar = [
        Binding("question_mark", "which_one", "Which one do I have?", id="which-one",
                tooltip="What each kind looks like and where each is made"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static("What do you sign in with?", classes="lead")
        yield OptionList(*(Option(label, id=kind) for kind, label in KINDS), id="kinds")
        yield Button("Which one do I have?", id="which-one")

    def on_mount(self) -> None:
        self.query_one("#kinds", OptionList).focus()

    @on(OptionList.OptionSelected, "#kinds")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id or "oauth")

    @on(Button.Pressed, "#which-one")
    def action_which_one(self) -> None:
        from bbwizard.tui.screens.modals import HelpModal

        self.app.push_screen(HelpModal("Which one do I have?", WHICH_ONE))


def parse_expiry(text: str) -> date | None:
    """``YYYY-MM-DD`` or nothing; anything else is a ValueError with the sentence to show."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("Write the expiry date as YYYY-MM-DD (for example 2027-06-30), or leave it empty.") from None


class TokenFormScreen(WizardStep[Any]):
    """The form for an API token (email, token, optional expiry) or an access token (token,
    workspace, optional repository); "Sign in" checks it with Bitbucket through the core and saves
    the profile, which the step dismisses with."""

    STEP = "token_form"
    HELP = WHICH_ONE
    AUTO_FOCUS = "#name"

    def __init__(self, kind: str, *, site_url: str, api_url: str, name: str = "", replaces: str | None = None) -> None:
        """`replaces`: a saved profile's name this form may save over without asking (the profile
        being signed in again); any other saved name is replaced only when the person says so."""
        super().__init__()
        if replaces:
            self.may_replace.add(replaces)
        self.kind = kind
        self.site_url = site_url
        self.api_url = api_url
        self.initial_name = name

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Static("Profile name", classes="label")
            yield Input(self.initial_name or "default", id="name")
            if self.kind == "api_token":
                yield Static("Your Atlassian account's email (REST signs in with it; git never sees it)", classes="label")
                yield Input(placeholder="ada@example.com", id="email")
                yield Static("API token (made at id.atlassian.com → Security → Create API token with scopes → Bitbucket)", classes="label")
                yield Input(password=True, id="token")
                yield Static("Expires on (optional, YYYY-MM-DD: bbwizard warns 14 days ahead)", classes="label")
                yield Input(placeholder="2027-06-30", id="expires")
            else:
                yield Static("Access token (made in the repository's, project's or workspace's settings → Access tokens)", classes="label")
                yield Input(password=True, id="token")
                yield Static("Workspace it was made for", classes="label")
                yield Input(placeholder="acme", id="workspace")
                yield Static("Repository (for a repository access token; empty for a project or workspace one)", classes="label")
                yield Input(placeholder="webapp", id="repository")
            yield Button("Sign in", id="sign-in", variant="primary")
            yield Static("", id="sign-in-result", markup=False)

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    @on(Input.Submitted)
    @on(Button.Pressed, "#sign-in")
    def submitted(self) -> None:
        name = self.value("name")
        if not is_profile_name(name):
            self.say("sign-in-result", "A profile name uses letters, digits, dots, dashes and underscores only.", "error")
            return
        token = self.query_one("#token", Input).value.strip()
        if not token:
            self.say("sign-in-result", "Paste the token.", "error")
            return
        try:
            expires = parse_expiry(self.value("expires")) if self.kind == "api_token" else None
        except ValueError as error:
            self.say("sign-in-result", str(error), "error")
            return
        if self.kind == "api_token" and not self.value("email"):
            self.say("sign-in-result", "Type your Atlassian account's email: an API token goes with it.", "error")
            return
        if self.kind == "access_token" and not self.value("workspace"):
            self.say("sign-in-result", "Say which workspace the access token was made for.", "error")
            return
        self.confirm_and_sign_in(name, Secret(token), expires)

    @work(group="token-confirm", exclusive=True, exit_on_error=False)
    async def confirm_and_sign_in(self, name: str, token: Secret, expires: date | None) -> None:
        if not await self.may_save_as(name, "sign-in-result"):
            return
        self.say("sign-in-result", "Asking Bitbucket…", "busy")
        self.query_one("#token", Input).value = ""  # the Secret carries it; no widget keeps it
        self.sign_in(name, token, expires)

    @work(group="token-sign-in", exclusive=True, thread=True, exit_on_error=False)
    def sign_in(self, name: str, token: Secret, expires: date | None) -> None:
        from bbwizard import signin

        transport = self.wizard.oauth_transport
        try:
            if self.kind == "api_token":
                email = signin.check_email(self.app.call_from_thread(self.value, "email"))
                done = signin.sign_in_with_api_token(self.wizard.store, name, email, token, site_url=self.site_url,
                                                     api_url=self.api_url, expires_on=expires, transport=transport,
                                                     clock=self.wizard.clock)
            else:
                workspace = self.app.call_from_thread(self.value, "workspace")
                repository = self.app.call_from_thread(self.value, "repository") or None
                done = signin.sign_in_with_access_token(self.wizard.store, name, token, workspace=workspace,
                                                        repository=repository, site_url=self.site_url,
                                                        api_url=self.api_url, transport=transport)
        except BBWizardError as error:
            message = printable(str(error) + (f" {error.hint}" if error.hint else ""))
            self.app.call_from_thread(self.say, "sign-in-result", message, "error")
            return
        self.app.call_from_thread(self.dismiss, done.profile)
