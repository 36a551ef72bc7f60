"""Finishing a sign-in (`bbwizard.signin`), as `bbwizard login` and the wizard's Token step both do it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbwizard import oauth
from bbwizard.config import ConfigStore, Profile, UserInfo
from bbwizard.emulator import PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET
from bbwizard.errors import NetworkError
from bbwizard.secret import Secret
from bbwizard.signin import finish_sign_in


def consumer(emu, name: str = "work") -> Profile:
    return Profile(name=name, client_id=PRIVATE_CONSUMER_KEY, client_secret=Secret(PRIVATE_CONSUMER_SECRET),
                   site_url=emu.site_url, api_url=emu.api_url, grant="client_credentials")


def test_signing_in_again_keeps_the_profiles_own_settings(emu, signed_in, config_path: Path) -> None:
    store = ConfigStore(config_path)
    signed_in(name="other")  # the default
    old = signed_in(name="work", user=UserInfo("Old Name", "old", "{old}", None))
    store.save(old.replace(clone_dir="/srv/clones", workspaces=["acme"]).with_refresh_refused(), make_default=False)

    fresh = consumer(emu)
    done = finish_sign_in(store, fresh, oauth.client_credentials(fresh))

    saved = store.get("work")
    assert saved.access_token == done.profile.access_token and saved.user == done.profile.user
    assert (saved.clone_dir, saved.workspaces) == ("/srv/clones", ["acme"])  # its own settings stay
    assert store.default_name == "other"  # and so does which profile is the default
    assert saved.refresh_refused_at is None and saved.token_state() == "fresh"
    assert saved.access_token != old.access_token and saved.grant == "client_credentials"
    assert saved.user is not None and saved.user.username != "old"  # who the new token belongs to
    assert done.user_error is None and done.missing_scopes == []
    done.raise_problems()


def test_a_clone_folder_given_at_sign_in_replaces_the_saved_one(emu, signed_in, config_path: Path) -> None:
    store = ConfigStore(config_path)
    store.save(signed_in(name="work").replace(clone_dir="/srv/old"))
    fresh = consumer(emu).replace(clone_dir="/srv/new")
    finish_sign_in(store, fresh, oauth.client_credentials(fresh))
    assert store.get("work").clone_dir == "/srv/new"


def test_a_failing_who_am_i_keeps_the_saved_tokens_and_says_why(emu, config_path: Path) -> None:
    store = ConfigStore(config_path)
    fresh = consumer(emu)
    tokens = oauth.client_credentials(fresh)
    emu.inject(kind="status", status=500, count=3, path_prefix="/2.0/user")

    done = finish_sign_in(store, fresh, tokens)

    saved = store.get("work")
    assert saved.access_token == tokens.access_token and saved.user is None  # the tokens are not lost
    assert isinstance(done.user_error, NetworkError)
    assert str(done.user_error) == "Bitbucket's API failed (HTTP 500). Try again in a minute."
    with pytest.raises(NetworkError):
        done.raise_problems()


def test_login_says_what_was_saved_before_the_trouble_with_who_am_i(emu, run_cli, login_argv, config_path) -> None:
    emu.inject(kind="status", status=500, count=3, path_prefix="/2.0/user")
    result = run_cli(login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials", "--profile", "work"),
                     input=PRIVATE_CONSUMER_SECRET + "\n")
    assert result.returncode == 1
    assert f"✓ Saved profile 'work' in {config_path}" in result.stderr
    assert result.stderr.rstrip().endswith("X Bitbucket's API failed (HTTP 500). Try again in a minute.")
    saved = ConfigStore(config_path).get("work")
    assert saved.access_token is not None and saved.user is None
