"""Make screenshots/*.svg: the wizard's screens in flow order, from the demo data.

    .venv/bin/python scripts/export_screenshots.py [--out screenshots]

It does what `bbwizard demo` does (the emulator with the demo seed, a temporary config folder,
the approver as the browser), drives the same wizard with Textual's pilot at 100x30, and saves an
SVG at each step. Nothing is drawn by hand; run it again after changing a screen.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIZE = (100, 30)
ROOT = Path(__file__).resolve().parent.parent


async def until(pilot: Any, condition: Callable[[], Any], what: str, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await pilot.pause()
        try:
            if condition():
                return
        except Exception:
            pass
        if loop.time() > deadline:
            raise SystemExit(f"export_screenshots: timed out waiting for {what}")
        await asyncio.sleep(0.05)


def text(app: Any, widget_id: str) -> str:
    return app.screen.query_one(f"#{widget_id}").visual.plain


async def shoot(app: Any, pilot: Any, out: Path, name: str) -> None:
    from textual.widgets import Footer, Input

    # Textual's Footer adds its keys after the screen's first frame.
    footers = list(app.screen.query(Footer))
    await until(pilot, lambda: all(footer.children for footer in footers), "the Footer's keys")
    for widget in app.screen.query(Input):
        widget.cursor_blink = False
    app.clear_notifications()
    await pilot.pause()
    app.save_screenshot(filename=f"{name}.svg", path=str(out))
    print(f"wrote {out / name}.svg")


async def new_profile_flow(emulator: Any, consumer: dict, callback_url: str, out: Path) -> None:
    from bbwizard.config import Profile
    from bbwizard.secret import Secret
    from bbwizard.tui.app import WizardApp
    from bbwizard.tui.screens.authorize import AuthorizeScreen
    from bbwizard.tui.screens.clone import CloneScreen
    from bbwizard.tui.screens.code import CodeScreen
    from bbwizard.tui.screens.consumer import ConsumerScreen
    from bbwizard.tui.screens.kind import KindScreen
    from bbwizard.tui.screens.repositories import RepositoriesScreen
    from bbwizard.tui.screens.token import TokenScreen

    prefill = Profile(name="demo", client_id=consumer["key"], client_secret=Secret(consumer["secret"]),
                      callback_url=callback_url, site_url=emulator.site_url, api_url=emulator.api_url)
    app = WizardApp(prefill=prefill, demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, KindScreen), "the kind step")
        await shoot(app, pilot, out, "1-kind")
        await pilot.press("enter")  # the OAuth client
        await until(pilot, lambda: isinstance(app.screen, ConsumerScreen), "the consumer step")
        await pilot.press("enter")
        await until(pilot, lambda: "right" in text(app, "check-result"), "the consumer check")
        await shoot(app, pilot, out, "2-consumer")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AuthorizeScreen) and "port" in text(app, "waiting"),
                    "the authorize step")
        await shoot(app, pilot, out, "3-authorize")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, CodeScreen), "the code step")
        app.screen.query_one("#code").value = "http://localhost:8976/?code=a1b2c3&state=from-another-tab"
        await until(pilot, lambda: "another sign-in" in text(app, "code-verdict"), "the code's verdict")
        await shoot(app, pilot, out, "4-code")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, AuthorizeScreen) and "port" in text(app, "waiting"),
                    "the authorize step again")
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, TokenScreen) and "Saved" in text(app, "token-saved"),
                    "the token step")
        await shoot(app, pilot, out, "5-token")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RepositoriesScreen)
                    and text(app, "repositories-count").endswith("repositories")
                    and "loading" not in text(app, "repositories-count"), "the repositories")
        await pilot.press("space", "down", "down", "space", "up")
        await until(pilot, lambda: "2 selected" in text(app, "repositories-result"), "the selection")
        await shoot(app, pilot, out, "6-repositories")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, CloneScreen) and len(app.screen.branches) == 2,
                    "the clone step")
        await pilot.press("ctrl+b")
        await shoot(app, pilot, out, "7-clone")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "Press Enter to finish" in text(app, "clone-result"), "the clones", 120)
        await shoot(app, pilot, out, "8-cloned")


def save_other_profiles(emulator: Any, demo: Any) -> int:
    """Beside the profile the flow saved (fresh), one in each other token state the Profiles step
    shows: expiring, expired but refreshable, signed out, and a token without the repository scope.
    Their tokens are real ones from the emulator; only their expiry is moved. Returns how many
    profiles are saved in all."""
    from datetime import datetime, timedelta, timezone

    from bbwizard.config import ConfigStore
    from bbwizard.emulator import ACCOUNT_ONLY_CONSUMER_KEY, ACCOUNT_ONLY_CONSUMER_SECRET
    from bbwizard.secret import Secret

    store = ConfigStore()
    now = datetime.now(timezone.utc)

    def signed_in(name: str, expires_in: timedelta, key: str = demo.client_id, **fields: Any) -> Any:
        answer = emulator.mint_token(key)
        return demo.replace(
            name=name, access_token=Secret(answer["access_token"]),
            refresh_token=Secret(answer["refresh_token"]), expires_at=now + expires_in,
            scopes=(answer.get("scope") or answer.get("scopes") or "").split(), **fields,
        )

    store.save(signed_in("side-project", timedelta(minutes=7), workspaces=["acme"]))
    store.save(signed_in("laptop", timedelta(hours=-3), workspaces=["acme", "open-tools"]))
    store.save(demo.replace(name="old-laptop").signed_out())
    store.save(signed_in("read-only", timedelta(hours=1), key=ACCOUNT_ONLY_CONSUMER_KEY,
                         client_secret=Secret(ACCOUNT_ONLY_CONSUMER_SECRET), workspaces=[]))
    return len(store.load())


async def saved_profile_flow(emulator: Any, out: Path) -> None:
    from bbwizard.config import ConfigStore
    from bbwizard.tui.app import WizardApp
    from bbwizard.tui.screens.profiles import ProfilesScreen

    count = save_other_profiles(emulator, ConfigStore().get("demo"))
    app = WizardApp(demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ProfilesScreen)
                    and app.screen.query_one("#profiles").row_count == count, "the profiles")
        await shoot(app, pilot, out, "1-profiles")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    from bbwizard.cli.app import approver_command, free_loopback_port
    from bbwizard.emulator import Emulator, demo_consumer, demo_seed

    scratch = Path(tempfile.mkdtemp(prefix="bbwizard-screenshots-"))
    home = scratch / "home"
    (home / "src").mkdir(parents=True)
    os.environ.update(
        HOME=str(home),
        BBWIZARD_CONFIG=str(home / ".config" / "bbwizard" / "config.toml"),
        BROWSER=approver_command(),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
    )
    os.environ.pop("SSH_CONNECTION", None)
    os.chdir(home / "src")
    callback_url = f"http://localhost:{free_loopback_port()}/"
    try:
        seed = demo_seed(callback_url=callback_url)
        with Emulator(seed) as emulator:
            asyncio.run(new_profile_flow(emulator, demo_consumer(seed), callback_url, out))
            asyncio.run(saved_profile_flow(emulator, out))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
