"""`bbwizard token` and `ensure_fresh`: refresh when stale, once, and never lose a rotated token."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from bbwizard import net, oauth
from bbwizard.config import ConfigStore, utc_now
from bbwizard.emulator import DEMO_CONSUMER_KEY, PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET
from bbwizard.errors import ConsumerError, NetworkError, SignInRequired
from bbwizard.secret import Secret

TOKEN_PATH = "/site/oauth2/access_token"


def test_a_fresh_token_is_printed_without_any_request(emu, signed_in, run_cli) -> None:
    profile = signed_in()
    result = run_cli(["token"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == profile.access_token.reveal() + "\n"
    assert result.stderr == ""
    assert emu.stats.requests == []


@pytest.mark.parametrize("left", [None, timedelta(minutes=2)], ids=["expired", "expiring"])
def test_a_stale_token_is_refreshed_and_the_rotated_pair_saved(left, emu, signed_in, run_cli, config_path) -> None:
    old = signed_in(expired=left is None, left=left)
    result = run_cli(["token"])
    assert result.returncode == 0, result.stderr
    new_token = result.stdout.strip()
    assert new_token != old.access_token.reveal()
    info = emu.token_info(new_token)
    assert info is not None and not info["expired"]
    assert emu.stats.grants["refresh_token"] == 1
    saved = ConfigStore(config_path).get()
    assert saved.access_token.reveal() == new_token
    assert saved.refresh_token != old.refresh_token  # the rotated one, kept
    assert saved.token_state() == "fresh"


def test_a_refused_refresh_token_asks_to_sign_in_again(emu, signed_in, run_cli, config_path) -> None:
    signed_in(expired=True)
    emu.revoke_refresh_tokens()
    before = ConfigStore(config_path).get()
    result = run_cli(["token"])
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr == (
        "X Bitbucket no longer accepts this profile's refresh token, so the sign-in has ended. "
        "Sign in again: bbwizard login --profile default\n"
    )
    after = ConfigStore(config_path).get()  # the refusal is remembered; nothing else changed
    assert after.refresh_refused_at is not None and after.token_state() == "signed_out"
    assert after.replace(refresh_refused_at=None) == before


def test_no_profile_at_all_asks_to_sign_in(run_cli) -> None:
    result = run_cli(["token"])
    assert result.returncode == 3
    assert result.stderr == "X You're not signed in yet. Run: bbwizard login\n"


def test_a_changed_consumer_secret_is_named_on_refresh(emu, signed_in, run_cli, config_path) -> None:
    profile = signed_in(expired=True)
    profile.client_secret = Secret("a-secret-that-was-rotated")
    ConfigStore(config_path).save(profile)
    result = run_cli(["token"])
    assert result.returncode == 1
    assert result.stderr.startswith("X Bitbucket doesn't accept this key and secret. Copy both again from Bitbucket:")


def test_a_refresh_lost_on_the_way_back_says_it_may_have_happened_and_the_next_try_works(emu, signed_in, run_cli, config_path) -> None:
    old = signed_in(expired=True)
    emu.inject(kind="drop_after", path_prefix=TOKEN_PATH)  # Bitbucket rotates, the answer never arrives
    first = run_cli(["token"])
    assert first.returncode == 1
    assert "The refresh may have reached Bitbucket; if the next try says the sign-in has ended, run: bbwizard login --profile default" in first.stderr
    assert emu.stats.grants["refresh_token"] == 1
    assert ConfigStore(config_path).get().refresh_token == old.refresh_token  # nothing half-saved
    # The spent refresh token still works during Bitbucket's grace period, so the next call recovers.
    second = run_cli(["token"])
    assert second.returncode == 0, second.stderr
    assert emu.token_info(second.stdout.strip())["expired"] is False


def test_a_refresh_that_never_reached_the_server_is_retried_then_named(signed_in, config_path) -> None:
    profile = signed_in(expired=True)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    profile.site_url = dead
    store = ConfigStore(config_path)
    store.save(profile)
    with pytest.raises(NetworkError, match=r"^Can't reach 127\.0\.0\.1:\d+ \(.*\)\. Check your network connection"):
        oauth.ensure_fresh(store)
    assert store.get().refresh_token == profile.refresh_token


def test_a_private_consumer_renews_with_client_credentials(emu, signed_in, config_path) -> None:
    signed_in(expired=True, key=PRIVATE_CONSUMER_KEY, secret=PRIVATE_CONSUMER_SECRET, grant="client_credentials")
    profile = oauth.ensure_fresh(ConfigStore(config_path))
    assert emu.stats.grants == {"client_credentials": 1}
    assert emu.token_info(profile.access_token.reveal())["expired"] is False


def test_a_signed_out_profile_is_not_refreshed(emu, signed_in, run_cli) -> None:
    signed_in(expired=True)
    assert run_cli(["logout"]).returncode == 0
    result = run_cli(["token"])
    assert result.returncode == 3
    assert result.stderr == "X Profile 'default' is signed out. Sign in again: bbwizard login --profile default\n"
    assert emu.stats.grants["refresh_token"] == 0


# --- single flight ------------------------------------------------------------------------------


def test_threads_in_one_process_refresh_once(emu, signed_in, config_path) -> None:
    signed_in(expired=True)
    store = ConfigStore(config_path)
    barrier = threading.Barrier(8)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            tokens.append(oauth.ensure_fresh(store).access_token.reveal())
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert emu.stats.grants["refresh_token"] == 1
    assert len(set(tokens)) == 1 and len(tokens) == 8


async def test_asyncio_callers_through_to_thread_refresh_once_even_when_forced(emu, signed_in, config_path) -> None:
    refused = signed_in().access_token  # fresh, but say every caller just got a 401 with it
    store = ConfigStore(config_path)

    def forced():
        return oauth.ensure_fresh(store, None, force=True, refused=refused)

    # The first caller's refresh is held at Bitbucket while five more come in behind it.
    held = emu.hold(TOKEN_PATH, method="POST")
    first = asyncio.ensure_future(asyncio.to_thread(forced))
    assert await asyncio.to_thread(held.wait_arrived, 60)
    others = [asyncio.ensure_future(asyncio.to_thread(forced)) for _ in range(5)]
    held.release()
    results = await asyncio.gather(first, *others)
    # A caller that reads the profile only after the new pair was saved (the order that used to
    # refresh a second time) gets the saved token too.
    late = await asyncio.to_thread(forced)
    assert emu.stats.grants["refresh_token"] == 1
    assert len({p.access_token.reveal() for p in [*results, late]}) == 1
    assert late.access_token != refused


@pytest.mark.slow
def test_twenty_processes_refresh_one_expired_profile_once(emu, signed_in, cli_env, config_path) -> None:
    signed_in(expired=True)
    processes = [
        subprocess.Popen([sys.executable, "-m", "bbwizard", "token"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True, env=cli_env)
        for _ in range(20)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0] * 20, [err for _, err in outputs]
    tokens = {out.strip() for out, _ in outputs}
    assert emu.stats.grants["refresh_token"] == 1
    assert emu.stats.count(TOKEN_PATH) == 1
    assert len(tokens) == 1
    for token in tokens:
        assert emu.token_info(token)["expired"] is False
    saved = ConfigStore(config_path).get()
    assert saved.access_token.reveal() in tokens
    # The file holds the newest refresh token: refreshing with it works (an older one would be
    # refused once the grace period is over, so make it over).
    emu.refresh_grace = 0
    emu.expire_tokens()
    saved.expires_at = utc_now() - timedelta(seconds=1)
    ConfigStore(config_path).save(saved)
    assert oauth.ensure_fresh(ConfigStore(config_path)).token_state() == "fresh"
    assert emu.stats.grants["refresh_token"] == 2


def test_ensure_fresh_with_a_dead_refresh_raises_sign_in_required(emu, signed_in, config_path) -> None:
    signed_in(expired=True)
    emu.revoke_refresh_tokens()
    with pytest.raises(SignInRequired) as caught:
        oauth.ensure_fresh(ConfigStore(config_path))
    assert caught.value.exit_code == 3


def test_unauthorized_client_on_refresh_is_a_consumer_error(emu, signed_in, config_path) -> None:
    profile = signed_in(expired=True)
    profile.client_secret = Secret("not-the-right-secret")
    store = ConfigStore(config_path)
    store.save(profile)
    with pytest.raises(ConsumerError, match="doesn't accept this key and secret"):
        oauth.ensure_fresh(store)


def test_the_fast_path_agrees_with_the_config_on_freshness() -> None:
    from bbwizard import freshtoken
    from bbwizard.config import DEFAULT_MIN_VALID

    assert DEFAULT_MIN_VALID.total_seconds() == freshtoken.MIN_VALID_SECONDS


def test_token_still_warns_about_a_file_others_can_read(emu, signed_in, run_cli, config_path) -> None:
    profile = signed_in()
    config_path.chmod(0o644)
    result = run_cli(["token"])
    assert result.returncode == 0
    assert result.stdout == profile.access_token.reveal() + "\n"
    assert result.stderr == (
        f"! The config file {config_path} can be read by other users (mode 644); it holds secrets. "
        f"Run: chmod 600 {config_path}\n"
    )


def test_a_token_without_account_scope_names_the_permission_when_asking_who(emu) -> None:
    from bbwizard.errors import ScopeError

    answer = emu.mint_token(DEMO_CONSUMER_KEY, scopes=["repository"])
    with pytest.raises(ScopeError) as caught:
        oauth.fetch_user(emu.api_url, Secret(answer["access_token"]))
    assert caught.value.missing == ["account"]
    assert "tick Account: Read" in str(caught.value)


def test_who_am_i_with_a_dead_token_asks_to_sign_in(emu) -> None:
    with pytest.raises(SignInRequired, match=r"Bitbucket didn't accept the new token \(HTTP 401\)"):
        oauth.fetch_user(emu.api_url, Secret("not-a-token-the-emulator-issued"))


def test_a_read_timeout_on_refresh_is_not_retried_and_the_next_try_recovers(emu, signed_in, config_path, monkeypatch) -> None:
    old = signed_in(expired=True)
    store = ConfigStore(config_path)
    monkeypatch.setattr(net, "READ_TIMEOUT", 0.3)
    emu.latency = 1.0  # Bitbucket gets the refresh, rotates, and answers too late
    with pytest.raises(NetworkError) as caught:
        oauth.ensure_fresh(store)
    assert str(caught.value) == (
        f"{emu.site_url.removeprefix('http://')} didn't answer in time. Try again in a minute. The refresh may have "
        "reached Bitbucket; if the next try says the sign-in has ended, run: bbwizard login --profile default"
    )
    time.sleep(1.0)  # let the emulator finish the request we gave up on
    assert emu.stats.count(TOKEN_PATH) == 1  # a read timeout is never retried
    assert store.get().refresh_token == old.refresh_token
    emu.latency = 0.0
    assert oauth.ensure_fresh(store).token_state() == "fresh"
