"""pyproject's package-data names files that exist: a pattern that matches nothing is a file the
wheel was meant to carry and doesn't, or a leftover."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_data_pattern_matches_a_file():
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = settings["tool"]["setuptools"]["package-data"]
    assert "bbwizard.tui" in package_data
    empty = [
        f"{package}: {pattern}"
        for package, patterns in package_data.items()
        for pattern in patterns
        if not any(ROOT.joinpath(*package.split(".")).glob(pattern))
    ]
    assert empty == []
