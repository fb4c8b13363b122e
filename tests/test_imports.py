"""The modules of saga_cli import one another in one direction: no circle, not even through an import inside a
function (which only hides a circle) or under ``TYPE_CHECKING`` (a circle all the same for a reader); its
packages stand on floors, each importing only from the floors below; and no module outgrows one idea."""

from __future__ import annotations

import ast
from pathlib import Path

import saga_cli

PACKAGE = Path(saga_cli.__file__).parent


def _module_name(path: Path) -> str:
    return ".".join(["saga_cli", *path.relative_to(PACKAGE).with_suffix("").parts]).removesuffix(".__init__")


def _imported(tree: ast.AST, modules: set[str], importer: str) -> set[str]:
    """The saga_cli modules that ``tree`` imports anywhere in it (``from saga_cli import x`` counts as x)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = importer.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name in modules and name != "saga_cli"} - {importer}


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
    modules = set(paths)
    return {
        name: _imported(ast.parse(path.read_text(encoding="utf-8"), str(path)), modules, name)
        for name, path in paths.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as the modules along it (the first repeated at the end), or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> list[str] | None:
        path.append(module)
        on_path.add(module)
        for imported in sorted(graph.get(module, ())):
            if imported in on_path:
                return [*path[path.index(imported) :], imported]
            if imported not in done:
                cycle = visit(imported)
                if cycle:
                    return cycle
        on_path.discard(path.pop())
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_saga_cli_has_no_import_cycle() -> None:
    graph = import_graph()

    assert graph.get("saga_cli.commands.main"), "the package was not read"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_a_cycle_is_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_imports_inside_functions_count() -> None:
    code = "def f():\n    from saga_cli.targets.runner import wait\n    from saga_cli.commands import views\n"
    tree = ast.parse(code)
    modules = {"saga_cli.targets.runner", "saga_cli.commands.views", "saga_cli.targets.target"}

    found = _imported(tree, modules, "saga_cli.targets.target")

    assert found == {"saga_cli.targets.runner", "saga_cli.commands.views"}
