"""A third-party client: Debian's git-credential-oauth signs in to the emulator and git clones.

git-credential-oauth answers ``username=x-token-auth`` only for the host bitbucket.org; for the
emulator it keeps the username git already has, so the clone URL carries ``x-token-auth@``
(bitbucket-cloud.md). It opens the browser with ``xdg-open URL`` (on Linux) and waits for the
redirect on its own loopback listener; xdg-open, with no desktop, runs ``$BROWSER URL``. Here
``xdg-open`` is a tiny script that does exactly that, so the test needs no xdg-utils, and
``$BROWSER`` is the emulator's approver, detached: git-credential-oauth waits for xdg-open to exit
before it reads the redirect its listener caught, and its listener answers the redirect only after
that read, so a browser that waited for the callback's answer before exiting would deadlock it (a
real browser hands the URL over and exits at once).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys

import pytest

from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, demo_seed

HELPER = shutil.which("git-credential-oauth")
pytestmark = pytest.mark.skipif(
    HELPER is None,
    reason="git-credential-oauth is not installed (Debian: apt-get install git-credential-oauth; .ci/run does it)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def oauth_git(emulator_factory, git_env, tmp_path):
    """(emulator, env) with git configured to sign in through git-credential-oauth."""
    callback = f"http://localhost:{free_port()}/"
    emu = emulator_factory(demo_seed(callback_url=callback), allow_any_loopback_port=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    browser = bin_dir / "approve-browser"
    browser.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bbwizard.emulator.approve --detach "$@"\n')
    xdg_open = bin_dir / "xdg-open"
    xdg_open.write_text('#!/bin/sh\nexec "$BROWSER" "$@"\n')
    for script in (browser, xdg_open):
        script.chmod(0o755)
    env = dict(git_env, BROWSER=str(browser), PATH=f"{bin_dir}:{git_env['PATH']}")
    site = emu.site_url
    settings = [
        ("credential.helper", ""),
        ("credential.helper", "oauth"),
        (f"credential.{site}.oauthClientId", DEMO_CONSUMER_KEY),
        (f"credential.{site}.oauthClientSecret", DEMO_CONSUMER_SECRET),
        (f"credential.{site}.oauthAuthURL", "/site/oauth2/authorize"),
        (f"credential.{site}.oauthTokenURL", "/site/oauth2/access_token"),
        (f"credential.{site}.oauthRedirectURL", callback),
    ]
    for key, value in settings:
        subprocess.run(["git", "config", "--global", "--add", key, value], env=env, check=True)
    return emu, env


def test_git_credential_oauth_signs_in_and_git_clones(oauth_git, tmp_path):
    emu, env = oauth_git
    url = emu.clone_url("acme", "webapp", username="x-token-auth")
    result = subprocess.run(["git", "clone", "--", url, str(tmp_path / "webapp")], env=env, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "webapp" / "README.md").exists()
    # It did the whole Bitbucket flow: authorize with state and S256 PKCE, one code exchange.
    sent = emu.stats.authorizations[-1]
    assert sent["client_id"] == DEMO_CONSUMER_KEY and sent["state_sent"]
    assert sent["code_challenge_method"] == "S256" and sent["redirect_uri"].startswith("http://localhost:")
    assert emu.stats.grants["authorization_code"] == 1
    assert emu.stats.count("/acme/webapp.git/info/refs", status=401) >= 1  # the challenge that made git ask
    # And nothing of it is left in the clone's config.
    config = (tmp_path / "webapp" / ".git" / "config").read_text()
    assert "x-token-auth@" in config and ":" not in config.split("x-token-auth")[1].split("@")[0]


def test_git_credential_oauth_with_deny_fails_cleanly(oauth_git, tmp_path):
    emu, env = oauth_git
    env = dict(env, BBWIZARD_APPROVE="deny")
    url = emu.clone_url("acme", "webapp", username="x-token-auth")
    result = subprocess.run(["git", "clone", "--", url, str(tmp_path / "denied")], env=env, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode != 0
    assert emu.stats.grants["authorization_code"] == 0
    assert not (tmp_path / "denied").exists()
