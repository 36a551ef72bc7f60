"""Fixtures of the security review's tests: a clean environment with the config in tmp_path, the
CLI as a real subprocess, profiles signed in on the emulator, a "browser" that clicks Grant, and
a crash traceback rendered the way Textual renders it (locals included)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bbwizard.config import ConfigStore, Profile
from bbwizard.secret import Secret

# Variables that would change what the CLI does: a real browser, proxies, a real config, debugging.
_SCRUB = ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
          "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "BBWIZARD_DEBUG", "BBWIZARD_APPROVE",
          "SSL_CERT_FILE", "GIT_SSL_CAINFO")


@pytest.fixture
def sec_env(git_env, tmp_path, monkeypatch) -> dict[str, str]:
    """A clean environment (git's temp HOME, no proxies, no browser) with ``BBWIZARD_CONFIG`` in
    tmp_path; made this process's environment too, so in-process calls see the same config."""
    env = {k: v for k, v in git_env.items() if k not in _SCRUB}
    env.update(BBWIZARD_CONFIG=str(tmp_path / "bbwizard" / "config.toml"), NO_COLOR="1", COLUMNS="160")
    for key in list(os.environ):
        if key.startswith("GIT_") or key in _SCRUB:
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return env


@pytest.fixture
def bbw(sec_env) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``bbw(*args, input=None, env=None, cwd=None)``: ``python -m bbwizard ARGS`` as a real process."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None, cwd=None, timeout: float = 120):
        return subprocess.run(
            [sys.executable, "-m", "bbwizard", *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env={**sec_env, **(env or {})},
            cwd=cwd,
            timeout=timeout,
        )

    return run


@pytest.fixture
def signed_in(sec_env, save_signed_in) -> Callable[..., tuple[ConfigStore, Profile]]:
    """``signed_in(emu, expired=False, name="work")`` -> (store, profile): a saved profile holding
    a pair minted by the emulator, as after the browser step."""

    def make(emu, *, expired: bool = False, name: str = "work", scopes=None):
        store = ConfigStore()
        expires_at = datetime.now(timezone.utc) - timedelta(seconds=60) if expired else None
        profile = save_signed_in(emu, store, name=name, scopes=scopes, expires_at=expires_at,
                                 callback_url="http://localhost:8976/", make_default=True)
        return store, profile

    return make


@pytest.fixture
def grant() -> Callable[[str], str]:
    """Click Grant on the emulator's consent page at ``url``; return where the browser would land."""
    import httpx

    def click(url: str) -> str:
        with httpx.Client(trust_env=False, follow_redirects=False, timeout=30) as client:
            page = client.get(url)
            assert page.status_code == 200, page.text[:300]
            request_id = re.search(r'name="request_id" value="([^"]+)"', page.text).group(1)
            answer = client.post(str(page.url.join("/site/oauth2/authorize")), data={"request_id": request_id, "decision": "grant"})
            assert answer.status_code == 302, answer.text[:300]
            return answer.headers["location"]

    return click


@pytest.fixture
def textual_traceback() -> Callable[[BaseException], str]:
    """The crash report Textual prints for ``error``: rich's Traceback with every frame's locals,
    exactly the settings of ``textual.app.App._handle_exception``. The first frame (the test that
    caught it, standing in for the app's own code) is left out: what counts is bbwizard's frames."""
    import rich
    from rich.console import Console
    from rich.traceback import Traceback

    def render(error: BaseException) -> str:
        console = Console(file=io.StringIO(), width=400, color_system=None, force_terminal=False)
        trace = Traceback.from_exception(
            type(error), error, error.__traceback__.tb_next, show_locals=True, width=None, locals_max_length=5, suppress=[rich]
        )
        console.print(trace)
        return console.file.getvalue()

    return render


def pieces(*values: str | Secret | None, size: int = 16) -> list[str]:
    """The first ``size`` characters of each value: what a truncated repr would still show."""
    out = []
    for value in values:
        if value is None:
            continue
        raw = value.reveal() if isinstance(value, Secret) else value
        out.append(raw[:size])
    return out


@pytest.fixture
def secret_pieces() -> Callable[..., list[str]]:
    return pieces


@pytest.fixture
def config_file(sec_env) -> Path:
    return Path(sec_env["BBWIZARD_CONFIG"])
