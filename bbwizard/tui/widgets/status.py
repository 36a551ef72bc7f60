"""The status bar every screen shows: profile, user and the live token countdown."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from bbwizard.humanize import human_duration
from bbwizard.secret import printable

if TYPE_CHECKING:
    from bbwizard.tui.wizard import Wizard

WARN_BEFORE = timedelta(minutes=10)


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
        return f"token expired {human_duration(left, clock=True)} ago", "expired"
    state = "expiring" if left <= WARN_BEFORE else "fresh"
    return f"token expires in {human_duration(left, clock=True)}", state


class StatusBar(Widget):
    """Profile · user · the live token countdown, on one line, docked with the keys in one bottom
    container. The countdown is redrawn every second; yellow in the last ten minutes, red once
    expired (the bar's classes `fresh`, `expiring` and `expired`, styled through its component
    class `status-bar--countdown`).

    One widget that draws the line, not a Horizontal of three Statics: every step's start styled,
    laid out and drew those, and each second's new countdown text laid the whole screen out again
    (a Static's update does); this one repaints its line, and only when the text changes.
    """

    COMPONENT_CLASSES = {"status-bar--countdown"}

    profile_text = ""
    user_text = ""
    countdown = ""

    def on_mount(self) -> None:
        self.refresh_labels()
        self.set_interval(1, self.tick, name="token-countdown")
        self.watch(self.app, "profile", lambda _: self.refresh_labels(), init=False)
        self.watch(self.app, "refreshing", lambda _: self.tick(), init=False)

    def refresh_labels(self) -> None:
        profile = getattr(self.app, "profile", None)
        if profile is None:
            # No profile chosen yet: the step may know what is true here (Profiles: how many are saved).
            summary = getattr(self.screen, "status_summary", lambda: None)()
            self._show(profile_text=summary or "profile: no profile yet", user_text="")
        else:
            user = printable(user_label(getattr(profile, "user", None)))
            self._show(profile_text=f"profile: {profile.name}", user_text=f"user: {user}" if user else "")
        self.tick()

    def tick(self) -> None:
        app: Wizard = self.app  # type: ignore[assignment]
        profile = getattr(app, "profile", None)
        if profile is None:
            summary = getattr(self.screen, "status_summary", None)
            text, state = ("" if summary is not None else "not signed in"), "none"
        else:
            text, state = countdown_text(profile.expires_at, app.now(), has_token=bool(profile.access_token))
        if getattr(app, "refreshing", False):
            text = "refreshing the token…"
        for name in ("fresh", "expiring", "expired"):
            self.set_class(state == name, name)
        self._show(countdown=text)

    def _show(self, **labels: str) -> None:
        if any(getattr(self, name) != value for name, value in labels.items()):
            for name, value in labels.items():
                setattr(self, name, value)
            self.refresh()

    def render_line(self, y: int) -> Strip:
        # As the three Statics drew it: each part followed by two blank cells, the countdown
        # against the right edge. When the line is too narrow, the countdown stays whole and the
        # left part ends in an ellipsis, two cells before it.
        width = self.size.width
        text_style = self.rich_style
        blank = Style(bgcolor=text_style.bgcolor)
        if y != 0:
            return Strip.blank(width, blank)
        right = Strip([
            Segment(self.countdown, self.get_component_rich_style("status-bar--countdown")),
            Segment("  ", blank),
        ])
        left = Strip([
            Segment(self.profile_text, text_style),
            Segment("  ", blank),
            *([Segment(self.user_text, text_style), Segment("  ", blank)] if self.user_text else []),
        ])
        room = max(0, width - right.cell_length)
        if left.cell_length > room:
            fits = max(0, room - 3)  # the ellipsis and the two blank cells
            ellipsis = [Segment("…", text_style), Segment("  ", blank)] if fits else []
            left = Strip([*left.crop(0, fits), *ellipsis])
        return Strip([*left.crop(0, room).adjust_cell_length(room, blank), *right]).crop(0, width)
