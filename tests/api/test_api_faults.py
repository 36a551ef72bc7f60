"""Bad answers and a bad network, against the emulator's fault injection over real loopback HTTP.

Sleeps are recorded by an injected ``sleep`` instead of waited, so the tests stay fast while still
checking that Retry-After is honoured and that backoff grows and stays capped.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bbwizard.api import BitbucketClient
from bbwizard.errors import NetworkError, ProtocolError, RateLimited, SignInRequired

# ---- 401: one refresh, one retry, never a loop


async def test_expired_token_is_refreshed_once_and_the_request_retried(emulator, api_for, tokens_for, recorded):
    tokens = tokens_for(emulator)
    api = api_for(emulator, tokens)
    emulator.expire_tokens()
    user = await api.get_user()
    assert user.username == "alice"
    assert tokens.calls == [False, True]
    assert emulator.stats.grants["refresh_token"] == 1
    assert await recorded(emulator, "/2.0/user", 2) == [401, 200]


async def test_a_second_401_is_an_error_not_a_loop(emulator, api_for, tokens_for, recorded):
    tokens = tokens_for(emulator)
    tokens.after_refresh = emulator.expire_tokens  # Bitbucket refuses even the new token
    api = api_for(emulator, tokens)
    emulator.expire_tokens()
    with pytest.raises(SignInRequired) as caught:
        await api.get_user()
    assert str(caught.value) == (
        "Bitbucket still refuses the access token after refreshing it (Access token expired.). Sign in again."
    )
    assert tokens.refreshes == 1
    assert await recorded(emulator, "/2.0/user", 2) == [401, 401]


async def test_a_burst_of_401s_refreshes_once(emulator_factory, seed_with_repos, api_for, tokens_for):
    emulator = emulator_factory(seed_with_repos(1000))
    tokens = tokens_for(emulator)
    api = api_for(emulator, tokens)
    seen = 0
    async for page in api.iter_repositories("big"):
        if seen == 0:
            emulator.expire_tokens()  # pages 2..10 all go out with an expired token
        seen += len(page.values)
    assert seen == 1000
    assert tokens.refreshes == 1
    assert emulator.stats.grants["refresh_token"] == 1


# ---- 429, 502/503/504: backoff that honours Retry-After


async def test_429_then_success_honours_retry_after_in_seconds(emulator, api_for, sleeps, recorded):
    emulator.inject(kind="status", status=429, count=2, retry_after=3)
    assert (await api_for(emulator).get_user()).username == "alice"
    assert len(sleeps) == 2 and all(3 <= s <= 3.4 for s in sleeps)
    assert await recorded(emulator, "/2.0/user", 3) == [429, 429, 200]


async def test_503_then_success_honours_retry_after_as_an_http_date(emulator, api_for, sleeps, recorded):
    now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
    emulator.inject(kind="status", status=503, count=1, retry_after=format_datetime(now + timedelta(seconds=7), usegmt=True))
    api = api_for(emulator, clock=lambda: now)
    assert (await api.get_user()).username == "alice"
    assert len(sleeps) == 1 and 7 <= sleeps[0] <= 7.8
    assert await recorded(emulator, "/2.0/user", 2) == [503, 200]


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_errors_back_off_exponentially_with_a_cap(emulator, api_for, sleeps, status):
    emulator.inject(kind="status", status=status, count=4)
    api = api_for(emulator, backoff=0.5, max_backoff=2.0)
    assert (await api.get_user()).username == "alice"
    # jittered between half and all of min(cap, 0.5 * 2**attempt)
    bounds = [(0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (1.0, 2.0)]
    assert len(sleeps) == 4
    assert all(low <= s <= high for s, (low, high) in zip(sleeps, bounds)), sleeps


async def test_503_that_does_not_end_is_a_network_error(emulator, api_for, sleeps):
    emulator.inject(kind="status", status=503, count=100)
    with pytest.raises(NetworkError) as caught:
        await api_for(emulator, retries=2).get_user()
    host = emulator.api_url.split("//")[1].split("/")[0]
    assert str(caught.value) == (
        f"{host} answered HTTP 503 (Service Unavailable) for the signed-in user after 2 retries. "
        "Bitbucket or a proxy on the way is having trouble; try again in a while."
    )
    assert len(sleeps) == 2


async def test_429_that_does_not_end_is_rate_limited(emulator, api_for, sleeps):
    emulator.inject(kind="status", status=429, count=100)
    with pytest.raises(RateLimited) as caught:
        await api_for(emulator, retries=3).get_user()
    assert str(caught.value) == (
        "Bitbucket's rate limit is used up (Rate limit for this resource has been exceeded.), and it still was "
        "after 3 retries while asking for the signed-in user. Wait a few minutes and try again."
    )
    assert caught.value.hint == "Bitbucket allows about 1,000 repository requests an hour per OAuth consumer."
    assert len(sleeps) == 3


async def test_429_asking_for_an_hour_gives_up_at_once(emulator, api_for, sleeps):
    emulator.inject(kind="status", status=429, count=1, retry_after=3600)
    with pytest.raises(RateLimited) as caught:
        await api_for(emulator).get_user()
    assert str(caught.value) == (
        "Bitbucket's rate limit is used up (Rate limit for this resource has been exceeded.); it asks to wait "
        "3600 seconds before asking again for the signed-in user. Try again later."
    )
    assert sleeps == []


async def test_request_budget_429_then_success(emulator_factory, api_for, sleeps, recorded):
    emulator = emulator_factory(request_budget=1, rate_limit_retry_after=2)
    api = api_for(emulator)
    assert (await api.get_user()).username == "alice"  # spends the budget

    async def refill(seconds: float) -> None:
        sleeps.append(seconds)
        emulator.request_budget = 10  # the hour is over

    api._sleep = refill
    assert (await api.get_user()).username == "alice"
    assert await recorded(emulator, "/2.0/user", 3) == [200, 429, 200]
    assert 2 <= sleeps[-1] <= 2.3


# ---- answers that are not JSON


async def test_html_with_200_is_a_protocol_error(emulator, api_for, recorded):
    emulator.inject(kind="html200")
    with pytest.raises(ProtocolError) as caught:
        await api_for(emulator).get_user()
    host = emulator.api_url.split("//")[1].split("/")[0]
    assert str(caught.value) == (
        f"{host}, asked for the signed-in user, answered with a web page instead of JSON (HTTP 200). A captive "
        f"portal, a proxy or a wrong API URL ({emulator.api_url}) is in the way: open the site in a browser, sign "
        f"in to the network if asked, check the API URL ({emulator.api_url}), then try again."
    )
    assert await recorded(emulator, "/2.0/user", 1) == [200]  # not retried: a portal won't go away by itself


async def test_truncated_json_is_a_protocol_error(emulator, api_for):
    emulator.inject(kind="truncated")
    with pytest.raises(ProtocolError) as caught:
        await api_for(emulator).list_repositories("acme")
    host = emulator.api_url.split("//")[1].split("/")[0]
    assert str(caught.value).startswith(
        f"{host}, asked for the repositories of workspace 'acme', sent an answer that was cut off or malformed "
        "(HTTP 200; the JSON breaks at character "
    )
    assert str(caught.value).endswith("). Try again; if it keeps happening, a proxy may be damaging the connection.")


# ---- the connection


async def test_dropped_connection_is_retried(emulator, api_for, sleeps):
    emulator.inject(kind="drop", count=1)
    assert (await api_for(emulator).get_user()).username == "alice"
    assert len(sleeps) == 1


async def test_connection_that_keeps_dropping_is_a_network_error(emulator, api_for, sleeps):
    emulator.inject(kind="drop", count=100)
    with pytest.raises(NetworkError) as caught:
        await api_for(emulator, retries=2).get_user()
    host = emulator.api_url.split("//")[1].split("/")[0]
    assert str(caught.value) == (
        f"The connection to {host} was dropped before the answer was complete "
        "(Server disconnected without sending a response.). Try again."
    )
    assert len(sleeps) == 2


async def test_nothing_listening_is_a_network_error(static_token, sleeps):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with BitbucketClient(f"http://127.0.0.1:{port}/2.0", static_token, sleep=sleeps, retries=1) as api:
        with pytest.raises(NetworkError) as caught:
            await api.get_user()
    assert str(caught.value).startswith(f"Can't reach 127.0.0.1:{port} (")
    assert str(caught.value).endswith("). Check your network connection and the API URL, then try again.")


# ---- proxies from the environment never apply to loopback


async def test_loopback_api_is_never_proxied(emulator, api_for, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead)
    assert (await api_for(emulator).get_user()).username == "alice"
    localhost_url = emulator.api_url.replace("127.0.0.1", "localhost")
    async with BitbucketClient(localhost_url, api_for(emulator)._token_provider) as api:
        assert (await api.get_user()).username == "alice"


async def test_errors_never_show_the_token(emulator, api_for, tokens_for):
    tokens = tokens_for(emulator)
    emulator.inject(kind="status", status=500, count=1, body=f"oops Bearer {tokens.access.reveal()}")
    with pytest.raises(NetworkError) as caught:
        await api_for(emulator, tokens).get_user()
    assert tokens.access.reveal() not in str(caught.value)
    assert str(caught.value) == "Bitbucket had an internal error (HTTP 500) answering the signed-in user. Try again in a while."
