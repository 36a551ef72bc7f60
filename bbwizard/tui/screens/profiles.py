"""Step 1: the saved profiles; continue with one, make a new one, or delete one."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from bbwizard.errors import BBWizardError
from bbwizard.humanize import human_duration
from bbwizard.secret import printable
from bbwizard.tui.screens.base import SIGN_IN_AGAIN, WizardStep
from bbwizard.tui.screens.modals import ConfirmModal
from bbwizard.tui.widgets.status import WARN_BEFORE, StatusBar, user_label

if TYPE_CHECKING:
    from bbwizard.config import Profile


def missing_scopes(profile: Profile) -> list[str]:
    """The scopes bbwizard needs that the profile's token lacks. A token whose scopes Bitbucket
    did not report (none stored) is taken as it is: the repository list would say."""
    scopes = getattr(profile, "scopes", None)
    if not scopes:
        return []
    from bbwizard.oauth import missing_scopes as missing

    return missing(scopes)


def token_state_text(profile: Profile, now: datetime) -> tuple[str, str]:
    """"fresh", "expires in 12 min", "expired, refreshable", "must sign in", "scope missing:
    repository", with its state: `ok`, `warning` or `error` (the table's colours for them are in
    the stylesheet)."""
    state = profile.token_state(now, WARN_BEFORE)
    if state == "signed_out" or not profile.access_token:
        return "must sign in", "error"
    missing = missing_scopes(profile)
    if missing:
        # A refresh keeps the scopes: only ticking the permission and signing in again helps.
        return f"scope missing: {', '.join(missing)}", "error"
    if state == "expired":
        if profile.refresh_token or profile.grant == "client_credentials":
            return "expired, refreshable", "warning"
        return "expired, must sign in", "error"
    left = profile.expires_at - now
    if state == "expiring":
        return f"expires in {human_duration(left)}", "warning"
    return f"fresh ({human_duration(left)} left)", "ok"


def site_label(site_url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(site_url).netloc or site_url


class ProfileTable(DataTable[Text]):
    """The saved profiles; a token's state is drawn in its state's colour, from the stylesheet."""

    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {"profile-table--ok", "profile-table--warning", "profile-table--error"}

    def state_text(self, text: str, state: str) -> Text:
        return Text(text, style=self.get_component_rich_style(f"profile-table--{state}", partial=True))


class ProfilesScreen(WizardStep[Any]):
    STEP = "profiles"
    HELP = """\
# Profiles

Each profile is an OAuth consumer and its tokens, saved in `config.toml` (mode 0600).
Pick one to go straight to your repositories; an expired token is refreshed on the way,
and when it can't be, you sign in again with the consumer filled in. Deleting a profile asks
first; so does escape, which quits here.
"""
    QUIT_DETAIL = "The profiles stay saved; `bbwizard` shows them again next time."

    BINDINGS = [
        Binding("enter", "choose", "Continue", id="profiles-continue", tooltip="Continue with this profile"),
        Binding("n", "new", "New profile", id="profiles-new", tooltip="Set up a new consumer"),
        Binding("d", "delete", "Delete", id="profiles-delete", tooltip="Delete this profile"),
    ]

    first_step = True  # the flow starts here whenever profiles are saved

    def __init__(self) -> None:
        super().__init__()
        self.profiles: dict[str, Profile] = {}
        self.default: str | None = None
        self.loaded = False
        self.states: dict[str, tuple[str, str]] = {}  # each row's token cell as drawn

    def compose_body(self) -> ComposeResult:
        yield Static("Continue with a saved profile, or press n for a new one.", classes="note", markup=False)
        table = ProfileTable(id="profiles", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="profiles-result", markup=False)

    def on_mount(self) -> None:
        self.query_one("#profiles", DataTable).focus()
        # The token states age with the clock, as the status bar's countdown does.
        self.set_interval(1, self.tick, name="profile-states")
        self.load()

    def status_summary(self) -> str | None:
        """What the status bar says here while no profile is chosen."""
        if not self.loaded:
            return None
        count = len(self.profiles)
        if not count:
            return "no profiles saved"
        saved = f"{count} profile{'s' if count != 1 else ''} saved"
        return f"{saved}, default: {self.default}" if self.default in self.profiles else saved

    def tick(self) -> None:
        """Redraw the token cells whose state changed since they were drawn."""
        table = self.query_one("#profiles", ProfileTable)
        now = self.wizard.now()
        for name, profile in self.profiles.items():
            state = token_state_text(profile, now)
            if self.states.get(name) != state and name in table.rows:
                self.states[name] = state
                table.update_cell(name, "token", table.state_text(*state), update_width=True)

    @work(group="profiles", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        store = self.wizard.store
        try:
            profiles = await asyncio.to_thread(store.load)
            default = getattr(store, "default_name", None)
        except BBWizardError as error:
            self.say("profiles-result", str(error) + (f"\n{error.hint}" if error.hint else ""), "error")
            return
        self.profiles = profiles
        self.fill(default)

    def fill(self, default: str | None) -> None:
        self.default = default
        self.loaded = True
        self.states.clear()
        table = self.query_one("#profiles", ProfileTable)
        # The token's state right after the name: on a narrow terminal it is what must stay in view.
        columns = [("Profile", "name"), ("Token", "token"), ("User", "user"), ("Workspaces", "workspaces")]
        # The site only tells profiles apart when they are on different ones.
        if len({site_label(profile.site_url) for profile in self.profiles.values()}) > 1:
            columns.append(("Site", "site"))
        now = self.wizard.now()
        rows = []
        for name, profile in sorted(self.profiles.items(), key=lambda item: (item[0] != default, item[0])):
            state, tone = self.states[name] = token_state_text(profile, now)
            workspaces = getattr(profile, "workspaces", None)
            cells = [
                Text(f"{name} (default)" if name == default else name),
                table.state_text(state, tone),
                Text(printable(user_label(profile.user)) or "—"),
                Text(str(len(workspaces)) if workspaces else "—"),
            ]
            if len(columns) > 4:
                cells.append(Text(site_label(profile.site_url)))
            rows.append((name, cells))
        # Columns get their widths here, with the rows, rather than from DataTable's idle-time
        # measuring: that left the header painted at its pre-measure widths, out of line with the
        # rows, until something else repainted the table.
        table.clear(columns=True)
        for index, (label, key) in enumerate(columns):
            width = max([len(label)] + [cells[index].cell_len for _, cells in rows])
            table.add_column(label, key=key, width=width)
        for name, cells in rows:
            table.add_row(*cells, key=name)
        if not self.profiles:
            self.say("profiles-result", "No profiles left. Press n to set one up.")
        self.query_one(StatusBar).refresh_labels()

    def current_name(self) -> str | None:
        table = self.query_one("#profiles", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def action_choose(self) -> None:
        name = self.current_name()
        if name is not None:
            self.choose(self.profiles[name])

    @work(group="choose", exclusive=True, exit_on_error=False)
    async def choose(self, profile: Profile) -> None:
        # What a refresh can't mend is said first, with the way out: signing in again.
        reason = self.sign_in_reason(profile)
        if reason is not None:
            title, detail = reason
            again = await self.app.push_screen_wait(
                ConfirmModal(title, detail + (" The form is filled in for you." if profile.is_token_kind else " The consumer is filled in for you."), yes="Sign in again")
            )
            if again:
                self.wizard.prefill_from_profile(profile)
                self.dismiss(SIGN_IN_AGAIN)
            return
        # Refreshed here, with this list still on screen behind any modal it needs.
        if profile.token_state(self.wizard.now()) != "fresh":
            self.say("profiles-result", f"Refreshing the token of “{profile.name}”…", "busy")
        usable = await self.wizard.make_usable(profile)
        if usable is None:
            self.dismiss(SIGN_IN_AGAIN)
        elif usable is False:
            self.say("profiles-result", "")
        else:
            self.dismiss(usable)

    def sign_in_reason(self, profile: Profile) -> tuple[str, str] | None:
        """A question and its reason when only a new sign-in makes the profile usable."""
        name = profile.name
        state = profile.token_state(self.wizard.now())
        if state == "signed_out":
            return (
                f"Sign in to “{name}” again?",
                f"“{name}” is signed out: it holds no token, and nothing to get one with but the browser.",
            )
        if state == "expired" and not profile.can_refresh:
            return (
                f"Sign in to “{name}” again?",
                f"The token of “{name}” has expired, and there is no refresh token to get a new one with.",
            )
        missing = missing_scopes(profile)
        if missing:
            from bbwizard.oauth import PERMISSION_FOR_SCOPE

            ticks = " and ".join(f"“{PERMISSION_FOR_SCOPE[scope]}”" for scope in missing)
            plural = "scopes" if len(missing) > 1 else "scope"
            return (
                f"“{name}” can't list or clone repositories",
                f"Its token lacks the {', '.join(missing)} {plural}. In Bitbucket: Workspace settings → "
                f"OAuth consumers → Edit, tick {ticks}, save, then sign in again.",
            )
        return None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_choose()

    def action_new(self) -> None:
        self.dismiss(None)

    def action_delete(self) -> None:
        name = self.current_name()
        if name is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete(name)

        self.app.push_screen(
            ConfirmModal(
                f"Delete the profile “{name}”?",
                "Its tokens are forgotten on this machine. The consumer in Bitbucket stays as it is.",
                yes="Delete",
            ),
            answered,
        )

    @work(group="profiles", exclusive=True, exit_on_error=False)
    async def delete(self, name: str) -> None:
        store = self.wizard.store
        try:
            await asyncio.to_thread(store.delete, name)
        except BBWizardError as error:
            self.say("profiles-result", str(error), "error")
            return
        self.say("profiles-result", f"Deleted the profile “{name}”.", "ok")
        if self.wizard.profile is not None and self.wizard.profile.name == name:
            self.wizard.profile = None
        self.profiles.pop(name, None)
        self.fill(getattr(store, "default_name", None))
