"""No sentence for people is built under analytics/ or contacts/: they return keys and
numbers, and :mod:`klantreis.wording` writes the words.

What is checked, honestly: (1) those packages never import ``klantreis.wording`` (so they cannot
reach the catalogues), and (2) no f-string or ``"...".format()`` there has two words in its
literal text, except in what is not for the reader of a page, CLI table or export: exception
messages (``raise``, configuration ``problems``), log calls and SQL (fragments too: ``IS NOT
DISTINCT FROM``, ``ORDER BY ... NULLS LAST``, a DuckDB ``lambda x:``, ``col IN (`` before a list). Plain constant strings
are not checked: the classifier's training texts and stop-word lists are data, and a phrase
moved into a constant would slip through this test — review still matters.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "klantreis"
TWO_WORDS = re.compile(r"[^\W\d_]{2,} [^\W\d_]{2,}")
SQL = re.compile(
    r"\b(SELECT|DELETE|INSERT|DROP|CASE|UPDATE|CREATE|AND|AS|FILTER|WHERE|JOIN|DISTINCT FROM"
    r"|ORDER BY|NULLS (?:FIRST|LAST))\b|\blambda \w+:|\bIN \("
)
LOG_CALLS = {"debug", "info", "warning", "error", "exception", "critical"}


def _not_for_people(tree: ast.AST) -> set[int]:
    """ids of nodes inside raise statements, log calls and ``problems.append(...)``."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        if (
            isinstance(node, ast.Raise)
            or (call and node.func.attr in LOG_CALLS)  # type: ignore[union-attr]
            or (
                call
                and node.func.attr == "append"  # type: ignore[union-attr]
                and isinstance(node.func.value, ast.Name)  # type: ignore[union-attr]
                and node.func.value.id == "problems"  # type: ignore[union-attr]
            )
        ):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def built_sentences(source: str) -> list[str]:
    """Literal text of the f-strings and ``.format`` templates that read like a sentence."""
    tree = ast.parse(source)
    skip = _not_for_people(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            text = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant)
        ):
            text = str(node.func.value.value)
        else:
            continue
        if TWO_WORDS.search(text) and not SQL.search(text):
            found.append(f"line {node.lineno}: {text!r}")
    return found


def _modules() -> list[Path]:
    return sorted(p for pkg in ("analytics", "contacts") for p in (SRC / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_builds_no_sentence(path: Path) -> None:
    assert built_sentences(path.read_text("utf-8")) == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_does_not_import_wording(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not [n for n in names if n.startswith("klantreis.wording")]


def test_wording_imports_no_adapter() -> None:
    offenders = []
    for path in sorted((SRC / "wording").rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[0] == "klantreis" and parts[1] in {"web", "cli", "services", "app"}:
                    offenders.append(f"{path.name} imports {node.module}")
    assert offenders == []


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ('x = f"{n} contacten per jaar"', True),
        ('x = "{} late parcels".format(n)', True),
        ('x = f"{a}:{b}"', False),
        ('raise ValueError(f"since {a} is after until {b}")', False),
        ('x = f"SELECT count(*) FROM {t}"', False),
        ('problems.append(f"reason {r} has no phrases")', False),
    ],
)
def test_the_check_catches_a_planted_sentence(source: str, caught: bool) -> None:
    assert bool(built_sentences(source)) is caught
