"""Each step on its own, against the emulator: what a person sees, good inputs and bad."""

from __future__ import annotations

import asyncio
import html
import re
import shlex
import socket
import sys
from datetime import timedelta

import pytest

from bbwizard.config import Profile
from bbwizard.emulator import (
    ACCOUNT_ONLY_CONSUMER_KEY,
    ACCOUNT_ONLY_CONSUMER_SECRET,
    DEMO_CONSUMER_KEY,
    NO_CALLBACK_CONSUMER_KEY,
    NO_CALLBACK_CONSUMER_SECRET,
    PRIVATE_CONSUMER_KEY,
    PRIVATE_CONSUMER_SECRET,
)
from bbwizard.tui.screens.authorize import AuthorizeScreen, CodeCaught, PasteRequested
from bbwizard.tui.screens.clone import CloneScreen
from bbwizard.tui.screens.code import CodeScreen
from bbwizard.tui.screens.consumer import ConsumerScreen
from bbwizard.tui.screens.profiles import ProfilesScreen
from bbwizard.tui.screens.repositories import RepositoriesScreen
from bbwizard.tui.screens.token import TokenScreen

SIZE = (100, 30)


def text_of(app, widget_id: str) -> str:
    return app.screen.query_one(f"#{widget_id}").visual.plain


def screenshot_text(app) -> str:
    """What the terminal shows, as text (the spaces of the SVG's cells included)."""
    svg = app.export_screenshot()
    return html.unescape("".join(re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S))).replace("\xa0", " ")


async def push(app, pilot, screen):
    results = []
    app.push_screen(screen, results.append)
    await pilot.pause()
    return results


# Consumer


async def test_consumer_empty_fields_are_named_one_by_one(make_app, emulator, waiter_for):
    app = make_app(emulator, start="none", prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, ConsumerScreen(Profile(name="", client_id="", site_url=emulator.site_url, api_url=emulator.api_url)))
        app.screen.query_one("#callback").value = ""
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert text_of(app, "name-problem") == "Give the profile a name, for example work."
        assert text_of(app, "key-problem") == "Paste the consumer's Key from its page in Bitbucket."
        assert text_of(app, "secret-problem") == "Paste the consumer's Secret (shown under the key in Bitbucket)."
        assert text_of(app, "callback-problem").startswith("Bitbucket needs a callback URL")
        assert text_of(app, "check-result") == "Fix the fields marked above first."
        assert app.focused.id == "name"


async def test_consumer_suggests_the_loopback_callback_and_where_to_paste_it(make_app, emulator):
    app = make_app(emulator, start="none", prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, ConsumerScreen(Profile(name="", client_id="")))
        assert app.screen.query_one("#callback").value == "http://localhost:8976/"
        assert "paste this address as Callback URL" in text_of(app, "callback-where")
        assert app.screen.query_one("#secret").password is True


async def test_consumer_wrong_secret_says_what_to_fix(make_app, emulator, waiter_for):
    app = make_app(emulator, start="none", secret="not-the-secret")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, ConsumerScreen(app.prefill))
        await pilot.press("enter")
        text = await waiter_for(pilot).text("check-result", "doesn't accept")
        assert text.startswith("Bitbucket doesn't accept this key and secret. Copy both again from Bitbucket")
        assert app.screen.query_one("#check-result").has_class("error")


async def test_consumer_without_callback_url_says_where_to_set_it(make_app, emulator, waiter_for):
    # The sentence suggests the standard loopback address, whatever this test's port is.
    app = make_app(emulator, start="none", key=NO_CALLBACK_CONSUMER_KEY, secret=NO_CALLBACK_CONSUMER_SECRET)
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, ConsumerScreen(app.prefill))
        await pilot.press("enter")
        text = await waiter_for(pilot).text("check-result", "no callback URL")
        assert "The consumer has no callback URL. In Bitbucket:" in text
        assert "Callback URL: http://localhost:8976/" in text


async def test_private_consumer_offers_its_own_identity(make_app, emulator, waiter_for):
    app = make_app(emulator, start="none", key=PRIVATE_CONSUMER_KEY, secret=PRIVATE_CONSUMER_SECRET)
    async with app.run_test(size=SIZE) as pilot:
        results = await push(app, pilot, ConsumerScreen(app.prefill))
        await pilot.press("enter")
        await waiter_for(pilot).text("check-result", "may use client credentials")
        button = app.screen.query_one("#own-identity")
        assert not button.has_class("hidden")
        assert str(button.label) == "Use the consumer's own identity (no browser)"
        await pilot.click("#own-identity")
        await pilot.pause()
        assert results and results[0].grant == "client_credentials"


async def test_consumer_secret_is_never_drawn(make_app, emulator):
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, ConsumerScreen(app.prefill))
        from bbwizard.emulator import DEMO_CONSUMER_SECRET

        assert DEMO_CONSUMER_SECRET not in app.export_screenshot()


def footer_keys(screen) -> list[str]:
    """The keys Textual's Footer shows, as "key description", the command palette's last."""
    from textual.widgets._footer import FooterKey

    keys = sorted(screen.query(FooterKey), key=lambda key: key.has_class("-command-palette"))
    return [f"{key.key_display} {key.description}" for key in keys]


async def test_footer_shows_the_keys_for_the_focus_and_a_click_presses_one(make_app, emulator, waiter_for):
    from textual.widgets._footer import FooterKey

    from bbwizard.secret import Secret

    app = make_app(emulator, start="none", prefill=False)
    async with app.run_test(size=SIZE, tooltips=True) as pilot:
        await push(app, pilot, ConsumerScreen(Profile(name="", client_id="")))
        wait = waiter_for(pilot)
        # A text box has the focus: "r" types an r, so the Footer leaves it out.
        keys = await wait.until(lambda: footer_keys(app.screen), "the Footer's keys")
        assert keys[:4] == ["esc Back", "^t Check", "^n Continue", "f1 Help"]
        assert keys[-1] == "^p palette" and "r Refresh token" not in keys
        app.screen.set_focus(app.screen.query_one("#check"))
        await pilot.pause()
        assert "r Refresh token" not in footer_keys(app.screen)  # no profile yet: nothing to refresh
        app.profile = Profile(name="work", client_id="key", refresh_token=Secret("refresh-token"))
        await wait.until(lambda: "r Refresh token" in footer_keys(app.screen), "r in the Footer")
        app.screen.set_focus(app.screen.query_one("#name"))
        await wait.until(lambda: "r Refresh token" not in footer_keys(app.screen), "r gone in a text box")
        back = next(key for key in app.screen.query(FooterKey) if key.description == "Back")
        assert back.tooltip == "Go back one step"
        check = next(key for key in app.screen.query(FooterKey) if key.description == "Check")
        await pilot.click(check)
        await pilot.pause()
        assert text_of(app, "check-result") == "Fix the fields marked above first."


async def test_a_step_is_laid_out_again_when_the_terminal_changes_size(make_app, emulator, waiter_for):
    from textual.widgets import Footer

    app = make_app(emulator, start="none", prefill=False)
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, ConsumerScreen(Profile(name="", client_id="")))
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        footer = app.screen.query_one(Footer)
        assert footer.size.width == 80 and footer.region.y == 23
        palette = await waiter_for(pilot).until(lambda: footer.query(".-command-palette"), "the palette's key")
        assert palette.first().region.right == 80
        assert app.screen.query_one("#name").region.right <= 80 - 1  # inside the body's padding


# Authorize


async def test_authorize_shows_the_url_and_waits_on_the_callback_port(make_app, emulator, consumer_form, waiter_for, callback_url):
    port = callback_url.rsplit(":", 1)[1].strip("/")
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, AuthorizeScreen(consumer_form()))
        url = text_of(app, "authorize-url")
        assert url.startswith(f"{emulator.site_url}/site/oauth2/authorize?")
        assert f"client_id={DEMO_CONSUMER_KEY}" in url and "state=" in url
        await waiter_for(pilot).text("waiting", f"waiting for the browser… (port {port})")


async def test_authorize_moves_on_by_itself_when_the_redirect_arrives(make_app, emulator, consumer_form, waiter_for):
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        results = await push(app, pilot, AuthorizeScreen(consumer_form()))
        wait = waiter_for(pilot)
        await wait.text("waiting", "waiting for the browser")
        await pilot.press("o")
        await wait.until(lambda: results, "the redirect")
        assert isinstance(results[0], CodeCaught) and results[0].code


async def test_authorize_deny_says_so_and_offers_to_ask_again(make_app, emulator, consumer_form, waiter_for, monkeypatch):
    monkeypatch.setenv("BROWSER", shlex.join([sys.executable, "-m", "bbwizard.emulator.approve", "--deny"]))
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        results = await push(app, pilot, AuthorizeScreen(consumer_form()))
        wait = waiter_for(pilot)
        await wait.text("waiting", "waiting for the browser")
        first_state = app.screen.authorization.state
        await pilot.press("o")
        text = await wait.text("browser-result", "Deny")
        assert text == (
            "You clicked Deny on Bitbucket's page, so bbwizard got no access. Start the sign-in again and "
            "click Grant access. Press o to ask again, or escape to change the consumer."
        )
        monkeypatch.setenv("BROWSER", shlex.join([sys.executable, "-m", "bbwizard.emulator.approve"]))
        await pilot.press("o")
        await wait.until(lambda: results, "the second attempt")
        assert isinstance(results[0], CodeCaught)
        assert results[0].authorization.state != first_state  # a fresh state for every attempt


async def test_authorize_port_in_use_points_to_paste(make_app, emulator, consumer_form, waiter_for):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        app = make_app(emulator, start="none")
        async with app.run_test(size=SIZE) as pilot:
            results = await push(app, pilot, AuthorizeScreen(consumer_form(callback=f"http://localhost:{port}/")))
            text = await waiter_for(pilot).text("browser-result", "in use")
            assert text.startswith(f"Port {port} is in use by another program")
            assert text.endswith("Press p to paste the code instead.")
            await pilot.press("p")
            await pilot.pause()
            assert isinstance(results[0], PasteRequested)


async def test_authorize_without_display_suggests_paste_or_ssh_forwarding(make_app, emulator, consumer_form, monkeypatch, callback_url,
                                                                         waiter_for):
    port = callback_url.rsplit(":", 1)[1].strip("/")
    monkeypatch.delenv("BROWSER", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.9 22")
    monkeypatch.setenv("USER", "alice")
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, AuthorizeScreen(consumer_form()))
        note = await waiter_for(pilot).text("display-note", "ssh -L")  # once the catcher listens
        assert note.startswith("There is no display here (an SSH session?), so no browser can open on this machine.")
        assert f"ssh -L {port}:localhost:{port} alice@10.0.0.9" in note
        await pilot.press("o")
        await pilot.pause()
        await pilot.pause()
        assert "No browser can open here: there is no display." in text_of(app, "browser-result")


@pytest.mark.parametrize("callback", ["http://localhost:0/", "http://localhost/"])
async def test_authorize_without_display_offers_no_ssh_line_for_a_port_it_cannot_listen_on(
        make_app, emulator, consumer_form, monkeypatch, waiter_for, callback):
    # Port 0 used to be shown as "ssh -L 80:…": the port is the core's reading of the callback URL,
    # and a callback the catcher can't listen on has nothing to forward.
    monkeypatch.delenv("BROWSER", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.9 22")
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, AuthorizeScreen(consumer_form(callback=callback)))
        said = await waiter_for(pilot).text("browser-result", "paste")
        assert ("port 0" in said) if callback.endswith(":0/") else ("port 80" in said)
        note = text_of(app, "display-note")
        assert note.startswith("There is no display here") and "ssh -L" not in note


# Code


async def test_code_is_judged_as_you_type(make_app, emulator, waiter_for):
    from bbwizard import oauth

    authorization = oauth.start_authorization(emulator.site_url, DEMO_CONSUMER_KEY)
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        results = await push(app, pilot, CodeScreen(authorization))
        code_input = app.screen.query_one("#code")
        code_input.value = "http://localhost:8976/?code=abc&state=oth"
        await pilot.press("end", "e", "r")
        verdict = text_of(app, "code-verdict")
        assert verdict.startswith("That address belongs to another sign-in attempt (its state doesn't match this one)")
        await pilot.press("enter")
        assert results == []
        app.screen.query_one("#code").value = ""
        await pilot.pause()
        code_input.value = f"http://localhost:8976/?error=access_denied&state={authorization.state[:-1]}"
        await pilot.press("end", authorization.state[-1])
        assert text_of(app, "code-verdict").startswith("You clicked Deny on Bitbucket's page")
        app.screen.query_one("#code").value = ""
        code_input.value = f"http://localhost:8976/?code=good-code&state={authorization.state[:-1]}"
        await pilot.press("end", authorization.state[-1])
        assert text_of(app, "code-verdict") == "That looks right. Press Enter to use it."
        await pilot.press("enter")
        await pilot.pause()
        assert results == ["good-code"]


async def test_bare_code_is_accepted_with_a_warning(make_app, emulator):
    from bbwizard import oauth

    authorization = oauth.start_authorization(emulator.site_url, DEMO_CONSUMER_KEY)
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, CodeScreen(authorization))
        await pilot.press(*" 'abc123' ")
        assert text_of(app, "code-verdict").startswith("bbwizard can't check that this code comes from this sign-in")


# Token


async def test_token_refused_code_says_so(make_app, emulator, consumer_form, waiter_for):
    from bbwizard import oauth

    authorization = oauth.start_authorization(emulator.site_url, DEMO_CONSUMER_KEY)
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, TokenScreen(consumer_form(), code="not-a-real-code", authorization=authorization))
        text = await waiter_for(pilot).text("token-result", "escape")
        assert "code" in text.lower() and text.endswith("Press escape to go back and try again.")
        assert app.screen.query_one("#token-go").disabled


async def test_token_with_missing_scopes_names_the_permission_to_tick(make_app, emulator, consumer_form, waiter_for):
    form = consumer_form(key=ACCOUNT_ONLY_CONSUMER_KEY, secret=ACCOUNT_ONLY_CONSUMER_SECRET, own_identity=False)
    code, authorization = _grant_code(emulator, ACCOUNT_ONLY_CONSUMER_KEY, consumer_form().callback_url)
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, TokenScreen(form, code=code, authorization=authorization))
        text = await waiter_for(pilot).text("token-result", "tick")
        assert text.startswith("This token can't list or clone repositories. In Bitbucket, edit the consumer, tick “Repositories: Read”")
        scopes = app.screen.query_one("#token-scopes").visual
        assert "missing: repository (tick “Repositories: Read” in the consumer)" in scopes.plain
        assert app.screen.query_one("#token-go").disabled


def _grant_code(emulator, key: str, callback_url: str):
    """A real authorization code from the emulator, through its consent page (as the approver does)."""

    from bbwizard import oauth
    from bbwizard.emulator.approve import approve
    from bbwizard.loopback import LoopbackCatcher

    authorization = oauth.start_authorization(emulator.site_url, key)
    with LoopbackCatcher(callback_url, authorization.state) as catcher:
        approve(authorization.url)
        return catcher.wait(10).code, authorization


# Profiles


async def test_profiles_list_user_workspaces_and_token_state(make_app, emulator, signed_in):
    signed_in("work", workspaces=["acme", "tools"])
    signed_in("old", expires_in=timedelta(minutes=-3))
    signed_in("soon", expires_in=timedelta(minutes=7))
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, ProfilesScreen())
        await pilot.pause()
        table = app.screen.query_one("#profiles")
        rows = {str(table.get_row(key)[0]).split(" ")[0]: [str(cell) for cell in table.get_row(key)] for key in table.rows}
        assert rows["work"][2] == "Alice Liddell (alice)"
        assert rows["work"][3] == "2"
        assert rows["work"][1].startswith("fresh (")
        assert rows["old"][1] == "expired, refreshable"
        assert rows["soon"][1] == "expires in 6 min"


async def test_profiles_delete_asks_first(make_app, emulator, signed_in, wizard_env):
    from bbwizard.config import ConfigStore

    signed_in("alpha")
    signed_in("beta")
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, ProfilesScreen())
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        assert "Delete the profile “alpha”?" in app.screen.query_one("#dialog-title").visual.plain
        await pilot.press("n")
        await pilot.pause()
        assert set(ConfigStore(wizard_env).load()) == {"alpha", "beta"}
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await waiter_for_text(pilot, "profiles-result", "Deleted the profile “alpha”.")
        assert set(ConfigStore(wizard_env).load()) == {"beta"}


async def waiter_for_text(pilot, widget_id, needle):
    for _ in range(100):
        await pilot.pause()
        if needle in pilot.app.screen.query_one(f"#{widget_id}").visual.plain:
            return
    raise AssertionError(f"{needle!r} never appeared")


# Repositories


async def test_repositories_stream_filter_and_sort(make_app, emulator, signed_in, waiter_for):
    profile = signed_in()
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.profile = profile
        await push(app, pilot, RepositoriesScreen(profile))
        wait = waiter_for(pilot)
        await wait.text("repositories-count", "acme: 4 repositories")
        repositories = app.screen.query_one("#repositories")
        names = [repositories.rows[i].name for i in repositories.shown]
        assert len(names) == 4
        assert app.focused is repositories, app.focused
        await pilot.press("slash", *"wbp")
        assert app.screen.query_one("#filter").value == "wbp", (app.focused, app.screen.query_one("#filter").value, repositories.filter_text)
        shown = [repositories.rows[i].name for i in repositories.shown]
        assert shown and all(_subsequence("wbp", name.lower() + repositories.rows[i].haystack) for i, name in zip(repositories.shown, shown))
        assert "match “wbp”" in text_of(app, "repositories-result")
        await pilot.press("enter")
        assert app.focused is repositories
        app.screen.query_one("#filter").value = ""
        await pilot.pause()
        await pilot.press("s")
        by_name = [repositories.rows[i].name.lower() for i in repositories.shown]
        assert by_name == sorted(by_name)
        assert "sorted by name" in text_of(app, "repositories-result")


def _subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(ch in it for ch in needle)


async def test_repositories_rate_limit_storm_is_a_sentence(make_app, emulator, signed_in, waiter_for):
    profile = signed_in()
    emulator.inject(kind="status", status=429, count=200, path_prefix="/2.0/repositories")
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, RepositoriesScreen(profile))
        wait = waiter_for(pilot)
        wait.timeout = 90
        text = await wait.text("repositories-result", "rate limit")
        assert text.startswith("Bitbucket's rate limit is used up")
        assert "Wait a few minutes and try again." in text
        assert "(stopped)" in text_of(app, "repositories-count")


# Clone


async def test_clone_that_fails_says_why_and_keeps_the_others(make_app, emulator, signed_in, waiter_for, tmp_path):
    from bbwizard.api import Repository

    profile = signed_in()
    good = Repository(uuid="{1}", full_name="acme/webapp", slug="webapp", name="webapp", workspace="acme",
                      description="", is_private=True, language="python", size=1000, updated_on=None,
                      mainbranch="main", project_key=None, project_name=None, clone_url=None)
    missing = Repository(uuid="{2}", full_name="acme/no-such-repo", slug="no-such-repo", name="no-such-repo",
                         workspace="acme", description="", is_private=True, language="", size=0, updated_on=None,
                         mainbranch="main", project_key=None, project_name=None, clone_url=None)
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, CloneScreen(profile, [good, missing]))
        await pilot.press("ctrl+s")
        wait = waiter_for(pilot)
        wait.timeout = 60
        summary = await wait.text("clone-result", "Press Enter to finish")
        assert summary.startswith("1 of 2 did not clone.")
        assert "✓ acme/webapp (main) →" in summary
        assert "X acme/no-such-repo:" in summary
        assert (tmp_path / "work" / "webapp" / ".git").is_dir()
        assert not (tmp_path / "work" / "no-such-repo").exists()


async def test_clones_run_a_few_at_a_time(make_app, emulator, signed_in, waiter_for, tmp_path, monkeypatch):
    # Fifty selected repositories must not start fifty gits at once: the step runs them through
    # git.clone_many, CLONE_JOBS at a time. A git wrapper notes each start and end.
    from bbwizard.api import Repository
    from bbwizard.tui.screens import clone as clone_step

    monkeypatch.setattr(clone_step, "CLONE_JOBS", 2)
    log = tmp_path / "gits.log"
    wrapper = tmp_path / "git-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho start >> "{log}"\ngit "$@"\nrc=$?\necho end >> "{log}"\nexit $rc\n')
    wrapper.chmod(0o755)
    profile = signed_in()
    slugs = ("webapp", "firmware", "infrastructure", "legacy-billing")
    repos = [Repository(uuid=f"{{{i}}}", full_name=f"acme/{slug}", slug=slug, name=slug, workspace="acme", mainbranch="main")
             for i, slug in enumerate(slugs)]
    app = make_app(emulator, start="none", git_runner=str(wrapper))
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, CloneScreen(profile, repos))
        await pilot.press("ctrl+s")
        wait = waiter_for(pilot)
        wait.timeout = 60
        summary = await wait.text("clone-result", "Press Enter to finish")
    assert summary.startswith("All cloned."), summary
    running, most = 0, 0
    for line in log.read_text().split():
        running += 1 if line == "start" else -1
        most = max(most, running)
    assert log.read_text().split().count("start") == len(slugs) and most == 2
    for slug in slugs:
        assert (tmp_path / "work" / slug / ".git").is_dir()


async def test_two_clones_into_one_folder_are_refused_before_either_starts(make_app, emulator, signed_in, waiter_for, tmp_path):
    from textual.widgets import Input

    from bbwizard.api import Repository

    profile = signed_in()
    repos = [Repository(uuid=f"{{{i}}}", full_name=f"acme/{slug}", slug=slug, name=slug, workspace="acme", mainbranch="main")
             for i, slug in enumerate(("webapp", "firmware"))]
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await push(app, pilot, CloneScreen(profile, repos))
        same = str(tmp_path / "one-folder")
        for index in (0, 1):
            app.screen.query_one(f"#dest-{index}", Input).value = same
        wait = waiter_for(pilot)
        await wait.text("verdict-0", "Row 2 clones into this folder too.")
        await pilot.press("ctrl+s")
        await pilot.pause()
        for worker in [w for w in app.workers if w.group == "clone"]:
            await worker.wait()
        await pilot.pause()
        assert not app.screen.running and not app.screen.finished
        assert text_of(app, "verdict-1") == "Row 1 clones into this folder too. Choose another one."
        assert not app.screen.query_one("#dest-1", Input).disabled  # still editable
    assert not (tmp_path / "one-folder").exists()


@pytest.mark.slow
async def test_ten_thousand_repositories_stream_in_with_a_count(make_app, emulator_factory, big_seed, callback_url,
                                                               wizard_env, waiter_for):
    from bbwizard.config import ConfigStore, Profile, UserInfo
    from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET
    from bbwizard.secret import Secret

    big_seed["consumers"][0]["callback_url"] = callback_url
    emulator = emulator_factory(big_seed)
    # Page 3 waits until released: the listing is mid-way for as long as the test looks at it.
    third_page = emulator.hold("/2.0/repositories/big", page=3)
    answer = emulator.mint_token(DEMO_CONSUMER_KEY)
    from datetime import datetime, timezone

    profile = Profile(name="big", client_id=DEMO_CONSUMER_KEY, client_secret=Secret(DEMO_CONSUMER_SECRET),
                      site_url=emulator.site_url, api_url=emulator.api_url,
                      access_token=Secret(answer["access_token"]), refresh_token=Secret(answer["refresh_token"]),
                      expires_at=datetime.now(timezone.utc) + timedelta(hours=2), scopes=["account", "repository"],
                      user=UserInfo(display_name="Alice Liddell", username="alice"))
    ConfigStore(wizard_env).save(profile)
    app = make_app(emulator, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(RepositoriesScreen(profile))
        wait = waiter_for(pilot)
        wait.timeout = 120
        await wait.until(lambda: len(app.screen.query_one("#workspaces").options) >= 2, "the workspaces")
        options = app.screen.query_one("#workspaces")
        big_index = next(i for i in range(options.option_count) if options.get_option_at_index(i).id == "big")
        options.highlighted = big_index
        await asyncio.to_thread(third_page.wait_arrived)
        partial = await wait.until(
            lambda: (t := text_of(app, "repositories-count")).startswith("big: ") and " of 10,000" in t and t,
            "a partial count")
        assert re.fullmatch(r"big: \d{1,3}(,\d{3})? of 10,000 repositories", partial), partial
        # The step stays itself while it lists: no spinner in place of the title, count, status and keys.
        assert not app.screen.query("LoadingIndicator")
        shown = screenshot_text(app)
        assert "Step 4 of 5 · Repositories" in shown and partial in shown, shown
        assert "profile: " in shown and "Clone selected" in shown, shown  # the status bar and the keys
        third_page.release()
        await wait.text("repositories-count", "big: 10,000 repositories")
        repositories = app.screen.query_one("#repositories")
        assert len(repositories.rows) == 10_000
        assert len({row.key for row in repositories.rows}) == 10_000
        app.screen.query_one("#filter").value = "zzzqqq"
        await pilot.pause()
        assert repositories.shown == [] and "0 match" in text_of(app, "repositories-result")
