"""What the clone and credential benchmarks share: an emulator in its own process, a signed-in
profile, and a clean environment. Not a benchmark itself.

The emulator relays git http-backend's output through Python threads; run in the benchmark's own
process it would share the GIL with the clone being measured and blur the comparison. So it runs
in a child process, and the child mints the token the profile gets. The profile is built by the
tests' one builder (``tests/support/bbwizard_test_profiles.py``), so a change in what Bitbucket
answers is followed in one place.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

PLAIN_HELPER = '!f() { test "$1" = get && echo username=x-token-auth && echo "password=$BENCH_GIT_TOKEN"; }; f'


def _serve(seed: dict, knobs: dict, repos: list[tuple[str, str]], conn) -> None:
    from bbwizard.emulator import Emulator

    with Emulator(seed, **knobs) as emu:
        for workspace, slug in repos:
            emu.materialise(workspace, slug)
        conn.send((emu.site_url, emu.api_url))
        while True:
            message = conn.recv()
            if message == "stop":
                return
            if message == "requests":  # how many requests the emulator has answered so far
                conn.send(len(emu.stats.requests))
                continue
            if message[0] == "mint":
                _, key, username, scopes = message
                conn.send(emu.mint_token(key, username, scopes))
                continue
            name, value = message
            setattr(emu, name, value)
            conn.send("ok")


class EmulatorProcess:
    """``with EmulatorProcess(seed, repos=[...], latency=0.1) as emu:`` -> site_url, api_url, and
    ``mint_token`` as the emulator has it, so ``save_signed_in`` takes either."""

    def __init__(self, seed: dict, *, repos: list[tuple[str, str]] = (), **knobs) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._proc = context.Process(target=_serve, args=(seed, knobs, list(repos), child), daemon=True)

    def __enter__(self) -> EmulatorProcess:
        self._proc.start()
        self.site_url, self.api_url = self._conn.recv()
        return self

    def mint_token(self, consumer_key: str, username: str | None = None, scopes: list[str] | None = None) -> dict:
        self._conn.send(("mint", consumer_key, username, scopes))
        return self._conn.recv()

    def set(self, name: str, value) -> None:
        self._conn.send((name, value))
        self._conn.recv()

    def requests(self) -> int:
        """How many HTTP requests the emulator has answered so far."""
        self._conn.send("requests")
        return self._conn.recv()

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._proc.join(timeout=30)


def save_profile(config: Path, emu: EmulatorProcess, name: str = "bench"):
    """A profile signed in at ``emu`` the tests' way, the default one: (store, profile)."""
    from bbwizard_test_profiles import save_signed_in

    from bbwizard.config import ConfigStore

    store = ConfigStore(config)
    return store, save_signed_in(emu, store, name=name, make_default=True)


# Bitbucket's tokens are JWTs of 2,500 characters and more since 2026: the benchmarks store such.
JWT_SIZED = 2600


def save_fresh_profile(config: Path, site_url: str, name: str = "bench") -> None:
    """A signed-in profile with a fresh, JWT-sized token, as the credential and token benchmarks read."""
    from bbwizard.config import ConfigStore, Profile
    from bbwizard.secret import Secret

    ConfigStore(config).save(
        Profile(
            name=name,
            client_id="bench-key",
            client_secret=Secret("bench-secret-" + "s" * 60),
            site_url=site_url,
            access_token=Secret("bench-access-" + "a" * JWT_SIZED),
            refresh_token=Secret("bench-refresh-" + "r" * JWT_SIZED),
            expires_at=datetime.now(timezone.utc) + timedelta(hours=2),
            scopes=["account", "repository"],
        ),
        make_default=True,
    )


def gh_config(root: Path) -> dict[str, str]:
    """A GH_CONFIG_DIR whose hosts.yml holds a token, which is all `gh auth token` and
    `gh auth git-credential get` read."""
    folder = root / "gh"
    folder.mkdir()
    (folder / "hosts.yml").write_text(
        "github.com:\n    oauth_token: gho_bench" + "g" * 30 + "\n    user: bench\n    git_protocol: https\n"
    )
    return {"GH_CONFIG_DIR": str(folder), "GH_NO_UPDATE_NOTIFIER": "1", "GH_PROMPT_DISABLED": "1"}


def clean_env(root: Path, config: Path) -> dict[str, str]:
    """No git config of the person, and Python as when installed: bytecode cached (an installed
    package has its .pyc files; a PYTHONDONTWRITEBYTECODE shell recompiles on every start)."""
    home = root / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        BBWIZARD_CONFIG=str(config),
        NO_COLOR="1",
        LC_ALL="C",
        PYTHONPYCACHEPREFIX=str(root / "pycache"),
    )
    return env


def adopt(env: dict[str, str]) -> None:
    """Make ``env`` this process's environment (for in-process clones)."""
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    os.environ.update(env)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved(sides: list[tuple[str, Callable[[], object]]], runs: int) -> dict[str, list[float]]:
    """``runs`` rounds; each round runs every side once, the order flipping every round."""
    times: dict[str, list[float]] = {name: [] for name, _ in sides}
    for round_ in range(runs):
        order = sides if round_ % 2 == 0 else list(reversed(sides))
        for name, fn in order:
            times[name].append(timed(fn))
    return times


def report(times: dict[str, list[float]], baseline: str, target: float, *, below: bool = False) -> bool:
    """Print medians and the median per-round ratio of each side against ``baseline``."""
    for name, values in times.items():
        print(f"  {name:22} median {statistics.median(values) * 1000:8.1f} ms  "
              f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})")
    ok = True
    for name, values in times.items():
        if name == baseline:
            continue
        ratio = statistics.median(a / b for a, b in zip(values, times[baseline]))
        met = ratio < target if below else ratio <= target
        ok &= met
        sign = "<" if below else "<="
        # The best runs say what each side costs when the machine leaves it alone.
        best = min(values) / min(times[baseline])
        print(f"  {name} / {baseline}: median ratio {ratio:.3f} (target {sign} {target}) "
              f"{'met' if met else 'NOT met'}; best run against best run {best:.3f}")
    return ok


def git_clone_plain(url: str, dest: Path, env: dict[str, str], token: str) -> None:
    subprocess.run(
        ["git", "-c", f"credential.helper={PLAIN_HELPER}", "clone", "--quiet", "--", url, str(dest)],
        env=dict(env, BENCH_GIT_TOKEN=token),
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,  # as the other sides run: output to a pipe, not the terminal
    )


if __name__ == "__main__":
    print("Helpers for benchmarks/bench_clone.py, bench_clone_parallel.py and bench_credential.py.")
