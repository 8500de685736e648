"""The worker's modules import each other without a cycle and without another module's private
names (lazy imports inside functions count: a cycle that only bites at call time still
bites)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import REPO

PACKAGES = ("worker", "instrumentation")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _edges(modules: dict[str, Path]) -> dict[str, set[tuple[str, str | None]]]:
    """module -> {(imported module, imported name or None)}."""
    out: dict[str, set[tuple[str, str | None]]] = {}
    for mod, path in modules.items():
        found: set[tuple[str, str | None]] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if (target := _resolve(alias.name, modules)) is not None:
                        found.add((target, None))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in modules:
                        found.add((full, None))
                    elif (target := _resolve(node.module, modules)) is not None:
                        found.add((target, alias.name))
        out[mod] = found
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_no_import_cycle_in_the_worker() -> None:
    modules = _modules()
    edges = _edges(modules)
    graph: dict[str, set[str]] = {}
    for mod, found in edges.items():
        targets = {target for target, _name in found if target != mod}
        # Importing a submodule runs its package's __init__ first.
        for target in list(targets):
            parent = target.rpartition(".")[0]
            while parent and parent in modules and not mod.startswith(parent):
                targets.add(parent)
                parent = parent.rpartition(".")[0]
        graph[mod] = {t for t in targets if not mod.startswith(t + ".")}
    worker_cycles = [c for c in _cycles(graph) if any(m.startswith("worker") for m in c)]
    assert worker_cycles == [], worker_cycles
    # The circle this replaced: app -> health -> app and app -> tasks -> app.
    assert "worker.app" not in graph["worker.tasks"]
    assert "worker.app" not in graph["worker.health.hooks"]


def test_no_module_imports_a_private_name_of_another() -> None:
    modules = _modules()
    offenders = [(mod, target, name) for mod, found in _edges(modules).items()
                 for target, name in found
                 if name is not None and name.startswith("_") and not name.startswith("__")
                 and target.split(".")[0] == "worker"]
    assert offenders == []
