"""`bbwizard` with no command: the Textual wizard against the real Bitbucket Cloud.

Its own module, apart from `bbwizard demo` (app.py), so that the package's dispatcher imports it
without importing a module that imports the package back.
"""

from __future__ import annotations

import argparse


def run_wizard(args: argparse.Namespace) -> int:
    """`bbwizard` with no command: the wizard against the real Bitbucket Cloud."""
    from bbwizard.tui.app import WizardApp

    app = WizardApp(handle_signals=True)
    result = app.run()
    return int(result or 0) if app.return_code in (None, 0) else int(app.return_code)
