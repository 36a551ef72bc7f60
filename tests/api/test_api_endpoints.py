"""Each endpoint of the REST client against the emulator, over real loopback HTTP."""

from __future__ import annotations

import re
from datetime import UTC

import pytest

from bbwizard.api import Workspace
from bbwizard.emulator import ACCOUNT_ONLY_CONSUMER_KEY, ACCOUNT_ONLY_CONSUMER_SECRET
from bbwizard.errors import BBWizardError, ScopeError


async def test_get_user(emulator, api_for):
    user = await api_for(emulator).get_user()
    assert (user.display_name, user.username, user.label) == ("Alice Liddell", "alice", "Alice Liddell (alice)")
    assert user.uuid == "{4b1d8c3e-2f6a-4c9b-8e7d-1a2b3c4d5e6f}"
    assert user.account_id == "557058:4b1d8c3e-2f6a-4c9b-8e7d-1a2b3c4d5e6f"


async def test_list_workspaces_without_and_with_names(emulator, api_for):
    api = api_for(emulator)
    plain = await api.list_workspaces()
    assert {(w.slug, w.administrator, w.name) for w in plain} == {
        ("acme", True, None),
        ("alice", True, None),
        ("open-tools", False, None),
    }
    named = {w.slug: w for w in await api.list_workspaces(names=True)}
    assert named["acme"].name == "Acme Robotics" and named["acme"].administrator is True
    assert named["open-tools"].name == "Open Tools" and named["open-tools"].is_private is False


async def test_get_workspace_and_an_unknown_one(emulator, api_for):
    api = api_for(emulator)
    acme = await api.get_workspace("acme")
    assert isinstance(acme, Workspace) and acme.name == "Acme Robotics" and acme.uuid.startswith("{")
    with pytest.raises(BBWizardError) as caught:
        await api.get_workspace("no-such-ws")
    assert str(caught.value) == (
        "Bitbucket has no workspace 'no-such-ws', or this account can't see it: No workspace with identifier 'no-such-ws'."
    )


async def test_get_repository(emulator, api_for):
    repo = await api_for(emulator).get_repository("acme", "webapp")
    assert (repo.full_name, repo.slug, repo.workspace, repo.mainbranch) == ("acme/webapp", "webapp", "acme", "main")
    assert repo.clone_url == f"{emulator.site_url}/acme/webapp.git"  # alice@ stripped
    assert repo.updated_on is not None and repo.updated_on.tzinfo is UTC
    assert repo.project_key and repo.is_private is True


async def test_repository_with_a_leading_dash_and_unicode_name(emulator, api_for):
    repos = {r.slug: r for r in await api_for(emulator).list_repositories("open-tools")}
    assert repos["-dash-first"].full_name == "open-tools/-dash-first"
    assert repos["cafe-menu"].name == "Café Menü ☕"
    assert repos["-dash-first"].clone_url == f"{emulator.site_url}/open-tools/-dash-first.git"


async def test_list_repositories_sorted_by_update_and_filtered(emulator, api_for):
    api = api_for(emulator)
    repos = await api.list_repositories("acme")
    assert {r.slug for r in repos} == {"webapp", "firmware", "infrastructure", "legacy-billing"}
    times = [r.updated_on for r in repos]
    assert times == sorted(times, reverse=True)  # one page, so arrival order is page order
    webish = await api.list_repositories("acme", query='name ~ "web"')
    assert [r.slug for r in webish] == ["webapp"]


async def test_list_branches(emulator, api_for):
    branches = await api_for(emulator).list_branches("acme", "webapp")
    assert {b.name for b in branches} == {"main", "develop", "feature/login-page"}
    assert all(re.fullmatch(r"[0-9a-f]{40}", b.commit) for b in branches)


async def test_unknown_repository(emulator, api_for):
    with pytest.raises(BBWizardError) as caught:
        await api_for(emulator).get_repository("acme", "nope")
    assert str(caught.value).startswith("Bitbucket has no repository 'acme/nope', or this account can't see it: ")


async def test_missing_scope_names_the_permission_to_tick(emulator, api_for, tokens_for):
    tokens = tokens_for(emulator, ACCOUNT_ONLY_CONSUMER_KEY, ACCOUNT_ONLY_CONSUMER_SECRET)
    api = api_for(emulator, tokens)
    assert (await api.get_user()).username == "alice"  # `account` is there
    with pytest.raises(ScopeError) as caught:
        await api.list_repositories("acme")
    assert caught.value.missing == ["repository"]
    assert str(caught.value) == (
        "The token lacks the repository scope needed for the repositories of workspace 'acme'. In Bitbucket: "
        "Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers) → your client → Scopes (Permissions on the older form), tick "
        "Repositories: Read, "
        "save, then sign in again (bbwizard login)."
    )
    assert tokens.refreshes == 0  # a 403 is not a 401: no refresh


async def test_role_member_gone_retries_without_role(emulator_factory, api_for, recorded):
    emulator = emulator_factory(role_member_gone=True)
    api = api_for(emulator)
    repos = await api.list_repositories("acme")
    assert len(repos) == 4
    assert await recorded(emulator, "/2.0/repositories/acme", 2) == [410, 200]
    await api.list_repositories("acme")  # remembered: no second 410
    assert await recorded(emulator, "/2.0/repositories/acme", 3) == [410, 200, 200]


@pytest.mark.parametrize("workspace", ["acme", "open-tools"])
async def test_partial_responses_give_the_same_repositories(emulator, api_for, tampering, workspace):
    from bbwizard.api import REPOSITORY_FIELDS

    full = await api_for(emulator, partial_responses=False).list_repositories(workspace)
    transport = tampering(None)
    partial = await api_for(emulator, transport=transport, partial_responses=True).list_repositories(workspace)
    assert partial == full and len(full) > 1
    assert [url.params.get("fields") for url in transport.urls] == [REPOSITORY_FIELDS]
