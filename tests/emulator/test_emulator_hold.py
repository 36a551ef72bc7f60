"""Holding requests: a test picks the moment a client is looked at, instead of racing it."""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest

from bbwizard.emulator import DEMO_CONSUMER_KEY


@pytest.fixture
def token(emulator):
    return emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]


def get(emulator, path, token, **params):
    with httpx.Client(trust_env=False, timeout=60) as client:
        return client.get(emulator.api_url + path, params=params, headers={"Authorization": f"Bearer {token}"})


def test_a_held_page_waits_until_released_and_other_pages_do_not(emulator, token):
    held = emulator.hold("/2.0/repositories/acme", page=2)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        second = pool.submit(get, emulator, "/repositories/acme", token, pagelen=1, page=2)
        assert held.wait_arrived(60)
        assert not second.done()
        # Page 1 (no page parameter), another path, and page 3 go through meanwhile.
        assert get(emulator, "/repositories/acme", token, pagelen=1).json()["page"] == 1
        assert get(emulator, "/repositories/acme", token, pagelen=1, page=3).json()["page"] == 3
        assert get(emulator, "/user", token).status_code == 200
        assert not second.done()
        held.release()
        answer = second.result(60)
    assert answer.status_code == 200 and answer.json()["page"] == 2
    # Released means released: the same page answers at once afterwards.
    assert get(emulator, "/repositories/acme", token, pagelen=1, page=2).status_code == 200


def test_stopping_the_emulator_releases_what_it_holds(emulator_factory):
    emulator = emulator_factory()
    token = emulator.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    held = emulator.hold("/2.0/user")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(get, emulator, "/user", token)
        assert held.wait_arrived(60)
        emulator.stop()
        # The held request is let go: it ends one way or another, nothing hangs.
        try:
            waiting.result(60)
        except httpx.HTTPError:
            pass
    assert waiting.done()


def test_a_hold_matches_its_method(emulator, token):
    held = emulator.hold("/2.0/user", method="POST")
    assert get(emulator, "/user", token).status_code == 200
    assert not held.arrived.is_set()
    held.release()
