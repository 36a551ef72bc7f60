"""A second real client of the REST API: atlassian-python-api walks the emulator.

The library is a widely used client of Bitbucket Cloud; it reads workspaces through
``/user/workspaces``, a repository through its workspace's ``repositories`` link, and every branch
(and tag) twice: once in the list, then again by name at ``refs/branches/{name}``, with the ``/``
of ``feature/x`` sent as it is. Its ``cloud.repositories.each()`` still calls the retired
``/2.0/repositories``, which Bitbucket answers with 410: the emulator must too.

It is driven with Bearer auth (``Cloud(token=...)``) and a requests session that ignores the
environment's proxies, as the emulator is on loopback.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from bbwizard.emulator import DEMO_CONSUMER_KEY

cloud_module = pytest.importorskip("atlassian.bitbucket.cloud", reason="pip install -e '.[test]' brings atlassian-python-api")
requests = pytest.importorskip("requests")


@pytest.fixture
def cloud(emulator):
    session = requests.Session()
    session.trust_env = False
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    # Cloud appends "/2.0" to the address it is given.
    root = emulator.api_url.removesuffix("/2.0")
    client = cloud_module.Cloud(url=root, token=token, session=session, timeout=30)
    yield client
    session.close()


def test_it_walks_a_workspace_a_repository_and_its_branches(emulator, cloud):
    slugs = [workspace.slug for workspace in cloud.workspaces.each()]
    assert set(slugs) == {"acme", "alice", "open-tools"}

    acme = cloud.workspaces.get("acme")
    assert acme.name == "Acme Robotics"
    repositories = {repository.slug: repository for repository in acme.repositories.each()}
    assert set(repositories) == {"webapp", "firmware", "infrastructure", "legacy-billing"}

    webapp = acme.repositories.get("webapp")
    assert webapp.name == "webapp" and webapp.is_private is True
    # each() lists the branches, then fetches every one by its name, "feature/login-page" as it is.
    branches = {branch.name: branch.hash for branch in webapp.branches.each()}
    assert set(branches) == {"main", "develop", "feature/login-page"}
    assert all(len(commit) == 40 for commit in branches.values())
    assert len(set(branches.values())) == 3  # develop and the feature are each a commit ahead of main

    for name, commit in branches.items():
        assert webapp.branches.get(name).hash == commit
        # The same branch with its "/" sent as %2F, as other clients do.
        escaped = webapp.branches.get(quote(name, safe=""))
        assert (escaped.name, escaped.hash) == (name, commit)


def test_branch_self_links_lead_to_the_branch(emulator, cloud):
    webapp = cloud.repositories.get("acme", "webapp")
    for branch in webapp.branches.each():
        again = cloud.get(branch.get_link("self"), absolute=True)
        assert (again["type"], again["name"], again["target"]["hash"]) == ("branch", branch.name, branch.hash)


def test_it_reads_tags_by_list_and_by_name(emulator, cloud):
    webapp = cloud.repositories.get("acme", "webapp")
    tags = {tag.name: tag for tag in webapp.tags.each(sort="name")}
    assert set(tags) == {"v1.0.0", "v1.1.0", "preview/login"}
    main = webapp.branches.get("main").hash
    feature = webapp.branches.get("feature/login-page").hash
    assert tags["v1.1.0"].hash == main
    assert tags["preview/login"].hash == feature
    assert tags["v1.0.0"].hash not in (main, feature)
    release = webapp.tags.get("v1.0.0")
    assert release.get_data("message").strip() == "First public release"
    assert release.get_data("tagger")["raw"].startswith("Alice Liddell <")
    # A lightweight tag has no message, date or tagger of its own.
    assert webapp.tags.get("v1.1.0").get_data("message") is None


def test_a_missing_branch_or_tag_is_a_404_with_bitbuckets_error_body(emulator, cloud):
    webapp = cloud.repositories.get("acme", "webapp")
    for refs in (webapp.branches, webapp.tags):
        with pytest.raises(requests.HTTPError) as caught:
            refs.get("feature/nope")
        assert caught.value.response.status_code == 404
        assert "feature/nope" in str(caught.value)


def test_the_retired_cross_workspace_listing_answers_410(emulator, cloud):
    with pytest.raises(requests.HTTPError) as caught:
        next(iter(cloud.repositories.each()))
    assert caught.value.response.status_code == 410
    assert "CHANGE-2770" in str(caught.value)
