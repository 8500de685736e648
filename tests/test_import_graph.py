"""The import graph of the project's packages: no circles, no private names across modules.

A circle makes the import order matter (a module half-initialized when its partner asks for
a name), and a private name imported from another module is a contract nobody wrote down.
Both are read from the source with ``ast``; imports inside functions count too, since a lazy
import that closes a circle only hides it.

Allowed: a module importing its own package (Python initializes the package first) and a
package's private submodule imported from inside that package (``from ._times import ...``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO

PACKAGES = ("analyzers", "queries", "dashboards", "instrumentation", "worker")
#: Known violations, in packages another branch is still reshaping: their test must fail
#: until it is fixed there (strict xfail), and then the entry goes.
CIRCLES_BEING_FIXED: set[str] = set()
PRIVATE_BEING_FIXED: set[str] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES
            for path in sorted((REPO / package).rglob("*.py"))}


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _imports(name: str, path: Path) -> Iterator[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import in the module."""
    here = name if _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:
                    yield submodule, None, node.lineno
                else:
                    yield base, alias.name, node.lineno


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _edges(package: str) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = graph.setdefault(name, set())
        for module, _, _ in _imports(name, path):
            if module in MODULES and not name.startswith(module + ".") and module != name:
                targets.add(module)
    return graph


def circles(package: str) -> list[list[str]]:
    """Import circles that pass through a module of ``package``."""
    graph = _edges(package)
    found, seen = [], set()

    def walk(node: str, stack: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in stack:
                circle = stack[stack.index(target):]
                key = frozenset(circle)
                if key not in seen and any(m.split(".")[0] == package for m in circle):
                    seen.add(key)
                    found.append([*circle, target])
            elif target not in done:
                walk(target, [*stack, target])
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            walk(start, [start])
    return found


def _module_aliases(name: str, path: Path) -> dict[str, str]:
    """Local names bound to a project module by ``import a.b as x`` / ``from a import b``."""
    here = name if _is_package(name) else name.rpartition(".")[0]
    aliases = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in MODULES:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
    return aliases


def private_imports(package: str) -> list[str]:
    """``from other_module import _name``, ``other_module._name``, or a private module of
    another package, in ``package``."""
    bad = []
    for name, path in MODULES.items():
        if name.split(".")[0] != package:
            continue
        aliases = _module_aliases(name, path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and _private(node.attr)
                    and aliases[node.value.id] != name):
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}: uses "
                           f"{aliases[node.value.id]}.{node.attr}")
        for module, imported, line in _imports(name, path):
            if module.split(".")[0] not in PACKAGES:
                continue
            # A private module is fine inside its own package, not outside it.
            owner = module.rpartition(".")[0] if _private(module.rpartition(".")[2]) else None
            if owner is not None and not name.startswith(owner):
                bad.append(f"{path.relative_to(REPO)}:{line}: imports {module}")
            if imported and _private(imported) and module != name:
                bad.append(f"{path.relative_to(REPO)}:{line}: imports {module}.{imported}")
    return bad


def _marks(package: str, being_fixed: set[str]) -> list:
    if package in being_fixed:
        return [pytest.mark.xfail(strict=True, reason=f"{package}/ is reshaped on another branch")]
    return []


@pytest.mark.parametrize(
    "package", [pytest.param(p, marks=_marks(p, CIRCLES_BEING_FIXED)) for p in PACKAGES])
def test_no_import_circles(package: str) -> None:
    assert circles(package) == []


@pytest.mark.parametrize(
    "package", [pytest.param(p, marks=_marks(p, PRIVATE_BEING_FIXED)) for p in PACKAGES])
def test_no_private_names_across_modules(package: str) -> None:
    assert private_imports(package) == []


def test_the_scan_sees_imports() -> None:
    """The scanner finds a known edge and a known relative import (else it proves nothing)."""
    cli = dict.fromkeys(m for m, _, _ in _imports("analyzers.cli", MODULES["analyzers.cli"]))
    assert "analyzers.report" in cli and "analyzers.errors" in cli
    timeline = MODULES["analyzers.report.timeline"]
    assert "analyzers.report.kernels" in {m for m, _, _ in _imports(
        "analyzers.report.timeline", timeline)}
