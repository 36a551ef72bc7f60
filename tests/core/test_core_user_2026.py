"""After a sign-in, `GET /user` as Bitbucket answers it since 2026: an app user without a username,
a 403 that names no scope, granular scope names; and a 403 that names a scope still says which
permission to tick."""

from __future__ import annotations

import json

import httpx
import pytest

from bbwizard import net
from bbwizard.config import ConfigStore
from bbwizard.emulator import PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET
from bbwizard.errors import ScopeError
from bbwizard.secret import Secret

API = "https://api.bitbucket.org/2.0"


def _answer(status: int, body: object) -> httpx.MockTransport:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.MockTransport(lambda request: httpx.Response(status, content=content))


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({"type": "error", "error": {"message": "Your credentials lack one or more required privilege scopes.",
                                     "detail": {"granted": ["repository"], "required": ["account"]}}}, ["account"]),
        ({"type": "error", "error": {"message": "Forbidden",
                                     "detail": {"granted": [], "required": ["read:user:bitbucket"]}}}, ["account"]),
        ({"type": "error", "error": {"message": "Your credentials lack one or more required privilege scopes."}}, ["account"]),
        ({"type": "error", "error": {"message": "x", "detail": {"required": ["read:thing:bitbucket"]}}}, ["read:thing:bitbucket"]),
    ],
)
def test_a_403_that_names_a_scope_is_a_scope_error(body, missing) -> None:
    with pytest.raises(ScopeError) as caught:
        net.fetch_user(API, Secret("t"), transport=_answer(403, body))
    assert caught.value.missing == missing


@pytest.mark.parametrize(
    "body",
    [
        {"type": "error", "error": {"message": "This API is not available to app users."}},
        b"Forbidden",
        {"type": "error", "error": {"message": "Access denied \x1b]0;x\x07 here"}},
    ],
)
def test_a_403_that_names_no_scope_says_bitbucket_did_not_say_who(body) -> None:
    with pytest.raises(net.UserNotShown) as caught:
        net.fetch_user(API, Secret("t"), transport=_answer(403, body))
    message = str(caught.value)
    assert message.startswith("Bitbucket didn't say who this token belongs to (HTTP 403")
    assert "Account: Read" not in message and "\x1b" not in message and "\x07" not in message


def test_an_app_user_document_parses_without_a_username() -> None:
    user = net.parse_user({"type": "app_user", "display_name": "CI bot", "uuid": "{1}", "account_id": "712020:1"})
    assert user.username is None and user.label == "CI bot"


@pytest.mark.parametrize(
    ("scopes", "missing"),
    [
        (["read:user:bitbucket", "read:repository:bitbucket"], []),
        (["read:user:bitbucket", "write:repository:bitbucket"], []),
        (["read:workspace:bitbucket"], ["repository"]),
        (["read:repository:bitbucket"], ["account"]),
        (["read:pipeline:bitbucket"], ["account", "repository"]),
        (["account", "something:new"], []),  # unknown: not taken as missing
        (["account", "repository:admin"], ["repository"]),
    ],
)
def test_granular_scope_names_count_as_their_classic_ones(scopes, missing) -> None:
    assert net.missing_scopes(scopes) == missing


def test_refused_scopes_names_the_classic_permission() -> None:
    assert net.refused_scopes({"granted": ["read:user:bitbucket"], "required": ["read:repository:bitbucket"]}) == ["repository"]
    assert net.refused_scopes({"required": ["account"], "granted": ["read:user:bitbucket"]}) == ["account"]


def test_git_reads_with_granular_or_unknown_scopes() -> None:
    from bbwizard.git.failures import has_read_scope

    assert has_read_scope(["read:repository:bitbucket"]) and has_read_scope(["a:new:name"])
    assert not has_read_scope(["read:user:bitbucket"]) and not has_read_scope(["account"])


# ---- against the emulator --------------------------------------------------------------------


def _sign_in_with_client_credentials(emu, tmp_path):
    from bbwizard import oauth
    from bbwizard.config import Profile
    from bbwizard.signin import finish_sign_in

    store = ConfigStore(tmp_path / "config.toml")
    consumer = Profile(name="ci", client_id=PRIVATE_CONSUMER_KEY, client_secret=Secret(PRIVATE_CONSUMER_SECRET),
                       site_url=emu.site_url, api_url=emu.api_url, grant="client_credentials")
    tokens = oauth.client_credentials(consumer)
    return store, finish_sign_in(store, consumer, tokens)


def test_an_app_user_signs_in_without_a_username(emulator, tmp_path) -> None:
    store, done = _sign_in_with_client_credentials(emulator, tmp_path)
    done.raise_problems()
    assert done.user_error is None and done.user_note is None
    saved = store.get("ci")
    assert saved.user.display_name == "acme CI (private) (app user)" and saved.user.username is None
    assert saved.refresh_token is None and saved.can_refresh  # client_credentials again, when it expires


def test_an_app_user_refused_get_user_keeps_the_profile(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(app_user_profile="forbidden")
    store, done = _sign_in_with_client_credentials(emu, tmp_path)
    done.raise_problems()  # not a problem: the sign-in stands
    assert done.user_note.startswith("Bitbucket didn't say who this token belongs to (HTTP 403: This API is not available")
    saved = store.get("ci")
    assert saved.user is None and saved.access_token is not None


def test_granular_scope_names_in_the_token_answer_sign_in(emulator_factory, tmp_path) -> None:
    emu = emulator_factory(scope_names="granular")
    store, done = _sign_in_with_client_credentials(emu, tmp_path)
    assert done.granted == ["read:user:bitbucket", "read:workspace:bitbucket", "read:repository:bitbucket"]
    assert done.missing_scopes == []
    done.raise_problems()


def test_a_granular_403_names_the_permission_to_tick(emulator_factory, tmp_path) -> None:
    from bbwizard.emulator import ACCOUNT_ONLY_CONSUMER_KEY

    emu = emulator_factory(scope_names="granular")
    token = emu.mint_token(ACCOUNT_ONLY_CONSUMER_KEY, scopes=["repository"])["access_token"]
    with pytest.raises(ScopeError) as caught:
        net.fetch_user(emu.api_url, Secret(token))
    assert caught.value.missing == ["account"] and "Account: Read" in str(caught.value)
