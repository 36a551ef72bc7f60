"""A bug that stops the wizard: the terminal gets a sentence without secrets, the log the details.

Textual's own crash report prints every frame's local variables; `tui/crash.py` replaces it through
Textual's private `App._fatal_error`. These tests fail if Textual stops calling it."""

from __future__ import annotations

import pytest

from bbwizard.secret import Secret


async def test_a_bug_outside_any_step_stops_the_wizard_with_a_sentence_and_no_secret(
        make_app, emulator, monkeypatch, tmp_path, capsys):
    from bbwizard.tui.app import WizardApp

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    token = Secret("live-access-token-9f8e7d6c5b4a")

    def broken(self) -> None:
        held = token.reveal()  # a bare token in a local: Textual's report would print it
        raise RuntimeError(f"a bug while holding {held}")

    monkeypatch.setattr(WizardApp, "refresh_when_due", broken)
    app = make_app(emulator, start="none")
    with pytest.raises(RuntimeError):
        async with app.run_test() as pilot:
            for _ in range(600):  # the bug comes with the refresh timer's first tick, a second in
                if not app.is_running:
                    break
                await pilot.pause(0.05)
    report = " ".join(capsys.readouterr().err.split())  # what the terminal got, unwrapped
    assert report.startswith("bbwizard stopped on an unexpected error (RuntimeError): a bug while holding ***")
    assert "Details, without secrets: " in report
    assert token.reveal() not in report and "held" not in report  # no locals, no traceback
    log = tmp_path / "state" / "bbwizard" / "log" / "wizard.log"
    assert "RuntimeError" in log.read_text() and token.reveal() not in log.read_text()
