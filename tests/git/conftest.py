"""Fixtures of the git tests: a clean HOME for git, and signed-in profiles on the emulator."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bbwizard.config import ConfigStore
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, demo_seed


@pytest.fixture
def git_home(git_env, monkeypatch, tmp_path) -> dict[str, str]:
    """The shared ``git_env`` made this process's environment too (clones run in-process), with
    ``BBWIZARD_CONFIG`` in a temp folder. Returns the environment for subprocesses."""
    for key in list(os.environ):
        if key.startswith("GIT_") and key not in git_env:
            monkeypatch.delenv(key)
    config = tmp_path / "bbwizard-config" / "config.toml"
    env = dict(git_env, BBWIZARD_CONFIG=str(config))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return env


@pytest.fixture
def sign_in(git_home, save_signed_in):
    """``sign_in(emu, scopes=None, name="work")`` -> (store, profile): a saved profile holding a
    token minted by the emulator, as if the person had been through the browser."""

    def make(emu, scopes=None, name="work", consumer=(DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET)):
        store = ConfigStore()
        profile = save_signed_in(emu, store, name=name, key=consumer[0], secret=consumer[1], scopes=scopes,
                                 callback_url="http://localhost:8976/", make_default=True)
        return store, profile

    return make


@pytest.fixture
def run_git(git_home):
    """``run_git(*args, cwd=...)`` with the clean environment; returns CompletedProcess (text)."""

    def run(*args, cwd=None, input=None, check=True, env=None):
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env or git_home,
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    return run


@pytest.fixture
def run_bbwizard(git_home):
    """``run_bbwizard(*args, input=None)``: the real command in a subprocess."""

    def run(*args, input=None, cwd=None, env=None, timeout=180):
        return subprocess.run(
            [sys.executable, "-m", "bbwizard", *args],
            cwd=cwd,
            env=env or dict(git_home, NO_COLOR="1", COLUMNS="160"),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def parallel_seed() -> dict:
    """The demo seed plus eight small services and one repository with a Unicode slug."""
    seed = demo_seed()
    seed["generators"] = [{"workspace": "fleet", "count": 8, "prefix": "svc", "commits": 3, "members": ["alice"]}]
    seed.setdefault("repositories", []).append(
        {"workspace": "open-tools", "slug": "dépôt", "name": "Dépôt", "commits": 2, "files": {"LISEZMOI.md": "bonjour\n"}}
    )
    return seed
