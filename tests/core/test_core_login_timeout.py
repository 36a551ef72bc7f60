"""``bbwizard login --timeout``: only a finite number of seconds above zero is a timeout."""

from __future__ import annotations

import pytest

from bbwizard.cli import main
from bbwizard.errors import EXIT_USAGE


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-5", "0", "-0", "", "five"])
def test_a_timeout_that_is_not_a_finite_positive_number_is_a_usage_error(value: str, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BBWIZARD_CONFIG", str(tmp_path / "config.toml"))
    with pytest.raises(SystemExit) as ended:
        main(["login", "--key", "KEY", f"--timeout={value}", "--paste"])
    assert ended.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"X argument --timeout: {value!r} is not a number of seconds; give a number above zero, for example 300" in err
    assert "within" not in err
    assert not (tmp_path / "config.toml").exists()  # nothing started


@pytest.mark.parametrize(("value", "seconds"), [("2.5", 2.5), ("300", 300.0), (" 60 ", 60.0)])
def test_a_finite_positive_timeout_is_taken(value: str, seconds: float) -> None:
    from bbwizard.cli import build_parser

    args = build_parser("login").parse_args(["login", f"--timeout={value}"])
    assert args.timeout == seconds
