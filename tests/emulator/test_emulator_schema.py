"""Every JSON answer of the emulator's REST API validates against Bitbucket's own spec excerpt.

The excerpt (../shared/bitbucket-openapi-excerpt.json) is Swagger 2.0: schemas live under
``#/definitions`` and reference each other with ``$ref``. Swagger is not quite JSON Schema, so the
spec is adapted once, on load: ``x-…`` vendor keys and ``discriminator`` are dropped (JSON Schema
would ignore them anyway; dropping them keeps the adapted spec honest), an ``enum`` that lists
``null`` also allows the null type, and ``additionalProperties: false`` inside an ``allOf`` part is
removed, because in Swagger ``allOf`` means "extends" while in JSON Schema each part would reject
the properties the other parts define. ``date-time`` formats are checked; ``uri`` is not (Bitbucket's
own ssh clone link, ``git@host:ws/repo.git``, is no URI).
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")
from referencing.jsonschema import DRAFT4  # noqa: E402

from bbwizard.emulator import ACCOUNT_ONLY_CONSUMER_KEY, DEMO_CONSUMER_KEY  # noqa: E402

# A copy lives beside the tests, so they run in any clone; the team's original is in ../shared/.
SPEC_PATH = Path(__file__).resolve().parent / "data" / "bitbucket-openapi-excerpt.json"
SHARED_SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "bitbucket-openapi-excerpt.json"
# The refs endpoints the excerpt lacks (a branch by name, tags), from the same public spec.
REFS_SPEC_PATH = SPEC_PATH.with_name("bitbucket-openapi-refs.json")


def test_the_copy_of_the_spec_excerpt_matches_the_teams():
    if not SHARED_SPEC_PATH.exists():
        pytest.skip(f"the team's excerpt is not beside this clone ({SHARED_SPEC_PATH})")
    assert SPEC_PATH.read_bytes() == SHARED_SPEC_PATH.read_bytes(), "refresh tests/emulator/data/ from ../shared/"


def _adapt(node, in_all_of=False):
    if isinstance(node, list):
        return [_adapt(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key.startswith("x-") or key == "discriminator":
            continue
        if key == "additionalProperties" and in_all_of and value is False:
            continue
        if key == "allOf":
            out[key] = [_adapt(part, in_all_of=True) for part in value]
        elif key in ("properties", "definitions"):
            out[key] = {name: _adapt(schema) for name, schema in value.items()}
        else:
            out[key] = _adapt(value)
    if isinstance(out.get("enum"), list) and None in out["enum"] and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


@pytest.fixture(scope="module")
def spec() -> dict:
    if not SPEC_PATH.exists():
        pytest.skip(f"the spec excerpt is not at {SPEC_PATH}")
    loaded = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    refs = json.loads(REFS_SPEC_PATH.read_text(encoding="utf-8"))
    assert not set(refs["paths"]) & set(loaded["paths"]), "the excerpt has these now: drop them from the refs file"
    assert not set(refs["definitions"]) & set(loaded["definitions"])
    loaded["paths"].update(refs["paths"])
    loaded["definitions"].update(refs["definitions"])
    return loaded


@pytest.fixture(scope="module")
def validate(spec):
    adapted = _adapt(spec)
    registry = referencing.Registry().with_resource("urn:bitbucket", DRAFT4.create_resource(adapted))
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value) -> bool:
        if not isinstance(value, str):
            return True
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError("no time zone")
        return True

    def run(document, definition: str) -> None:
        schema = {"$ref": f"urn:bitbucket#/definitions/{definition}"}
        validator = jsonschema.Draft4Validator(schema, registry=registry, format_checker=checker)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])

    return run


def response_schema(spec, path: str, status: int) -> str:
    ref = spec["paths"][path]["get"]["responses"][str(status)]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def test_the_adapter_keeps_the_spec_strict(validate):
    # A repository link may carry only href and name, as the spec says.
    with pytest.raises(AssertionError):
        validate({"type": "repository", "links": {"self": {"href": "http://x", "bogus": 1}}}, "repository")
    with pytest.raises(AssertionError):
        validate({"values": [], "surprise": True}, "paginated_repositories")
    with pytest.raises(AssertionError):
        validate({"type": "repository", "created_on": "yesterday"}, "repository")


CASES = [
    ("/user", "/user", {}),
    ("/user/workspaces", "/user/workspaces", {}),
    ("/user/workspaces", "/user/workspaces", {"pagelen": "1", "page": "2"}),
    ("/workspaces/{workspace}", "/workspaces/acme", {}),
    ("/workspaces/{workspace}", "/workspaces/alice", {}),
    ("/repositories/{workspace}", "/repositories/acme", {"role": "member", "pagelen": "100", "sort": "-updated_on"}),
    ("/repositories/{workspace}", "/repositories/open-tools", {"pagelen": "1", "page": "2"}),
    ("/repositories/{workspace}", "/repositories/alice", {"q": 'name ~ "dot"'}),
    ("/repositories/{workspace}/{repo_slug}", "/repositories/acme/webapp", {}),
    ("/repositories/{workspace}/{repo_slug}", "/repositories/open-tools/cafe-menu", {}),
    ("/repositories/{workspace}/{repo_slug}", "/repositories/alice/dotfiles", {}),
    ("/repositories/{workspace}/{repo_slug}/refs/branches", "/repositories/acme/webapp/refs/branches", {}),
    ("/repositories/{workspace}/{repo_slug}/refs/branches", "/repositories/acme/webapp/refs/branches", {"pagelen": "1", "page": "2"}),
    ("/repositories/{workspace}/{repo_slug}/refs/branches/{name}", "/repositories/acme/webapp/refs/branches/main", {}),
    ("/repositories/{workspace}/{repo_slug}/refs/branches/{name}", "/repositories/acme/webapp/refs/branches/feature/login-page", {}),
    ("/repositories/{workspace}/{repo_slug}/refs/branches/{name}", "/repositories/acme/webapp/refs/branches/feature%2Flogin-page", {}),
    ("/repositories/{workspace}/{repo_slug}/refs/tags", "/repositories/acme/webapp/refs/tags", {}),
    ("/repositories/{workspace}/{repo_slug}/refs/tags", "/repositories/acme/firmware/refs/tags", {"pagelen": "1", "page": "2"}),
    ("/repositories/{workspace}/{repo_slug}/refs/tags", "/repositories/alice/dotfiles/refs/tags", {}),
    ("/repositories/{workspace}/{repo_slug}/refs/tags/{name}", "/repositories/acme/webapp/refs/tags/v1.0.0", {}),
    ("/repositories/{workspace}/{repo_slug}/refs/tags/{name}", "/repositories/acme/webapp/refs/tags/v1.1.0", {}),
    ("/repositories/{workspace}/{repo_slug}/refs/tags/{name}", "/repositories/acme/webapp/refs/tags/preview%2Flogin", {}),
]


@pytest.mark.parametrize(("spec_path", "path", "params"), CASES)
def test_every_endpoint_answers_its_schema(emulator, api, spec, validate, spec_path, path, params):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    response = api(emulator, path, token, **params)
    assert response.status_code == 200, response.text
    validate(response.json(), response_schema(spec, spec_path, 200))


def test_the_big_workspace_pages_answer_their_schema(emulator_factory, big_seed, api, spec, validate):
    emu = emulator_factory(big_seed)
    token = emu.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    page = api(emu, "/repositories/big", token, pagelen=100, page=57, sort="-updated_on").json()
    assert page["next"] and page["previous"]
    validate(page, response_schema(spec, "/repositories/{workspace}", 200))


@pytest.mark.parametrize(("spec_path", "path", "status"), [
    ("/user", "/user", 401),
    ("/workspaces/{workspace}", "/workspaces/nope", 404),
    ("/repositories/{workspace}", "/repositories/nope", 404),
    ("/repositories/{workspace}/{repo_slug}", "/repositories/acme/nope", 404),
    ("/repositories/{workspace}/{repo_slug}/refs/branches", "/repositories/acme/nope/refs/branches", 404),
    ("/repositories/{workspace}/{repo_slug}/refs/branches/{name}", "/repositories/acme/webapp/refs/branches/nope", 404),
    ("/repositories/{workspace}/{repo_slug}/refs/tags", "/repositories/acme/nope/refs/tags", 404),
    ("/repositories/{workspace}/{repo_slug}/refs/tags/{name}", "/repositories/acme/webapp/refs/tags/v9", 404),
    ("/repositories/{workspace}", "/repositories/acme?pagelen=500", 400),
])
def test_error_answers_are_error_objects(emulator, http, spec, validate, spec_path, path, status):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    if status == 401:
        emulator.expire_tokens()
    response = http.get(emulator.api_url + path, headers=headers)
    assert response.status_code == status
    validate(response.json(), "error")


@pytest.mark.parametrize("path", ["/workspaces", "/user/permissions/workspaces", "/user/permissions/repositories", "/repositories"])
def test_410_answers_are_error_objects(emulator, api, validate, path):
    response = api(emulator, path, emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"])
    assert response.status_code == 410
    validate(response.json(), "error")


def test_429_answer_is_an_error_object(emulator, api, validate):
    emulator.request_budget = 0
    response = api(emulator, "/user", emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"])
    assert response.status_code == 429
    validate(response.json(), "error")


def test_403_answer_differs_from_the_excerpt_only_in_detail(emulator, api, validate):
    """bitbucket-cloud.md (and Bitbucket itself) put an object in ``error.detail`` for a missing
    scope, where the excerpt's ``error`` schema says string. The doc wins; everything else of the
    body validates."""
    token = emulator.mint_token(ACCOUNT_ONLY_CONSUMER_KEY)["access_token"]
    body = api(emulator, "/repositories/acme", token).json()
    assert isinstance(body["error"]["detail"], dict)
    with pytest.raises(AssertionError, match="detail"):
        validate(body, "error")
    stripped = copy.deepcopy(body)
    stripped["error"]["detail"] = json.dumps(body["error"]["detail"])
    validate(stripped, "error")


def test_an_app_users_document_is_an_account(emulator, validate):
    """GET /user for a client_credentials token (2026: an app user, no username or nickname)."""
    import httpx

    from bbwizard.emulator import PRIVATE_CONSUMER_KEY

    token = emulator.mint_token(PRIVATE_CONSUMER_KEY, username=emulator.client_credentials_identity(
        emulator.world.consumers[PRIVATE_CONSUMER_KEY]), grant_type="client_credentials")["access_token"]
    document = httpx.get(f"{emulator.api_url}/user", headers={"Authorization": f"Bearer {token}"}, trust_env=False).json()
    assert document["type"] == "app_user" and "username" not in document
    validate(document, "account")


@pytest.mark.parametrize(("spec_path", "path", "params"), CASES)
def test_every_endpoint_answers_its_schema_to_an_api_token(emulator, http, spec, validate, spec_path, path, params):
    from bbwizard.emulator import DEMO_API_TOKEN, DEMO_API_TOKEN_EMAIL

    response = http.get(emulator.api_url + path, params=params, auth=(DEMO_API_TOKEN_EMAIL, DEMO_API_TOKEN))
    assert response.status_code == 200, response.text
    validate(response.json(), response_schema(spec, spec_path, 200))


@pytest.mark.parametrize(("spec_path", "path", "params"), [case for case in CASES if "acme/webapp" in case[1]]
                         + [("/repositories/{workspace}", "/repositories/acme", {"role": "member"})])
def test_every_endpoint_answers_its_schema_to_an_access_token(emulator, api, spec, validate, spec_path, path, params):
    from bbwizard.emulator import DEMO_ACCESS_TOKEN

    response = api(emulator, path, DEMO_ACCESS_TOKEN, **params)
    assert response.status_code == 200, response.text
    validate(response.json(), response_schema(spec, spec_path, 200))


def test_token_refusals_are_error_objects(emulator, http, api, validate):
    from bbwizard.emulator import DEMO_ACCESS_TOKEN, DEMO_API_TOKEN

    refusals = [api(emulator, "/user", DEMO_API_TOKEN), api(emulator, "/user", DEMO_ACCESS_TOKEN),
                api(emulator, "/user/workspaces", DEMO_ACCESS_TOKEN), api(emulator, "/repositories/acme/firmware", DEMO_ACCESS_TOKEN),
                http.get(emulator.api_url + "/user", auth=("alice", DEMO_API_TOKEN))]
    assert [r.status_code for r in refusals] == [401, 403, 403, 404, 401]
    for response in refusals:
        validate(response.json(), "error")
