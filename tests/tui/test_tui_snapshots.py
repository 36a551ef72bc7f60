"""SVG snapshots of every step at 100x30, with the clock frozen and cursors still.

Update after a deliberate change with `pytest tests/tui/test_tui_snapshots.py --snapshot-update`,
then look at the SVGs under __snapshots__/ before committing them.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from filelock import FileLock

from bbwizard.config import Profile
from bbwizard.emulator import (
    DEMO_CALLBACK_URL,
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
    PRIVATE_CONSUMER_KEY,
    PRIVATE_CONSUMER_SECRET,
)
from bbwizard.secret import Secret
from bbwizard.tui.app import Road
from bbwizard.tui.screens.authorize import AuthorizeScreen
from bbwizard.tui.screens.clone import CloneScreen
from bbwizard.tui.screens.code import CodeScreen
from bbwizard.tui.screens.consumer import ConsumerScreen
from bbwizard.tui.screens.profiles import ProfilesScreen
from bbwizard.tui.screens.repositories import RepositoriesScreen
from bbwizard.tui.screens.token import TokenScreen

SIZE = (100, 30)
BITBUCKET = "https://bitbucket.org"


def table_ready(app, rows: int) -> bool:
    """The profile table holds `rows` rows and has sized its columns (DataTable does that on idle,
    and a modal pushed before then would freeze the narrow header in the picture)."""
    table = app.screen.query_one("#profiles")
    return table.row_count == rows and not table._require_update_dimensions and not table._updated_cells


def text_of(app, widget_id: str) -> str:
    return app.screen.query_one(f"#{widget_id}").visual.plain


def demo_prefill(emulator=None) -> Profile:
    return Profile(
        name="demo",
        client_id=DEMO_CONSUMER_KEY,
        client_secret=Secret(DEMO_CONSUMER_SECRET),
        callback_url=DEMO_CALLBACK_URL,
        site_url=emulator.site_url if emulator else BITBUCKET,
        api_url=emulator.api_url if emulator else "https://api.bitbucket.org/2.0",
    )


def test_snapshot_profiles(snap_compare, snap_app, saved_profile, settled):
    elsewhere = {"site_url": BITBUCKET, "api_url": "https://api.bitbucket.org/2.0"}
    saved_profile("work", workspaces=["acme", "tools"], **elsewhere)
    saved_profile("side-project", expires_in=timedelta(minutes=7), workspaces=["acme"], **elsewhere)
    saved_profile("old-laptop", expires_in=timedelta(days=-2), refresh_token=None, **elsewhere)
    app = snap_app()
    app.road = Road(profiles=True, sign_in=False)  # the road this step is on

    async def run_before(pilot):
        app.push_screen(ProfilesScreen())
        await settled(pilot, lambda: table_ready(app, 3), "three profiles")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_kind(snap_compare, snap_app, settled):
    from bbwizard.tui.screens.kind import KindScreen

    app = snap_app()
    app.road = Road(ways=True)  # a new profile's road: the three ways in first

    async def run_before(pilot):
        screen = KindScreen()
        screen.first_step = True
        app.push_screen(screen)
        await settled(pilot, lambda: isinstance(app.screen, KindScreen), "the kind step")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_consumer(snap_compare, snap_app, settled):
    app = snap_app()
    app.road = Road(ways=True)  # the road this step is on: after the kind step

    async def run_before(pilot):
        app.push_screen(ConsumerScreen(demo_prefill()))
        await settled(pilot, lambda: isinstance(app.screen, ConsumerScreen), "the consumer step")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_consumer_wrong_secret(snap_compare, snap_app, emulator, settled):
    app = snap_app()
    app.road = Road(ways=True)  # the road this step is on
    prefill = demo_prefill(emulator)
    prefill.client_secret = Secret("not-the-right-secret")

    async def run_before(pilot):
        app.push_screen(ConsumerScreen(prefill))
        await pilot.pause()
        await pilot.press("enter")
        await settled(pilot, lambda: "doesn't accept" in text_of(app, "check-result"), "the check's verdict")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_authorize(snap_compare, snap_app, settled):
    app = snap_app()
    app.road = Road(ways=True)  # the road this step is on
    form = Profile(name="demo", client_id=DEMO_CONSUMER_KEY, client_secret=Secret(DEMO_CONSUMER_SECRET),
                   callback_url=DEMO_CALLBACK_URL, site_url=BITBUCKET, api_url="https://api.bitbucket.org/2.0")

    async def run_before(pilot):
        app.push_screen(AuthorizeScreen(form))
        await settled(pilot, lambda: "port 8976" in text_of(app, "waiting"), "the loopback catcher")

    # The picture shows the demo's own callback port, so the catcher really listens on 8976: other
    # copies of the suite on this machine take turns on it instead of finding it in use.
    with FileLock(Path(tempfile.gettempdir()) / "bbwizard-tests-port-8976.lock"):
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_code_refused(snap_compare, snap_app, settled):
    from bbwizard import oauth

    app = snap_app()
    app.road = Road(ways=True, paste=True)  # the road this step is on

    async def run_before(pilot):
        authorization = oauth.start_authorization(BITBUCKET, DEMO_CONSUMER_KEY)
        app.push_screen(CodeScreen(authorization))
        await pilot.pause()
        app.screen.query_one("#code").value = "http://localhost:8976/?code=Xy7pQ2&state=from-another-attemp"
        await pilot.press("end", "t")
        await settled(pilot, lambda: "another sign-in" in text_of(app, "code-verdict"), "the refusal")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_token(snap_compare, snap_app, emulator, settled):
    app = snap_app()
    app.road = Road(ways=True, own_identity=True)  # the road this step is on
    form = Profile(name="ci", client_id=PRIVATE_CONSUMER_KEY, client_secret=Secret(PRIVATE_CONSUMER_SECRET),
                   callback_url=DEMO_CALLBACK_URL, site_url=emulator.site_url, api_url=emulator.api_url,
                   grant="client_credentials")

    async def run_before(pilot):
        app.push_screen(TokenScreen(form))
        await settled(pilot, lambda: "Saved as profile" in text_of(app, "token-saved"), "the saved profile")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_repositories(snap_compare, snap_app, saved_profile, settled):
    profile = saved_profile(workspaces=["acme"])
    app = snap_app()
    app.road = Road(profiles=True, sign_in=False)  # the road this step is on

    async def run_before(pilot):
        app.profile = profile
        app.push_screen(RepositoriesScreen(profile))
        await settled(pilot, lambda: text_of(app, "repositories-count").endswith("repositories")
                      and "loading" not in text_of(app, "repositories-count")
                      and len(app.screen.query_one("#workspaces").options) >= 2, "the listing")
        await pilot.press("space", "down", "down", "space", "up")
        await settled(pilot, lambda: "2 selected" in text_of(app, "repositories-result"), "the selection")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_repositories_filtered(snap_compare, snap_app, saved_profile, settled):
    profile = saved_profile(workspaces=["acme"])
    app = snap_app()
    app.road = Road(profiles=True, sign_in=False)  # the road this step is on

    async def run_before(pilot):
        app.profile = profile
        app.push_screen(RepositoriesScreen(profile))
        await settled(pilot, lambda: text_of(app, "repositories-count") == "acme: 4 repositories", "the listing")
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press("w", "b")
        await settled(pilot, lambda: "match “wb”" in text_of(app, "repositories-result"), "the filter")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def _acme_repositories(emulator, profile, slugs):
    import asyncio

    from bbwizard.api import BitbucketClient

    async def fetch():
        async def token(force=False):
            return profile.access_token

        async with BitbucketClient(emulator.api_url, token) as client:
            return [await client.get_repository("acme", slug) for slug in slugs]

    return asyncio.run(fetch())


def test_snapshot_clone_plan(snap_compare, snap_app, saved_profile, emulator, settled):
    profile = saved_profile()
    repositories = _acme_repositories(emulator, profile, ["webapp", "firmware"])
    app = snap_app()
    app.road = Road(profiles=True, sign_in=False)  # the road this step is on

    async def run_before(pilot):
        app.profile = profile
        app.push_screen(CloneScreen(profile, repositories))
        await settled(pilot, lambda: len(app.screen.branches) == 2, "the branches")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_clone_done(snap_compare, snap_app, saved_profile, emulator, settled):
    profile = saved_profile()
    repositories = _acme_repositories(emulator, profile, ["webapp"])
    app = snap_app()
    app.road = Road(profiles=True, sign_in=False)  # the road this step is on

    async def run_before(pilot):
        app.profile = profile
        app.push_screen(CloneScreen(profile, repositories))
        await settled(pilot, lambda: len(app.screen.branches) == 1, "the branches")
        await pilot.press("ctrl+b", "ctrl+s")
        await settled(pilot, lambda: "Press Enter to finish" in text_of(app, "clone-result"), "the clone", timeout=60)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_help(snap_compare, snap_app, settled):
    from bbwizard.tui.screens.modals import HelpModal

    app = snap_app()
    app.road = Road(ways=True)  # the road this step is on

    async def run_before(pilot):
        app.push_screen(ConsumerScreen(demo_prefill()))
        await pilot.pause()
        await pilot.press("f1")
        await settled(pilot, lambda: isinstance(app.screen, HelpModal), "the help")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_sign_in_again_modal(snap_compare, snap_app, saved_profile, emulator, settled):
    from bbwizard.tui.screens.modals import ErrorModal

    saved_profile("work", expires_in=timedelta(minutes=-5))
    emulator.revoke_refresh_tokens()
    app = snap_app(start=None)

    async def run_before(pilot):
        await settled(pilot, lambda: isinstance(app.screen, ProfilesScreen)
                      and table_ready(app, 1), "the profiles")
        await pilot.press("enter")
        await settled(pilot, lambda: isinstance(app.screen, ErrorModal), "the modal")
        # With a frozen clock nothing repaints the list behind the modal, and once in a while
        # (seen in one CI run of many) DataTable's cached header line kept its widths from before
        # the columns were sized. A person's screen repaints every second; the picture does here.
        app.screen_stack[-2].query_one("#profiles").refresh()
        await settled(pilot, lambda: isinstance(app.screen, ErrorModal), "the modal, repainted")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_delete_confirmation(snap_compare, snap_app, saved_profile, settled):
    from bbwizard.tui.screens.modals import ConfirmModal

    saved_profile("work", site_url=BITBUCKET, api_url="https://api.bitbucket.org/2.0")
    app = snap_app()
    app.road = Road(profiles=True, sign_in=False)  # the road this step is on

    async def run_before(pilot):
        app.push_screen(ProfilesScreen())
        await settled(pilot, lambda: table_ready(app, 1), "the profile")
        await pilot.press("d")
        await settled(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
