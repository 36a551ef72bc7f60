"""How long `bbwizard token` takes with a fresh token, against `python -c pass`.

Both run 30 times, interleaved (so a busy moment on the machine hits both alike), as fresh
processes the way a script or an SDK would run them. Prints each median and their ratio.
Target: under 4x.

    .venv/bin/python benchmarks/bench_token.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

TARGET_RATIO = 4.0


def _fresh_profile(config_path: Path) -> None:
    from bbwizard.config import ConfigStore, Profile
    from bbwizard.secret import Secret

    ConfigStore(config_path).save(
        Profile(
            name="bench",
            client_id="bench-key",
            client_secret=Secret("bench-consumer-secret"),
            access_token=Secret("bench-access-token-" + "x" * 160),
            refresh_token=Secret("bench-refresh-token"),
            expires_at=datetime.now(timezone.utc) + timedelta(hours=2),
            scopes=["account", "repository"],
        )
    )


def _time(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv[1:]} failed: {result.stderr.decode(errors='replace')}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bbwizard-bench-") as folder:
        config_path = Path(folder) / "bbwizard" / "config.toml"
        _fresh_profile(config_path)
        env = {k: v for k, v in os.environ.items() if not k.endswith("_PROXY") and not k.endswith("_proxy")}
        env["BBWIZARD_CONFIG"] = str(config_path)
        bbwizard = Path(sys.executable).with_name("bbwizard")
        token_argv = [str(bbwizard), "token"] if bbwizard.exists() else [sys.executable, "-m", "bbwizard", "token"]
        baseline_argv = [sys.executable, "-c", "pass"]

        for argv in (token_argv, baseline_argv):  # warm the page cache and .pyc files
            _time(argv, env)
        token_times: list[float] = []
        baseline_times: list[float] = []
        for _ in range(args.runs):
            baseline_times.append(_time(baseline_argv, env))
            token_times.append(_time(token_argv, env))

    token_median = statistics.median(token_times)
    baseline_median = statistics.median(baseline_times)
    ratio = token_median / baseline_median
    print(f"runs: {args.runs} each, interleaved")
    print(f"python -c pass : median {baseline_median * 1000:.1f} ms")
    print(f"bbwizard token : median {token_median * 1000:.1f} ms  ({' '.join(token_argv[-2:])})")
    print(f"ratio          : {ratio:.2f}x  (target < {TARGET_RATIO:.0f}x) {'OK' if ratio < TARGET_RATIO else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
