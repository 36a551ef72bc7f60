"""bbwizard.paths names the same config folder platformdirs does, without importing it."""

from __future__ import annotations

import subprocess
import sys

import platformdirs
import pytest

from bbwizard import paths


@pytest.mark.parametrize(
    "xdg",
    [None, "", "relative/config", "/abs/xdg config"],
    ids=["unset", "empty", "relative (ignored, as the XDG spec says)", "absolute"],
)
def test_the_config_folder_is_platformdirs_own(xdg, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if xdg is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    assert paths.user_config_dir() == platformdirs.user_config_dir("bbwizard")


def test_the_override_wins_and_home_is_expanded(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("BBWIZARD_CONFIG", "~/elsewhere/bb.toml")
    assert paths.config_file() == str(tmp_path / "elsewhere" / "bb.toml")
    monkeypatch.delenv("BBWIZARD_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert paths.config_file() == str(tmp_path / "xdg" / "bbwizard" / "config.toml")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="platformdirs answers there itself")
def test_finding_the_config_imports_no_platformdirs(tmp_path) -> None:
    code = "import sys, bbwizard.config as c; c.default_config_path(); print('platformdirs' in sys.modules)"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
