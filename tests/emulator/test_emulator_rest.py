"""REST under /2.0: auth, scopes, errors, pagination, sort, q, fields, role, the 10,000-repository workspace."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest

from bbwizard.emulator import ACCOUNT_ONLY_CONSUMER_KEY, DEMO_CONSUMER_KEY, PRIVATE_CONSUMER_KEY

RETIRED = ["/workspaces", "/user/permissions/workspaces", "/user/permissions/repositories", "/repositories"]


@pytest.fixture
def token(emulator):
    return emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]


def error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    return body["error"]


def test_user(emulator, api, token):
    user = api(emulator, "/user", token).json()
    assert user["username"] == "alice" and user["display_name"] == "Alice Liddell" and user["type"] == "user"
    assert user["uuid"].startswith("{") and user["account_id"] and user["nickname"] == "alice"


def test_client_credentials_token_acts_as_the_owner(emulator, api):
    token = emulator.mint_token(PRIVATE_CONSUMER_KEY, username="alice")["access_token"]
    assert api(emulator, "/user", token).json()["username"] == "alice"


def test_user_workspaces_have_no_name(emulator, api, token):
    page = api(emulator, "/user/workspaces", token).json()
    slugs = {v["workspace"]["slug"]: v["administrator"] for v in page["values"]}
    assert slugs == {"acme": True, "alice": True, "open-tools": False}
    assert all("name" not in v["workspace"] for v in page["values"])
    admins = api(emulator, "/user/workspaces", token, administrator="false").json()
    assert [v["workspace"]["slug"] for v in admins["values"]] == ["open-tools"]


def test_workspace(emulator, api, token):
    ws = api(emulator, "/workspaces/acme", token).json()
    assert ws["name"] == "Acme Robotics" and ws["slug"] == "acme" and ws["type"] == "workspace"
    assert api(emulator, f"/workspaces/{ws['uuid']}", token).json()["slug"] == "acme"
    assert error(api(emulator, "/workspaces/nope", token), 404)["message"]


def test_repositories_of_a_workspace(emulator, api, token):
    page = api(emulator, "/repositories/acme", token, role="member", pagelen=100, sort="-updated_on").json()
    assert page["size"] == 4 and page["page"] == 1 and page["pagelen"] == 100 and "next" not in page
    assert [r["slug"] for r in page["values"]] == ["webapp", "firmware", "infrastructure", "legacy-billing"]
    repo = page["values"][0]
    assert repo["full_name"] == "acme/webapp" and repo["mainbranch"] == {"name": "main", "type": "branch"}
    https = next(c["href"] for c in repo["links"]["clone"] if c["name"] == "https")
    assert https == f"http://alice@{emulator.git_host}/acme/webapp.git"


def test_one_repository_and_its_branches(emulator, api, token):
    repo = api(emulator, "/repositories/acme/webapp", token).json()
    assert repo["slug"] == "webapp" and repo["is_private"] is True and repo["scm"] == "git"
    branches = api(emulator, "/repositories/acme/webapp/refs/branches", token).json()
    names = [b["name"] for b in branches["values"]]
    assert names == ["develop", "feature/login-page", "main"]
    assert all(len(b["target"]["hash"]) == 40 for b in branches["values"])
    develop = api(emulator, "/repositories/acme/webapp/refs/branches", token, q='name ~ "dev"').json()
    assert [b["name"] for b in develop["values"]] == ["develop"]
    backwards = api(emulator, "/repositories/acme/webapp/refs/branches", token, sort="-name").json()
    assert [b["name"] for b in backwards["values"]] == names[::-1]
    assert error(api(emulator, "/repositories/acme/nope", token), 404)["message"]
    assert error(api(emulator, "/repositories/acme/nope/refs/branches", token), 404)


def test_mainbranch_other_than_main(emulator, api, token):
    repo = api(emulator, "/repositories/open-tools/data-pipeline", token).json()
    assert repo["mainbranch"]["name"] == "develop"


@pytest.mark.parametrize("path", RETIRED)
def test_retired_endpoints_answer_410(emulator, api, token, path):
    err = error(api(emulator, path, token), 410)
    assert err["message"] == "CHANGE-2770 - Functionality has been deprecated"


def test_role_member_gone_knob(emulator, api, token):
    emulator.role_member_gone = True
    assert error(api(emulator, "/repositories/acme", token, role="member"), 410)["message"].startswith("CHANGE-2770")
    assert api(emulator, "/repositories/acme", token).status_code == 200


def test_expired_token(emulator, api, token):
    emulator.expire_tokens()
    assert error(api(emulator, "/user", token), 401)["message"] == "Access token expired."


def test_token_expires_by_itself(emulator_factory, api):
    emu = emulator_factory(token_lifetime=3600)
    emu.clock = lambda: now[0]
    now = [1_800_000_000.0]
    token = emu.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    now[0] += 3599
    assert api(emu, "/user", token).status_code == 200
    now[0] += 1
    assert error(api(emu, "/user", token), 401)["message"] == "Access token expired."


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic eC10b2tlbi1hdXRoOnNlY3JldA=="])
def test_no_or_wrong_credentials(emulator, http, header):
    headers = {"Authorization": header} if header else {}
    response = http.get(emulator.api_url + "/user", headers=headers)
    assert error(response, 401)["message"] == "Token is invalid, expired, or not supported for this endpoint."


def test_access_token_in_the_query_is_refused(emulator, http, token):
    response = http.get(emulator.api_url + "/user", params={"access_token": token})
    assert response.status_code == 401


def test_missing_scope_names_required_and_granted(emulator, api):
    token = emulator.mint_token(ACCOUNT_ONLY_CONSUMER_KEY)["access_token"]
    err = error(api(emulator, "/repositories/acme", token), 403)
    assert err["message"] == "Your credentials lack one or more required privilege scopes."
    assert err["detail"] == {"granted": ["account"], "required": ["repository"]}
    assert api(emulator, "/user", token).status_code == 200


def test_repository_admin_does_not_imply_read(emulator, api):
    token = emulator.mint_token(DEMO_CONSUMER_KEY, scopes=["account", "repository:admin"])["access_token"]
    assert error(api(emulator, "/repositories/acme", token), 403)["detail"]["required"] == ["repository"]
    token = emulator.mint_token(DEMO_CONSUMER_KEY, scopes=["pullrequest"])["access_token"]
    assert api(emulator, "/repositories/acme", token).status_code == 200


def test_request_budget_then_429(emulator, api, token):
    emulator.request_budget = 3
    emulator.rate_limit_retry_after = 7
    assert [api(emulator, "/user", token).status_code for _ in range(3)] == [200, 200, 200]
    response = api(emulator, "/user", token)
    assert error(response, 429)["message"] == "Rate limit for this resource has been exceeded."
    assert response.headers["retry-after"] == "7"
    emulator.request_budget = None
    assert api(emulator, "/user", token).status_code == 200


@pytest.mark.parametrize("params", [{"pagelen": "101"}, {"pagelen": "0"}, {"pagelen": "x"}, {"page": "0"},
                                    {"sort": "colour"}, {"q": 'name ~ "x'}, {"role": "boss"}])
def test_bad_list_parameters_answer_400(emulator, api, token, params):
    assert error(api(emulator, "/repositories/acme", token, **params), 400)["message"]


def test_unknown_api_path(emulator, api, token):
    assert error(api(emulator, "/nothing/here", token), 404)["message"] == "Resource not found"


def test_q_fields_and_role(emulator, api, token):
    found = api(emulator, "/repositories/acme", token, q='name ~ "WEB" OR project.key = "OPS"').json()
    assert sorted(r["slug"] for r in found["values"]) == ["infrastructure", "webapp"]
    found = api(emulator, "/repositories/acme", token, q='(language = "python" AND is_private = true) OR slug = "firmware"').json()
    assert sorted(r["slug"] for r in found["values"]) == ["firmware", "webapp"]
    partial = api(emulator, "/repositories/acme", token, pagelen=2, fields="values.slug,values.mainbranch.name,next").json()
    assert set(partial) == {"values", "next"}
    assert partial["values"] == [{"slug": "webapp", "mainbranch": {"name": "main"}}, {"slug": "firmware", "mainbranch": {"name": "main"}}]
    assert "fields=values.slug" in partial["next"].replace("%2C", ",")
    star = api(emulator, "/repositories/acme", token, fields="values.*,-values.links").json()
    assert "links" not in star["values"][0] and star["values"][0]["slug"] == "webapp"
    bob_admin = api(emulator, "/repositories/open-tools", token, role="admin").json()
    assert bob_admin["values"] == [] and bob_admin["size"] == 0
    assert api(emulator, "/repositories/acme", token, role="admin").json()["size"] == 4
    assert api(emulator, "/repositories/alice", token, role="owner").json()["size"] == 1


def test_a_workspace_you_are_not_in_shows_only_public_repositories(emulator, api):
    seed = __import__("bbwizard.emulator", fromlist=["demo_seed"]).demo_seed()
    token = emulator.mint_token(DEMO_CONSUMER_KEY, username="bob")["access_token"]
    assert api(emulator, "/repositories/alice", token).json()["values"] == []
    assert api(emulator, "/repositories/alice/dotfiles", token).status_code == 404
    assert seed["workspaces"][1]["slug"] == "alice"


def test_pagination_over_10000_repositories(emulator_factory, big_seed, api):
    emu = emulator_factory(big_seed)
    token = emu.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    first = api(emu, "/repositories/big", token, pagelen=100, sort="-updated_on", role="member").json()
    assert first["size"] == 10_000 and first["pagelen"] == 100 and len(first["values"]) == 100
    assert "previous" not in first
    nxt = parse_qs(urlsplit(first["next"]).query)
    assert nxt == {"pagelen": ["100"], "sort": ["-updated_on"], "role": ["member"], "page": ["2"]}
    # Every other page fetched directly with page=N, concurrently.
    def fetch(n):
        return api(emu, "/repositories/big", token, pagelen=100, sort="-updated_on", role="member", page=n).json()

    with ThreadPoolExecutor(8) as pool:
        pages = [first, *pool.map(fetch, range(2, 101))]
    slugs = [r["slug"] for p in pages for r in p["values"]]
    assert len(slugs) == 10_000 and len(set(slugs)) == 10_000
    stamps = [r["updated_on"] for p in pages for r in p["values"]]
    assert stamps == sorted(stamps, reverse=True)
    last = pages[-1]
    assert last["page"] == 100 and "next" not in last and last["previous"].endswith("page=99")
    beyond = fetch(101)
    assert beyond["values"] == [] and "next" not in beyond
    assert emu.stats.materialised == 0  # listing builds no git repository


def test_following_next_visits_every_repository_once(emulator_factory, api, http):
    seed = __import__("bbwizard.emulator", fromlist=["demo_seed"]).demo_seed()
    seed["generators"] = [{"workspace": "mid", "count": 250, "members": ["alice"]}]
    emu = emulator_factory(seed)
    token = emu.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    url, seen = emu.api_url + "/repositories/mid?pagelen=100&q=name%20~%20%22repo%22", []
    while url:
        page = http.get(url, headers={"Authorization": f"Bearer {token}"}).json()
        seen += [r["slug"] for r in page["values"]]
        url = page.get("next")
    assert len(seen) == 250 == len(set(seen))


def test_concurrent_requests_are_served(emulator, api, token):
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: api(emulator, "/repositories/acme", token).status_code, range(64)))
    assert statuses == [200] * 64
