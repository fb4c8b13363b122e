"""saga_cli's packages import downwards only, as the README's diagram draws them, and no module outgrows one idea."""

from __future__ import annotations

import re

from test_imports import PACKAGE, import_graph

#: Each package's floor: a package imports only from packages on lower floors (``saga_cli`` itself holds the
#: project's facts: the template, the scenarios, the sample events).
FLOORS = {"saga_cli": 0, "engine": 1, "targets": 2, "chaos": 3, "measure": 3, "graph": 3, "commands": 4}
README = PACKAGE.parents[1] / "README.md"
MAX_LINES = 400


def package_of(module: str) -> str:
    """``saga_cli.engine.state`` -> ``engine``; a module of saga_cli itself -> ``saga_cli``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in FLOORS) else "saga_cli"


def package_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {
        (package_of(module), package_of(imported))
        for module, imports in graph.items()
        for imported in imports
        if package_of(module) != package_of(imported)
    }


def upward(edges: set[tuple[str, str]]) -> list[str]:
    """The package imports that do not point to a lower floor, as ``a -> b``."""
    return sorted(f"{a} -> {b}" for a, b in edges if FLOORS[a] <= FLOORS[b])


def diagram_edges() -> set[tuple[str, str]]:
    """The arrows of the README's Mermaid block that starts with ``%% saga_cli packages``."""
    block = re.search(r"```mermaid\n%% saga_cli packages\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block, "the README has no Mermaid block starting with %% saga_cli packages"
    return set(re.findall(r"^\s*(\w+) --> (\w+)\s*$", block.group(1), re.M))


def test_every_package_has_a_floor() -> None:
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}

    assert packages == set(FLOORS) - {"saga_cli"}


def test_packages_import_only_from_lower_floors() -> None:
    edges = package_edges(import_graph())

    assert ("commands", "chaos") in edges, "the imports were not read"
    assert upward(edges) == []


def test_an_upward_or_sideways_import_is_caught() -> None:
    graph = {"saga_cli.engine.state": {"saga_cli.commands.views"}, "saga_cli.chaos.run": {"saga_cli.measure.bench"}}

    assert upward(package_edges(graph)) == ["chaos -> measure", "engine -> commands"]


def test_the_readme_diagram_draws_the_imports() -> None:
    drawn = diagram_edges()
    # The diagram leaves out what every package may read: saga_cli's own modules (the project's facts).
    actual = {(a, b) for a, b in package_edges(import_graph()) if b != "saga_cli"}

    assert drawn == actual, f"not drawn: {sorted(actual - drawn)}; drawn but not imported: {sorted(drawn - actual)}"


def test_no_module_is_over_400_lines() -> None:
    sizes = {path.relative_to(PACKAGE).as_posix(): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}

    assert len(sizes) > 40, "the package was not read"
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
