"""Fixtures of the listen tests: the demo journey and a fresh in-memory store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from klantreis.app import default_journey_config
from klantreis.model.journey import JourneyConfig
from klantreis.store.duckdb_store import EventStore


@pytest.fixture
def journey() -> JourneyConfig:
    return default_journey_config()


@pytest.fixture
def store() -> Iterator[EventStore]:
    with EventStore(":memory:") as s:
        yield s
