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
