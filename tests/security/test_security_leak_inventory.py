"""Where every secret goes, over a person's whole day with the CLI: sign in by pasting, get a
token, look at status (text and JSON), clone, pull after the token expired (the helper refreshes),
and log out. The consumer secret, the code and every access and refresh token may live in the
config file and on `bbwizard token`'s stdout, and nowhere else: no other output, no file in the
clone or in HOME, no process's command line."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET

HANG_GUARD = 180


class _ArgvScanner:
    """Reads the command line of every process the test started while the day runs (only those:
    another program on the machine may well have the demo secret in its arguments)."""

    def __init__(self, own_processes) -> None:
        self.own_processes = own_processes
        self.cmdlines: set[bytes] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.own_processes():
                try:
                    self.cmdlines.add(Path(f"/proc/{pid}/cmdline").read_bytes())
                except OSError:
                    pass
            time.sleep(0.005)

    def __enter__(self) -> _ArgvScanner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _tree_text(root: Path, skip: set[Path]) -> dict[Path, bytes]:
    found = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if path in skip or path.is_symlink() or not path.is_file():
                continue
            found[path] = path.read_bytes()
    return found


def test_a_whole_day_leaves_secrets_only_in_the_config_and_tokens_stdout(emulator, sec_env, grant, bbw, config_file, tmp_path,
                                                                          own_processes):
    outputs: list[str] = []
    secrets: set[str] = {DEMO_CONSUMER_SECRET}

    def remember_config() -> None:
        table = tomllib.loads(config_file.read_text(encoding="utf-8"))["profiles"]["work"]
        for key in ("access_token", "refresh_token", "client_secret"):
            if table.get(key):
                secrets.add(table[key])

    with _ArgvScanner(own_processes) as scanner:
        # 1. Sign in by pasting the address the browser landed on.
        login = subprocess.Popen(
            [sys.executable, "-m", "bbwizard", "login", "--profile", "work", "--key", DEMO_CONSUMER_KEY, "--secret-stdin",
             "--site-url", emulator.site_url, "--api-url", emulator.api_url, "--no-browser", "--paste"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sec_env,
        )
        login.stdin.write(DEMO_CONSUMER_SECRET + "\n")
        login.stdin.flush()
        seen = []
        url = None
        while url is None:
            line = login.stderr.readline()
            assert line, "".join(seen)
            seen.append(line)
            if line.strip().startswith(emulator.site_url + "/site/oauth2/authorize?"):
                url = line.strip()
        landed = grant(url)
        code = landed.split("code=", 1)[1].split("&", 1)[0]
        secrets.add(code)
        out, err = login.communicate(landed + "\n", timeout=HANG_GUARD)
        assert login.returncode == 0, "".join(seen) + err
        outputs += [out, "".join(seen), err]
        assert "✓ Signed in to 127.0.0.1 as Alice Liddell (alice)" in err
        remember_config()

        # 2. A token for a script: the one place a token may be printed.
        token = bbw("token")
        assert token.returncode == 0, token.stderr
        outputs.append(token.stderr)
        assert token.stdout.strip() in secrets

        # 3. Status, as text and as JSON.
        for args in (("status",), ("status", "--json")):
            done = bbw(*args)
            assert done.returncode == 0, done.stderr
            outputs += [done.stdout, done.stderr]

        # 4. Clone, then pull after the token expired: the helper refreshes.
        clone = bbw("clone", "acme/webapp")
        assert clone.returncode == 0, clone.stderr
        outputs += [clone.stdout, clone.stderr]
        repo = Path.cwd() / "webapp"
        emulator.expire_tokens()
        table = tomllib.loads(config_file.read_text(encoding="utf-8"))
        table["profiles"]["work"]["expires_at"] = table["profiles"]["work"]["expires_at"].replace(year=2000)
        import tomli_w

        config_file.write_text(tomli_w.dumps(table), encoding="utf-8")
        os.chmod(config_file, 0o600)
        pull = subprocess.run(["git", "pull", "--ff-only"], cwd=repo, env=sec_env, capture_output=True, text=True, timeout=HANG_GUARD)
        assert pull.returncode == 0, pull.stderr
        outputs += [pull.stdout, pull.stderr]
        remember_config()
        assert emulator.stats.grants["refresh_token"] == 1

        # 5. Log out.
        logout = bbw("logout")
        assert logout.returncode == 0, logout.stderr
        outputs += [logout.stdout, logout.stderr]

    # Each secret is long enough that a 16-character piece of it can't appear by chance.
    pieces = {secret[:16] for secret in secrets if len(secret) >= 16} | {s for s in secrets if len(s) < 16}
    assert len(secrets) >= 5  # the consumer secret, the code, two access tokens, two refresh tokens
    for text in outputs:
        for piece in pieces:
            assert piece not in text, f"a secret shows in the output: {text[:200]!r}"
    for cmdline in scanner.cmdlines:
        for piece in pieces:
            assert piece.encode() not in cmdline, cmdline[:200]
    skip = {config_file, config_file.with_name(config_file.name + ".lock")}
    for root in (tmp_path, Path(sec_env["HOME"])):
        for path, data in _tree_text(root, skip).items():
            for piece in pieces:
                assert piece.encode() not in data, f"{piece[:4]}… found in {path}"
    # Logged out: the config keeps the consumer, and no token any more.
    final = tomllib.loads(config_file.read_text(encoding="utf-8"))["profiles"]["work"]
    assert "access_token" not in final and "refresh_token" not in final
    assert oct(config_file.stat().st_mode & 0o777) == "0o600"
