"""API tokens and repository/project/workspace access tokens, with Bitbucket's rules
(bitbucket-cloud.md "Git over HTTPS"): REST over real HTTP, git with the real git client."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from bbwizard.emulator import (
    DEMO_ACCESS_TOKEN,
    DEMO_API_TOKEN,
    DEMO_API_TOKEN_EMAIL,
    Emulator,
    SeedError,
    demo_seed,
)

INVALID = "Token is invalid, expired, or not supported for this endpoint."
ALL = ["read:user:bitbucket", "read:workspace:bitbucket", "read:repository:bitbucket", "write:repository:bitbucket"]
# A credential helper that answers from the environment, so no secret is in argv.
HELPER = '!f() { test "$1" = get && printf "username=%s\\npassword=%s\\n" "$BBW_TEST_USER" "$BBW_TEST_PASS"; }; f'


def git(env, *args, user, password, cwd=None):
    env = {**env, "BBW_TEST_USER": user, "BBW_TEST_PASS": password, "GIT_CONFIG_COUNT": "2",
           "GIT_CONFIG_KEY_0": "credential.helper", "GIT_CONFIG_VALUE_0": "",
           "GIT_CONFIG_KEY_1": "credential.helper", "GIT_CONFIG_VALUE_1": HELPER}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


@pytest.fixture
def basic(http):
    """basic(emu, path, user, password, **params) -> httpx.Response with Basic auth."""

    def run(emu, path, user, password, **params):
        return http.get(emu.api_url + path, params=params, auth=(user, password))

    return run


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# ---- API tokens on REST --------------------------------------------------------------------------


def test_an_api_token_works_on_rest_with_basic_email_and_token(emulator, basic):
    me = basic(emulator, "/user", DEMO_API_TOKEN_EMAIL, DEMO_API_TOKEN)
    assert me.status_code == 200 and me.json()["username"] == "alice"
    slugs = {v["workspace"]["slug"] for v in basic(emulator, "/user/workspaces", DEMO_API_TOKEN_EMAIL, DEMO_API_TOKEN).json()["values"]}
    assert slugs == {"acme", "alice", "open-tools"}
    repos = basic(emulator, "/repositories/acme", DEMO_API_TOKEN_EMAIL, DEMO_API_TOKEN, role="member").json()["values"]
    assert "webapp" in {r["slug"] for r in repos}
    assert basic(emulator, "/repositories/acme/webapp/refs/branches", DEMO_API_TOKEN_EMAIL, DEMO_API_TOKEN).status_code == 200


def test_the_email_is_matched_without_regard_to_case(emulator, basic):
    assert basic(emulator, "/user", DEMO_API_TOKEN_EMAIL.upper(), DEMO_API_TOKEN).status_code == 200


def test_an_api_token_as_bearer_is_refused(emulator, api):
    response = api(emulator, "/user", DEMO_API_TOKEN)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == INVALID


@pytest.mark.parametrize("user", ["alice", "x-bitbucket-api-token-auth", "bob@example.com", ""])
def test_an_api_token_on_rest_wants_its_own_email(emulator, basic, user):
    response = basic(emulator, "/user", user, DEMO_API_TOKEN)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == INVALID


def test_an_oauth_token_or_an_access_token_in_basic_is_refused_on_rest(emulator, basic):
    oauth = emulator.mint_token("bbwDemoKey7qR2mN4x")["access_token"]
    for user, password in (("x-token-auth", oauth), ("alice", oauth), ("x-token-auth", DEMO_ACCESS_TOKEN)):
        assert basic(emulator, "/repositories/acme/webapp", user, password).status_code == 401


@pytest.mark.parametrize(("scopes", "path", "required"), [
    (["read:repository:bitbucket"], "/user", "read:user:bitbucket"),
    (["read:repository:bitbucket"], "/user/workspaces", "read:workspace:bitbucket"),
    (["read:repository:bitbucket"], "/workspaces/acme", "read:workspace:bitbucket"),
    (["read:user:bitbucket", "read:workspace:bitbucket"], "/repositories/acme", "read:repository:bitbucket"),
    (["read:user:bitbucket", "write:repository:bitbucket"], "/repositories/acme/webapp", "read:repository:bitbucket"),
    (["read:user:bitbucket"], "/repositories/acme/webapp/refs/branches", "read:repository:bitbucket"),
])
def test_each_endpoint_names_the_granular_scope_it_needs(emulator, basic, scopes, path, required):
    token = emulator.add_api_token("bob@example.com", scopes)
    response = basic(emulator, path, "bob@example.com", token)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["message"] == "Your credentials lack one or more required privilege scopes."
    assert error["detail"] == {"granted": scopes, "required": [required]}


@pytest.mark.parametrize(("scopes", "path"), [
    (["read:user:bitbucket"], "/user"),
    (["read:workspace:bitbucket"], "/user/workspaces"),
    (["read:workspace:bitbucket"], "/workspaces/acme"),
    (["read:repository:bitbucket"], "/repositories/acme/webapp"),
])
def test_the_one_granular_scope_is_enough(emulator, basic, scopes, path):
    token = emulator.add_api_token("bob@example.com", scopes)
    assert basic(emulator, path, "bob@example.com", token).status_code == 200


def test_an_unscoped_api_token_is_refused_everywhere(emulator, basic, git_env):
    token = emulator.add_api_token("alice@example.com", [])
    for path in ("/user", "/repositories/acme/webapp"):
        response = basic(emulator, path, "alice@example.com", token)
        assert response.status_code == 401 and response.json()["error"]["message"] == INVALID
    result = git(git_env, "ls-remote", emulator.clone_url("acme", "webapp"), user="x-bitbucket-api-token-auth", password=token)
    assert result.returncode != 0 and "Authentication failed" in result.stderr


def test_an_api_token_works_through_its_expiry_date_and_not_after(emulator, basic, git_env):
    token = emulator.add_api_token("alice@example.com", ALL, expires_on=date(2027, 3, 1))
    url = emulator.clone_url("acme", "webapp")
    emulator.clock = lambda: at("2027-03-01T23:59:59")
    assert basic(emulator, "/user", "alice@example.com", token).status_code == 200
    assert git(git_env, "ls-remote", url, user="x-bitbucket-api-token-auth", password=token).returncode == 0
    emulator.clock = lambda: at("2027-03-02T00:00:00")
    response = basic(emulator, "/user", "alice@example.com", token)
    assert response.status_code == 401 and response.json()["error"]["message"] == INVALID
    result = git(git_env, "ls-remote", url, user="x-bitbucket-api-token-auth", password=token)
    assert result.returncode != 0 and "Authentication failed" in result.stderr


def test_an_expiry_with_a_time_ends_at_that_time(emulator, basic):
    token = emulator.add_api_token("alice@example.com", ALL, expires_on="2027-03-01T12:00:00+00:00")
    emulator.clock = lambda: at("2027-03-01T11:59:59")
    assert basic(emulator, "/user", "alice@example.com", token).status_code == 200
    emulator.clock = lambda: at("2027-03-01T12:00:00")
    assert basic(emulator, "/user", "alice@example.com", token).status_code == 401


def test_add_api_token_knows_whose_email_it_is(emulator):
    with pytest.raises(SeedError, match="no seeded user has the email"):
        emulator.add_api_token("nobody@example.com", ALL)
    with pytest.raises(SeedError, match="is not the email of 'bob'"):
        emulator.add_api_token("alice@example.com", ALL, user="bob")
    token = emulator.add_api_token("alice@example.com", ALL, user="{4b1d8c3e-2f6a-4c9b-8e7d-1a2b3c4d5e6f}")
    assert token.startswith("ATATT") and emulator.world.api_tokens[token].username == "alice"


# ---- API tokens on git ---------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["x-bitbucket-api-token-auth", "alice"])
def test_git_clones_with_an_api_token_and_either_username(emulator, git_env, tmp_path, user):
    result = git(git_env, "clone", "--", emulator.clone_url("acme", "webapp"), str(tmp_path / "w"), user=user, password=DEMO_API_TOKEN)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "w" / "README.md").read_text().startswith("# webapp")


@pytest.mark.parametrize("user", ["alice@example.com", "x-token-auth", "bob"])
def test_git_refuses_an_api_token_with_the_email_or_another_username(emulator, git_env, tmp_path, user):
    result = git(git_env, "clone", "--", emulator.clone_url("acme", "webapp"), str(tmp_path / "w"), user=user, password=DEMO_API_TOKEN)
    assert result.returncode != 0 and "Authentication failed" in result.stderr
    assert emulator.stats.count("/acme/webapp.git/info/refs", status=401) >= 1
    assert not (tmp_path / "w").exists()


def test_git_wants_read_repository_to_clone_and_write_repository_to_push(emulator, git_env):
    url = emulator.clone_url("acme", "webapp")
    user = "x-bitbucket-api-token-auth"
    no_read = emulator.add_api_token("alice@example.com", ["read:user:bitbucket"])
    result = git(git_env, "ls-remote", url, user=user, password=no_read)
    assert result.returncode != 0 and "403" in result.stderr
    read_only = emulator.add_api_token("alice@example.com", ["read:repository:bitbucket"])
    assert git(git_env, "ls-remote", url, user=user, password=read_only).returncode == 0
    pushed = git(git_env, "push", "--dry-run", url, "HEAD:refs/heads/x", user=user, password=read_only, cwd=emulator.materialise("acme", "webapp"))
    assert pushed.returncode != 0 and "403" in pushed.stderr
    assert emulator.stats.count("/acme/webapp.git/info/refs", status=403) >= 2


# ---- access tokens -------------------------------------------------------------------------------


def test_an_access_token_works_on_rest_as_bearer(emulator, api):
    response = api(emulator, "/repositories/acme/webapp", DEMO_ACCESS_TOKEN)
    assert response.status_code == 200 and response.json()["full_name"] == "acme/webapp"
    assert api(emulator, "/repositories/acme/webapp/refs/branches", DEMO_ACCESS_TOKEN).status_code == 200


@pytest.mark.parametrize("path", ["/user", "/user/workspaces"])
def test_user_endpoints_refuse_an_access_token(emulator, api, path):
    response = api(emulator, path, DEMO_ACCESS_TOKEN)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["message"].startswith("This API is only accessible with the following authentication types")
    assert "detail" not in error  # nothing to tick: no scope makes it work


@pytest.mark.parametrize(("kind", "reach", "expected"), [
    ("repository", {"repository": "webapp"}, {"webapp"}),
    ("project", {"project": "WEB"}, {"webapp", "legacy-billing"}),
    ("workspace", {}, {"webapp", "legacy-billing", "firmware", "infrastructure"}),
])
def test_an_access_token_reaches_its_repository_project_or_workspace(emulator, api, git_env, kind, reach, expected):
    token = emulator.add_access_token(kind, "acme", **reach)
    assert token.startswith("ATCTT")
    for role in ({"role": "member"}, {}):
        listed = api(emulator, "/repositories/acme", token, **role).json()["values"]
        assert {r["slug"] for r in listed} == expected
    for slug in ("webapp", "legacy-billing", "firmware", "infrastructure"):
        status = api(emulator, f"/repositories/acme/{slug}", token).status_code
        assert status == (200 if slug in expected else 404), slug
        result = git(git_env, "ls-remote", emulator.clone_url("acme", slug), user="x-token-auth", password=token)
        assert (result.returncode == 0) == (slug in expected), (slug, result.stderr)
    assert api(emulator, "/repositories/alice/dotfiles", token).status_code == 404
    assert api(emulator, "/repositories/alice", token, role="member").json()["values"] == []


def test_an_access_token_sees_public_repositories_as_anyone_does(emulator, api):
    listed = api(emulator, "/repositories/open-tools", DEMO_ACCESS_TOKEN).json()["values"]
    assert {r["slug"] for r in listed} == {"cafe-menu", "-dash-first"}  # data-pipeline is private
    assert api(emulator, "/repositories/open-tools", DEMO_ACCESS_TOKEN, role="member").json()["values"] == []


def test_an_access_token_needs_its_scopes(emulator, api, git_env):
    token = emulator.add_access_token("repository", "acme", repository="webapp", scopes=["pullrequest:write"])
    response = api(emulator, "/repositories/acme/webapp", token)
    assert response.status_code == 200  # pullrequest:write implies repository
    admin_only = emulator.add_access_token("repository", "acme", repository="webapp", scopes=["repository:admin"])
    response = api(emulator, "/repositories/acme/webapp", admin_only)
    assert response.status_code == 403
    assert response.json()["error"]["detail"] == {"granted": ["repository:admin"], "required": ["repository"]}
    url = emulator.clone_url("acme", "webapp")
    assert "403" in git(git_env, "ls-remote", url, user="x-token-auth", password=admin_only).stderr
    read_only = emulator.add_access_token("repository", "acme", repository="webapp")
    pushed = git(git_env, "push", "--dry-run", url, "HEAD:refs/heads/x", user="x-token-auth", password=read_only,
                 cwd=emulator.materialise("acme", "webapp"))
    assert pushed.returncode != 0 and "403" in pushed.stderr


@pytest.mark.parametrize("user", ["x-bitbucket-api-token-auth", "alice", ""])
def test_git_takes_an_access_token_only_with_x_token_auth(emulator, git_env, tmp_path, user):
    result = git(git_env, "ls-remote", emulator.clone_url("acme", "webapp"), user=user or "nobody", password=DEMO_ACCESS_TOKEN)
    assert result.returncode != 0 and "Authentication failed" in result.stderr


def test_git_clones_with_the_demo_access_token(emulator, git_env, tmp_path):
    result = git(git_env, "clone", "--", emulator.clone_url("acme", "webapp"), str(tmp_path / "w"), user="x-token-auth", password=DEMO_ACCESS_TOKEN)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "w" / "app" / "views.py").exists()


# ---- the seed ------------------------------------------------------------------------------------


def test_the_demo_seed_holds_an_api_token_and_a_repository_access_token():
    seed = demo_seed()
    (api_token,) = seed["api_tokens"]
    assert api_token["token"] == DEMO_API_TOKEN and api_token["email"] == DEMO_API_TOKEN_EMAIL
    assert set(api_token["scopes"]) == set(ALL)
    (access,) = seed["access_tokens"]
    assert access["token"] == DEMO_ACCESS_TOKEN and (access["kind"], access["workspace"], access["repository"]) == ("repository", "acme", "webapp")
    world = Emulator(seed).world
    assert world.api_tokens[DEMO_API_TOKEN].expires_at > datetime.now(UTC)


def test_seed_tokens_by_account_uuid_email_and_expiry(tmp_path):
    seed = demo_seed()
    seed["api_tokens"] = [
        {"token": "T1", "account": "{9e8d7c6b-5a49-4838-a271-605f4e3d2c1b}", "scopes": []},
        {"token": "T2", "email": "alice@example.com", "expires_on": date(2027, 1, 31)},
        {"token": "T3", "username": "alice", "expires_on": "2027-01-31T08:00:00Z"},
    ]
    seed["access_tokens"] = [{"token": "P", "kind": "project", "workspace": "acme", "project": "HW", "scopes": ["repository:write"]}]
    world = Emulator(seed).world
    assert (world.api_tokens["T1"].username, world.api_tokens["T1"].email, world.api_tokens["T1"].scopes) == ("bob", "bob@example.com", [])
    assert world.api_tokens["T2"].expires_at == datetime(2027, 2, 1, tzinfo=UTC)
    assert world.api_tokens["T2"].scopes == ALL
    assert world.api_tokens["T3"].expires_at == datetime(2027, 1, 31, 8, tzinfo=UTC)
    bot = world.access_tokens["P"].bot
    assert bot in world.users and not any(bot in ws.members for ws in world.workspaces.values())


@pytest.mark.parametrize(("table", "entry", "words"), [
    ("api_tokens", {"token": "T", "account": "carol"}, "account 'carol' is not a seeded user"),
    ("api_tokens", {"token": "T"}, "needs an email or an account"),
    ("api_tokens", {"email": "alice@example.com"}, "needs a token"),
    ("api_tokens", {"token": "T", "account": "alice", "email": "bob@example.com"}, "is not the email of 'alice'"),
    ("api_tokens", {"token": "T", "account": "alice", "expires_on": "soon"}, "neither a date"),
    ("api_tokens", {"token": "T", "account": "alice", "scopes": "read:repository:bitbucket"}, "scopes is a list"),
    ("access_tokens", {"token": "A", "kind": "team", "workspace": "acme"}, "kind is one of"),
    ("access_tokens", {"token": "A", "kind": "repository", "workspace": "nope", "repository": "webapp"}, "workspace 'nope'"),
    ("access_tokens", {"token": "A", "kind": "repository", "workspace": "acme", "repository": "dotfiles"}, "repository 'dotfiles'"),
    ("access_tokens", {"token": "A", "kind": "project", "workspace": "acme", "project": "PER"}, "project 'PER'"),
])
def test_bad_token_entries_say_what_is_wrong(table, entry, words):
    seed = demo_seed()
    seed[table] = [entry]
    with pytest.raises(SeedError, match=words):
        Emulator(seed)


# ---- what a person is shown ------------------------------------------------------------------------


def test_the_start_lines_show_the_demo_tokens_and_no_other(emulator_factory, capsys):
    from bbwizard.emulator.foreground import _announce

    seed = demo_seed()
    seed["api_tokens"].append({"token": "ATATT-bobs-own-secret", "account": "bob"})
    seed["access_tokens"].append({"token": "ATCTT-another-secret", "kind": "workspace", "workspace": "acme"})
    emu = emulator_factory(seed)
    _announce(emu, seed, ok=lambda text: print(text, file=sys.stderr), info=lambda text: print(text, file=sys.stderr))
    shown = capsys.readouterr().err
    assert DEMO_API_TOKEN in shown and DEMO_ACCESS_TOKEN in shown
    expiry = (emu.world.api_tokens[DEMO_API_TOKEN].expires_at - timedelta(days=1)).date().isoformat()
    assert f"API token of alice@example.com (expires {expiry};" in shown
    assert "git user x-bitbucket-api-token-auth" in shown and "repository access token of acme/webapp" in shown
    assert "bobs-own-secret" not in shown and "another-secret" not in shown


def test_demo_no_tui_shows_the_demo_tokens(emulator, capsys, tmp_path):
    from bbwizard.cli.app import _print_demo
    from bbwizard.emulator import demo_consumer

    _print_demo(emulator, demo_consumer(demo_seed()), "http://localhost:8976/", tmp_path)
    shown = capsys.readouterr().err
    assert f"API token of {DEMO_API_TOKEN_EMAIL}" in shown and f"    {DEMO_API_TOKEN}\n" in shown
    assert f"    {DEMO_ACCESS_TOKEN}\n" in shown


def test_a_seed_without_the_demo_tokens_shows_none(emulator_factory):
    from bbwizard.emulator.foreground import demo_token_lines

    seed = demo_seed()
    seed["api_tokens"], seed["access_tokens"] = [], []
    assert demo_token_lines(emulator_factory(seed)) == []
