"""`bbwizard token` against `gh auth token`, both printing a stored fresh token.

Scripts and SDKs run it before every call, as fresh processes. Both run 30 times, interleaved (so a
busy moment on the machine hits both alike); `python -c pass` is printed as the floor of any Python
command. Target: bbwizard / gh, median of the per-round ratios, at most 0.90. Needs `gh`.

    .venv/bin/python benchmarks/bench_token.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_clone_common import clean_env, gh_config, interleaved, report, save_fresh_profile

TARGET = 0.90


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if shutil.which("gh") is None:
        raise SystemExit("gh is not installed (apt-get install gh): it is the side bbwizard is measured against.")

    with tempfile.TemporaryDirectory(prefix="bbw-bench-token-") as tmp:
        root = Path(tmp)
        config = root / "home" / ".config" / "bbwizard" / "config.toml"
        env = clean_env(root, config)
        del env["BBWIZARD_CONFIG"]
        env.pop("XDG_CONFIG_HOME")
        save_fresh_profile(config, "https://bitbucket.org")
        env.update(gh_config(root))
        bbwizard = Path(sys.executable).with_name("bbwizard")
        token_argv = [str(bbwizard), "token"] if bbwizard.exists() else [sys.executable, "-m", "bbwizard", "token"]

        def run(argv: list[str], expect: str) -> None:
            done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if done.returncode != 0 or not done.stdout.startswith(expect):
                raise SystemExit(f"{argv} failed: {done.stderr.strip()}")

        def bbwizard_token() -> None:
            run(token_argv, "bench-access-")

        def gh_token() -> None:
            run(["gh", "auth", "token"], "gho_bench")

        def python_pass() -> None:
            subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)

        for warm_up in (bbwizard_token, gh_token, python_pass):
            warm_up()
        times = interleaved([("gh auth token", gh_token), ("bbwizard token", bbwizard_token)], args.runs)
        floor = interleaved([("python -c pass", python_pass)], args.runs)
        print(f"`{' '.join(token_argv[-2:])}` vs `gh auth token` ({args.runs} runs each, interleaved)")
        ok = report(times, "gh auth token", TARGET)
        print(f"  floor: python -c pass median {sorted(floor['python -c pass'])[args.runs // 2] * 1000:.1f} ms")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
