"""fields= on repository listings is served from cached encodings: the same bytes as the slow path.

The slow path (``bbql.apply_fields`` then ``json.dumps``) still serves specs with ``+``/``-`` or
``*``; a ``+`` entry changes nothing in the projection, so ``SPEC + ",+values.x"`` is the slow
path's answer for ``SPEC``, apart from the spec echoed inside the ``next``/``previous`` links.
"""

from __future__ import annotations

import json

import pytest

from bbwizard.emulator import DEMO_CONSUMER_KEY

SPECS = [
    "next,size,pagelen,page,values.uuid,values.full_name,values.slug,values.name,values.description,"
    "values.is_private,values.language,values.size,values.updated_on,values.mainbranch.name,"
    "values.project.key,values.project.name,values.workspace.slug,values.links.clone",
    "values.slug,values.mainbranch.name,next",
    "values.name",
    "values,size",
    "values.links.clone.href,previous,next",
]


def without_spec(document: dict, spec: str) -> dict:
    for link in ("next", "previous"):
        if link in document:
            document[link] = document[link].replace("%2C%2Bvalues.x", "")
    return document


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize(("workspace", "params"), [
    ("open-tools", {"pagelen": 2, "page": 2}),  # Unicode names and a leading dash
    ("acme", {"pagelen": 3, "sort": "-updated_on", "role": "member"}),
    ("big", {"pagelen": 100, "page": 7, "sort": "-updated_on", "q": 'name ~ "1"'}),
])
def test_fast_partial_page_is_byte_for_byte_the_slow_one(emulator_factory, api, big_seed, spec, workspace, params):
    emulator = emulator_factory(big_seed)
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    fast = api(emulator, f"/repositories/{workspace}", token, fields=spec, **params)
    slow = api(emulator, f"/repositories/{workspace}", token, fields=spec + ",+values.x", **params)
    assert fast.status_code == slow.status_code == 200
    assert fast.headers["content-type"] == slow.headers["content-type"]
    fast_doc, slow_doc = fast.json(), without_spec(slow.json(), spec)
    assert fast_doc == slow_doc
    # the same serialisation as json.dumps(..., ensure_ascii=False), as the slow path writes it
    assert fast.content == json.dumps(fast_doc, ensure_ascii=False).encode()
    assert len(emulator._fields_cache) > 0 or spec == "values,size"


def test_star_and_excludes_still_take_the_slow_path(emulator, api):
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    star = api(emulator, "/repositories/acme", token, fields="values.*,-values.links").json()
    assert all("links" not in repo and "slug" in repo for repo in star["values"])
    assert emulator._fields_cache == {}
