"""`bbwizard credential get` against `gh auth git-credential get`, both from a stored fresh token.

git runs the helper (as written into a clone's .git/config) on every fetch, pull and push, so its
start-up is what a person waits for; gh's helper is the one people know. Both answer from a token
stored on disk (JWT-sized for bbwizard, as Bitbucket's are since 2026), with the config in its usual
place, twenty times each, interleaved; `python -c pass` is printed as the floor of any Python helper.
Target: bbwizard / gh, median of the per-round ratios, at most 0.90. Needs `gh` (Debian's package).

    .venv/bin/python benchmarks/bench_credential.py [--runs 20]
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

from bbwizard import git

TARGET = 0.90


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("gh") is None:
        raise SystemExit("gh is not installed (apt-get install gh): it is the side bbwizard is measured against.")

    with tempfile.TemporaryDirectory(prefix="bbw-bench-credential-") as tmp:
        root = Path(tmp)
        # The config where a person's is (no BBWIZARD_CONFIG, no --config): finding it is part of the cost.
        config = root / "home" / ".config" / "bbwizard" / "config.toml"
        env = clean_env(root, config)
        del env["BBWIZARD_CONFIG"]
        env.pop("XDG_CONFIG_HOME")
        save_fresh_profile(config, "https://bitbucket.org")
        env.update(gh_config(root))
        helper = git.helper_command("bench")[1:]  # exactly what .git/config holds

        def run(command: str, host: str, expect: str) -> None:
            request = f"protocol=https\nhost={host}\n\n"
            done = subprocess.run(command, shell=True, input=request, env=env, capture_output=True, text=True)
            if expect not in done.stdout:
                raise SystemExit(f"`{command}` gave no token: {done.stderr.strip()}")

        def bbwizard_get() -> None:
            run(f"{helper} get", "bitbucket.org", "password=bench-access-")

        def gh_get() -> None:
            run("gh auth git-credential get", "github.com", "password=gho_bench")

        def python_pass() -> None:
            subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)

        for warm_up in (bbwizard_get, gh_get, python_pass):
            warm_up()
        times = interleaved([("gh credential get", gh_get), ("bbwizard credential get", bbwizard_get)], args.runs)
        floor = interleaved([("python -c pass", python_pass)], args.runs)
        print(f"`{helper} get` vs `gh auth git-credential get` ({args.runs} runs each, interleaved)")
        ok = report(times, "gh credential get", TARGET)
        print(f"  floor: python -c pass median {sorted(floor['python -c pass'])[args.runs // 2] * 1000:.1f} ms")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
