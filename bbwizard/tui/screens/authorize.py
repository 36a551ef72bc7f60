"""Step 3: the authorize address, the browser, and the loopback catcher waiting for the redirect."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from bbwizard.errors import AuthorizationDenied, BBWizardError
from bbwizard.loopback import ssh_forward_hint
from bbwizard.tui.browser import has_display
from bbwizard.tui.screens.base import WizardStep

if TYPE_CHECKING:
    from bbwizard.config import Profile
    from bbwizard.loopback import LoopbackCatcher
    from bbwizard.oauth import Authorization


@dataclass
class PasteRequested:
    """The person will paste the code (or the address the browser landed on)."""

    authorization: Authorization


@dataclass
class CodeCaught:
    """The loopback catcher got the redirect with a code and the right state."""

    authorization: Authorization
    code: str = field(repr=False)  # a live code: kept out of repr and tracebacks' locals


NO_DISPLAY = (
    "There is no display here (an SSH session?), so no browser can open on this machine. Copy the "
    "address (c), open it on a machine with a browser, then press p and paste the address the "
    "browser lands on."
)


def is_loopback(url: str) -> bool:
    from bbwizard.loopback import is_loopback_url

    return is_loopback_url(url)


class AuthorizeScreen(WizardStep[Any]):
    STEP = "authorize"
    HELP = """\
# Grant access

Bitbucket asks you, in a browser, whether bbwizard may act for you.

- **o** opens the address in your browser (`$BROWSER` is honoured).
- **c** copies it, to open it on another machine.
- When the callback URL is on this machine, bbwizard waits for the browser's redirect and goes on
  by itself. Otherwise, or when that does not work, press **p** and paste the address the browser
  landed on.
- On a machine without a display (an SSH session), forward the port with the `ssh -L` line shown,
  or use the paste path.
"""

    BINDINGS = [
        Binding("o", "open", "Open browser", id="authorize-open", tooltip="Open the address in your browser"),
        Binding("c", "copy", "Copy address", id="authorize-copy", tooltip="Copy the address to the clipboard"),
        Binding("p", "paste", "Paste code", id="authorize-paste", tooltip="Paste the code or the address the browser landed on"),
    ]

    def __init__(self, consumer: Profile) -> None:
        super().__init__()
        self.consumer = consumer
        self.authorization: Authorization | None = None
        self.catcher: LoopbackCatcher | None = None

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="authorize"):
            yield Static("Open this address in a browser and grant access:", classes="note", markup=False)
            yield Static("", id="authorize-url", markup=False)
            with Horizontal(id="authorize-buttons"):
                yield Button("Open in browser", id="open", variant="primary", action="screen.open")
                yield Button("Copy address", id="copy", action="screen.copy")
                yield Button("Paste the code", id="paste", action="screen.paste")
            with Horizontal(id="waiting-line"):
                yield Static("◌", id="waiting-mark", markup=False)
                yield Static("", id="waiting", markup=False)
            yield Static("", id="browser-result", markup=False)
            yield Static("", id="display-note", classes="note", markup=False)

    def on_mount(self) -> None:
        self.query_one("#open", Button).focus()
        self.new_attempt()

    def on_unmount(self) -> None:
        self.stop_catcher()

    def new_attempt(self) -> None:
        """A fresh state for every attempt: after a Deny or a failure, start over cleanly."""
        from bbwizard import oauth

        self.stop_catcher()
        consumer = self.consumer
        # No redirect_uri: Bitbucket then uses the consumer's own callback URL, and nothing has to match.
        self.authorization = oauth.start_authorization(consumer.site_url, consumer.client_id)
        self.query_one("#authorize-url", Static).update(self.authorization.url)
        self.query_one("#waiting-line").display = False
        if not has_display():
            # The ssh -L line comes once the catcher listens: its port is the core's reading of the
            # callback URL, and a URL it can't listen on (port 0, 80, …) has no line to forward.
            self.say("display-note", NO_DISPLAY, "warning")
        if is_loopback(consumer.callback_url):
            self.catch_redirect(self.authorization)
        else:
            self.say(
                "browser-result",
                "The callback URL is not on this machine, so after you grant access, copy the address "
                "the browser lands on and press p to paste it.",
            )

    def stop_catcher(self) -> None:
        catcher, self.catcher = self.catcher, None
        if catcher is not None:
            try:
                catcher.close()
            except Exception:
                pass

    @work(group="loopback", exclusive=True, exit_on_error=False)
    async def catch_redirect(self, authorization: Authorization) -> None:
        from bbwizard.loopback import LoopbackCatcher

        catcher = LoopbackCatcher(self.consumer.callback_url, authorization.state)
        try:
            await asyncio.to_thread(catcher.start)
        except BBWizardError as error:
            self.say("browser-result", f"{error} Press p to paste the code instead.", "error")
            return
        self.catcher = catcher
        if not has_display():
            self.say(
                "display-note",
                f"{NO_DISPLAY} Or forward the port first and keep the automatic path:\n{ssh_forward_hint(catcher.port)}",
                "warning",
            )
        self.query_one("#waiting-line").display = True
        self.say("waiting", f"waiting for the browser… (port {catcher.port})")
        try:
            result = await asyncio.to_thread(catcher.wait)
        except AuthorizationDenied as error:
            if self.catcher is catcher:
                self.show_failure(f"{error} Press o to ask again, or escape to change the consumer.")
            return
        except BBWizardError as error:
            if self.catcher is catcher:
                self.show_failure(f"{error} Press p to paste the code instead.")
            return
        if self.catcher is not catcher or not self.is_current:
            return
        self.catcher = None
        catcher.close()
        self.dismiss(CodeCaught(authorization, result.code))

    def show_failure(self, sentence: str) -> None:
        self.query_one("#waiting-line").display = False
        self.say("browser-result", sentence, "error")
        self.stop_catcher()
        self.failed = True

    def action_open(self) -> None:
        if getattr(self, "failed", False):
            self.failed = False
            self.say("browser-result", "")
            self.new_attempt()
        self.open_browser(self.authorization.url)

    @work(group="browser", exclusive=True, exit_on_error=False)
    async def open_browser(self, url: str) -> None:
        from bbwizard.loopback import open_browser

        opener = self.wizard.open_browser or open_browser
        self.say("browser-result", "Opening the browser…", "busy")
        opened = await asyncio.to_thread(opener, url)
        if not opened:
            reason = "there is no display" if not has_display() else "the browser did not start"
            self.say(
                "browser-result",
                f"No browser can open here: {reason}. Copy the address (c), open it where you can, then "
                "press p and paste the address the browser lands on.",
                "warning",
            )
            return
        if getattr(self, "failed", False) or not self.is_current:
            return  # the catcher already reported (a Deny, a timeout); keep its sentence
        if self.catcher is not None:
            self.say("browser-result", "Grant access in the browser; this screen goes on by itself.", "ok")
        else:
            self.say("browser-result", "After you grant access, press p and paste the address the browser lands on.")

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.authorization.url)
        self.notify("The address is on the clipboard.", title="Copied")

    def action_paste(self) -> None:
        self.dismiss(PasteRequested(self.authorization))
