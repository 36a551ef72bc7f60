"""Crash safety of saves (SIGKILL mid-write) and import hygiene of `bbwizard token`."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from bbwizard.config import ConfigStore, Profile, utc_now
from bbwizard.secret import Secret

_WRITER = r"""
import sys
from datetime import datetime, timezone
from bbwizard.config import ConfigStore, Profile
from bbwizard.secret import Secret

store = ConfigStore(sys.argv[1])
def profile(tag):
    # Big values, so a write takes long enough to be interrupted in the middle.
    return Profile(name="work", client_id="key", client_secret=Secret("secret-" + "s" * 2000),
                   access_token=Secret(tag + "-access-" + tag[0] * 3000),
                   refresh_token=Secret(tag + "-refresh-" + tag[0] * 3000),
                   expires_at=datetime(2030, 1, 1, tzinfo=timezone.utc), scopes=["account", "repository"])
old, new = profile("old"), profile("new")
store.save(new)
store.save(old)  # imports done: from here on, every moment is inside some save
print("ready", flush=True)
while True:
    store.save(new)
    store.save(old)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_during_saves_leaves_the_old_file_or_the_new_one(config_path: Path, cli_env: dict) -> None:
    store = ConfigStore(config_path)
    store.save(Profile(name="work", client_id="key", access_token=Secret("old-access-" + "o" * 3000),
                       expires_at=utc_now() + timedelta(hours=1)))
    rng = random.Random(1234)
    kills = 0
    for _ in range(25):
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(config_path)], stdout=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, env=cli_env)
        assert writer.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(10)
        writer.stdout.close()
        kills += 1
        profile = ConfigStore(config_path).get("work")  # always parses
        token = profile.access_token.reveal()
        assert token.startswith(("old-access-", "new-access-")), token[:20]
        assert token in ("old-access-" + "o" * 3000, "new-access-" + "n" * 3000)
        if token.startswith("new-"):
            assert profile.refresh_token.reveal() == "new-refresh-" + "n" * 3000
    assert kills == 25
    # Temp files of killed writers are cleared by the next save.
    store.save(store.get("work"))
    assert [p.name for p in config_path.parent.iterdir() if p.name.endswith(".tmp")] == []


_PROBE = r"""
import sys
from bbwizard.cli import main
code = main(["token"])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"httpx", "httpcore", "textual", "rich", "filelock", "tomli_w"})
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
raise SystemExit(code)
"""


def test_token_with_a_fresh_token_imports_neither_textual_nor_httpx(config_path: Path, cli_env: dict) -> None:
    ConfigStore(config_path).save(
        Profile(name="work", client_id="key", client_secret=Secret("a-consumer-secret"),
                access_token=Secret("fresh-access-token-value"), refresh_token=Secret("a-refresh-token-value"),
                expires_at=utc_now() + timedelta(hours=1))
    )
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=cli_env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "fresh-access-token-value\n"
    assert "HEAVY=\n" in result.stderr, result.stderr
