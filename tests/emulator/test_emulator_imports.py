"""The emulator is an independent reading of bitbucket-cloud.md: no module of it, ``__main__``
included, imports anything of bbwizard outside ``bbwizard.emulator``."""

from __future__ import annotations

import ast
from pathlib import Path

import bbwizard.emulator

PACKAGE = Path(bbwizard.emulator.__file__).parent


def imported_names(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            names += [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_no_emulator_module_imports_the_client():
    modules = sorted(PACKAGE.glob("*.py"))
    assert {"__main__.py", "server.py", "state.py", "oauth.py", "rest.py", "githttp.py"} <= {m.name for m in modules}
    found = {
        module.name: name
        for module in modules
        for name in imported_names(module)
        if name.split(".")[0] in ("bbwizard", "httpx", "textual", "rich")
        and not (name == "bbwizard" or name.startswith("bbwizard.emulator"))
    }
    assert found == {}
