"""The core never imports the adapters: model < store < analytics < services < cli/web."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "klantreis"

#: package -> packages it must never import.
FORBIDDEN = {
    "model": [
        "store",
        "analytics",
        "services",
        "access",
        "export",
        "contacts",
        "web",
        "cli",
        "demo",
        "ingest",
        "app",
    ],
    "store": [
        "analytics",
        "services",
        "access",
        "export",
        "contacts",
        "web",
        "cli",
        "demo",
        "ingest",
        "app",
    ],
    "analytics": ["services", "access", "export", "web", "cli", "demo", "app"],
    "contacts": ["web", "cli"],
    "services": ["web", "cli"],
    "access": ["web", "cli", "demo", "app"],
    "ingest": ["web", "cli"],
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer: str) -> None:
    folder = SRC / layer
    if not folder.exists():
        pytest.skip(f"no package {layer}")
    offenders = []
    for path in sorted(folder.rglob("*.py")):
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] == "klantreis" and len(parts) > 1 and parts[1] in FORBIDDEN[layer]:
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert offenders == []


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
