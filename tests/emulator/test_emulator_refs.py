"""Branches by name and tags: ``refs/branches/{name}``, ``refs/tags`` and ``refs/tags/{name}``.

A ref's name may hold ``/``: Bitbucket takes it sent as it is or as ``%2F``, and its own links
write it as it is. Tags come from the seed (``tags = [...]``) and are real tags in the git
repository, so a clone carries them.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from bbwizard.emulator import ACCOUNT_ONLY_CONSUMER_KEY, DEMO_CONSUMER_KEY, Emulator, SeedError

SEED = {
    "users": [{"username": "zoe"}, {"username": "yan"}],
    "consumers": [{"key": "k" * 32, "secret": "s" * 76, "callback_url": "http://localhost:9000/",
                   "scopes": ["account", "repository"], "owner": "zoe"}],
    "workspaces": [
        {"slug": "zed", "members": ["zoe"], "repositories": [{
            "slug": "one", "commits": 5, "branches": ["main", "feature/x", "feature/x-y"],
            "tags": ["tip", {"name": "old", "target": "main~2", "message": "Two back\n"},
                     {"name": "rel/1", "target": "feature/x"}, {"name": "far", "target": "main~99"},
                     {"name": "under", "target": "feature/x~1"}],
        }]},
    ],
}


@pytest.fixture
def zed(emulator_factory):
    emu = emulator_factory(json.loads(json.dumps(SEED)))
    return emu, emu.mint_token("k" * 32)["access_token"]


def refs(api, emu, token, path, **params):
    response = api(emu, f"/repositories/zed/one/refs/{path}", token, **params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_branch_by_name_with_its_slash_as_it_is_or_escaped(zed, api):
    emu, token = zed
    listed = {b["name"]: b for b in refs(api, emu, token, "branches")["values"]}
    assert set(listed) == {"main", "feature/x", "feature/x-y"}
    for name, branch in listed.items():
        for spelling in (name, name.replace("/", "%2F")):
            one = refs(api, emu, token, f"branches/{spelling}")
            assert one == branch
        # The self link is where the branch is served, with the "/" as Bitbucket writes it.
        assert branch["links"]["self"]["href"] == f"{emu.api_url}/repositories/zed/one/refs/branches/{name}"
    # A name is matched whole: no prefix of "feature/x-y" answers for it, and a trailing slash is the list.
    assert refs(api, emu, token, "branches/feature/x")["name"] == "feature/x"
    assert "values" in refs(api, emu, token, "branches/")


def test_tags_lightweight_and_annotated_on_the_commits_the_seed_names(zed, api):
    emu, token = zed
    branches = {b["name"]: b["target"] for b in refs(api, emu, token, "branches")["values"]}
    main = branches["main"]
    tags = {t["name"]: t for t in refs(api, emu, token, "tags")["values"]}
    assert set(tags) == {"tip", "old", "rel/1", "far", "under"}
    assert all(t["type"] == "tag" for t in tags.values())
    assert tags["tip"]["target"]["hash"] == main["hash"]
    assert tags["rel/1"]["target"]["hash"] == branches["feature/x"]["hash"]
    assert tags["under"]["target"]["hash"] == main["hash"]  # feature/x is one commit on top of main
    assert tags["old"]["target"]["message"].strip() == "Change 2 to one"  # main is "Change 4": two back
    assert tags["far"]["target"]["message"].strip() == "Initial commit"  # further back than history: the first
    assert tags["old"]["message"] == "Two back\n" and tags["old"]["tagger"]["raw"] == "Zoe <zoe@example.com>"
    assert tags["old"]["date"].endswith("+00:00")
    assert not {"message", "tagger", "date"} & set(tags["tip"])
    assert refs(api, emu, token, "tags/rel%2F1") == refs(api, emu, token, "tags/rel/1") == tags["rel/1"]
    assert tags["rel/1"]["links"]["self"]["href"].endswith("/refs/tags/rel/1")
    assert [t["name"] for t in refs(api, emu, token, "tags", sort="-name", q='name ~ "r"')["values"]] == ["under", "rel/1", "far"]


def test_refs_errors_are_bitbuckets_error_objects(zed, emulator_factory, api):
    emu, token = zed
    for path, words in [("branches/feature", 'Branch "feature" does not exist.'),
                        ("tags/feature%2Fx", 'Tag "feature/x" does not exist.')]:
        response = api(emu, f"/repositories/zed/one/refs/{path}", token)
        assert response.status_code == 404
        assert response.json() == {"type": "error", "error": {"message": words}}
    assert api(emu, "/repositories/zed/none/refs/tags/tip", token).status_code == 404
    assert api(emu, "/repositories/zed/one/refs/notes", token).status_code == 404
    # A private repository's refs are hidden from someone outside its workspace, as the repository is.
    stranger = emu.mint_token("k" * 32, username="yan")["access_token"]
    assert api(emu, "/repositories/zed/one/refs/tags/tip", stranger).status_code == 404
    assert api(emu, "/repositories/zed/one/refs/branches/main", stranger).status_code == 404
    # Without the repository scope: 403; without a token: 401.
    other = emulator_factory()
    assert api(other, "/repositories/acme/webapp/refs/tags/v1.0.0",
               other.mint_token(ACCOUNT_ONLY_CONSUMER_KEY)["access_token"]).status_code == 403
    assert api(emu, "/repositories/zed/one/refs/tags", None).status_code == 401


def test_a_clone_carries_the_seeds_tags(emulator, api, git_env, tmp_path):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    listed = {t["name"]: t["target"]["hash"] for t in
              api(emulator, "/repositories/acme/webapp/refs/tags", token).json()["values"]}
    url = emulator.clone_url("acme", "webapp", None).replace("://", f"://x-token-auth:{token}@", 1)
    out = subprocess.run(["git", "ls-remote", "--tags", "--", url], env=git_env, check=True,
                         capture_output=True, text=True, stdin=subprocess.DEVNULL).stdout
    peeled = {}
    for line in out.splitlines():
        sha, ref = line.split("\t")
        name = ref.removeprefix("refs/tags/")
        if name.endswith("^{}"):
            peeled[name[:-3]] = sha
        else:
            peeled.setdefault(name, sha)
    assert peeled == listed


@pytest.mark.parametrize(("tag", "words"), [
    (42, "a tag is a name"),
    ({"target": "main"}, "a tag is a name"),
    ({"name": "x", "target": "nope"}, "not a branch"),
    ({"name": "x", "target": "main~two"}, "not a branch"),
])
def test_bad_tags_in_a_seed_say_what_is_wrong(tag, words):
    seed = json.loads(json.dumps(SEED))
    seed["workspaces"][0]["repositories"][0]["tags"] = [tag]
    with pytest.raises(SeedError, match=words):
        Emulator(seed)
