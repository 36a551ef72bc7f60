"""A redirect address pasted over two lines (a terminal wrapped it) is joined, or called cut off:
its start is never exchanged as a code of its own."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from bbwizard import oauth
from bbwizard.config import ConfigStore
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET
from bbwizard.errors import CodeError

from .test_core_login_paste import _start as start_on_terminal

STATE = "s" * 43
LANDED = f"http://localhost:8976/?code=abcDEF123&state={STATE}"
CUT_OFF = (
    "That address looks cut off: it ends before its state, so bbwizard won't use the code in it. "
    "Paste the whole address the browser landed on (if it spans two lines, copy both), or only the code."
)


@pytest.mark.parametrize("cut", [len("http://localhost:8976/?code=abc"), LANDED.index("&"), LANDED.index("state=") + 3,
                                 LANDED.index("state=") + len("state="), len(LANDED) - 1])
def test_the_start_of_an_address_is_cut_off_not_a_code(cut: int) -> None:
    with pytest.raises(oauth.IncompletePaste) as caught:
        oauth.parse_pasted(LANDED[:cut], STATE)
    assert isinstance(caught.value, CodeError)
    assert str(caught.value) == CUT_OFF
    assert oauth.parse_pasted(LANDED[:cut] + "\n" + LANDED[cut:], STATE).code == "abcDEF123"


@pytest.mark.parametrize("start", ["http://localhost:8976/", "http://localhost:8976/?co", f"http://localhost/cb?state={STATE}&co"])
def test_an_address_cut_before_its_code_may_go_on(start: str) -> None:
    with pytest.raises(oauth.IncompletePaste, match=r"^That address has no code in it\."):
        oauth.parse_pasted(start, STATE)


def test_another_attempts_state_is_not_a_cut() -> None:
    with pytest.raises(CodeError) as caught:
        oauth.parse_pasted("http://localhost:8976/?code=abcDEF123&state=sst", STATE)
    assert not isinstance(caught.value, oauth.IncompletePaste)
    assert str(caught.value).startswith("That address belongs to another sign-in attempt")


def _paste_login(emu, cli_env, login_argv) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bbwizard", *login_argv(emu, DEMO_CONSUMER_KEY, "--paste", "--no-browser")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env,
    )
    process.stdin.write(DEMO_CONSUMER_SECRET + "\n")
    process.stdin.flush()
    for line in process.stderr:
        if line.startswith("  ") and "/site/oauth2/authorize?" in line:
            return process, line.strip()
    process.kill()
    raise AssertionError("no authorize URL on stderr")


def _cut_inside_the_code(landed: str) -> int:
    code = parse_qs(urlsplit(landed).query)["code"][0]
    return landed.index(code) + len(code) // 2


def test_paste_on_stdin_joins_an_address_over_two_lines(emu, cli_env, login_argv, consent, config_path) -> None:
    process, url = _paste_login(emu, cli_env, login_argv)
    landed = consent(url)
    cut = _cut_inside_the_code(landed)
    out, err = process.communicate(landed[:cut] + "\n" + landed[cut:] + "\n", timeout=60)
    assert process.returncode == 0, err
    assert "✓ Saved profile 'default'" in err
    assert ConfigStore(config_path).get().token_state() == "fresh"
    assert emu.stats.grants["authorization_code"] == 1


def test_paste_on_stdin_of_half_an_address_is_called_cut_off(emu, cli_env, login_argv, consent, config_path) -> None:
    process, url = _paste_login(emu, cli_env, login_argv)
    landed = consent(url)
    out, err = process.communicate(landed[: _cut_inside_the_code(landed)] + "\n", timeout=60)
    assert process.returncode == 1
    assert f"X {CUT_OFF}" in err
    assert "already used" not in err
    assert emu.stats.grants.get("authorization_code", 0) == 0  # nothing was exchanged
    assert not config_path.exists() or ConfigStore(config_path).get().access_token is None


def test_a_terminal_paste_over_two_lines_is_joined(emu, cli_env, callback_url, consent, config_path) -> None:
    term, url = start_on_terminal(emu, cli_env, callback_url, "--no-browser")
    landed = consent(url)
    cut = _cut_inside_the_code(landed)
    term.type(landed[:cut] + "\n" + landed[cut:])  # one paste, two lines
    term.expect("✓ Saved profile 'default'")
    assert term.finish() == 0
    assert "already used" not in term.seen
    assert ConfigStore(config_path).get().token_state() == "fresh"


def test_a_terminal_paste_cut_off_asks_for_the_rest(emu, cli_env, callback_url, consent, config_path) -> None:
    term, url = start_on_terminal(emu, cli_env, callback_url, "--no-browser")
    landed = consent(url)
    cut = _cut_inside_the_code(landed)
    term.type(landed[:cut])
    term.expect("That address looks cut off: paste the rest of it (or press Enter): ")
    term.type(landed[cut:])
    term.expect("✓ Saved profile 'default'")
    assert term.finish() == 0
    assert ConfigStore(config_path).get().token_state() == "fresh"


def test_a_terminal_paste_cut_off_then_enter_says_so(emu, cli_env, callback_url, consent, config_path) -> None:
    term, url = start_on_terminal(emu, cli_env, callback_url, "--no-browser")
    landed = consent(url)
    term.type(landed[: _cut_inside_the_code(landed)])
    term.expect("That address looks cut off: paste the rest of it (or press Enter): ")
    term.type("")
    term.expect(f"X {CUT_OFF}")
    term.expect("Paste the code, or the whole address the browser landed on: ")
    term.type(landed)  # the whole address still works: the code was never spent
    term.expect("✓ Saved profile 'default'")
    assert term.finish() == 0
    assert emu.stats.grants["authorization_code"] == 1
