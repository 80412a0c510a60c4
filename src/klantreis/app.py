"""The application object: explicit settings -> one App with its store and journey config.

No import-time state: tests build many Apps side by side. ``klantreis.open(path)`` is the
notebook entry point and returns an App.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from klantreis.model.journey import JourneyConfig, load_journey_config, parse_journey_config
from klantreis.settings import Settings
from klantreis.store import EventStore

__all__ = ["App", "default_journey_config", "open_app"]


def default_journey_config() -> JourneyConfig:
    """The built-in webshop journey (the demo's)."""
    text = resources.files("klantreis.demo").joinpath("journey.toml").read_text("utf-8")
    return parse_journey_config(text, "klantreis/demo/journey.toml")


class App:
    """Settings, the journey configuration and the event store, built explicitly."""

    def __init__(self, settings: Settings, read_only: bool = False) -> None:
        self.settings = settings
        self.journey: JourneyConfig = (
            load_journey_config(settings.journey_config) if settings.journey_config
            else default_journey_config())
        self.store = EventStore(settings.db_path, read_only=read_only)

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    def events_table(self) -> Any:
        """The event log as an Ibis table on this App's DuckDB store."""
        from klantreis.analytics.backend import duckdb_events

        return duckdb_events(self.store)


def open_app(path: str | Path = "klantreis.duckdb", **settings: Any) -> App:
    """Open (or create) a store for use from Python or a notebook.

    >>> app = open_app(":memory:")
    >>> app.store.count()
    0
    >>> app.close()
    """
    return App(Settings.load(db_path=str(path), **settings))
