"""No package and one of its own modules import each other. A module's ``from bbwizard.cli import
output`` first runs the package's ``__init__``; when that ``__init__`` imports the module back
(even inside a function), the two can only be read, and loaded, together. Import-linter and
test_core_import_graph read ``from package import module`` as an import of the module alone, so
this circle needs its own check."""

from __future__ import annotations

import ast
from pathlib import Path

import bbwizard

PACKAGE = Path(bbwizard.__file__).parent


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def named_imports(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names, at any depth, packages included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def package_circles(root: Path) -> list[str]:
    paths = {module_name(path, root): path for path in root.rglob("*.py")}
    circles = []
    for init in sorted(root.rglob("__init__.py")):
        package = module_name(init, root)
        for imported in sorted(named_imports(init) & set(paths)):
            if imported.startswith(package + ".") and package in named_imports(paths[imported]):
                circles.append(f"{package} <-> {imported}")
    return circles


def test_no_package_imports_a_module_that_imports_the_package_back():
    circles = package_circles(PACKAGE)
    assert not circles, "package circles: " + "; ".join(circles)


def test_a_module_importing_its_package_back_is_found(tmp_path):
    root = tmp_path / "bbwizard"
    (root / "cli").mkdir(parents=True)
    (root / "__init__.py").write_text("", encoding="utf-8")
    (root / "cli" / "__init__.py").write_text("def main():\n    from bbwizard.cli.app import run\n", encoding="utf-8")
    (root / "cli" / "app.py").write_text("def run():\n    from bbwizard.cli import output\n", encoding="utf-8")
    (root / "cli" / "output.py").write_text("", encoding="utf-8")
    assert package_circles(root) == ["bbwizard.cli <-> bbwizard.cli.app"]
