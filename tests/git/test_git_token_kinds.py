"""API tokens and access tokens with git: the username of each kind in the credential answer,
clone and a pull a day later (a token the person made doesn't expire in a day, nothing refreshes
it), an expired API token, and the email in a clone URL."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from bbwizard.config import ConfigStore, Profile
from bbwizard.secret import Secret

DAY = 86400


def save_api_token_profile(emu, expires_on=None, name="me"):
    token = emu.add_api_token("alice@example.com", expires_on=expires_on)
    profile = Profile(name=name, client_id="", kind="api_token", email="alice@example.com", access_token=Secret(token),
                      token_expires_on=expires_on, site_url=emu.site_url, api_url=emu.api_url)
    ConfigStore().save(profile, make_default=True)
    return token


def save_access_token_profile(emu, name="ci"):
    token = emu.add_access_token("repository", "acme", repository="webapp", scopes=("repository",))
    profile = Profile(name=name, client_id="", kind="access_token", access_token=Secret(token),
                      reach={"workspace": "acme", "repository": "webapp"}, site_url=emu.site_url, api_url=emu.api_url)
    ConfigStore().save(profile, make_default=True)
    return token


def credential_get(run_bbwizard, emu, username=None):
    host = emu.git_host
    lines = f"protocol=http\nhost={host}\n" + (f"username={username}\n" if username else "") + "\n"
    done = run_bbwizard("credential", "get", input=lines)
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize(("kind", "username"), [("api_token", "x-bitbucket-api-token-auth"), ("access_token", "x-token-auth")])
def test_credential_get_answers_git_username_of_the_kind(emulator, git_home, run_bbwizard, kind, username):
    token = save_api_token_profile(emulator, date.today() + timedelta(days=90)) if kind == "api_token" else save_access_token_profile(emulator)
    answer = credential_get(run_bbwizard, emulator)
    assert answer["username"] == username and answer["password"] == token
    assert answer["username"] != "alice@example.com"


def test_the_email_in_a_clone_url_is_answered_with_the_api_token_username(emulator, git_home, run_bbwizard):
    save_api_token_profile(emulator)
    answer = credential_get(run_bbwizard, emulator, username="alice@example.com")
    assert answer["username"] == "x-bitbucket-api-token-auth"


def test_an_expired_api_token_says_to_make_a_new_one(emulator, git_home, run_bbwizard):
    save_api_token_profile(emulator, expires_on=date.today() - timedelta(days=1))
    done = run_bbwizard("credential", "get", input=f"protocol=http\nhost={emulator.git_host}\n\n")
    assert done.returncode != 0 and "password=" not in done.stdout
    assert "expired on" in done.stderr and "Create API token with scopes" in done.stderr
    assert "bbwizard login --with-api-token --email alice@example.com --profile me" in done.stderr


@pytest.mark.parametrize("kind", ["api_token", "access_token"])
def test_a_token_kind_clones_and_pulls_a_day_later(emulator, git_home, run_bbwizard, run_git, tmp_path, kind):
    if kind == "api_token":
        save_api_token_profile(emulator, date.today() + timedelta(days=30))
    else:
        save_access_token_profile(emulator)
    done = run_bbwizard("clone", "acme/webapp", str(tmp_path / "webapp"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "webapp" / ".git").is_dir()
    config = (tmp_path / "webapp" / ".git" / "config").read_text()
    assert ConfigStore().get().access_token.reveal() not in config
    saved = ConfigStore().path.read_bytes()
    emulator.clock = lambda: time.time() + DAY  # a day later on Bitbucket's side
    pulled = run_git("pull", "--ff-only", cwd=tmp_path / "webapp", check=False)
    assert pulled.returncode == 0, pulled.stderr
    assert ConfigStore().path.read_bytes() == saved  # nothing refreshed, nothing rewritten


def test_an_access_token_cannot_clone_outside_its_repository(emulator, git_home, run_bbwizard, tmp_path):
    save_access_token_profile(emulator)
    done = run_bbwizard("clone", "acme/firmware", str(tmp_path / "firmware"))
    assert done.returncode != 0
    assert not (tmp_path / "firmware").exists()
