"""Parallel clones: eight repositories at once against one after another, 100 ms of latency.

The emulator (in its own process) adds 100 ms to every request, as a far-away Bitbucket would.
Both sides use `bbwizard.git.clone_many` on the same eight repositories: `jobs=8` against `jobs=1`
(and the default `jobs=4` for reference), three rounds each, interleaved. Printed: the wall times and the median ratio; target: at most 0.4.

    .venv/bin/python benchmarks/bench_clone_parallel.py [--runs 3] [--latency 0.1] [--jobs 8]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_clone_common import EmulatorProcess, adopt, clean_env, interleaved, report, save_profile

from bbwizard import git
from bbwizard.emulator import demo_seed

TARGET = 0.4
REPOSITORIES = 8


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--jobs", type=int, default=8)
    args = parser.parse_args()

    seed = demo_seed()
    seed["generators"] = [
        {"workspace": "fleet", "count": REPOSITORIES, "prefix": "svc", "commits": 20, "members": ["alice"]}
    ]
    names = [f"svc-{i:05d}" for i in range(1, REPOSITORIES + 1)]
    with tempfile.TemporaryDirectory(prefix="bbw-bench-parallel-") as tmp, EmulatorProcess(
        seed, repos=[("fleet", name) for name in names], latency=args.latency
    ) as emu:
        root = Path(tmp)
        config = root / "config" / "config.toml"
        adopt(clean_env(root, config))
        store, profile = save_profile(config, emu)
        requests = [git.CloneRequest("fleet", name) for name in names]
        numbers = count()

        def clone(jobs: int) -> None:
            into = root / f"run-{next(numbers)}"
            results = asyncio.run(git.clone_many(profile, requests, into=into, jobs=jobs, store=store))
            failed = [r.error for r in results if not r.ok]
            if failed:
                raise SystemExit(f"a clone failed: {failed[0]}")
            shutil.rmtree(into)

        clone(args.jobs)  # warm-up
        sides = [("one after another", lambda: clone(1)), (f"{args.jobs} at once", lambda: clone(args.jobs))]
        if args.jobs != 4:
            sides.append(("4 at once (default)", lambda: clone(4)))
        times = interleaved(sides, args.runs)
        print(f"{REPOSITORIES} repositories, {args.latency * 1000:.0f} ms per request; {args.runs} runs each, interleaved")
        return 0 if report(times, "one after another", TARGET) else 1


if __name__ == "__main__":
    raise SystemExit(main())
