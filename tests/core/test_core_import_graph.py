"""No import circle anywhere in bbwizard, not even through an import inside a function or under
TYPE_CHECKING (import-linter counts those too; its contracts in pyproject.toml run in .ci/run, in
a venv of their own). This test runs the same check with the suite, from the source alone."""

from __future__ import annotations

import ast
from pathlib import Path

import bbwizard

PACKAGE = Path(bbwizard.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` is an import of that module (as grimp reads it), not of the package
            names = [
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                for alias in node.names
            ]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def import_circles(paths: dict[str, Path]) -> list[list[str]]:
    graph = {name: imports_of(path, set(paths)) - {name} for name, path in paths.items()}
    circles: list[list[str]] = []
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        for imported in sorted(graph[name]):
            if imported in trail:
                circles.append(trail[trail.index(imported):] + [imported])
            elif imported not in done:
                visit(imported, [*trail, imported])
        done.add(name)

    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    return circles


def test_no_import_circle_in_bbwizard():
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    assert {"bbwizard.config", "bbwizard.net", "bbwizard.hosts", "bbwizard.tui.app"} <= set(paths)
    circles = import_circles(paths)
    assert not circles, "import circles: " + "; ".join(" -> ".join(circle) for circle in circles)


def test_a_circle_through_an_import_inside_a_function_is_found(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("from pkg.b import thing\n", encoding="utf-8")
    (package / "b.py").write_text("def thing():\n    from pkg import a\n", encoding="utf-8")
    paths = {"pkg.a": package / "a.py", "pkg.b": package / "b.py"}
    assert import_circles(paths) == [["pkg.a", "pkg.b", "pkg.a"]]
