"""Fixtures for the wizard's tests: an app wired to the emulator, a clean config and git, a frozen
clock, and helpers that wait for a screen or a sentence instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

FROZEN_NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc)
SIZE = (100, 30)


def approver(deny: bool = False) -> str:
    argv = [sys.executable, "-m", "bbwizard.emulator.approve"]
    if deny:
        argv.append("--deny")
    return shlex.join(argv)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def callback_url() -> str:
    """The demo consumer's callback for this test: a free loopback port, not the shared 8976
    (other test folders on this machine catch redirects there at the same time)."""
    return f"http://localhost:{free_port()}/"


@pytest.fixture
def emulator(emulator_factory, callback_url):
    """The emulator with the demo seed, its demo consumer's callback on this test's own port."""
    from bbwizard.emulator import demo_seed

    return emulator_factory(demo_seed(callback_url=callback_url))


@pytest.fixture
def wizard_env(tmp_path, monkeypatch, git_env) -> Path:
    """A config file in a temp folder, git without the user's settings, the approver as browser,
    and a clone folder as the working directory."""
    for key, value in git_env.items():
        monkeypatch.setenv(key, value)
    config = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("BBWIZARD_CONFIG", str(config))
    monkeypatch.setenv("BROWSER", approver())
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return config


@pytest.fixture
def make_app(wizard_env, callback_url) -> Callable[..., Any]:
    """make_app(emulator, key=..., secret=..., callback=..., **app_kwargs) -> WizardApp."""
    from bbwizard.config import ConfigStore, Profile
    from bbwizard.secret import Secret
    from bbwizard.tui.app import WizardApp

    def make(emulator: Any = None, *, key: str | None = None, secret: str | None = None,
             callback: str | None = None, name: str = "demo", prefill: bool = True, **kwargs: Any) -> WizardApp:
        from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET

        if prefill and emulator is not None:
            kwargs["prefill"] = Profile(
                name=name,
                client_id=key or DEMO_CONSUMER_KEY,
                client_secret=Secret(secret or DEMO_CONSUMER_SECRET),
                callback_url=callback or callback_url,
                site_url=emulator.site_url,
                api_url=emulator.api_url,
            )
        kwargs.setdefault("store", ConfigStore(wizard_env))
        return WizardApp(**kwargs)

    return make


class Waiter:
    """Wait for the app to reach a state, by polling between pilot pauses (no fixed sleeps)."""

    def __init__(self, pilot: Any, timeout: float = 20.0) -> None:
        self.pilot = pilot
        self.timeout = timeout

    async def until(self, condition: Callable[[], Any], what: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            await self.pilot.pause()
            try:
                value = condition()
            except Exception:
                value = None
            if value:
                return value
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; screen is {self.pilot.app.screen!r}: "
                                     f"{screen_text(self.pilot.app)[:1500]}")
            await asyncio.sleep(0.05)

    async def screen(self, screen_type: type) -> Any:
        return await self.until(lambda: isinstance(self.pilot.app.screen, screen_type) and self.pilot.app.screen,
                                f"screen {screen_type.__name__}")

    async def text(self, widget_id: str, needle: str) -> str:
        def found() -> str | None:
            text = widget_text(self.pilot.app, widget_id)
            return text if needle in text else None

        return await self.until(found, f"“{needle}” in #{widget_id}")

    async def to_consumer(self) -> Any:
        """From the kind step (the first step of a new profile): Enter takes the first way, the
        OAuth client; wait for the Consumer step, which it returns."""
        from bbwizard.tui.screens.consumer import ConsumerScreen
        from bbwizard.tui.screens.kind import KindScreen

        await self.screen(KindScreen)
        await self.pilot.press("enter")
        return await self.screen(ConsumerScreen)

    async def to_authorize(self) -> Any:
        """From the kind step or a prefilled Consumer step: check the consumer (Enter), go on
        (Enter), and wait for the Authorize step, which it returns."""
        from bbwizard.tui.screens.authorize import AuthorizeScreen
        from bbwizard.tui.screens.consumer import ConsumerScreen
        from bbwizard.tui.screens.kind import KindScreen

        first = await self.until(lambda: isinstance(self.pilot.app.screen, (KindScreen, ConsumerScreen)),
                                 "the kind step or the Consumer step")
        if first and isinstance(self.pilot.app.screen, KindScreen):
            await self.to_consumer()
        await self.pilot.press("enter")  # the Check button has the focus when the consumer is prefilled
        # Public ("…the browser sign-in comes next.") or, as the 2026 emulator answers, a refusal
        # that proves nothing ("… The browser sign-in comes next; …"): either way, on to the browser.
        await self.text("check-result", "he browser sign-in comes next")
        await self.pilot.press("enter")  # Continue in the browser
        return await self.screen(AuthorizeScreen)


def widget_text(app: Any, widget_id: str) -> str:
    from textual.widgets import Static

    widget = app.screen.query_one(f"#{widget_id}")
    if isinstance(widget, Static):
        return _visual_text(widget)
    return str(widget.render())


def _visual_text(widget: Any) -> str:
    content = widget.visual
    return str(getattr(content, "plain", content))


def screen_text(app: Any) -> str:
    """Every Static's text on the current screen, joined: what a person can read."""
    from textual.widgets import Static

    parts = []
    for widget in app.screen.query(Static):
        try:
            parts.append(_visual_text(widget))
        except Exception:
            pass
    return "\n".join(parts)


@pytest.fixture
def waiter_for() -> Callable[[Any], Waiter]:
    return Waiter


@pytest.fixture
def texts() -> Any:
    class Texts:
        widget = staticmethod(widget_text)
        screen = staticmethod(screen_text)

    return Texts


@pytest.fixture
def consumer_form(emulator, callback_url) -> Callable[..., Any]:
    """consumer_form(key=..., secret=..., callback=..., own_identity=False) -> the Consumer step's
    answer for the emulator: a Profile without tokens (`own_identity`: the client_credentials grant)."""
    from bbwizard.config import Profile
    from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET
    from bbwizard.secret import Secret

    def make(key: str = DEMO_CONSUMER_KEY, secret: str = DEMO_CONSUMER_SECRET, callback: str = "",
             name: str = "demo", own_identity: bool = False) -> Profile:
        callback = callback or callback_url
        return Profile(name=name, client_id=key, client_secret=Secret(secret), callback_url=callback,
                       site_url=emulator.site_url, api_url=emulator.api_url,
                       grant="client_credentials" if own_identity else "authorization_code")

    return make


ALICE = {"display_name": "Alice Liddell", "username": "alice"}


@pytest.fixture
def signed_in(emulator, wizard_env, callback_url, save_signed_in) -> Callable[..., Any]:
    """signed_in(name="demo", key=..., secret=..., expires_in=timedelta, **profile_fields) -> a Profile
    saved in the test config, with a real token minted by the emulator (``save_signed_in``), Alice's."""
    from datetime import timedelta

    from bbwizard.config import ConfigStore, UserInfo
    from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET

    def make(name: str = "demo", key: str = DEMO_CONSUMER_KEY, secret: str = DEMO_CONSUMER_SECRET,
             expires_in: timedelta | None = None, **fields: Any) -> Any:
        if expires_in is not None:
            fields["expires_at"] = datetime.now(timezone.utc) + expires_in
        fields.setdefault("user", UserInfo(**ALICE))
        fields.setdefault("callback_url", callback_url)
        return save_signed_in(emulator, ConfigStore(wizard_env), name=name, key=key, secret=secret, **fields)

    return make


SNAPSHOT_NOW = datetime(2026, 9, 1, 12, 0, 0, tzinfo=timezone.utc)


class _FixedSecrets:
    """Stands in for the `secrets` module inside bbwizard.oauth, so the authorize URL is the same
    in every snapshot (a fixed state and PKCE verifier)."""

    @staticmethod
    def token_urlsafe(nbytes: int = 32) -> str:
        return ("snapshot-state-" if nbytes <= 32 else "snapshot-verifier-").ljust(43 if nbytes <= 32 else 86, "x")


@pytest.fixture
def snap_env(tmp_path, monkeypatch, git_env) -> Path:
    """A frozen world for snapshots: a fixed OAuth state, HOME in a temp folder with the config under
    it (so paths read ~/...), the approver as browser. The clock is the app's (``snap_app``), which
    the wizard hands to the core."""
    import bbwizard.oauth

    for key, value in git_env.items():
        monkeypatch.setenv(key, value)
    home = Path(git_env["HOME"])
    config = home / ".config" / "bbwizard" / "config.toml"
    monkeypatch.setenv("BBWIZARD_CONFIG", str(config))
    monkeypatch.setenv("BROWSER", approver())
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    monkeypatch.setattr(bbwizard.oauth, "secrets", _FixedSecrets)
    (home / "src").mkdir()
    monkeypatch.chdir(home / "src")
    return config


@pytest.fixture
def snap_app(snap_env) -> Callable[..., Any]:
    """snap_app(**kwargs) -> a WizardApp with the frozen clock and no flow of its own."""
    from bbwizard.config import ConfigStore
    from bbwizard.tui.app import WizardApp

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("store", ConfigStore(snap_env))
        kwargs.setdefault("clock", lambda: SNAPSHOT_NOW)
        kwargs.setdefault("start", "none")
        return WizardApp(**kwargs)

    return make


@pytest.fixture
def saved_profile(emulator, snap_env, callback_url, save_signed_in) -> Callable[..., Any]:
    """saved_profile(name, expires_in=timedelta, ...) -> a Profile with a real emulator token, saved,
    expiring relative to the frozen snapshot clock."""
    from datetime import timedelta

    from bbwizard.config import ConfigStore, UserInfo

    def make(name: str = "demo", expires_in: timedelta = timedelta(hours=1), **fields: Any) -> Any:
        fields.setdefault("user", UserInfo(**ALICE))
        fields.setdefault("clone_dir", "~/src")
        return save_signed_in(emulator, ConfigStore(snap_env), name=name, expires_at=SNAPSHOT_NOW + expires_in,
                              callback_url=callback_url, **fields)

    return make


async def settle(pilot: Any, condition: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    """Pause until `condition()` holds, then turn every cursor blink off for a still picture."""
    from textual.widgets import Footer, Input

    waiter = Waiter(pilot, timeout)
    await waiter.until(condition, what)
    # Textual's Footer adds its keys after the screen's first frame: every step's Footer has them.
    footers = [footer for screen in pilot.app.screen_stack for footer in screen.query(Footer)]
    await waiter.until(lambda: all(footer.children for footer in footers), "the Footer's keys")
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    # A few frames more, so late layout (column widths, the Footer's keys) is done before the picture.
    for _ in range(3):
        await pilot.pause()
    await pilot.wait_for_scheduled_animations()


@pytest.fixture
def settled() -> Callable[..., Any]:
    return settle
