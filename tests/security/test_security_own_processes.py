"""The leak tests read command lines in /proc: only of processes the test started. Another program
on the machine (a demo someone runs, another checkout's tests) may have the demo secret in its
arguments, and that is no leak of ours."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bbwizard.emulator import DEMO_CONSUMER_SECRET

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads Linux's /proc")

SLEEPER = "import sys, time; sys.stdout.write('up\\n'); sys.stdout.flush(); time.sleep(60)"


def test_own_processes_are_this_run_and_what_it_started_not_the_rest(own_processes):
    # A process outside this run's tree: started, then orphaned (its parent exits), as a program
    # someone else runs on the machine would be.
    orphan_starter = subprocess.run(
        [sys.executable, "-c",
         "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', " + repr(SLEEPER) + ", sys.argv[1]],"
         " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True); print(p.pid)",
         DEMO_CONSUMER_SECRET],
        capture_output=True, text=True, check=True, timeout=60,
    )
    orphan = int(orphan_starter.stdout)
    child = subprocess.Popen([sys.executable, "-c", SLEEPER, DEMO_CONSUMER_SECRET], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "up\n"
        deadline = time.monotonic() + 60
        while not os.path.exists(f"/proc/{orphan}/cmdline"):  # pragma: no cover - it is there at once
            assert time.monotonic() < deadline
            time.sleep(0.01)
        mine = own_processes()
        assert os.getpid() in mine
        assert child.pid in mine
        assert orphan not in mine
        cmdlines = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in mine if os.path.exists(f"/proc/{pid}")}
        assert DEMO_CONSUMER_SECRET.encode() in cmdlines[child.pid]
    finally:
        child.kill()
        child.wait(timeout=30)
        try:
            os.kill(orphan, 9)
        except ProcessLookupError:
            pass
