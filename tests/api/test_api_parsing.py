"""Unit tests of how the REST client reads Bitbucket's answers (httpx.MockTransport: parsing only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bbwizard.api import (
    Branch,
    Repository,
    User,
    Workspace,
    consumer_permission,
    parse_branch,
    parse_repository,
    parse_user,
    parse_workspace_access,
)
from bbwizard.config import UserInfo
from bbwizard.errors import ProtocolError
from bbwizard.net import retry_after_seconds as _retry_after

REPO = {
    "type": "repository",
    "uuid": "{0b1c2d3e-0000-4000-8000-000000000001}",
    "full_name": "acme/widgets",
    "slug": "widgets",
    "name": "Widgets",
    "description": "Things that whirr",
    "is_private": False,
    "scm": "git",
    "language": "python",
    "size": 123456,
    "created_on": "2024-01-02T03:04:05.123456+00:00",
    "updated_on": "2026-05-06T07:08:09.654321+02:00",
    "mainbranch": {"type": "branch", "name": "trunk"},
    "project": {"type": "project", "key": "TOOLS", "name": "Tools", "uuid": "{p}"},
    "workspace": {"type": "workspace", "slug": "acme", "uuid": "{w}"},
    "links": {
        "clone": [
            {"name": "https", "href": "https://jdoe@bitbucket.org/acme/widgets.git"},
            {"name": "ssh", "href": "git@bitbucket.org:acme/widgets.git"},
        ],
        "html": {"href": "https://bitbucket.org/acme/widgets"},
    },
    "has_wiki": False,
    "some_field_from_the_future": {"nested": [1, 2, 3]},
}


def test_repository_is_read_into_typed_fields():
    repo = parse_repository(REPO)
    assert repo == Repository(
        uuid="{0b1c2d3e-0000-4000-8000-000000000001}",
        full_name="acme/widgets",
        slug="widgets",
        name="Widgets",
        workspace="acme",
        description="Things that whirr",
        is_private=False,
        language="python",
        size=123456,
        updated_on=datetime(2026, 5, 6, 5, 8, 9, 654321, tzinfo=UTC),
        mainbranch="trunk",
        project_key="TOOLS",
        project_name="Tools",
        clone_url="https://bitbucket.org/acme/widgets.git",
    )
    assert repo.updated_on.utcoffset() == timedelta(0)


def test_repository_clone_url_keeps_a_port_and_drops_user_and_password():
    data = dict(REPO, links={"clone": [{"name": "https", "href": "http://x-token-auth:tok@127.0.0.1:8123/acme/w.git"}]})
    assert parse_repository(data).clone_url == "http://127.0.0.1:8123/acme/w.git"


def test_repository_with_only_the_required_fields():
    repo = parse_repository({"uuid": "{u}", "full_name": "ws/only-this"})
    assert (repo.slug, repo.name, repo.workspace) == ("only-this", "only-this", "ws")
    assert repo.updated_on is None and repo.clone_url is None and repo.mainbranch is None
    assert repo.is_private is True  # unknown visibility is treated as private


def test_naive_update_time_is_taken_as_utc_and_z_is_understood():
    assert parse_repository(dict(REPO, updated_on="2026-01-01T00:00:00")).updated_on == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_repository(dict(REPO, updated_on="2026-01-01T00:00:00Z")).updated_on == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("drop", "sentence"),
    [
        ("full_name", "Bitbucket's answer for a repository lacks the required field `full_name`."),
        ("uuid", "Bitbucket's answer for repository 'acme/widgets' lacks the required field `uuid`."),
    ],
)
def test_missing_required_repository_field_is_named(drop, sentence):
    data = {k: v for k, v in REPO.items() if k != drop}
    with pytest.raises(ProtocolError) as caught:
        parse_repository(data)
    assert str(caught.value) == sentence


def test_wrongly_typed_field_is_named():
    with pytest.raises(ProtocolError) as caught:
        parse_repository(dict(REPO, full_name=42))
    assert str(caught.value) == "Bitbucket's answer for a repository has `full_name` as int, which bbwizard can't read."


def test_unreadable_date_is_a_protocol_error():
    with pytest.raises(ProtocolError) as caught:
        parse_repository(dict(REPO, updated_on="yesterday-ish"))
    assert str(caught.value) == "Bitbucket's answer for repository 'acme/widgets' has an unreadable date: 'yesterday-ish'."


def test_user_fields_and_display_name_fallback():
    data = {
        "type": "user",
        "uuid": "{11}",
        "display_name": "Jane Doe",
        "nickname": "jd",
        "username": "jdoe",
        "account_id": "557058:abc",
        "links": {"avatar": {"href": "x"}},
        "has_2fa_enabled": None,
    }
    assert parse_user(data) == User(display_name="Jane Doe", username="jdoe", uuid="{11}", account_id="557058:abc")
    assert parse_user({"uuid": "{12}", "nickname": "nick"}).display_name == "nick"
    assert User is UserInfo  # a fresh get_user() goes straight into Profile.user
    with pytest.raises(ProtocolError) as caught:
        parse_user({"display_name": "No Id"})
    assert str(caught.value) == "Bitbucket's answer for the signed-in user lacks the required field `uuid`."


def test_workspace_access_entry():
    data = {
        "type": "workspace_access",
        "administrator": True,
        "workspace": {"type": "workspace_base", "slug": "acme", "uuid": "{w}", "links": {}},
    }
    assert parse_workspace_access(data) == Workspace(slug="acme", uuid="{w}", name=None, administrator=True)
    with pytest.raises(ProtocolError) as caught:
        parse_workspace_access({"administrator": False})
    assert str(caught.value) == "Bitbucket's answer for a workspace of the signed-in user lacks the required field `workspace`."


def test_branch():
    assert parse_branch({"type": "branch", "name": "main", "target": {"hash": "abc123", "type": "commit"}}) == Branch("main", "abc123")
    assert parse_branch({"type": "branch", "name": "feature/ü"}) == Branch("feature/ü", None)


@pytest.mark.parametrize(
    ("scope", "permission"),
    [("account", "Account: Read"), ("repository", "Repositories: Read"), ("mystery", "mystery")],
)
def test_consumer_permission_for_a_scope(scope, permission):
    assert consumer_permission(scope) == permission


def test_retry_after_in_seconds_and_as_http_date():
    now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
    assert _retry_after("7", now) == 7.0
    assert _retry_after("Mon, 30 Nov 2026 12:00:42 GMT", now) == 42.0
    assert _retry_after("Mon, 30 Nov 2026 11:00:00 GMT", now) == 0.0  # already past
    assert _retry_after("soon", now) is None
    assert _retry_after(None, now) is None


# ---- whole answers through the client (MockTransport: parsing of bodies and statuses only)


async def test_bearer_header_and_json_accept(mock_client, respond):
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        seen["url"] = str(request.url)
        return respond(200, {"uuid": "{1}", "display_name": "A"})

    user = await mock_client(handler).get_user()
    assert user.display_name == "A"
    assert seen["authorization"] == "Bearer mock-access-token-0123456789"
    assert seen["accept"] == "application/json"
    assert seen["url"] == "https://api.bitbucket.example/2.0/user"


async def test_html_with_200_is_a_protocol_error(mock_client):
    def handler(request):
        return httpx.Response(200, content=b"<!doctype html><title>Hotel Wi-Fi</title>", headers={"Content-Type": "text/html"})

    with pytest.raises(ProtocolError) as caught:
        await mock_client(handler).get_user()
    assert str(caught.value) == (
        "api.bitbucket.example, asked for the signed-in user, answered with a web page instead of JSON (HTTP 200). "
        "A captive portal, a proxy or a wrong API URL (https://api.bitbucket.example/2.0) is in the way: open the "
        "site in a browser, sign in to the network if asked, check the API URL (https://api.bitbucket.example/2.0), "
        "then try again."
    )


async def test_truncated_json_is_a_protocol_error(mock_client):
    body = b'{"uuid": "{1}", "display_na'

    def handler(request):
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    with pytest.raises(ProtocolError) as caught:
        await mock_client(handler).get_user()
    cut_string = body.index(b'"display_na')  # where the unterminated string starts
    assert str(caught.value) == (
        "api.bitbucket.example, asked for the signed-in user, sent an answer that was cut off or malformed "
        f"(HTTP 200; the JSON breaks at character {cut_string}). "
        "Try again; if it keeps happening, a proxy may be damaging the connection."
    )


async def test_plain_text_is_a_protocol_error(mock_client):
    def handler(request):
        return httpx.Response(200, content=b"OK", headers={"Content-Type": "text/plain"})

    with pytest.raises(ProtocolError) as caught:
        await mock_client(handler).get_user()
    assert str(caught.value) == (
        "api.bitbucket.example, asked for the signed-in user, answered with something that isn't JSON (HTTP 200). "
        "Check the API URL (https://api.bitbucket.example/2.0) and any proxy, then try again."
    )


async def test_empty_body_is_a_protocol_error(mock_client):
    with pytest.raises(ProtocolError) as caught:
        await mock_client(lambda request: httpx.Response(200, content=b"")).get_user()
    assert str(caught.value) == (
        "api.bitbucket.example, asked for the signed-in user, answered with nothing at all (HTTP 200). "
        "Try again in a minute."
    )


async def test_redirect_is_not_followed(mock_client):
    def handler(request):
        return httpx.Response(302, headers={"Location": "http://portal.example/login"})

    with pytest.raises(ProtocolError) as caught:
        await mock_client(handler).get_user()
    assert str(caught.value) == (
        "Bitbucket answered the signed-in user with a redirect to http://portal.example/login instead of JSON. "
        "A captive portal, a proxy or a wrong API URL (https://api.bitbucket.example/2.0) can cause this."
    )


async def test_page_without_values_names_the_field(mock_client, respond):
    with pytest.raises(ProtocolError) as caught:
        await mock_client(lambda request: respond(200, {"pagelen": 10})).list_workspaces()
    assert str(caught.value) == "Bitbucket's answer for the workspaces of the signed-in user lacks the required field `values`."


async def test_error_body_text_is_redacted(mock_client, respond):
    secret_token = "mock-access-token-0123456789"

    def handler(request):
        return respond(404, {"type": "error", "error": {"message": f"No such thing for Bearer {secret_token}"}})

    with pytest.raises(Exception) as caught:
        await mock_client(handler).get_workspace("nope")
    assert secret_token not in str(caught.value)
    assert str(caught.value) == "Bitbucket has no workspace 'nope', or this account can't see it: No such thing for Bearer ***."


async def test_scope_error_from_json_string_detail(mock_client, respond):
    from bbwizard.errors import ScopeError

    def handler(request):
        return respond(
            403,
            {
                "type": "error",
                "error": {
                    "message": "Your credentials lack one or more required privilege scopes.",
                    "detail": '{"granted": ["account"], "required": ["repository"]}',
                },
            },
        )

    with pytest.raises(ScopeError) as caught:
        await mock_client(handler).get_repository("acme", "widgets")
    assert caught.value.missing == ["repository"]
    assert str(caught.value) == (
        "The token lacks the repository scope needed for repository 'acme/widgets'. In Bitbucket: "
        "Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers) → your client → Scopes (Permissions on the older form), tick "
        "Repositories: Read, "
        "save, then sign in again (bbwizard login)."
    )


@pytest.mark.parametrize("url", ["ftp://api.bitbucket.org/2.0", "api.bitbucket.org/2.0", "https:///2.0", ""])
def test_api_url_that_is_not_http_is_refused(static_token, url):
    from bbwizard.api import BitbucketClient
    from bbwizard.errors import UsageError

    with pytest.raises(UsageError) as caught:
        BitbucketClient(url, static_token)
    assert str(caught.value) == f"The API URL {url!r} is not an http(s) address, like https://api.bitbucket.org/2.0."


def test_plain_http_to_bitbucket_is_refused_before_any_request(static_token):
    from bbwizard.api import BitbucketClient
    from bbwizard.errors import UsageError

    with pytest.raises(UsageError) as caught:
        BitbucketClient("http://api.bitbucket.org/2.0", static_token)
    assert str(caught.value) == (
        "The API URL http://api.bitbucket.org/2.0 is plain http: bbwizard sends the consumer secret and tokens to "
        "Bitbucket only over HTTPS. Use https://api.bitbucket.org/2.0 instead."
    )
