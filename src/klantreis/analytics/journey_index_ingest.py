"""The journey index kept up to date by a bulk ingest (the ``index_on_ingest`` setting).

Without this, a bulk load leaves the index behind and the first read after it pays the
whole build. When the index was current before an ingest (or the store was empty), the
ingest brings it up to date itself, in the same process, before it ends:

- into an empty store: the full build (``JourneyIndex.rebuild``: key ranges of
  ``index_range_events`` events under ``index_memory_mb``), the reference itself;
- into a store with a current index: every journey the appended events touch (new ones,
  and ones that already had events: a journey whose events come in several files) is taken
  out of the index and computed again from all its events, one key range of the appended
  events at a time (each range its own transaction), with the incremental refresh's full
  event order. The state is saved last, after the count check.

A run that stops half-way leaves the state as it was before the ingest; the next read's
lazy refresh then finds the count changed and recomputes the same journeys (those with
events ingested after the old watermark), so no half-extended index is ever taken for
current. When the index was not current before the ingest (an older store, a refresh
that never ran) nothing is done here: the first read builds it as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from klantreis.analytics.journey_index import (
    _RANGE_PATHS_SQL,
    _STEPS_SELECT,
    DEFAULT_MEMORY_MB,
    DEFAULT_RANGE_EVENTS,
    INDEX_VERSION,
    JourneyIndex,
    RefreshResult,
    _key_ranges,
    add_codes,
)
from klantreis.store import EventStore
from klantreis.store.memory import memory_limit

__all__ = ["IndexMark", "index_mark", "update_after_ingest"]

log = logging.getLogger(__name__)

_TOUCHED = "AND journey_id IN (SELECT journey_id FROM _journey_index_touched)"


@dataclass(frozen=True)
class IndexMark:
    """The index's state before an ingest: the events it covered and its watermark (None
    when the store held no events)."""

    events: int
    watermark: datetime | None


def _scalar_rows(store: EventStore, sql: str) -> list[tuple[Any, ...]]:
    with store.write_lock():
        return store.con.execute(sql).fetchall()


def index_mark(store: EventStore) -> IndexMark | None:
    """The index's state when it is current (or the store empty); None when it is not, or
    the store cannot hold one (read-only). Reads only: creates nothing."""
    if store.read_only:
        return None
    events = int(_scalar_rows(store, "SELECT count(*) FROM events")[0][0])
    if events == 0:
        return IndexMark(0, None)
    has_state = _scalar_rows(
        store,
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'journey_index_state'"
        " AND column_name = 'version'",
    )[0][0]
    if not has_state:
        return None
    state = _scalar_rows(store, "SELECT events, watermark, version FROM journey_index_state")
    if len(state) != 1 or state[0][2] != INDEX_VERSION or int(state[0][0]) != events:
        return None
    watermark = state[0][1]
    return IndexMark(events, watermark) if isinstance(watermark, datetime) else None


def update_after_ingest(
    store: EventStore,
    mark: IndexMark,
    range_events: int = DEFAULT_RANGE_EVENTS,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> RefreshResult | None:
    """Bring the index up to date after an ingest that started at ``mark`` (see the module
    docstring); None when the ingest stored nothing or the store moved in an unexpected way
    (then the first read refreshes as before)."""
    index = JourneyIndex(store, range_events=range_events, memory_mb=memory_mb)
    if mark.watermark is None:
        if int(_scalar_rows(store, "SELECT count(*) FROM events")[0][0]) == 0:
            return None
        return index.rebuild()
    try:
        return _extend(index, mark.events, mark.watermark)
    finally:
        _scalar_rows(store, "DROP TABLE IF EXISTS _journey_index_touched")


def _extend(index: JourneyIndex, before: int, watermark: datetime) -> RefreshResult | None:
    store = index.store
    with store.write_lock(), memory_limit(store.con, index.memory_mb):
        with store.transaction() as con:
            ranges_or_none = _take_out_touched(index, con, before, watermark)
        if ranges_or_none is None:
            return None
        n, journeys, ranges = ranges_or_none
        for where, params in ranges:
            with store.transaction() as con:
                _index_range(con, where, params)
        with store.transaction() as con:
            indexed = _one(con, "SELECT count(*) FROM journey_steps")
            expected = _one(con, "SELECT count(*) FROM events WHERE journey_id IS NOT NULL")
            if indexed == expected:
                con.execute("DELETE FROM journey_dfg").fetchall()
                index._save_state(con, n)
        if indexed != expected:  # should not happen: the reference build puts it right
            log.warning("journey index after ingest: %d steps for %d events", indexed, expected)
            return index.rebuild()
    log.info(
        "journey index extended by the ingest: %d events, %d journeys, %d key ranges",
        n - before,
        journeys,
        len(ranges),
    )
    return RefreshResult("incremental", journeys, n)


def _take_out_touched(
    index: JourneyIndex, con: duckdb.DuckDBPyConnection, before: int, watermark: datetime
) -> tuple[int, int, list[tuple[str, list[object]]]] | None:
    """In one transaction: check nothing but this ingest moved the store, list the journeys
    its events touch and delete them from the index; the count of events, of touched
    journeys and the key ranges over the appended events. None: leave it to the refresh."""
    state = index._state(con)
    n = _one(con, "SELECT count(*) FROM events")
    if not state or int(state[0][0]) != before or n == before:
        return None
    appended = "AND ingested_at > ?"
    new = con.execute(f"SELECT count(*) FROM events WHERE true {appended}", [watermark])
    if int(new.fetchall()[0][0]) != n - before:  # not an append after the mark: refresh
        return None
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _journey_index_touched AS SELECT DISTINCT journey_id"
        f" FROM events WHERE journey_id IS NOT NULL {appended}",
        [watermark],
    ).fetchall()
    for table in ("journey_steps", "journey_paths"):
        con.execute(f"DELETE FROM {table} WHERE journey_id IS NOT NULL {_TOUCHED}").fetchall()
    add_codes(con, "events", " " + appended, [watermark])  # the new events' activities
    journeys = _one(con, "SELECT count(*) FROM _journey_index_touched")
    ranges = _key_ranges(con, n - before, index.range_events, " " + appended, [watermark])
    return n, journeys, ranges


def _index_range(con: duckdb.DuckDBPyConnection, where: str, params: list[object]) -> None:
    """Steps and paths of the touched journeys in one key range, from all their events."""
    touched = f"{where} {_TOUCHED}"
    con.execute(
        "INSERT INTO journey_steps" + _STEPS_SELECT.format(where=touched), params
    ).fetchall()
    paths = _RANGE_PATHS_SQL.format(paths="journey_paths", steps="journey_steps", where=touched)
    con.execute(paths, params).fetchall()


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])
