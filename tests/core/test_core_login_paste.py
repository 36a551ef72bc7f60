"""`bbwizard login` on a terminal takes a pasted code or address while the loopback catcher keeps
listening: whichever comes first wins. Over SSH it prints the `ssh -L` line that forwards the port."""

from __future__ import annotations

import subprocess

from bbwizard.config import ConfigStore
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET

from .test_core_login_terminal import Terminal

WAITING_PROMPT = "Or paste the code, or the whole address the browser landed on: "


def _start(emu, cli_env, callback_url, *extra: str) -> tuple[Terminal, str]:
    """A login on a terminal, waiting for the browser with a timeout far beyond any test's."""
    term = Terminal(
        ["login", "--key", DEMO_CONSUMER_KEY, "--site-url", emu.site_url, "--api-url", emu.api_url,
         "--callback-url", callback_url, "--timeout", "3600", *extra],
        cli_env,
    )
    term.expect("Consumer secret (hidden): ")
    term.type(DEMO_CONSUMER_SECRET)
    shown = term.expect(WAITING_PROMPT)
    assert f"Waiting for the browser to come back to {callback_url}" in shown
    url = next(line.strip() for line in shown.splitlines() if "/site/oauth2/authorize?" in line)
    return term, url


def test_a_pasted_address_wins_while_the_catcher_listens(emu, cli_env, callback_url, consent, config_path) -> None:
    term, url = _start(emu, cli_env, callback_url, "--no-browser")
    term.type(consent(url))  # the address the browser would land on, pasted by hand
    term.expect("✓ Saved profile 'default'")
    assert term.finish() == 0
    assert "No answer from the browser" not in term.seen
    assert ConfigStore(config_path).get().token_state() == "fresh"
    assert emu.stats.grants["authorization_code"] == 1


def test_the_browser_wins_without_a_paste(emu, cli_env, callback_url, approver, config_path) -> None:
    term, url = _start(emu, cli_env, callback_url, "--no-browser")
    subprocess.run([*approver.split(), url], check=True, timeout=30)  # the person clicks Grant
    term.expect("✓ Saved profile 'default'")
    assert term.finish() == 0
    assert WAITING_PROMPT + "\n✓ Bitbucket sent the code.\n" in term.seen  # the prompt's line is ended
    assert ConfigStore(config_path).get().token_state() == "fresh"


def test_a_wrong_paste_is_explained_and_the_browser_can_still_come_back(emu, cli_env, callback_url, consent, approver) -> None:
    term, url = _start(emu, cli_env, callback_url, "--no-browser")
    term.type("not a code!")
    term.expect("X That doesn't look like a code or an address.")
    term.expect("Paste the code, or the whole address the browser landed on: ")
    subprocess.run([*approver.split(), url], check=True, timeout=30)
    term.expect("✓ Saved profile 'default'")
    assert term.finish() == 0


def test_a_pasted_deny_ends_the_login(emu, cli_env, callback_url, consent, config_path) -> None:
    term, url = _start(emu, cli_env, callback_url, "--no-browser")
    term.type(consent(url, deny=True))
    term.expect("X You clicked Deny on Bitbucket's page, so bbwizard got no access.")
    assert term.finish() == 1
    assert not config_path.exists() or ConfigStore(config_path).get().access_token is None


def test_over_ssh_the_port_forwarding_line_is_shown(emu, run_cli, login_argv, callback_url, approver) -> None:
    port = int(callback_url.rsplit(":", 1)[1].strip("/"))
    result = run_cli(
        login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", callback_url),
        input=DEMO_CONSUMER_SECRET + "\n",
        env={"BROWSER": approver, "SSH_CONNECTION": "203.0.113.9 51000 198.51.100.7 22", "USER": "alice"},
    )
    assert result.returncode == 0, result.stderr
    assert f"\n  ssh -L {port}:localhost:{port} alice@198.51.100.7\n" in result.stderr
    assert "Over SSH" in result.stderr


def test_without_ssh_no_forwarding_line(emu, run_cli, login_argv, callback_url, approver) -> None:
    env = {"BROWSER": approver, "SSH_CONNECTION": "", "SSH_TTY": ""}
    result = run_cli(login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", callback_url), input=DEMO_CONSUMER_SECRET + "\n", env=env)
    assert result.returncode == 0, result.stderr
    assert "ssh -L" not in result.stderr
