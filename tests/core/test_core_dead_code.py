"""Code nothing called is gone, and stays gone: each of these was found unused (vulture, grep)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("bbwizard.cli.output", "bold"),
        ("bbwizard.tui.widgets.status", "format_duration"),
        ("bbwizard.tui.widgets.repository_list", "relative_time"),
        ("bbwizard.tui.screens.profiles", "minutes_text"),
    ],
)
def test_unused_helpers_are_gone(module, name):
    assert not hasattr(importlib.import_module(module), name)


def test_unused_attributes_are_gone():
    from bbwizard.errors import NetworkError
    from bbwizard.loopback import LoopbackCatcher
    from bbwizard.tui.screens.authorize import AuthorizeScreen
    from bbwizard.tui.screens.base import WizardStep
    from bbwizard.tui.widgets.status import StatusBar

    assert not hasattr(LoopbackCatcher("http://127.0.0.1:8765/", "state"), "requests_seen")
    assert not hasattr(NetworkError("down"), "transient")
    assert not hasattr(AuthorizeScreen, "port")
    assert not hasattr(StatusBar, "countdown_state")
    assert not hasattr(WizardStep, "run_in_thread")
