"""The package's imports form no cycle, function-level imports included, and nothing below the
command line imports it: layers only point down.

The graph is read from the source with ``ast`` (every ``import`` and ``from ... import``
statement, at any depth, except those under ``if TYPE_CHECKING:``, which never run), over
the three source folders installed as ``hem_bench``, ``hem_bench.tasks`` and
``hem_bench.datamodules``. ``from package import name`` points at the submodule
``package.name`` when there is one (a ``.py`` file, a compiled extension or its C source),
else at the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

#: source folder of each installed package
ROOTS = {
    "hem_bench": REPO / "hem_bench",
    "hem_bench.tasks": REPO / "tasks",
    "hem_bench.datamodules": REPO / "datamodules",
}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts if p != "__init__"]
            if package == "hem_bench" and parts and parts[0] in ("tasks", "datamodules"):
                continue  # a stale copy under hem_bench/ would shadow nothing: not installed
            found[".".join([package, *parts])] = path
    return found


def _is_submodule(modules: dict[str, Path], name: str) -> bool:
    if name in modules:
        return True
    package, _, leaf = name.rpartition(".")
    folder = modules.get(package)
    if folder is None or folder.name != "__init__.py":
        return False
    return any(folder.parent.glob(f"{leaf}.*"))  # a compiled extension or its C source


def _owner(modules: dict[str, Path], name: str) -> str | None:
    """The module of ours that ``name`` names (its longest known prefix), if any."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


class _Imports(ast.NodeVisitor):
    def __init__(self) -> None:
        self.names: list[tuple[str, list[str], int]] = []  # (module, imported names, level)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.names.append((alias.name, [], 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.names.append((node.module or "", [a.name for a in node.names], node.level))


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (anywhere in its source)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        visitor = _Imports()
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for module, names, level in visitor.names:
            if level:
                base = package
                for _ in range(level - 1):
                    base = base.rpartition(".")[0]
                module = f"{base}.{module}" if module else base
            targets = [f"{module}.{n}" for n in names if _is_submodule(modules, f"{module}.{n}")]
            if len(targets) < len(names) or not names:
                owner = _owner(modules, module)
                if owner:
                    targets.append(owner)
            graph[name].update(t for t in targets if t != name and t in modules)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_function_level_imports():
    """The walker is not blind: a function-level import and a relative one are edges, a
    TYPE_CHECKING import is not."""
    graph = import_graph()
    assert "hem_bench.results.report" in graph["hem_bench.results.outputs"]  # inside a function
    assert "hem_bench.tasks.registry" in graph["hem_bench.tasks.ood"]
    assert "hem_bench.results.leaderboard" not in graph["hem_bench.results.sensitivity"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_nothing_below_the_command_line_imports_it():
    graph = import_graph()
    offenders = {
        module: sorted(t for t in targets if t.startswith("hem_bench.cli"))
        for module, targets in graph.items()
        if not module.startswith("hem_bench.cli") and module != "hem_bench.__main__"
    }
    offenders = {m: t for m, t in offenders.items() if t}
    assert not offenders, f"modules below hem_bench.cli import it: {offenders}"
