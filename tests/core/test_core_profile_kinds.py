"""Profiles of three kinds on disk and their helpers: git's username, REST's authentication, the
token state of a token the person made (never refreshed, expired after the date they gave)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from bbwizard.config import ConfigStore, Profile
from bbwizard.errors import ConfigError, SignInRequired
from bbwizard.secret import Secret


def api_token_profile(**changes: object) -> Profile:
    profile = Profile(
        name="me",
        client_id="",
        kind="api_token",
        email="ada@example.com",
        access_token=Secret("ATATT-api-token-value"),
        token_expires_on=date(2027, 3, 1),
        site_url="http://127.0.0.1:7990",
        api_url="http://127.0.0.1:7990/2.0",
    )
    return profile.replace(**changes)


def access_token_profile(**changes: object) -> Profile:
    profile = Profile(
        name="ci",
        client_id="",
        kind="access_token",
        access_token=Secret("ATCTT-access-token-value"),
        reach={"workspace": "acme", "repository": "webapp"},
    )
    return profile.replace(**changes)


def test_each_kind_round_trips_through_the_file(config_path: Path) -> None:
    store = ConfigStore(config_path)
    store.save(api_token_profile())
    store.save(access_token_profile())
    loaded = ConfigStore(config_path).load()
    assert loaded["me"] == api_token_profile()
    assert loaded["ci"] == access_token_profile()
    text = config_path.read_text()
    assert 'kind = "api_token"' in text and "token_expires_on = 2027-03-01" in text
    assert 'kind = "access_token"' in text and "client_id" not in text


def test_a_profile_without_kind_is_an_oauth_one(config_path: Path) -> None:
    config_path.parent.mkdir(mode=0o700)
    config_path.write_text('version = 1\n[profiles.old]\nclient_id = "key"\naccess_token = "t"\n')
    config_path.chmod(0o600)
    profile = ConfigStore(config_path).get("old")
    assert profile.kind == "oauth" and profile.git_username == "x-token-auth"
    assert profile.rest_auth() == ("Bearer", "t")


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('kind = "app_password"', "kind"),
        ('token_expires_on = "next spring"', "token_expires_on"),
        ('reach = { team = "acme" }', "reach"),
    ],
)
def test_a_bad_kind_field_is_named_and_the_file_kept(config_path: Path, line: str, key: str) -> None:
    config_path.parent.mkdir(mode=0o700)
    body = f'version = 1\n[profiles.me]\n{line}\naccess_token = "t"\nclient_id = "k"\n'
    config_path.write_text(body)
    config_path.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        ConfigStore(config_path).get("me")
    assert key in caught.value.message and "profile 'me'" in caught.value.message
    assert config_path.read_text() == body


def test_git_username_per_kind_is_never_the_email() -> None:
    assert api_token_profile().git_username == "x-bitbucket-api-token-auth"
    assert access_token_profile().git_username == "x-token-auth"


def test_rest_auth_is_basic_with_the_email_for_api_tokens_and_bearer_otherwise() -> None:
    assert api_token_profile().rest_auth() == ("Basic", "ada@example.com", "ATATT-api-token-value")
    assert access_token_profile().rest_auth() == ("Bearer", "ATCTT-access-token-value")
    with pytest.raises(SignInRequired, match="email"):
        api_token_profile(email=None).rest_auth()
    with pytest.raises(SignInRequired, match="bbwizard login"):
        access_token_profile(access_token=None).rest_auth()


def test_token_kinds_never_refresh_and_are_fresh_until_the_day_after_their_expiry() -> None:
    profile = api_token_profile()
    assert not profile.can_refresh and not access_token_profile().can_refresh
    assert profile.token_state(datetime(2027, 3, 1, 23, 59, tzinfo=timezone.utc)) == "fresh"
    assert profile.token_state(datetime(2027, 3, 2, 0, 0, tzinfo=timezone.utc)) == "expired"
    assert profile.replace(token_expires_on=None).token_state() == "fresh"
    assert access_token_profile().token_state(datetime(2099, 1, 1, tzinfo=timezone.utc)) == "fresh"
    assert profile.signed_out().token_state() == "signed_out"
    assert profile.signed_out().email == "ada@example.com"
    assert access_token_profile().signed_out().reach == {"workspace": "acme", "repository": "webapp"}


def test_kinds_describe_themselves() -> None:
    assert api_token_profile().describe_kind() == "API token of ada@example.com"
    assert access_token_profile().describe_kind() == "access token for acme/webapp"
    assert access_token_profile(reach={"workspace": "acme", "project": "WEB"}).describe_kind() == "access token for project WEB in acme"
