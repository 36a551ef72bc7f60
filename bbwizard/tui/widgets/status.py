"""The status bar every screen shows: profile, user and the live token countdown."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

if TYPE_CHECKING:
    from bbwizard.tui.app import WizardApp

WARN_BEFORE = timedelta(minutes=10)


def format_duration(delta: timedelta) -> str:
    """1:59:58 or 9:59: hours only when there are any."""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


def display_path(path: object) -> str:
    """A path as a person reads it: the home folder as ~ (shorter, and the same on every machine)."""
    from pathlib import Path

    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + "/")):
        return "~" + text[len(home):]
    return text


def user_label(user: Any) -> str:
    """A person's name from whatever the core stored (a User, a dict, or a plain string)."""
    if not user:
        return ""
    if isinstance(user, str):
        return user
    label = getattr(user, "label", None)
    if isinstance(label, str):
        return label
    if isinstance(user, dict):
        get = user.get
    else:

        def get(key: str, default: Any = None) -> Any:
            return getattr(user, key, default)

    name = get("display_name") or get("nickname") or get("username") or ""
    handle = get("username") or get("nickname")
    if handle and handle != name:
        return f"{name} (@{handle})"
    return str(name)


def countdown_text(expires_at: datetime | None, now: datetime, *, has_token: bool) -> tuple[str, str]:
    """The countdown sentence and its state class: fresh, expiring, expired or none."""
    if not has_token or expires_at is None:
        return "not signed in", "none"
    left = expires_at - now
    if left.total_seconds() <= 0:
        return f"token expired {format_duration(-left)} ago", "expired"
    state = "expiring" if left <= WARN_BEFORE else "fresh"
    return f"token expires in {format_duration(left)}", state


class TokenCountdown(Static):
    """Time left on the access token, redrawn every second; yellow in the last ten minutes, red
    once expired (classes `expiring` and `expired`)."""

    def on_mount(self) -> None:
        self.tick()
        self.set_interval(1, self.tick, name="token-countdown")
        self.watch(self.app, "profile", lambda _: self.tick(), init=False)
        self.watch(self.app, "refreshing", lambda _: self.tick(), init=False)

    def tick(self) -> None:
        app: WizardApp = self.app  # type: ignore[assignment]
        profile = getattr(app, "profile", None)
        now = app.now()
        if profile is None:
            text, state = "not signed in", "none"
        else:
            text, state = countdown_text(
                profile.expires_at, now, has_token=bool(profile.access_token)
            )
        if getattr(app, "refreshing", False):
            text = "refreshing the token…"
        self.update(text)
        self.set_class(state == "expiring", "expiring")
        self.set_class(state == "expired", "expired")
        self.set_class(state == "fresh", "fresh")


class StatusBar(Horizontal):
    """Profile · user · countdown, docked with the Footer in one bottom container."""

    def compose(self) -> ComposeResult:
        yield Static(id="status-profile", markup=False)
        yield Static(id="status-user", markup=False)
        yield TokenCountdown(id="status-countdown", markup=False)

    def on_mount(self) -> None:
        self.refresh_labels()
        self.watch(self.app, "profile", lambda _: self.refresh_labels(), init=False)

    def refresh_labels(self) -> None:
        profile = getattr(self.app, "profile", None)
        name = profile.name if profile is not None else "no profile yet"
        user = user_label(getattr(profile, "user", None)) if profile is not None else ""
        self.query_one("#status-profile", Static).update(f"profile: {name}")
        self.query_one("#status-user", Static).update(f"user: {user}" if user else "")
