"""The REST client is core: it imports neither Textual, rich, the CLI nor the emulator."""

from __future__ import annotations

import subprocess
import sys


def test_api_imports_nothing_from_the_ui_cli_or_emulator():
    code = (
        "import sys, bbwizard.api\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')"
        " or m.startswith(('bbwizard.cli', 'bbwizard.tui', 'bbwizard.emulator')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
