"""`bbwizard login` in a terminal (a real pseudo-terminal): the prompts a person answers."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

import pytest

from bbwizard.config import ConfigStore
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET

pty = pytest.importorskip("pty")


class Terminal:
    """A child process on a pseudo-terminal, read and typed into like a person would."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: exec at once, nothing else
            os.execve(sys.executable, [sys.executable, "-m", "bbwizard", *argv], env)
        self.seen = ""

    def expect(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"never saw {text!r}; the terminal shows:\n{self.seen}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the program ended before {text!r}; it showed:\n{self.seen}")
                self.seen += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        return self.seen

    def type(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def finish(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if ready:
                    chunk = os.read(self.fd, 4096)
                    self.seen += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        raise AssertionError("the program didn't end:\n" + self.seen)


def test_a_person_answers_the_prompts_and_the_redirect_is_caught(emu, cli_env, callback_url, approver, config_path) -> None:
    term = Terminal(["login", "--site-url", emu.site_url, "--api-url", emu.api_url, "--no-browser"], cli_env)
    term.expect("Consumer key: ")
    term.type(DEMO_CONSUMER_KEY)
    term.expect("Consumer secret (hidden): ")
    term.type(DEMO_CONSUMER_SECRET)
    # The 2026 emulator refuses the probe in words that prove nothing: said, and the sign-in goes on.
    term.expect("Bitbucket refused the check without saying the key or secret is wrong")
    term.expect("Callback URL set on the consumer [http://localhost:8976/]: ")
    term.type(callback_url)
    shown = term.expect(f"Waiting for the browser to come back to {callback_url}")
    url = next(line.strip() for line in shown.splitlines() if "/site/oauth2/authorize?" in line)
    subprocess.run([*approver.split(), url], check=True, timeout=30)  # the person clicks Grant
    term.expect("✓ Saved profile 'default'")
    assert term.finish() == 0
    assert DEMO_CONSUMER_SECRET not in term.seen  # hidden input: never echoed
    assert "✓ Signed in to 127.0.0.1 as Alice Liddell (alice)" in term.seen
    assert ConfigStore(config_path).get().callback_url == callback_url


def test_a_wrong_paste_is_explained_and_asked_again(emu, cli_env, consent, config_path) -> None:
    term = Terminal(
        ["login", "--key", DEMO_CONSUMER_KEY, "--site-url", emu.site_url, "--api-url", emu.api_url, "--no-browser", "--paste"],
        cli_env,
    )
    term.expect("Consumer secret (hidden): ")
    term.type(DEMO_CONSUMER_SECRET)
    shown = term.expect("Paste the code, or the whole address the browser landed on: ")
    url = next(line.strip() for line in shown.splitlines() if "/site/oauth2/authorize?" in line)
    landed = consent(url)
    term.type(landed.replace("state=", "state=x"))
    term.expect("X That address belongs to another sign-in attempt (its state doesn't match this one)")
    term.expect("Paste the code, or the whole address the browser landed on: ")
    term.type(landed)
    term.expect("✓ Saved profile 'default'")
    assert term.finish() == 0
    assert ConfigStore(config_path).get().token_state() == "fresh"


def test_when_the_browser_never_comes_back_the_address_can_be_pasted(emu, cli_env, callback_url, consent, config_path) -> None:
    term = Terminal(
        ["login", "--key", DEMO_CONSUMER_KEY, "--site-url", emu.site_url, "--api-url", emu.api_url, "--no-browser",
         "--callback-url", callback_url, "--timeout", "1"],
        cli_env,
    )
    term.expect("Consumer secret (hidden): ")
    term.type(DEMO_CONSUMER_SECRET)
    shown = term.expect("! No answer from the browser within 1 second.")
    url = next(line.strip() for line in shown.splitlines() if "/site/oauth2/authorize?" in line)
    term.expect("Paste the code, or the whole address the browser landed on: ")
    term.type(consent(url))
    term.expect("✓ Saved profile 'default'")
    assert term.finish() == 0
