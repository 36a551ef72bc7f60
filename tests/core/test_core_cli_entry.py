"""The command's entry point: usage errors exit 2 with a sentence, no traceback ever leaks."""

import subprocess
import sys


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bbwizard", *args], capture_output=True, text=True, timeout=60, env=env)


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("bbwizard ")


def test_unknown_command_is_usage_error():
    result = run("no-such-command")
    assert result.returncode == 2
    assert "X " in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_everyday_commands():
    result = run("--help")
    assert result.returncode == 0
    for command in ("login", "token", "status", "logout", "clone", "credential", "setup-git", "demo", "emulator"):
        assert command in result.stdout


def test_a_secret_pasted_as_a_stray_argument_is_not_echoed():
    result = run("status", "pasted-consumer-secret-value")
    assert result.returncode == 2
    assert "pasted-consumer-secret-value" not in result.stderr
    assert "1 unexpected argument (not shown: it could be a secret)" in result.stderr


def test_cli_sentences_carry_no_terminal_control_sequences(capsys):
    from bbwizard.cli import output

    output.fail("remote: \x1b]52;c;ZXZpbA==\x07evil \u202eoverride\x1b[2J done")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err
    assert err.startswith("X remote:") and "done" in err
