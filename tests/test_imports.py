"""The package's imports, read with ``ast``: no module imports itself back through others, nor does a subpackage.

Every ``import`` counts, lazy ones inside functions included (they are part of what a module needs), except those
under ``if TYPE_CHECKING:`` (annotations only, never run). Subpackages are ``maskcls.<name>`` folders; a top-level
module (``maskcls.config``) is a unit of its own at that level.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "maskcls"


def module_name(path: Path) -> str:
    parts = ["maskcls", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_modules(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package's modules that ``tree`` imports (outside ``if TYPE_CHECKING:`` blocks).

    ``from maskcls.x import y`` names module ``maskcls.x.y`` when that is one, else ``maskcls.x`` (a package's
    ``__init__`` counts only when a name is taken from it, as Python runs parents anyway).
    """
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name in modules and name != module}


def import_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {module: imported_modules(ast.parse(path.read_text(encoding="utf-8")), module,
                                     path.name == "__init__.py", set(files)) - {"maskcls"}
            for module, path in files.items()}


def unit(module: str) -> str:
    """The subpackage (or top-level module) a module belongs to: ``maskcls.inference.tta`` → ``maskcls.inference``."""
    return ".".join(module.split(".")[:2])


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first repeated last), or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def test_the_graph_is_read():
    graph = import_graph()
    assert "maskcls.labels" in graph["maskcls.config"]
    assert "maskcls.vision.preprocess" in graph["maskcls.vision.cache"]


def test_no_cycle_between_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_cycle_between_subpackages():
    units: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        units.setdefault(unit(module), set()).update(unit(t) for t in targets if unit(t) != unit(module))
    cycle = find_cycle(units)
    assert cycle is None, "subpackage import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("graph, cycle", [({"a": {"b"}, "b": {"a"}}, True), ({"a": {"b"}, "b": set()}, False)])
def test_find_cycle_can_fail(graph, cycle):
    assert (find_cycle(graph) is not None) == cycle
