"""Clone overhead as a person waits for it: `bbwizard clone` against plain `git clone` with the
same credentials, over a network with 100 ms per request.

One repository of a few MB and 300 commits on the emulator (loopback, in its own process, every
request delayed by ``--latency``), cloned ``--runs`` times each way, interleaved (the order flips
every round). Plain git gets the same token from a minimal shell credential helper that reads it
from its environment (never argv); bbwizard's git asks `bbwizard credential`, its own helper
process. Measured: the command (`bbwizard clone` as installed, interpreter start included, output
piped, so it draws no bars and, like plain git off a terminal, asks git for no progress) and, for
scale, the core call the TUI uses (`bbwizard.git.clone_repository` with a progress listener, in
this process). Printed: medians and the median of the per-round ratios, target at most 1.25; and
the HTTP requests the emulator answered for one clone each way, target: no more than plain git.

    .venv/bin/python benchmarks/bench_clone.py [--runs 5] [--commits 300] [--size 5MB] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_clone_common import (
    PLAIN_HELPER,
    EmulatorProcess,
    adopt,
    clean_env,
    git_clone_plain,
    interleaved,
    report,
    save_profile,
)

from bbwizard import git
from bbwizard.emulator import demo_seed

TARGET = 1.25  # bbwizard clone / plain git clone, 100 ms a request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--size", default="5MB")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the emulator waits before each answer")
    args = parser.parse_args()

    seed = demo_seed()
    seed.setdefault("repositories", []).append(
        {"workspace": "acme", "slug": "monorepo", "commits": args.commits, "size": args.size}
    )
    with tempfile.TemporaryDirectory(prefix="bbw-bench-clone-") as tmp, EmulatorProcess(
        seed, repos=[("acme", "monorepo")]
    ) as emu:
        root = Path(tmp)
        config = root / "config" / "config.toml"
        env = clean_env(root, config)
        adopt(env)
        store, profile = save_profile(config, emu)
        url = git.clone_url(emu.site_url, "acme", "monorepo")
        token = profile.access_token.reveal()
        numbers = count()

        def plain() -> None:
            dest = root / f"plain-{next(numbers)}"
            git_clone_plain(url, dest, env, token)
            shutil.rmtree(dest)

        def command() -> None:
            dest = root / f"command-{next(numbers)}"
            subprocess.run([*git.bbwizard_argv(), "clone", "acme/monorepo", str(dest)],
                           env=env, check=True, stdin=subprocess.DEVNULL, capture_output=True)
            shutil.rmtree(dest)

        def core() -> None:
            dest = root / f"core-{next(numbers)}"
            # As the TUI calls it: with a progress listener (git is then asked for progress).
            asyncio.run(git.clone_repository(profile, "acme", "monorepo", dest, on_progress=lambda event: None, store=store))
            shutil.rmtree(dest)

        def interpreter() -> None:  # not a side: the floor any Python command pays (start-up and exit)
            subprocess.run([sys.executable, "-c", "pass"], env=env, check=True, stdin=subprocess.DEVNULL, capture_output=True)

        def least_wrapper() -> None:  # not a side: the least any Python clone command can do
            dest = root / f"least-{next(numbers)}"
            subprocess.run([sys.executable, "-c", LEAST_WRAPPER, url, str(dest), PLAIN_HELPER],
                           env=env, check=True, stdin=subprocess.DEVNULL, capture_output=True)
            shutil.rmtree(dest)

        for warm_up in (plain, command, core, least_wrapper):  # page cache, bytecode, the emulator's first pack
            warm_up()
        before = emu.requests()
        plain()
        plain_requests = emu.requests() - before
        before = emu.requests()
        command()
        command_requests = emu.requests() - before
        emu.set("latency", args.latency)
        times = interleaved(
            [("plain git clone", plain), ("bbwizard clone", command), ("clone_repository", core),
             ("python -c pass", interpreter), ("least Python wrapper", least_wrapper)],
            args.runs,
        )
        floor = times.pop("python -c pass")
        least = times.pop("least Python wrapper")
        plain_median = statistics.median(times["plain git clone"])
        print(f"repository acme/monorepo: {args.commits} commits, {args.size} of blobs; {args.runs} runs each, "
              f"interleaved; {args.latency * 1000:.0f} ms per request")
        core_times = times.pop("clone_repository")  # for scale: the TUI's call, in this process
        ok = report(times, "plain git clone", TARGET)
        core_ratio = statistics.median(a / b for a, b in zip(core_times, times["plain git clone"]))
        print(f"  for scale: clone_repository (the TUI's call, with progress) median "
              f"{statistics.median(core_times) * 1000:.1f} ms, median ratio {core_ratio:.3f} to plain git clone")
        met = command_requests <= plain_requests
        ok &= met
        print(f"  HTTP requests at the emulator for one clone: bbwizard clone {command_requests}, plain git clone "
              f"{plain_requests} (target: no more) {'met' if met else 'NOT met'}")
        print(f"  for scale: `python -c pass` (same interpreter and environment) median "
              f"{statistics.median(floor) * 1000:.1f} ms, {statistics.median(floor) / plain_median:.2f} of plain git clone")
        ratio = statistics.median(a / b for a, b in zip(least, times["plain git clone"]))
        print(f"  for scale: the least Python wrapper (start, read the config with tomllib, run the same plain "
              f"git clone) median {statistics.median(least) * 1000:.1f} ms, median ratio {ratio:.3f} to plain git clone")
        return 0 if ok else 1


# What any clone command written in Python must do at the least: start, read the token from the
# config file, run git. Nothing checked, nothing said, no progress: a floor for reading the ratio.
LEAST_WRAPPER = """
import os, subprocess, sys, tomllib
with open(os.environ["BBWIZARD_CONFIG"], "rb") as handle:
    token = tomllib.load(handle)["profiles"]["bench"]["access_token"]
url, dest, helper = sys.argv[1:]
subprocess.run(["git", "-c", "credential.helper=" + helper, "clone", "--quiet", "--", url, dest],
               env=dict(os.environ, BENCH_GIT_TOKEN=token), stdin=subprocess.DEVNULL, check=True)
"""


if __name__ == "__main__":
    raise SystemExit(main())
