"""klantreis: one customer-event log, honest CX metrics, journeys, contact reasons, a live
CX index.

>>> import klantreis
>>> app = klantreis.open(":memory:")
>>> app.store.count()
0
>>> app.close()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from klantreis.app import App, open_app
    from klantreis.settings import Settings

    open = open_app

__version__ = "0.1.0"

__all__ = ["App", "Settings", "__version__", "open", "open_app"]

#: Imported on first use, so ``import klantreis.cli`` (and ``klantreis --help``) does not pay
#: for the store, DuckDB and the analytics: ``klantreis.open`` is the notebook entry point.
_LAZY = {
    "App": ("klantreis.app", "App"),
    "open_app": ("klantreis.app", "open_app"),
    "open": ("klantreis.app", "open_app"),
    "Settings": ("klantreis.settings", "Settings"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'klantreis' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
