"""Config documents, as hypothesis makes them up: a file of any bytes loads or is a ConfigError
(kept aside, never overwritten), and a saved profile loads back equal."""

from __future__ import annotations

import os
import string
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bbwizard.config import ConfigStore, Profile, UserInfo
from bbwizard.errors import ConfigError
from bbwizard.secret import Secret

pytestmark = pytest.mark.timeout(300)

_toml_bits = st.sampled_from([
    "[profiles.work]\n", "[profiles.\"a b\"]\n", "version = 1\n", "version = 99\n", "default = \"work\"\n",
    "client_id = \"K\"\n", "access_token = \"tok\"\n", "expires_at = 2026-01-01T00:00:00Z\n",
    "expires_at = \"soon\"\n", "scopes = [\"account\", 3]\n", "site_url = \"http://x\"\n", "kind = \"weird\"\n",
    "[profiles.work.user]\n", "display_name = \"\\u001b]0;x\\u0007\"\n", "= =\n", "[[profiles]]\n", "\x00", "\xff",
])
documents = st.binary(max_size=300) | st.lists(_toml_bits, max_size=12).map(lambda parts: "".join(parts).encode("utf-8", "surrogateescape"))


@given(documents)
def test_any_config_file_loads_or_is_a_config_error(document: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_bytes(document)
        os.chmod(path, 0o600)
        store = ConfigStore(path)
        try:
            for name, profile in store.load().items():
                assert profile.name == name
        except ConfigError:
            assert path.read_bytes() == document  # never overwritten


_word = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=20)
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@given(
    name=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,30}\Z"), client_id=_word, secret=_word, access=_word, refresh=_word,
    expires=st.integers(min_value=-10**6, max_value=10**8),
    scopes=st.lists(_word, unique=True, max_size=5),
    display=_text, username=_word,
    workspaces=st.lists(_word, unique=True, max_size=4),
)
def test_a_saved_profile_loads_back_equal(name, client_id, secret, access, refresh, expires, scopes, display, username, workspaces) -> None:
    expires_at = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=expires)
    profile = Profile(
        name=name, client_id=client_id, client_secret=Secret(secret), callback_url="http://localhost:8976/",
        access_token=Secret(access), refresh_token=Secret(refresh), expires_at=expires_at, scopes=scopes,
        user=UserInfo(display_name=display, username=username, uuid="{u}", account_id="a1"), workspaces=workspaces,
    )
    with tempfile.TemporaryDirectory() as folder:
        store = ConfigStore(Path(folder) / "config.toml")
        store.save(profile, make_default=True)
        loaded = ConfigStore(Path(folder) / "config.toml").get(name)
    assert loaded.client_secret.reveal() == secret and loaded.access_token.reveal() == access
    assert loaded.refresh_token.reveal() == refresh
    assert (loaded.name, loaded.client_id, loaded.expires_at, loaded.scopes, loaded.user, loaded.workspaces) == (
        name, client_id, expires_at, scopes, profile.user, workspaces)
