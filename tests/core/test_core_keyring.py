"""Secrets in the OS keyring: chunks under 1,000 characters with versioned names, a new profile's
secrets there when a keyring is usable (the file otherwise, and status says so), moving both ways
without losing one, a keyring that hangs or refuses, the refresh with the rotated pair saved in the
keyring, and the fast path leaving keyring profiles to the full road.

The backends are tests/support/bbwizard_test_keyring.py: in-process through ``keyring.set_keyring``,
in subprocesses through ``PYTHON_KEYRING_BACKEND`` with that folder on ``PYTHONPATH``."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import keyring
import pytest

from bbwizard import keyring_store
from bbwizard.config import ConfigStore, Profile, utc_now
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET
from bbwizard.freshtoken import read_fresh_token
from bbwizard.secret import Secret

SUPPORT = Path(__file__).resolve().parents[1] / "support"
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SUPPORT))
import bbwizard_test_keyring as backends  # noqa: E402


@pytest.fixture
def use_backend(monkeypatch, tmp_path):
    """``use_backend(cls)``: that backend in this process and in subprocesses started with
    ``os.environ``; keyring's choice is restored afterwards."""
    previous = keyring.get_keyring()
    keyring_file = tmp_path / "keyring.json"
    monkeypatch.setenv("BBWIZARD_TEST_KEYRING_FILE", str(keyring_file))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(SUPPORT), os.environ.get("PYTHONPATH")])))
    keyring_store.forget_unanswered()

    def use(cls):
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", f"bbwizard_test_keyring.{cls.__name__}")
        backend = cls()
        keyring.set_keyring(backend)
        return backend

    yield use
    backends.HangingKeyring.released.set()  # no keyring thread outlives the test
    keyring.set_keyring(previous)
    keyring_store.forget_unanswered()
    backends.HangingKeyring.released = type(backends.HangingKeyring.released)()


def oauth_profile(emu=None, name="work", **changes) -> Profile:
    token = "eyJ" + secrets.token_urlsafe(2400)  # a JWT of 3 KB, as Bitbucket's
    profile = Profile(
        name=name, client_id=DEMO_CONSUMER_KEY, client_secret=Secret(DEMO_CONSUMER_SECRET),
        site_url=emu.site_url if emu else "https://bitbucket.org", api_url=emu.api_url if emu else "https://api.bitbucket.org/2.0",
        access_token=Secret(token), refresh_token=Secret("refresh-" + secrets.token_urlsafe(16)),
        expires_at=utc_now() + timedelta(hours=2), scopes=["account", "repository"],
    )
    return profile.replace(**changes)


def run_cli(args, config_path, input="", env=None):
    return subprocess.run([sys.executable, "-m", "bbwizard", *args], input=input, capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, BBWIZARD_CONFIG=str(config_path), NO_COLOR="1", **(env or {})), timeout=120)


def test_a_3000_character_token_is_stored_in_chunks_with_versioned_names(use_backend):
    backend = use_backend(backends.FileKeyring)
    token = secrets.token_urlsafe(2250)[:3000]
    keyring_store.write_secret("work", "access_token", token)
    entries = backend.entries()
    assert all(len(value) < 1000 for value in entries.values())  # a single entry of 3,000 is refused
    names = sorted(key.split("\n", 1)[1] for key in entries)
    assert names[0] == "v1:work:access_token"
    assert [name.rsplit(":", 1)[1] for name in names[1:]] == ["1/4", "2/4", "3/4", "4/4"]
    assert keyring_store.read_secret("work", "access_token") == token
    keyring_store.write_secret("work", "access_token", token[:1500])  # rewritten: the old chunks go
    assert len(backend.entries()) == 1 + 2
    assert keyring_store.read_secret("work", "access_token") == token[:1500]


def test_a_new_profile_keeps_its_secrets_in_a_usable_keyring(use_backend, config_path):
    backend = use_backend(backends.FileKeyring)
    profile = oauth_profile()
    store = ConfigStore(config_path)
    store.save(profile)
    text = config_path.read_text()
    assert 'secret_storage = "keyring"' in text
    for secret in (profile.access_token, profile.refresh_token, profile.client_secret):
        assert secret.reveal() not in text
    assert len(backend.entries()) > 3
    again = ConfigStore(config_path).get("work")
    assert again.access_token == profile.access_token and again.refresh_token == profile.refresh_token
    assert again.client_secret == profile.client_secret
    assert read_fresh_token("work", str(config_path)) is None  # not in the file: the full road reads the keyring


def test_without_a_usable_keyring_the_file_keeps_them_and_status_says_so(config_path):
    profile = oauth_profile()
    ConfigStore(config_path).save(profile)  # the test run's keyring is keyring.backends.fail
    text = config_path.read_text()
    assert 'secret_storage = "file"' in text and profile.access_token.reveal() in text
    done = run_cli(["status", "--offline"], config_path)
    assert "Secrets kept in: the config file" in done.stdout
    assert "No usable system keyring was found" in done.stdout


def test_config_secrets_moves_both_ways_and_status_follows(use_backend, config_path):
    profile = oauth_profile()
    ConfigStore(config_path).save(profile)  # no keyring yet: the file
    backend = use_backend(backends.FileKeyring)
    done = run_cli(["config", "secrets", "keyring", "--profile", "work"], config_path)
    assert done.returncode == 0, done.stderr
    assert "are in the system keyring" in done.stderr
    assert profile.refresh_token.reveal() not in config_path.read_text()
    assert keyring_store.read_secret("work", "refresh_token") == profile.refresh_token.reveal()
    status = run_cli(["status", "--offline"], config_path)
    assert "Secrets kept in: the system keyring (" in status.stdout and "FileKeyring)" in status.stdout
    token = run_cli(["token", "--profile", "work"], config_path)
    assert token.stdout == profile.access_token.reveal() + "\n"

    done = run_cli(["config", "secrets", "file"], config_path)
    assert done.returncode == 0, done.stderr
    assert profile.refresh_token.reveal() in config_path.read_text()
    assert backend.entries() == {}
    assert ConfigStore(config_path).get("work").access_token == profile.access_token


def test_a_refusing_keyring_moves_nothing_and_says_why(use_backend, config_path):
    ConfigStore(config_path).save(oauth_profile())
    before = config_path.read_bytes()
    use_backend(backends.RefusingKeyring)
    done = run_cli(["config", "secrets", "keyring"], config_path)
    assert done.returncode == 1
    assert "The system keyring refused to read a bbwizard secret (the collection is locked)" in done.stderr
    assert config_path.read_bytes() == before


def test_a_keyring_that_refuses_a_save_leaves_the_secrets_in_the_file(use_backend, config_path, monkeypatch):
    backend = use_backend(backends.FileKeyring)
    store = ConfigStore(config_path)
    store.save(oauth_profile())

    def refuse(service, username, password):
        raise keyring.errors.PasswordSetError("no room")

    monkeypatch.setattr(backend, "set_password", refuse)
    rotated = oauth_profile(refresh_token=Secret("rotated-refresh-token"))
    store.save(rotated)
    assert "rotated-refresh-token" in config_path.read_text()  # never lost
    assert 'secret_storage = "file"' in config_path.read_text()
    assert store.notes and "refused to store" in store.notes[0] and "saved in" in store.notes[0]
    assert ConfigStore(config_path).get("work").refresh_token.reveal() == "rotated-refresh-token"


def test_a_hanging_keyring_is_given_up_with_a_sentence(use_backend, monkeypatch):
    use_backend(backends.HangingKeyring)
    monkeypatch.setenv("BBWIZARD_KEYRING_TIMEOUT", "0.2")
    with pytest.raises(keyring_store.KeyringUnavailable, match=r"did not answer within 0\.2 seconds"):
        keyring_store.read_secret("work", "access_token")
    with pytest.raises(keyring_store.KeyringUnavailable, match="did not answer"):  # at once, this time
        keyring_store.write_secret("work", "access_token", "x")
    assert keyring_store.problem() is not None


def test_credential_get_returns_with_a_sentence_when_the_keyring_hangs(use_backend, config_path):
    use_backend(backends.FileKeyring)
    ConfigStore(config_path).save(oauth_profile())
    use_backend(backends.HangingKeyring)
    done = run_cli(["credential", "get"], config_path, input="protocol=https\nhost=bitbucket.org\n\n",
                   env={"BBWIZARD_KEYRING_TIMEOUT": "1"})
    assert done.returncode != 0
    assert "password=" not in done.stdout
    assert "The system keyring did not answer within 1 seconds" in done.stderr
    assert "bbwizard config secrets file" in done.stderr


def test_the_full_road_reads_the_keyring_for_credential_get(use_backend, config_path):
    use_backend(backends.FileKeyring)
    profile = oauth_profile()
    ConfigStore(config_path).save(profile)
    done = run_cli(["credential", "get"], config_path, input="protocol=https\nhost=bitbucket.org\n\n")
    assert done.returncode == 0, done.stderr
    assert f"password={profile.access_token.reveal()}\n" in done.stdout


def test_a_refresh_with_secrets_in_the_keyring_saves_the_rotated_pair_there(use_backend, emu, config_path):
    from bbwizard.oauth import ensure_fresh

    use_backend(backends.FileKeyring)
    answer = emu.mint_token(DEMO_CONSUMER_KEY)
    stale = oauth_profile(emu, access_token=Secret(answer["access_token"]), refresh_token=Secret(answer["refresh_token"]),
                          expires_at=utc_now() - timedelta(minutes=1))
    store = ConfigStore(config_path)
    store.save(stale)
    fresh = ensure_fresh(store, "work")
    assert fresh.access_token != stale.access_token and fresh.refresh_token != stale.refresh_token
    assert keyring_store.read_secret("work", "refresh_token") == fresh.refresh_token.reveal()
    assert keyring_store.read_secret("work", "access_token") == fresh.access_token.reveal()
    text = config_path.read_text()
    assert fresh.refresh_token.reveal() not in text and 'secret_storage = "keyring"' in text
    assert ConfigStore(config_path).get("work").token_state() == "fresh"


def test_logout_and_delete_clear_the_keyring(use_backend, config_path):
    backend = use_backend(backends.FileKeyring)
    store = ConfigStore(config_path)
    store.save(oauth_profile())
    done = run_cli(["logout", "--profile", "work"], config_path)
    assert done.returncode == 0, done.stderr
    left = {key.split("\n", 1)[1].split(":")[2] for key in backend.entries()}
    assert left == {"client_secret"}  # the consumer stays for the next login; the tokens are gone
    assert ConfigStore(config_path).get("work").client_secret.reveal() == DEMO_CONSUMER_SECRET
    assert store.delete("work")
    assert backend.entries() == {}
