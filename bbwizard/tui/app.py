"""The wizard: one App, one flow coroutine that pushes each step and waits for its answer.

Everything the flow does is a call into the core (config, oauth, loopback, api, git), made from a
worker so the screen keeps drawing. The clock, the HTTP transport, the git runner and the browser
opener come in through `WizardApp.__init__`, so tests freeze time and point at the emulator.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from textual import work
from textual.app import SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from bbwizard.config import utc_now
from bbwizard.errors import BBWizardError, SignInRequired
from bbwizard.secret import printable, redact
from bbwizard.tui.crash import SecretSafeApp, write_crash_log
from bbwizard.tui.screens.base import BACK, SIGN_IN_AGAIN, WizardStep

if TYPE_CHECKING:
    import httpx

    from bbwizard.api import Repository
    from bbwizard.config import ConfigStore, Profile
    from bbwizard.oauth import Authorization

# The modals (bbwizard.tui.screens.modals) are imported where one is shown: most starts show none.

# Refresh on our own when less than this is left (the core's default margin).
AUTO_REFRESH_BEFORE = timedelta(minutes=5)
# After a failed automatic refresh, wait this long before trying again.
AUTO_REFRESH_PAUSE = timedelta(seconds=30)


@dataclass
class FlowState:
    """What the steps hand each other. The code is live until exchanged: kept out of repr, and so
    out of a crash report's locals (as ``oauth.PastedCode`` keeps it)."""

    consumer: Profile | None = None  # the Consumer step's answer: an OAuth client, no tokens yet
    authorization: Authorization | None = None
    code: str | None = field(default=None, repr=False)
    profile: Profile | None = None
    repositories: list[Repository] = field(default_factory=list)
    # The Clone step's choices (base folder, branches, destinations), kept across Back.
    clone_plan: dict[str, Any] = field(default_factory=dict)


#: Every step of the wizard, in order: its key (a screen's `STEP`) and its title.
STEPS: dict[str, str] = {
    "profiles": "Profiles",
    "kind": "How you sign in",
    "token_form": "Your token",
    "consumer": "OAuth client",
    "authorize": "Grant access in the browser",
    "code": "Paste the code",
    "token": "Token",
    "repositories": "Repositories",
    "clone": "Clone",
}


@dataclass
class Road:
    """The steps this run of the wizard goes through, as far as it knows: "Step i of n" counts them.

    A saved profile goes from Profiles straight to Repositories; a sign-in goes through the
    consumer and a token; a private consumer's own identity needs no browser and no code; the Code
    step comes only when the code is pasted (always, for a callback URL off this machine)."""

    profiles: bool = False  # the run started at the saved profiles
    sign_in: bool = True  # through the consumer and a new token, not with a saved profile
    own_identity: bool = False
    paste: bool = False
    ways: bool = False  # the run offers the three ways in (OAuth client, API token, access token)
    kind: str = "oauth"  # the way chosen

    def steps(self) -> list[str]:
        steps = ["profiles"] if self.profiles else []
        if self.sign_in and self.ways:
            steps.append("kind")
        if self.sign_in and self.kind != "oauth":
            steps.append("token_form")
        elif self.sign_in:
            steps.append("consumer")
            if not self.own_identity:
                steps.append("authorize")
                if self.paste:
                    steps.append("code")
            steps.append("token")
        return [*steps, "repositories", "clone"]

    def heading(self, step: str) -> str:
        """"Step 2 of 5 · Grant access in the browser"; a step off the road has its title alone."""
        title = STEPS.get(step, step)
        steps = self.steps()
        if step not in steps:
            return title
        return f"Step {steps.index(step) + 1} of {len(steps)} · {title}"


def pastes_the_code(callback_url: str | None) -> bool:
    """A callback URL off this machine: the browser's redirect can't be caught, the code is pasted."""
    if not callback_url:
        return False
    from bbwizard.loopback import is_loopback_url

    return not is_loopback_url(callback_url)


class WizardApp(SecretSafeApp):
    """`bbwizard`: from an OAuth client or a token to a cloned repository, with the keyboard."""

    CSS_PATH = "bbwizard.tcss"
    TITLE = "bbwizard"

    BINDINGS = [
        Binding("f1", "help", "Help", id="help", tooltip="Help for this step"),
        Binding("r", "refresh_token", "Refresh token", id="refresh", tooltip="Refresh the access token now"),
    ]

    profile: reactive[Profile | None] = reactive(None, always_update=True)
    refreshing: reactive[bool] = reactive(False)

    def __init__(
        self,
        *,
        store: ConfigStore | None = None,
        clock: Callable[[], datetime] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        oauth_transport: httpx.BaseTransport | None = None,
        git_runner: str | None = None,
        open_browser: Callable[[str], bool] | None = None,
        prefill: Profile | None = None,
        demo: bool = False,
        start: str | None = None,
        handle_signals: bool = False,
        on_hangup: Callable[[], None] | None = None,
        clone_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        self._store = store
        self.clock = clock or utc_now
        self.transport = transport  # httpx async transport for bbwizard.api
        self.oauth_transport = oauth_transport  # httpx sync transport for bbwizard.oauth
        self.git_runner = git_runner
        self.open_browser = open_browser
        # What the Consumer step starts from: only its consumer fields are read (the demo fills
        # them from the emulator; signing in again, from the saved profile).
        self.prefill = prefill
        self.start_prefill = prefill  # what a new profile starts from (`n` on Profiles)
        # The saved profile the prefilled form signs in again: saving under its name asks nothing.
        self.prefill_replaces: str | None = None
        self.demo = demo
        self.start = start
        self.handle_signals = handle_signals
        self.on_hangup = on_hangup
        self.clone_dir = clone_dir  # where clones go when the profile names no folder (the demo's own)
        self.flow = FlowState()
        self.road = Road()
        self._last_auto_refresh: datetime | None = None

    # Injected pieces

    def now(self) -> datetime:
        return self.clock()

    def step_heading(self, step: str) -> str:
        """"Step 2 of 5 · Grant access in the browser": the step on the road taken."""
        return self.road.heading(step)

    @property
    def store(self) -> ConfigStore:
        if self._store is None:
            from bbwizard.config import ConfigStore

            self._store = ConfigStore()
        return self._store

    # Start and the flow

    def on_mount(self) -> None:
        if self.handle_signals:
            # A closed terminal (SIGHUP) or a kill (SIGTERM) quits like ctrl+q, so the loopback port
            # is freed and `bbwizard demo` removes its folder. Through the event loop, not a bare
            # signal handler: one that calls into the app mid-bytecode can deadlock it.
            import signal

            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, self.exit, 128 + int(signal.SIGTERM))
            if hasattr(signal, "SIGHUP"):
                loop.add_signal_handler(signal.SIGHUP, self.hung_up)
        self.set_interval(1, self.refresh_when_due, name="auto-refresh")
        if self.start != "none":
            self.run_flow(pushed=self.push_first_step_now())

    def push_first_step_now(self) -> tuple[str, asyncio.Future[Any]] | None:
        """With no config file, the first step is the kind step (or the Consumer step, when `start`
        says so) whatever the file would say: push it at once, so it is composed and drawn with the
        app's first frame instead of after the flow's worker has read the missing file in a thread
        (and a blank screen was drawn). The flow then waits on the returned future as
        push_screen_wait would. A stat, not a read: a file that exists is read in the worker, where
        its errors are shown (so is any trouble here: the worker's read meets it again)."""
        if self.start not in (None, "kind", "consumer"):
            return None
        try:
            if self.store.exists():
                return None
        except Exception:
            return None
        step = self.start or "kind"
        screen: WizardStep[Any]
        if step == "kind":
            from bbwizard.tui.screens.kind import KindScreen

            self.road = Road(ways=True)
            screen = KindScreen()
        else:
            from bbwizard.tui.screens.consumer import ConsumerScreen

            prefill = self.consumer_prefill()
            self.road = Road(paste=pastes_the_code(prefill.callback_url))
            screen = ConsumerScreen(prefill, replaces=self.consumer_replaces())
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def answered(value: Any) -> None:
            if not answer.done():  # the flow may have been cancelled meanwhile
                answer.set_result(value)

        screen.first_step = True
        self.push_screen(screen, answered)
        return step, answer

    @work(group="flow", exclusive=True, exit_on_error=False)
    async def run_flow(self, first_step: str | None = None, pushed: tuple[str, asyncio.Future[Any]] | None = None) -> None:
        """The wizard from top to bottom. Each step is a screen; escape on it goes one step back.

        `pushed`: the first step and its answer, already pushed by `push_first_step_now`."""
        # Each step's module is imported when the step comes: the first screen is up sooner.
        flow = self.flow
        profiles = {} if pushed is not None else await self.load_profiles()
        step = pushed[0] if pushed is not None else first_step or self.start or ("profiles" if profiles else "kind")
        while True:
            try:
                if step == "profiles":
                    from bbwizard.tui.screens.profiles import ProfilesScreen

                    self.road = Road(profiles=True, sign_in=False)
                    choice = await self.push_screen_wait(ProfilesScreen())
                    if choice is BACK:
                        self.exit(0)
                        return
                    if choice is None or choice is SIGN_IN_AGAIN:
                        # A new profile (the three ways first), or this one's sign-in has ended:
                        # its own form, filled from it (prefill_from_profile).
                        if choice is None:
                            self.prefill, self.prefill_replaces = self.new_profile_prefill(), None
                        flow.consumer, flow.profile = None, None
                        self.profile = None
                        again = self.consumer_prefill()
                        if choice is None:
                            step = "kind"
                        elif again.is_token_kind:
                            self.road.sign_in, self.road.kind = True, again.kind
                            step = "token_form"
                        else:
                            step = "consumer"
                        continue
                    flow.profile = self.profile = choice  # already made usable by the Profiles step
                    step = "repositories"

                elif step == "kind":
                    from bbwizard.tui.screens.kind import KindScreen

                    self.road.sign_in, self.road.ways = True, True
                    if pushed is not None:
                        kind, pushed = await pushed[1], None
                    else:
                        screen = KindScreen()
                        screen.first_step = not await self.has_profiles()
                        kind = await self.push_screen_wait(screen)
                    if kind is BACK:
                        if await self.has_profiles():
                            step = "profiles"
                            continue
                        self.exit(0)
                        return
                    self.road.kind = kind
                    step = "consumer" if kind == "oauth" else "token_form"

                elif step == "token_form":
                    from bbwizard.tui.screens.kind import TokenFormScreen

                    start = self.consumer_prefill()
                    profile = await self.push_screen_wait(
                        TokenFormScreen(self.road.kind, site_url=start.site_url, api_url=start.api_url, name=start.name,
                                        replaces=self.consumer_replaces())
                    )
                    if profile is BACK:
                        step = "kind" if self.road.ways else "profiles"
                    else:
                        flow.profile = self.profile = profile
                        step = "repositories"

                elif step == "consumer":
                    if pushed is not None:
                        consumer, pushed = await pushed[1], None
                    else:
                        from bbwizard.tui.screens.consumer import ConsumerScreen

                        prefill = self.consumer_prefill()
                        self.road.sign_in, self.road.own_identity = True, False
                        self.road.paste = pastes_the_code(prefill.callback_url)
                        screen = ConsumerScreen(prefill, replaces=self.consumer_replaces())
                        screen.first_step = not self.road.ways and not await self.has_profiles()
                        consumer = await self.push_screen_wait(screen)
                    if consumer is BACK:
                        if self.road.ways:
                            step = "kind"
                            continue
                        if await self.has_profiles():
                            step = "profiles"
                            continue
                        self.exit(0)
                        return
                    flow.consumer = consumer
                    self.road.own_identity = consumer.grant == "client_credentials"
                    self.road.paste = pastes_the_code(consumer.callback_url)
                    step = "token" if self.road.own_identity else "authorize"

                elif step == "authorize":
                    from bbwizard.tui.screens.authorize import AuthorizeScreen, PasteRequested

                    outcome = await self.push_screen_wait(AuthorizeScreen(flow.consumer))
                    if outcome is BACK:
                        step = "consumer"
                    elif isinstance(outcome, PasteRequested):
                        flow.authorization = outcome.authorization
                        self.road.paste = True
                        step = "code"
                    else:
                        flow.authorization, flow.code = outcome.authorization, outcome.code
                        self.road.paste = pastes_the_code(flow.consumer.callback_url)
                        step = "token"

                elif step == "code":
                    from bbwizard.tui.screens.code import CodeScreen

                    # Straight into the flow state: a local holding the code would show in a crash report.
                    flow.code = await self.push_screen_wait(CodeScreen(flow.authorization))
                    if flow.code is BACK:
                        flow.code = None
                        step = "authorize"
                    else:
                        step = "token"

                elif step == "token":
                    from bbwizard.tui.screens.token import TokenScreen

                    profile = await self.push_screen_wait(
                        TokenScreen(flow.consumer, code=flow.code, authorization=flow.authorization)
                    )
                    flow.code = None
                    if profile is BACK:
                        step = "consumer"
                    else:
                        flow.profile = profile
                        self.profile = profile
                        step = "repositories"

                elif step == "repositories":
                    from bbwizard.tui.screens.repositories import RepositoriesScreen

                    chosen = await self.push_screen_wait(RepositoriesScreen(flow.profile, selected=flow.repositories))
                    if chosen is BACK:
                        flow.repositories, flow.clone_plan = [], {}
                        step = await self.step_before_repositories()
                    else:
                        flow.repositories = chosen
                        step = "clone"

                elif step == "clone":
                    from bbwizard.tui.screens.clone import CloneScreen

                    finished = await self.push_screen_wait(CloneScreen(flow.profile, flow.repositories, plan=flow.clone_plan))
                    if finished is BACK:
                        step = "repositories"
                    elif self.demo:
                        from bbwizard.tui.screens.clone import DemoFinishedScreen, planned_base

                        where = planned_base(flow.clone_plan, flow.profile, self.clone_dir)
                        if await self.push_screen_wait(DemoFinishedScreen(self.config_folder(), where, finished)) is BACK:
                            flow.repositories, flow.clone_plan = [], {}
                            step = "repositories"
                            continue
                        self.exit(0)
                        return
                    else:
                        self.exit(0)
                        return
                else:
                    raise ValueError(f"unknown step {step!r}")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug: say so, log it without secrets, go back a step
                await self.show_unexpected(error)
                step = "profiles" if await self.has_profiles() else "kind"

    async def step_before_repositories(self) -> str:
        """Where Back from Repositories goes: the saved profiles when the run came from there (or
        an OAuth sign-in saved one), else the start of the road taken."""
        if self.road.profiles:
            return "profiles"
        if self.road.sign_in and self.road.kind != "oauth":
            return "kind" if self.road.ways else "token_form"
        if await self.has_profiles():
            return "profiles"
        return "kind" if self.road.ways else "consumer"

    def hung_up(self) -> None:
        """The terminal is gone. Textual can't restore it, and its shutdown would wait forever on a
        writer thread that died with the terminal; so clean up what must not outlive us, and leave."""
        try:
            if self.on_hangup is not None:
                self.on_hangup()
        finally:
            os._exit(129)

    async def load_profiles(self) -> dict[str, Profile]:
        from bbwizard.tui.screens.modals import ErrorModal

        try:
            return await asyncio.to_thread(self.store.load)
        except BBWizardError as error:
            await self.push_screen_wait(ErrorModal("The config file can't be used", str(error), error.hint))
        except Exception as error:
            await self.show_unexpected(error)
        return {}

    async def has_profiles(self) -> bool:
        try:
            return bool(await asyncio.to_thread(self.store.load))
        except Exception:  # already reported when the flow started
            return False

    async def make_usable(self, profile: Profile) -> Profile | Literal[False] | None:
        """A chosen profile with a usable token, refreshed through the core.

        None: it must sign in again (said in a modal; the consumer step comes prefilled).
        False: the refresh failed for now (said in a modal); the profile stays as it was.
        """
        from bbwizard import oauth
        from bbwizard.tui.screens.modals import ErrorModal

        if profile.token_state(self.now()) == "fresh":
            return profile
        failure: BBWizardError | None = None
        try:
            self.refreshing = True
            fresh = await asyncio.to_thread(
                oauth.ensure_fresh, self.store, profile.name, transport=self.oauth_transport, clock=self.clock
            )
        except BBWizardError as error:
            failure = error
        finally:
            self.refreshing = False
        if isinstance(failure, SignInRequired):
            self.prefill_from_profile(profile)
            await self.push_screen_wait(
                ErrorModal("Sign in again", str(failure), failure.hint or "The consumer is filled in; check it and sign in.")
            )
            return None
        if failure is not None:
            await self.push_screen_wait(ErrorModal("The token could not be refreshed", str(failure), failure.hint))
            return False
        self.profile = fresh
        return fresh

    def prefill_from_profile(self, profile: Profile) -> None:
        """Sign `profile` in again: its form comes filled from it, and saving asks nothing."""
        self.flow.consumer = None
        self.prefill, self.prefill_replaces = profile, profile.name

    def new_profile_prefill(self) -> Profile:
        """An empty form on the app's hosts. The demo keeps its consumer (a person could not know
        its key), never a saved profile's name."""
        from bbwizard.config import Profile

        start = self.start_prefill
        if start is None:
            return Profile(name="", client_id="")
        if self.demo:
            return start.replace(name="")
        return Profile(name="", client_id="", site_url=start.site_url, api_url=start.api_url, ca_bundle=start.ca_bundle)

    def consumer_prefill(self) -> Profile:
        """What the Consumer step (or a token's form) starts with: what was sent on before (Back
        from a later step), else the prefill, else an empty form for bitbucket.org."""
        if self.flow.consumer is not None:
            return self.flow.consumer
        if self.prefill is not None:
            return self.prefill
        from bbwizard.config import Profile

        return Profile(name="", client_id="")

    def consumer_replaces(self) -> str | None:
        """The saved profile's name the form may save over without asking: the consumer already
        sent on (its name was confirmed, or new, then), or the profile being signed in again."""
        if self.flow.consumer is not None:
            return self.flow.consumer.name
        return self.prefill_replaces

    # The token: countdown, automatic and manual refresh

    def refresh_when_due(self) -> None:
        profile = self.profile
        if profile is None or self.refreshing or not getattr(profile, "refresh_token", None):
            return
        if profile.expires_at is None:
            return
        now = self.now()
        if profile.expires_at - now > AUTO_REFRESH_BEFORE:
            return
        if self._last_auto_refresh and now - self._last_auto_refresh < AUTO_REFRESH_PAUSE:
            return
        self._last_auto_refresh = now
        self.refresh_token(force=False)

    def watch_profile(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "refresh_token":
            # The key shows only with a profile whose token can be refreshed. While a text box has
            # the focus, Textual leaves it out by itself: the box takes `r` as a character.
            return self.profile is not None and self.profile.can_refresh
        return True

    def action_refresh_token(self) -> None:
        if self.profile is None:
            self.notify("There is no profile yet: sign in first.", severity="warning")
            return
        self.refresh_token(force=True)

    @work(group="refresh", exclusive=True, exit_on_error=False, thread=True)
    def refresh_token(self, force: bool) -> None:
        from bbwizard import oauth

        profile = self.profile
        if profile is None:
            return
        self.call_from_thread(setattr, self, "refreshing", True)
        try:
            fresh = oauth.ensure_fresh(
                self.store, profile.name, force=force, transport=self.oauth_transport, clock=self.clock
            )
        except BBWizardError as error:
            message = printable(str(error) + (f" {error.hint}" if error.hint else ""))
            self.call_from_thread(self.notify, message, title="Token not refreshed", severity="error", markup=False)
            return
        finally:
            self.call_from_thread(setattr, self, "refreshing", False)
        self.call_from_thread(self._refreshed, fresh, force)

    def _refreshed(self, fresh: Profile, announce: bool) -> None:
        self.profile = fresh
        if self.flow.profile is not None and self.flow.profile.name == fresh.name:
            self.flow.profile = fresh
        if announce:
            self.notify("The token is fresh again.", title="Token refreshed")

    # Help, palette commands

    def action_help(self) -> None:
        from bbwizard.tui.screens.modals import HelpModal

        screen = self.screen
        if isinstance(screen, HelpModal):
            return
        text = getattr(screen, "HELP", "") or "The keys below work here."
        title = getattr(screen, "heading", "") or "bbwizard"
        self.push_screen(HelpModal(title, f"{text}\n{self.keys_help(screen)}"))

    def keys_help(self, screen: Screen[Any]) -> str:
        """The keys that work on `screen` now, as a Markdown table made from the bindings (the
        focused widget's, the step's, the app's): what the Footer shows."""
        rows: dict[str, str] = {}
        for binding_key, active in screen.active_bindings.items():
            binding = active.binding
            if not active.enabled or not binding.description or binding_key in rows:
                continue
            # Ours (each has an id), and Textual's quit and palette; not every text box's editing keys.
            if binding.id is None and binding.action not in ("quit", "app.quit", "command_palette"):
                continue
            what = binding.tooltip or binding.description
            rows[binding_key] = f"| {self.get_key_display(binding)} | {what} |"
        return "## Keys\n\n| key | what it does |\n|---|---|\n" + "\n".join(rows.values()) + "\n"

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Refresh token", "Get a fresh access token now, through the refresh token", self.action_refresh_token)
        yield SystemCommand("Switch profile", "Go back to the list of saved profiles", self.action_switch_profile)
        yield SystemCommand("Copy token", "Copy the access token to the clipboard (asks first)", self.action_copy_token)
        yield SystemCommand("Open config folder", "Show the folder that holds config.toml", self.action_open_config_folder)
        yield from super().get_system_commands(screen)

    def action_switch_profile(self) -> None:
        async def restart() -> None:
            while len(self.screen_stack) > 1:
                await self.pop_screen()
            self.run_flow("profiles")

        self.workers.cancel_group(self, "flow")
        self.call_later(restart)

    def action_copy_token(self) -> None:
        profile = self.profile
        if profile is None or not getattr(profile, "access_token", None):
            self.notify("There is no token yet: sign in first.", severity="warning")
            return
        from bbwizard.tui.screens.modals import ConfirmModal

        def answered(yes: bool | None) -> None:
            if yes:
                self.copy_to_clipboard(profile.access_token.reveal())
                self.notify(
                    "The access token is on the clipboard (inside tmux, also in its paste buffer). "
                    "Clear it when you are done.",
                    title="Copied",
                )

        self.push_screen(
            ConfirmModal(
                "Copy the access token to the clipboard?",
                "Anyone who can read your clipboard can act as you on Bitbucket until the token "
                "expires. Paste it only where you trust it, and never into a chat or a ticket.",
                yes="Copy",
            ),
            answered,
        )

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """The palette's Screenshot: Textual saves into the Downloads folder, and fails when there
        is none; then the current folder, or the config folder, takes it (the notice names it)."""
        if path is None:
            path = str(self.screenshot_folder())
        return super().deliver_screenshot(filename, path, time_format)

    def screenshot_folder(self) -> Path:
        from platformdirs import user_downloads_path

        for folder in (user_downloads_path(), Path.cwd(), self.config_folder()):
            if folder.is_dir() and os.access(folder, os.W_OK):
                return folder
        return Path.cwd()

    def config_folder(self) -> Path:
        return Path(self.store.path).parent

    def action_open_config_folder(self) -> None:
        folder = self.config_folder()
        self.notify(f"The config folder is {folder}", title="Config folder", markup=False)
        if not self.demo:
            self._open_folder(folder)

    @work(group="open-folder", thread=True, exit_on_error=False)
    def _open_folder(self, folder: Path) -> None:
        from bbwizard.loopback import open_browser

        (self.open_browser or open_browser)(folder.as_uri())  # a file manager; the notice names it anyway

    # Errors nobody expected

    async def show_unexpected(self, error: BaseException) -> None:
        from bbwizard.tui.screens.modals import ErrorModal

        where = write_crash_log(error)
        await self.push_screen_wait(
            ErrorModal(
                "Something went wrong",
                f"bbwizard hit an unexpected error ({type(error).__name__}): {redact(str(error))}",
                f"Details, without secrets, are in {where}. Press Enter to go back and try again.",
            )
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state != WorkerState.ERROR or worker.error is None:
            return
        error = worker.error
        if isinstance(error, BBWizardError):
            from bbwizard.tui.screens.modals import ErrorModal

            self.push_screen(ErrorModal("That did not work", str(error), error.hint))
        else:
            self.run_worker(self.show_unexpected(error), group="unexpected", exit_on_error=False)

    def _handle_exception(self, error: Exception) -> None:
        # A bug in a step's handler: Textual would quit. Say it in a modal instead and go one step
        # back (the broken screen goes away). Only when the app itself still runs its messages.
        node = error.__traceback__.tb_frame.f_locals.get("self") if error.__traceback__ else None
        screen = getattr(node, "screen", None) if node is not None and node is not self else None
        if (
            isinstance(error, Exception)
            and isinstance(screen, WizardStep)
            and self.is_running
            and not self._exit_renderables
        ):
            self.run_worker(self.recover(error, screen), group="unexpected", exit_on_error=False)
            return
        super()._handle_exception(error)

    async def recover(self, error: Exception, screen: WizardStep[Any]) -> None:
        await self.show_unexpected(error)
        if screen in self.screen_stack:
            while self.screen is not screen:
                self.pop_screen()
            screen.dismiss(BACK)


__all__ = ["WizardApp", "FlowState", "WizardStep", "BACK"]
