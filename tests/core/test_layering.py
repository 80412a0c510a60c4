"""The drawing in docs/architecture.md, enforced: a layer imports only layers below it.

``LAYERS`` lists the top-level packages and modules of ``klantreis`` from top to bottom; a
module may import modules of its own package and of any *lower* row, never a higher row and
never a neighbour in its own row. Every import counts: at load time, inside functions, and
under ``if TYPE_CHECKING:`` (a type hint is a dependency too). A top-level package that is not
in the table fails the test, so a new one has to be placed in the drawing.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest
from tests.core.import_graph import import_graph

SRC = Path(__file__).resolve().parents[2] / "src" / "klantreis"

#: Top to bottom. ``klantreis`` is the package itself (``klantreis.open`` for notebooks).
LAYERS: list[tuple[str, ...]] = [
    ("cli", "klantreis"),  # entry points: the commands, the notebook facade
    ("web",),  # pages, JSON API, HTML error pages
    ("demo",),  # generates the demo webshop and ingests it into an App
    ("app",),  # App(settings): store, journey, contexts, caches
    ("app_api",),  # the App's analyses (a mixin): thin delegates to analytics and contacts
    ("act",),  # cases routed to owners, SLA clocks, proactive messages with holdout, alerts
    ("listen",),  # surveys, triggers, contact rules (fatigue), ledger, links, the form
    ("wording",),  # every word a person reads; phrases what the layers below return
    ("text",),  # sentiment and themes of what customers write; builds on contacts features
    ("contacts",),  # reasons, classifier, war room; stores labels through ingest
    ("ingest",),  # every way in
    ("live",),  # a running server's discovery file, admin client and snapshots
    # portable Ibis; every way out; accounts and masking; contact details and consent; messages out
    ("analytics", "export", "access", "directory", "outbox"),
    ("store",),  # where events live
    ("model",),  # what an event is
    ("caches", "settings", "scheduler"),  # importable from anywhere
]

RANK = {name: rank for rank, row in enumerate(LAYERS) for name in row}

#: Known upward imports, each with who removes it. An entry that is no longer found fails
#: ``test_known_exceptions_still_exist``, so it gets deleted instead of hiding a new one.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def upward_imports(graph: Mapping[str, set[str]]) -> list[tuple[str, str]]:
    """Every (importer, imported) pair whose imported module is not in a lower row."""
    found = []
    for module, imports in sorted(graph.items()):
        own = layer_of(module)
        for target in sorted(imports):
            other = layer_of(target)
            if other != own and RANK.get(other, -1) <= RANK.get(own, len(LAYERS)):
                found.append((module, target))
    return found


def full_graph(extra: Mapping[str, str] | None = None) -> dict[str, set[str]]:
    return import_graph(deferred=True, type_hints=True, extra=extra)


def unplaced(graph: Mapping[str, set[str]]) -> list[str]:
    """Top-level packages and modules that are not in ``LAYERS``."""
    return sorted({layer_of(m) for m in graph} - RANK.keys())


def test_every_package_is_in_the_drawing() -> None:
    missing = unplaced(full_graph())
    assert missing == [], f"place these in LAYERS and docs/architecture.md: {missing}"


@pytest.mark.parametrize("layer", [name for row in LAYERS for name in row])
def test_layer_imports_nothing_above_it(layer: str) -> None:
    offenders = [
        f"{importer} imports {imported}"
        for importer, imported in upward_imports(full_graph())
        if layer_of(importer) == layer and (importer, imported) not in KNOWN_UPWARD
    ]
    assert offenders == []


def test_known_exceptions_still_exist() -> None:
    assert KNOWN_UPWARD - set(upward_imports(full_graph())) == set(), "remove them"


@pytest.mark.parametrize(
    ("module", "text"),
    [
        ("klantreis.store.planted", "from klantreis.analytics import metrics\n"),
        ("klantreis.analytics.planted", "def f():\n    from klantreis.app import App\n"),
        (
            "klantreis.model.planted",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import klantreis.store\n",
        ),
        ("klantreis.access.planted", "from ..export import export_log\n"),  # a neighbour
        ("klantreis.settings_planted", "import klantreis.web.app\n"),
    ],
    ids=["load-time", "in-a-function", "type-hint", "neighbour", "new-package"],
)
def test_a_planted_upward_import_is_caught(module: str, text: str) -> None:
    graph = full_graph(extra={module: text})
    if layer_of(module) not in RANK:
        assert unplaced(graph) == [layer_of(module)]
        return
    caught = [pair for pair in upward_imports(graph) if pair[0] == module]
    assert len(caught) == 1, caught


def test_a_downward_import_is_not_caught() -> None:
    graph = full_graph(extra={"klantreis.web.planted": "from klantreis.store import EventStore\n"})
    assert [p for p in upward_imports(graph) if p[0] == "klantreis.web.planted"] == []


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_pm4py_is_never_a_runtime_import() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if any(n.split(".")[0] == "pm4py" for n in imported_modules(p))
    ]
    assert offenders == [], "pm4py is AGPL: tests and benchmarks only"


def test_no_cdn_or_remote_assets() -> None:
    pattern = ("cdn.", "unpkg.com", "cdnjs.", "fonts.googleapis", "jsdelivr")
    offenders = []
    for p in SRC.rglob("*"):
        if p.suffix in {".html", ".js", ".css", ".py", ".j2", ".webmanifest"} and p.is_file():
            text = p.read_text(encoding="utf-8", errors="replace")
            offenders += [
                f"{p.relative_to(SRC)}: {pat}"
                for pat in pattern
                if f"//{pat}" in text or f"https://{pat}" in text
            ]
    assert offenders == []
