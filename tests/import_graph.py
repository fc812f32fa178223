"""The ``asvit`` modules a Python file runs, read from the source with ``ast``: every import statement
in it, at module level or inside a function (a lazy import runs when the library call that holds it
does), followed through the package until nothing new comes in. Imports under ``if TYPE_CHECKING:``
never run and are skipped; importing ``a.b.c`` runs the packages ``a`` and ``a.b`` first."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = "asvit"


def module_file(module: str) -> Path | None:
    """The source file of ``module`` under src/, or None if it is not one of the package's modules."""
    base = SRC.joinpath(*module.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def module_name(path: Path) -> str:
    parts = list(path.resolve().relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> list[str]:
    return sorted(module_name(p) for p in (SRC / PACKAGE).rglob("*.py"))


def _statements(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (s for branch in node.orelse for s in _statements(ast.Module([branch], [])))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _statements(node)


def _named(path: Path, module: str | None) -> set[str]:
    """Every dotted name an import statement of ``path`` (the module ``module``) can load."""
    names = set()
    for statement in _statements(ast.parse(path.read_text())):
        if isinstance(statement, ast.Import):
            names.update(alias.name for alias in statement.names)
            continue
        if statement.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            base = ".".join(package[:len(package) - statement.level + 1] + [statement.module or ""]).strip(".")
        else:
            base = statement.module
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in statement.names)  # from a.b import c: c may be a module
    return names


@cache
def direct_imports(path: Path, module: str | None = None) -> frozenset[str]:
    """The package's modules that the file ``path`` imports itself, each with the packages above it."""
    found = set()
    for name in _named(path, module):
        if name.split(".")[0] == PACKAGE and module_file(name) is not None:
            parts = name.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(found - {module})


def runs(path: Path) -> set[str]:
    """Every module of the package that running ``path`` can execute."""
    path = path.resolve()
    seen: set[str] = set()
    todo = list(direct_imports(path, module_name(path) if SRC in path.parents else None))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(direct_imports(module_file(module), module) - seen)
    return seen


def import_cycles() -> list[list[str]]:
    """Groups of modules that import each other (directly or through others); a module's own parent
    packages, which run before it whatever it imports, do not count as its imports."""
    edges = {m: {d for d in direct_imports(module_file(m), m) if not m.startswith(d + ".")} for m in all_modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in edges:
        if module not in index:
            visit(module)
    return cycles
