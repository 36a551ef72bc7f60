"""The emulator in the foreground, as a real process: it stops cleanly on SIGTERM and SIGHUP as on
Ctrl+C, leaving no data folder behind, and ``python -m bbwizard.emulator`` loads nothing of the
client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bbwizard.emulator import DEMO_CONSUMER_KEY

READY = "consent page yourself"  # the last line of the start-up text
CLIENT_MODULES = ("bbwizard.cli", "bbwizard.tui", "bbwizard.config", "bbwizard.oauth", "bbwizard.api",
                  "bbwizard.git", "bbwizard.loopback", "bbwizard.secret", "bbwizard.errors", "bbwizard.net",
                  "bbwizard.signin", "bbwizard.paths", "httpx", "textual", "rich")


def start(argv: list[str], tmp: Path) -> tuple[subprocess.Popen, str, list[str]]:
    """Start the emulator with its own temp folder; (process, site URL, lines read) once it serves."""
    env = dict(os.environ, TMPDIR=str(tmp), NO_COLOR="1")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    lines: list[str] = []
    site = None
    while not any(READY in line for line in lines):
        line = proc.stderr.readline()
        if not line:
            proc.kill()
            proc.wait()
            pytest.fail("the emulator ended before it served:\n" + "".join(lines))
        lines.append(line)
        if "site (bitbucket.org):" in line:
            site = line.split()[-1]
    assert site is not None, "".join(lines)
    return proc, site, lines


def data_folders(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("bbwizard-emulator-*"))


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX")
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_bbwizard_emulator_stops_on_the_signal_and_removes_its_data_folder(signame, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc, site, _ = start([sys.executable, "-m", "bbwizard", "emulator", "--port", "0"], tmp)
    try:
        # It serves, and git's repositories are built in its data folder.
        token = httpx.post(f"{site}/site/oauth2/access_token", trust_env=False,
                           data={"grant_type": "client_credentials"}, auth=(DEMO_CONSUMER_KEY, "wrong"))
        assert token.json()["error"] == "unauthorized_client"
        assert len(data_folders(tmp)) == 1 and (data_folders(tmp)[0] / "repos").is_dir()
        proc.send_signal(getattr(signal, signame))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "emulator stopped" in err
    assert data_folders(tmp) == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(site, trust_env=False)


def test_a_data_dir_given_by_the_user_is_kept_after_sigterm(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    mine = tmp_path / "mine"
    proc, _, _ = start([sys.executable, "-m", "bbwizard", "emulator", "--port", "0", "--data-dir", str(mine)], tmp)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (mine / "repos").is_dir()
    assert data_folders(tmp) == []


def test_python_m_bbwizard_emulator_serves_without_the_client(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc, site, lines = start([sys.executable, "-X", "importtime", "-m", "bbwizard.emulator", "--port", "0"], tmp)
    try:
        assert httpx.get(f"{site}/2.0/user", trust_env=False).status_code == 401
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "✓ emulator stopped" in err
    imported = [line.rsplit("|", 1)[-1].strip() for line in lines + err.splitlines() if line.startswith("import time:")]
    assert "bbwizard.emulator.server" in imported
    client = [name for name in imported if name.startswith(CLIENT_MODULES)]
    assert client == [], client
    assert data_folders(tmp) == []
