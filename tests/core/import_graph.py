"""Who imports whom among klantreis modules, read from the source (nothing is imported).

Shared by the layering test and the import-cycle test. Only imports that run when a module is
loaded count: imports inside functions and under ``if TYPE_CHECKING:`` are left out (they are
how a module reaches upwards lazily or for type hints only); ``deferred=True`` adds the imports
inside functions and ``type_hints=True`` those under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "klantreis"


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(
    tree: ast.Module, deferred: bool, type_hints: bool = False
) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements; with ``deferred=False`` only those that run when the module is
    loaded (not inside a function body); with ``type_hints=False`` none under
    ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test) and not type_hints:
            stack.extend(node.orelse)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            if deferred:  # a body that runs later, when the function is called
                stack.extend(ast.iter_child_nodes(node))
        else:
            stack.extend(ast.iter_child_nodes(node))


@functools.lru_cache(maxsize=4096)
def _imported_names(
    source: str, module: str, is_package: bool, deferred: bool, type_hints: bool
) -> frozenset[str]:
    return frozenset(
        imported_names(
            source, module, is_package=is_package, deferred=deferred, type_hints=type_hints
        )
    )


def imported_names(
    source: str,
    module: str,
    *,
    is_package: bool = False,
    deferred: bool = False,
    type_hints: bool = False,
) -> set[str]:
    """Absolute dotted names ``module`` imports; ``from a import b`` gives ``a.b`` and ``a``
    (``a.b`` matters only when it is a module, see :func:`import_graph`)."""
    tree = ast.parse(source)
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in _import_nodes(tree, deferred, type_hints):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(
    src: Path = SRC,
    *,
    deferred: bool = False,
    type_hints: bool = False,
    extra: Mapping[str, str] | None = None,
) -> dict[str, set[str]]:
    """Module -> the klantreis modules it imports (see :func:`imported_names` for ``deferred``
    and ``type_hints``). ``extra`` adds modules given as source text (name -> text), so a test
    can plant one without writing into the package."""
    sources = {
        module_name(p, src): (p.read_text(encoding="utf-8"), p.name == "__init__.py")
        for p in sorted((src / PACKAGE).rglob("*.py"))
    }
    for name, text in (extra or {}).items():
        sources[name] = (text, False)
    graph: dict[str, set[str]] = {}
    for name, (text, is_package) in sources.items():
        found = _imported_names(text, name, is_package, deferred, type_hints)
        graph[name] = {m for m in found if m in sources and m != name}
        # ``from pkg import sub`` names the module pkg.sub; drop the bare pkg then unless a
        # non-module name was imported from it too.
        for m in list(graph[name]):
            if any(other.startswith(m + ".") for other in graph[name]) and not _imports_names(
                text, m, sources, name, is_package
            ):
                graph[name].discard(m)
    return graph


def _imports_names(
    text: str, package: str, sources: Mapping[str, object], module: str, is_package: bool
) -> bool:
    """Whether some ``from package import x`` in ``text`` imports an x that is not a module."""
    owner = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = node.module or ""
        if node.level:
            anchor = owner.split(".")[: len(owner.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        if base == package and any(f"{base}.{a.name}" not in sources for a in node.names):
            return True
    return False


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (each an import circle), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)
