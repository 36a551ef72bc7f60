"""Fixtures of the auth-core tests: a config path in tmp_path, the CLI as a real subprocess, the
emulator on loopback with a callback port of our own, and a "browser" that clicks the consent
page and hands back the address it would land on."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bbwizard.config import ConfigStore, Profile, UserInfo, utc_now
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, Emulator, demo_seed

REPO = Path(__file__).resolve().parents[2]
# Variables that would change what the CLI does: a real browser, proxies, colours, a real config.
_SCRUB = ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
          "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "BBWIZARD_DEBUG", "BBWIZARD_APPROVE", "XDG_CONFIG_HOME")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "bbwizard" / "config.toml"


@pytest.fixture
def cli_env(config_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(BBWIZARD_CONFIG=str(config_path), NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1")
    return env


@pytest.fixture
def approver() -> str:
    """A $BROWSER that clicks Grant on the emulator's consent page."""
    return f"{sys.executable} -m bbwizard.emulator.approve"


@pytest.fixture
def run_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m bbwizard ARGS`` as a real process; stdin is a pipe (never a terminal)."""

    def run(args: list[str], input: str | None = None, env: dict[str, str] | None = None, timeout: float = 60):
        return subprocess.run(
            [sys.executable, "-m", "bbwizard", *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env={**cli_env, **(env or {})},
            timeout=timeout,
            cwd=REPO,
        )

    return run


@pytest.fixture
def callback_url() -> str:
    return f"http://localhost:{free_port()}/"


@pytest.fixture
def emu(callback_url: str) -> Iterator[Emulator]:
    """The emulator, its consumers' callback URL on a free loopback port of ours."""
    with Emulator(demo_seed(callback_url=callback_url)) as emulator:
        yield emulator


@pytest.fixture
def consent() -> Callable[..., str]:
    """Click Grant (or Deny) on the consent page at ``url``; return where the browser would land."""
    import httpx

    def click(url: str, deny: bool = False) -> str:
        with httpx.Client(trust_env=False, follow_redirects=False, timeout=10) as client:
            page = client.get(url)
            assert page.status_code == 200, page.text[:300]
            request_id = re.search(r'name="request_id" value="([^"]+)"', page.text).group(1)
            action = str(page.url.join("/site/oauth2/authorize"))
            answer = client.post(action, data={"request_id": request_id, "decision": "deny" if deny else "grant"})
            assert answer.status_code == 302, answer.text[:300]
            return answer.headers["location"]

    return click


def login_args(emulator: Emulator, key: str, *extra: str) -> list[str]:
    return ["login", "--key", key, "--secret-stdin", "--site-url", emulator.site_url, "--api-url", emulator.api_url, *extra]


@pytest.fixture
def login_argv() -> Callable[..., list[str]]:
    return login_args


@pytest.fixture
def signed_in(emu: Emulator, config_path: Path, save_signed_in) -> Callable[..., Profile]:
    """Save a profile holding a real emulator token pair, as after the browser step; ``expired=True``
    backdates it, ``left`` says how long it stays valid, ``user`` who the token belongs to."""

    def make(expired: bool = False, key: str = DEMO_CONSUMER_KEY, secret: str = DEMO_CONSUMER_SECRET,
             grant: str = "authorization_code", left: timedelta | None = None, name: str = "default",
             user: UserInfo | None = None) -> Profile:
        expires_at = utc_now() + left if left is not None else None
        if expired:
            expires_at = utc_now() - timedelta(minutes=1)
        profile = save_signed_in(emu, ConfigStore(config_path), name=name, key=key, secret=secret,
                                 expires_at=expires_at, grant=grant, user=user)
        if expired:
            emu.expire_tokens()
        emu.stats.reset()
        return profile

    return make
