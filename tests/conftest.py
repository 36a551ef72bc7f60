"""Fixtures shared by every test folder: the Bitbucket Cloud emulator and a clean git.

- ``emulator``: a running :class:`bbwizard.emulator.Emulator` with the demo seed (function scope;
  starting one takes milliseconds, git repositories are built on first use).
- ``emulator_factory``: ``emulator_factory(seed=None, **knobs)`` starts one more with your seed
  and knobs (``token_lifetime=2``, ``refresh_grace=1``, ``request_budget=5``, …); all are stopped
  at teardown.
- ``git_env``: a dict environment for subprocess git: temp HOME, no system/global config,
  ``GIT_TERMINAL_PROMPT=0``, ``user.name``/``user.email`` set, no inherited ``GIT_*`` variables.
- ``big_seed``: the demo seed plus a workspace ``big`` with 10,000 generated repositories.
- ``save_signed_in``: ``save_signed_in(emu, store, name=..., key=..., secret=..., scopes=None,
  expires_at=None, make_default=None, **fields)`` mints a token pair at the emulator and saves a
  profile holding it, as after the browser step; returns the profile as the store reads it back.
  Every folder's ``signed_in``/``sign_in`` fixture is this with its own defaults, and so is the
  benchmarks' profile: it lives in ``tests/support/bbwizard_test_profiles.py``.
- ``own_processes``: ``own_processes()`` gives the ids of this test run's process and every process
  it started (children, their children…), for tests that read /proc: the machine's other
  processes are none of their business, and may hold the demo secret in their arguments.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from bbwizard.emulator import Emulator, demo_seed

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))
from bbwizard_test_profiles import save_signed_in

# No test reaches the real keyring of the machine it runs on (a developer's GNOME Keyring or macOS
# Keychain): without a usable one new profiles keep their secrets in the file. The keyring tests
# choose their own backends (tests/core/test_core_keyring.py).
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")

try:  # property-based tests (tests/property/): the same cases on every run, a bounded number of them
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "ci", max_examples=200, derandomize=True, deadline=2000, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile("dev", max_examples=50, deadline=2000)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis is in the test extra; without it only tests/property/ can't run
    pass


@pytest.fixture
def emulator_factory(tmp_path_factory):
    started: list[Emulator] = []

    def make(seed=None, **knobs) -> Emulator:
        knobs.setdefault("data_dir", tmp_path_factory.mktemp("emulator"))
        emu = Emulator(seed, **knobs).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(emulator_factory) -> Emulator:
    return emulator_factory()


@pytest.fixture(name="save_signed_in")
def save_signed_in_fixture():
    return save_signed_in


def own_process_ids() -> set[int]:
    """This process and its descendants, from the parent ids in /proc/*/stat (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text(errors="replace")
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found = {os.getpid()}
    todo = [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@pytest.fixture
def own_processes():
    return own_process_ids


@pytest.fixture
def big_seed() -> dict:
    seed = demo_seed()
    seed["generators"] = [{"workspace": "big", "name": "Big Corp", "count": 10_000, "members": ["alice"]}]
    return seed


@pytest.fixture
def git_env(tmp_path_factory) -> dict[str, str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    home: Path = tmp_path_factory.mktemp("home")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("GIT_") and key not in ("SSH_ASKPASS", "BROWSER", "XDG_CONFIG_HOME")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME="Test Person",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test Person",
        GIT_COMMITTER_EMAIL="test@example.com",
        LC_ALL="C",
    )
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test Person\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n[protocol]\n\tversion = 2\n",
        encoding="utf-8",
    )
    return env
