"""No import circles among klantreis modules: not at load time, and not through imports
inside functions either (a circle hidden in a function is still two modules that need each
other). Imports under ``if TYPE_CHECKING:`` are for type hints only and do not count."""

from __future__ import annotations

import pytest
from tests.core.import_graph import cycles, import_graph, imported_names


@pytest.mark.parametrize("deferred", [False, True], ids=["at-load", "with-deferred"])
def test_no_import_cycles(deferred: bool) -> None:
    graph = import_graph(deferred=deferred)
    assert len(graph) > 100 and graph["klantreis.web.errors"] >= {
        "klantreis.web.envelope",
        "klantreis.web.pagekit",
    }
    assert cycles(graph) == []


def test_a_planted_circle_is_found() -> None:
    planted = {
        "klantreis.planted_a": "from klantreis.planted_b import thing\n",
        "klantreis.planted_b": "def f():\n    from klantreis import planted_a\n",
    }
    assert cycles(import_graph(extra=planted)) == []  # b's import waits in a function
    assert cycles(import_graph(extra=planted, deferred=True)) == [
        ["klantreis.planted_a", "klantreis.planted_b"]
    ]


def test_a_circle_through_three_modules_and_the_store() -> None:
    planted = {
        "klantreis.store.planted": "import klantreis.planted_top\n",
        "klantreis.planted_top": "from klantreis.model import planted_low\n",
        "klantreis.model.planted_low": "from ..store.planted import x\n",
    }
    assert cycles(import_graph(extra=planted)) == [
        ["klantreis.model.planted_low", "klantreis.planted_top", "klantreis.store.planted"]
    ]


def test_type_checking_imports_do_not_count() -> None:
    text = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from klantreis.app import App\n"
        "else:\n"
        "    from klantreis.store import EventStore\n"
    )
    assert imported_names(text, "klantreis.x", deferred=True) >= {"klantreis.store"}
    assert not any(n.startswith("klantreis.app") for n in imported_names(text, "klantreis.x"))


def test_relative_imports_resolve() -> None:
    text = "from . import masking\nfrom ..store import EventStore\n"
    found = imported_names(text, "klantreis.access.accounts")
    assert {"klantreis.access.masking", "klantreis.store"} <= found
    assert "klantreis.access.sub" in imported_names(
        "from .sub import x\n", "klantreis.access", is_package=True
    )
