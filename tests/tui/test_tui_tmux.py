"""`bbwizard demo` in a real terminal (tmux), driven the way a person would: keys in, screen text out.

From the three ways in, through the consumer check, to a cloned `develop` branch on disk, with only the keyboard.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")

BBWIZARD = Path(sys.executable).with_name("bbwizard")


class Terminal:
    def __init__(self, session: str, env: dict[str, str]) -> None:
        self.session = session
        self.env = env

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", *args], env=self.env, capture_output=True, text=True, check=False).stdout

    def screen(self) -> str:
        """The pane's text with wrapped lines joined and runs of spaces collapsed."""
        return " ".join(self.tmux("capture-pane", "-p", "-t", self.session).split())

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, text: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"never saw {text!r} on the screen; it shows:\n{screen}")

    def alive(self) -> bool:
        return subprocess.run(["tmux", "has-session", "-t", self.session], env=self.env,
                              capture_output=True, check=False).returncode == 0


@pytest.fixture
def terminal(tmp_path, git_env):
    env = dict(git_env)
    env.pop("BBWIZARD_CONFIG", None)
    demo_tmp = tmp_path / "tmp"
    demo_tmp.mkdir()
    env.update(TERM="xterm-256color", TMUX_TMPDIR=str(tmp_path), LANG="C.UTF-8", LC_ALL="C.UTF-8",
               TMPDIR=str(demo_tmp))
    env.pop("TMUX", None)
    work = tmp_path / "work"
    work.mkdir()
    session = f"bbw-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "demo.log"
    # Textual draws on stderr, so nothing is redirected: the exit status goes to a file afterwards.
    command = f"cd {work} && {BBWIZARD} demo; echo EXITED $? > {log}; sleep 30"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", command],
                   env=env, check=True)
    term = Terminal(session, env)
    term.work = work
    term.log = log
    term.tmp = demo_tmp
    yield term
    subprocess.run(["tmux", "kill-server"], env=env, check=False, capture_output=True)


def test_demo_in_a_terminal_from_consumer_to_a_cloned_develop_branch(terminal):
    screen = terminal.wait_for("Step 1 of 6 · How you sign in", timeout=60)
    assert "An OAuth client" in screen and "access token" in screen  # the three ways in

    terminal.keys("Enter")  # the first way, highlighted: the OAuth client
    screen = terminal.wait_for("Step 2 of 6 · OAuth client")
    assert "bbwDemoKey7qR2mN4x" in screen  # the demo consumer is filled in
    assert "bbwDemoSecret" not in screen  # its secret is not drawn

    terminal.keys("Enter")  # Check (focused)
    screen = terminal.wait_for("Next, the browser asks you to grant access.")
    assert "Next, the browser asks you to grant access." in screen

    terminal.keys("Enter")  # Continue in the browser
    screen = terminal.wait_for("Step 3 of 6")
    screen = terminal.wait_for("waiting for the browser")
    assert "/site/oauth2/authorize?client_id=bbwDemoKey7qR2mN4x" in screen.replace(" ", "")

    terminal.keys("o")  # the approver is the browser: it clicks Grant
    screen = terminal.wait_for("Saved as profile", timeout=60)
    assert "Signed in as Alice Liddell (alice)" in screen
    assert "token expires in 1:5" in screen  # the status bar counts down

    terminal.keys("Enter")
    screen = terminal.wait_for("acme: 4 repositories", timeout=60)
    assert "webapp" in screen and "Firmware" in screen

    terminal.keys("/")
    deadline = time.monotonic() + 60
    while " Sort " in terminal.screen() and time.monotonic() < deadline:
        time.sleep(0.1)  # the Footer drops the list's keys once the filter box has the focus
    assert " Sort " not in terminal.screen(), terminal.screen()
    terminal.keys("w", "e", "b")
    screen = terminal.wait_for("match “web”")
    terminal.keys("Enter")  # to the list
    deadline = time.monotonic() + 60
    while " Sort " not in terminal.screen() and time.monotonic() < deadline:
        time.sleep(0.1)  # the list's keys are back in the Footer once it has the focus
    assert " Sort " in terminal.screen(), terminal.screen()
    terminal.keys("Space")
    screen = terminal.wait_for("1 selected")
    terminal.keys("Enter")
    screen = terminal.wait_for("Step 6 of 6 · Clone")
    assert "acme/webapp" in screen

    deadline = time.monotonic() + 90
    while "develop chosen" not in terminal.screen() and time.monotonic() < deadline:
        terminal.keys("C-b")  # develop, once the branches are in
        time.sleep(0.5)
    terminal.wait_for("develop chosen for 1 of 1 repositories")
    terminal.keys("C-s")
    screen = terminal.wait_for("All cloned.", timeout=90)
    assert "acme/webapp (develop)" in screen

    leftovers = list(terminal.tmp.glob("bbwizard-demo-*"))
    assert len(leftovers) == 1 and (leftovers[0] / "config.toml").is_file()  # the demo's own config folder
    assert list(terminal.work.iterdir()) == []  # nothing lands in the folder the demo was started from
    clone = leftovers[0] / "clones" / "webapp"
    head = subprocess.run(["git", "-C", str(clone), "rev-parse", "--abbrev-ref", "HEAD"],
                          capture_output=True, text=True, env=terminal.env, check=True).stdout.strip()
    assert head == "develop"
    assert (clone / "README.md").read_text().startswith("# webapp")
    git_config = (clone / ".git" / "config").read_text()
    assert "x-token-auth:" not in git_config and "access_token" not in git_config

    terminal.keys("C-q")  # quit
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (terminal.log.exists() and "EXITED" in terminal.log.read_text()):
        time.sleep(0.2)
    assert terminal.log.exists(), f"bbwizard demo did not exit after ctrl+q; the screen shows:\n{terminal.screen()}"
    assert terminal.log.read_text().strip() == "EXITED 0"
    after = terminal.screen()
    assert "bbwizard demo: a Bitbucket Cloud emulator runs on http://127.0.0.1:" in after
    assert f"the config and the clones go to {leftovers[0]}, removed when you quit.".replace(" ", "") in after.replace(" ", "")
    assert not leftovers[0].exists()  # the emulator stopped and the temporary folder went


def test_demo_cleans_up_when_its_terminal_closes(terminal):
    terminal.wait_for("Step 1 of 6 · How you sign in", timeout=60)
    leftovers = list(terminal.tmp.glob("bbwizard-demo-*"))
    assert len(leftovers) == 1
    terminal.tmux("kill-session", "-t", terminal.session)  # the terminal goes away: SIGHUP
    deadline = time.monotonic() + 90
    while leftovers[0].exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not leftovers[0].exists(), "the demo's temporary config folder outlived its terminal"
