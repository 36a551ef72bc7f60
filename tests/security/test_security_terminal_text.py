"""Defect 1 of the hardening review: terminal control sequences from the server reach the terminal.

A seed whose user display name, scopes, workspace name and repository name hold a window-title
escape (OSC 0), a clipboard write (OSC 52), a clear-screen (CSI 2J), the 8-bit CSI (U+009B) and a
right-to-left override (U+202E). The raw bytes the CLI writes (pipes and a pty) and the bytes
Textual's driver writes (the wizard in a pty) must hold none of the payload's distinctive parts.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys

import pytest

from bbwizard.emulator import PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET, demo_seed
from bbwizard.secret import printable

TITLE = "PWNTITLE"
CLIPBOARD = "Q0xJUEJPQVJEUEFZTE9BRA"  # base64 of "CLIPBOARDPAYLOAD", without padding
PAYLOAD = f"\x1b]0;{TITLE}\x07\x1b]52;c;{CLIPBOARD}\x07\x1b[2J\u202e\x9b2J\x1b]52;c;{CLIPBOARD}\x1b\\"


def hostile(text: str) -> str:
    return f"{text}{PAYLOAD}"


def assert_clean(raw: bytes, where: str, *, own_escapes: bool = False) -> None:
    """None of the payload's parts in ``raw``; ``own_escapes``: the writer may draw with ESC
    sequences of its own (Textual), so only the payload's distinctive bytes are looked for."""
    for part in (TITLE.encode(), CLIPBOARD.encode(), "\u202e".encode(), "\u009b".encode(), b"]52;"):
        assert part not in raw, f"{where} wrote {part!r}: {raw[:400]!r}"
    if not own_escapes:
        assert b"\x1b" not in raw, f"{where} wrote an ESC: {raw[:400]!r}"


@pytest.fixture
def hostile_emulator(emulator_factory):
    seed = demo_seed()
    for user in seed["users"]:
        if user["username"] == "alice":
            user["display_name"] = hostile("Alice Liddell")
    for consumer in seed["consumers"]:
        if consumer["key"] == PRIVATE_CONSUMER_KEY:
            consumer["scopes"] = [*consumer["scopes"], hostile("pipelines")]
            consumer["name"] = hostile("Acme CI")  # its app user's display name
    for workspace in seed["workspaces"]:
        if workspace["slug"] == "acme":
            workspace["name"] = hostile("Acme")
            workspace["repositories"][0]["name"] = hostile("Payments")
            workspace["repositories"][0]["language"] = hostile("python")
    return emulator_factory(seed)


@pytest.fixture
def hostile_profile(hostile_emulator, bbw):
    emu = hostile_emulator
    result = bbw(
        "login", "--key", PRIVATE_CONSUMER_KEY, "--secret-stdin", "--client-credentials",
        "--site-url", emu.site_url, "--api-url", emu.api_url, "--profile", "work",
        input=PRIVATE_CONSUMER_SECRET + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert_clean((result.stdout + result.stderr).encode(), "login")
    return emu


def run_in_pty(argv: list[str], env: dict[str, str], until: bytes | None = None, keys: bytes = b"") -> bytes:
    """Run ``argv`` with a pty as its terminal; all it wrote. ``until``: once those bytes have
    appeared, ``keys`` are typed (the wizard's quit key), and reading goes on to the end."""
    master, slave = pty.openpty()
    os.set_inheritable(slave, True)
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env={**env, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}, close_fds=True)
    os.close(slave)
    out = bytearray()
    typed = until is None
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                raise AssertionError(f"{argv[3:]} stopped writing without ending: {bytes(out[-600:])!r}")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child ended and its side of the pty is closed
                break
            if not chunk:
                break
            out += chunk
            if not typed and until in out:
                typed = True
                os.write(master, keys)
    finally:
        os.close(master)
        process.wait(timeout=60)
    return bytes(out)


def test_printable_removes_each_escape_whole() -> None:
    assert printable(f"a{PAYLOAD}b") == "a b"  # the override is a space
    assert printable("\x1b]0;title\x07x") == "x"  # OSC 0 ended by BEL
    assert printable("\x1b]52;c;QUFB\x1b\\x") == "x"  # OSC 52 ended by ST
    assert printable("\x9d0;title\x9cx") == "x"  # 8-bit OSC and ST
    assert printable("x\x1b[2Jy\x9b2Jz") == "xyz"  # CSI, 7-bit and 8-bit
    assert printable("\x1bPq#0;2;0;0;0\x1b\\x") == "x"  # DCS (sixel)
    assert printable("\x1b]0;never ended") == ""  # an unterminated string swallows the rest
    for bidi in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c":
        assert printable(f"a{bidi}b") == "a b"
    assert printable("\x85x\x80y\x9a") == " x y "  # other C1 controls: spaces


def test_cli_pipes_hold_no_escape(hostile_profile, bbw) -> None:
    for args in (("status",), ("status", "--offline"), ("repos", "acme"), ("logout",)):
        result = bbw(*args)
        assert result.returncode in (0, 1), (args, result.stderr)
        assert_clean(result.stdout.encode() + result.stderr.encode(), " ".join(args))
    # logout ended the sign-in; the name and scopes are still in the file, and status shows them
    result = bbw("status", "--offline")
    assert_clean(result.stdout.encode() + result.stderr.encode(), "status after logout")


def test_cli_json_escapes_every_control(hostile_profile, bbw) -> None:
    status = bbw("status", "--json")
    repos = bbw("repos", "acme", "--json")
    for result in (status, repos):
        raw = result.stdout.encode()
        # The data is kept (a script may want it), every control written as a \\u escape.
        for part in (b"\x1b", b"\x07", "\u202e".encode(), "\u009b".encode()):
            assert part not in raw
        assert result.stdout.isascii() and "\\u001b]52;" in result.stdout
        assert_clean(result.stderr.encode(), "--json's stderr")
    document = json.loads(status.stdout)
    assert document["profiles"][0]["user"]["display_name"].startswith(hostile("Acme CI"))  # data as it came
    assert hostile("pipelines") in document["profiles"][0]["scopes"]
    assert any(item["name"] == hostile("Payments") for item in json.loads(repos.stdout))


def test_cli_on_a_terminal_holds_no_payload(hostile_profile, sec_env) -> None:
    for args, shown in ((("status",), b"Acme CI"), (("repos", "acme"), b"python")):
        raw = run_in_pty([sys.executable, "-m", "bbwizard", *args], sec_env)
        assert shown in raw, raw[:400]  # the hostile text is shown, cleaned
        assert_clean(raw, " ".join(args))


def test_the_wizard_writes_no_payload_to_the_terminal(hostile_profile, sec_env) -> None:
    """The Profiles table and the status bar show the hostile display name (the consumer's app user); Textual's driver
    writes its own drawing sequences, and none of the payload's."""
    env = {**sec_env}
    env.pop("NO_COLOR", None)
    raw = run_in_pty([sys.executable, "-m", "bbwizard"], env, until=b"Acme CI", keys=b"\x11")
    assert b"Acme CI" in raw
    assert_clean(raw, "the wizard", own_escapes=True)
