"""`bbwizard credential get` with a fresh token against `python -c pass`.

git runs the helper (as written into a clone's .git/config) on every fetch, pull and push, so its
start-up is what a person waits for. Both run the same interpreter, with bytecode cached as in an
installed package, twenty times each, interleaved, with the config file in its usual place.
Target: the median ratio under 4.

    .venv/bin/python benchmarks/bench_credential.py [--runs 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_clone_common import clean_env, interleaved, report  # noqa: E402

from bbwizard import git  # noqa: E402

TARGET = 4.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    from datetime import datetime, timedelta, timezone

    from bbwizard.config import ConfigStore, Profile
    from bbwizard.secret import Secret

    with tempfile.TemporaryDirectory(prefix="bbw-bench-credential-") as tmp:
        root = Path(tmp)
        # The config where a person's is (no BBWIZARD_CONFIG, no --config): finding it is part of the cost.
        config = root / "home" / ".config" / "bbwizard" / "config.toml"
        env = clean_env(root, config)
        del env["BBWIZARD_CONFIG"]
        env.pop("XDG_CONFIG_HOME")
        site = "https://bitbucket.org"
        ConfigStore(config).save(
            Profile(
                name="bench",
                client_id="key",
                client_secret=Secret("bench-secret-" + "s" * 20),
                site_url=site,
                access_token=Secret("bench-access-" + "a" * 180),
                refresh_token=Secret("bench-refresh-" + "r" * 30),
                expires_at=datetime.now(timezone.utc) + timedelta(hours=2),
                scopes=["account", "repository"],
            ),
            make_default=True,
        )
        helper = git.helper_command("bench")[1:]  # exactly what .git/config holds
        request = "protocol=https\nhost=bitbucket.org\n\n"

        def credential_get() -> None:
            done = subprocess.run(f"{helper} get", shell=True, input=request, env=env, capture_output=True, text=True)
            if "password=bench-access-" not in done.stdout:
                raise SystemExit(f"the helper gave no token: {done.stderr.strip()}")

        def python_pass() -> None:
            subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)

        def shell_only() -> None:  # what `shell=True` itself costs, for reading the figures
            subprocess.run("true", shell=True, env=env, check=True)

        for warm_up in (credential_get, python_pass):
            warm_up()
        times = interleaved([("python -c pass", python_pass), ("credential get", credential_get)], args.runs)
        shell = interleaved([("sh -c true", shell_only)], 5)["sh -c true"]
        print(f"`{helper} get` ({args.runs} runs each, interleaved; sh -c itself: {min(shell) * 1000:.1f} ms)")
        return 0 if report(times, "python -c pass", TARGET, below=True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
