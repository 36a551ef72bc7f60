"""Seeds: TOML and JSON files of the same shape, the demo seed, the generator, and bad seeds."""

from __future__ import annotations

import json

import pytest

from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, Emulator, SeedError, demo_consumer, demo_seed

SMALL = {
    "browser_user": "zoe",
    "users": [{"username": "zoe", "display_name": "Zoë"}],
    "consumers": [{"key": "k" * 18, "secret": "s" * 32, "callback_url": "http://localhost:9000/", "scopes": ["account", "repository"]}],
    "workspaces": [{"slug": "zed", "members": ["zoe"], "repositories": [{"slug": "one", "branches": ["main", "develop"]}]}],
    "generators": [{"workspace": "gen", "count": 30, "prefix": "svc", "members": ["zoe"]}],
}


def to_toml(seed: dict) -> str:
    import tomli_w

    return tomli_w.dumps(seed)


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_a_seed_file_in_either_format(tmp_path, api, suffix):
    path = tmp_path / f"seed{suffix}"
    path.write_text(json.dumps(SMALL) if suffix == ".json" else to_toml(SMALL), encoding="utf-8")
    with Emulator(path) as emu:
        token = emu.mint_token("k" * 18)["access_token"]
        assert api(emu, "/user", token).json()["display_name"] == "Zoë"
        assert [r["slug"] for r in api(emu, "/repositories/zed", token).json()["values"]] == ["one"]
        generated = api(emu, "/repositories/gen", token, pagelen=100).json()
        assert generated["size"] == 30 and generated["values"][0]["slug"] == "svc-00001"


def test_the_emulator_stops_cleanly_and_frees_its_port(tmp_path):
    import socket

    emu = Emulator().start()
    port, data = emu.port, emu.data_dir
    assert data.exists()
    emu.stop()
    assert not data.exists()  # the temp data dir goes with it
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # free again
    emu.stop()  # twice is fine


def test_it_listens_on_loopback_only():
    with pytest.raises(ValueError):
        Emulator(host="0.0.0.0")
    with Emulator() as emu:
        assert emu.site_url.startswith("http://127.0.0.1:")


def test_demo_seed_callback_and_consumer():
    seed = demo_seed(callback_url="http://localhost:45678/")
    consumer = demo_consumer(seed)
    assert (consumer["key"], consumer["secret"]) == (DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET)
    assert consumer["callback_url"] == "http://localhost:45678/"
    assert demo_seed()["consumers"][0]["callback_url"] == "http://localhost:8976/"  # a fresh copy each time
    assert not any("generators" in key for key in demo_seed())


@pytest.mark.parametrize(("change", "words"), [
    (lambda s: s["workspaces"][0].update(members=["ghost"]), "ghost"),
    (lambda s: s.update(browser_user="ghost"), "browser_user"),
    (lambda s: s["consumers"][0].pop("secret"), "secret"),
    (lambda s: s["consumers"][0].update(owner="ghost"), "owner"),
    (lambda s: s.update(repositories=[{"workspace": "nowhere", "slug": "x"}]), "unknown workspace"),
    (lambda s: s["workspaces"][0]["repositories"][0].update(size="lots"), "size"),
])
def test_bad_seeds_say_what_is_wrong(change, words):
    seed = json.loads(json.dumps(SMALL))
    change(seed)
    with pytest.raises(SeedError, match=words):
        Emulator(seed)


def test_generator_is_deterministic_and_shuffles_updated_on():
    from bbwizard.emulator.seed import generated_repos

    one, two = generated_repos("big", 10_000), generated_repos("big", 10_000)
    assert list(one) == list(two) and [r.uuid for r in one.values()] == [r.uuid for r in two.values()]
    assert len({r.updated_on for r in one.values()}) == 10_000
    by_update = sorted(one.values(), key=lambda r: r.updated_on)
    assert [r.slug for r in by_update] != list(one)


@pytest.mark.parametrize("mode", ["missing", "off"])
def test_list_size_can_be_missing_or_off(emulator_factory, api, mode):
    emu = emulator_factory(list_size=mode)
    token = emu.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    page = api(emu, "/repositories/acme", token, pagelen=2).json()
    assert ("size" not in page) if mode == "missing" else (page["size"] == 0)
    assert page["next"] and len(page["values"]) == 2


def test_a_stopped_emulator_closes_kept_alive_connections(http):
    import httpx

    emu = Emulator().start()
    url = emu.api_url + "/user"
    assert http.get(url).status_code == 401  # the connection is now pooled
    emu.stop()
    with pytest.raises(httpx.TransportError):
        http.get(url)
