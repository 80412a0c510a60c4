"""The events of the journeys a batch touched, read from the log once for every refresh of
the kept tables that needs them.

Why: after an ingest, the journey index (:mod:`klantreis.analytics.journey_index`) and the
derived views (:mod:`klantreis.analytics.derived_views`) each recompute the touched
journeys from all their events, and each read those events from the log (a scan of the
touched key range, a semi-join on the touched ids and, for the views, a copy of every
column: 0.1-0.5 s of a 100,000-event refresh on 10M events). Both refreshes run on the
store's one writing connection, so the first copies the events into a temporary table
(only the columns the refreshes read) and the second finds it there.

The copy reads in two passes (:func:`rows_of`): the journey key alone finds the row ids of
the touched journeys' events, then only those rows are read. A semi-join on the key read and
decompressed every column of every event in the touched range first (0.85-0.98 CPU s for the
25,000 journeys of the bench's 100,000-event batch over 10M events; two passes 0.52-0.54).

The kept conditions of ``/contacts`` (:mod:`klantreis.contacts.conditions`) read the same
copy: after the bench's 100,000-event batch their own semi-join on the log cost 0.70-0.74
CPU s of the fresh ``/contacts``.

The table is keyed by what identifies the touched set: the refresh's watermark (events
ingested after it touched the journeys), the newest ``ingested_at`` and the number of
events. A refresh with another key reads afresh; the copy is dropped when every consumer
named in :data:`CONSUMERS` whose kept tables are in the store (its state table exists)
has used it, when it is large (:data:`KEEP_MAX_ROWS`: a big batch is not held in memory
between two refreshes), or by the next read with another key.

The out-of-step checks of the journey index and the derived views compare their rows with
the number of events that have a journey (a scan of the log's ``journey_id``, 0.05-0.07 CPU
s on 10M events): :func:`journey_events` counts it once per copy (decision 83).
"""

from __future__ import annotations

from typing import Any

import duckdb

__all__ = [
    "COLUMNS",
    "CONSUMERS",
    "IDS",
    "KEEP_MAX_ROWS",
    "TABLE",
    "done",
    "drop",
    "journey_events",
    "rows_of",
    "touched_events",
]

#: The temporary table that holds the touched journeys' events.
TABLE = "_kr_touched_events"
#: The touched journey ids (one row each), beside :data:`TABLE`.
IDS = "_kr_touched_ids"
_MARK = "_kr_touched_mark"
#: What the refreshes read of an event (not its text, language or source). The ingest time
#: tells the batch's events from the kept ones (the journey index replaces steps from the
#: first new event on, the derived views keep hand-overs a batch cannot move: decisions
#: 97-98); one time per batch, so it is stored in a few runs and cheap to read.
COLUMNS = (
    "event_id, occurred_at, customer_id, journey_id, kind, touchpoint, channel, owner,"
    " metric, score, attrs, source_order, ingested_at"
)
#: The refreshes that read the table, each with the state table of what it keeps: the copy
#: is dropped once every one of them whose state table is in the store used it (a store
#: without kept conditions does not hold it for them).
CONSUMERS = {"index": "journey_index_state", "views": "dv_state", "conditions": "dk_state"}
#: A copy of more events than this is dropped after its first use.
KEEP_MAX_ROWS = 2_000_000


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or []).fetchall()


def rows_of(table: str, columns: str, ids: str) -> str:
    """A query of ``columns`` of the rows of ``table`` (a table, not a view: its row ids are
    read) whose ``journey_id`` is in the table ``ids``; two parameters: the ids' range
    ``[min, max]``. Two passes: a scan of the key column alone (the range as constants skips
    the row groups outside it) yields the row ids, then DuckDB reads only those rows (the row
    ids are pushed into the scan as a filter: row groups without one are skipped, and the
    other columns are read for the matching rows only, not materialised for every row of
    the range before a semi-join)."""
    return (
        f"SELECT {columns} FROM {table} WHERE rowid IN (SELECT rowid FROM {table}"
        f" WHERE journey_id BETWEEN ? AND ? AND journey_id IN (SELECT journey_id FROM {ids}))"
    )


def _stored(con: duckdb.DuckDBPyConnection) -> str:
    """The table behind ``events`` (the DuckDB store's ``event_log``; ``events`` itself where
    it is a table)."""
    tables = {
        r[0]
        for r in _rows(
            con,
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
            " AND schema_name = current_schema() AND table_name IN ('events', 'event_log')",
        )
    }
    return "events" if "events" in tables or "event_log" not in tables else "event_log"


def touched_events(
    con: duckdb.DuckDBPyConnection, watermark: object, consumer: str
) -> tuple[str, str, list[Any]]:
    """The touched journeys' events (table name), their ids (table name) and the ids' range
    ``[min, max]`` (both None when no journey was touched), for ``consumer``: read from the
    log unless the copy of another consumer's refresh has the same key. Call inside the
    refresh's transaction; call :func:`done` after the last read."""
    key = _rows(
        con,
        "SELECT ?::TIMESTAMPTZ, max(ingested_at), count(*) FROM events",
        [watermark],
    )[0]
    mark = _mark(con)
    if mark is not None and tuple(mark[:3]) == tuple(key) and consumer not in mark[5]:
        _rows(con, f"UPDATE {_MARK} SET used = list_append(used, ?)", [consumer])
        return TABLE, IDS, [mark[3], mark[4]]
    drop(con)
    _rows(
        con,
        f"CREATE TEMP TABLE {IDS} AS SELECT DISTINCT journey_id FROM events"
        " WHERE journey_id IS NOT NULL AND ingested_at > ?",
        [watermark],
    )
    bounds = list(_rows(con, f"SELECT min(journey_id), max(journey_id) FROM {IDS}")[0])
    # the range as constants: the key scan skips the row groups outside it (the log is
    # stored roughly by journey); the other columns are read for the touched rows only
    _rows(con, f"CREATE TEMP TABLE {TABLE} AS {rows_of(_stored(con), COLUMNS, IDS)}", bounds)
    _rows(
        con,
        f"CREATE TEMP TABLE {_MARK} AS SELECT ?::TIMESTAMPTZ AS watermark,"
        " ?::TIMESTAMPTZ AS newest, ?::BIGINT AS events, ?::VARCHAR AS lo, ?::VARCHAR AS hi,"
        " [?]::VARCHAR[] AS used, NULL::BIGINT AS journey_events",
        [*key, *bounds, consumer],
    )
    return TABLE, IDS, bounds


def journey_events(con: duckdb.DuckDBPyConnection) -> int:
    """The number of events with a journey (what the journey index's and the derived views'
    checks compare their rows with): counted once per copy and kept beside it, so the
    refreshes of one batch scan the log's ``journey_id`` once, not once each. Call while
    the copy is held (before :func:`done`); without one it is counted."""
    mark = _mark(con)
    if mark is not None and mark[6] is not None:
        return int(mark[6])
    n = int(_rows(con, "SELECT count(journey_id) FROM events")[0][0])
    if mark is not None:
        _rows(con, f"UPDATE {_MARK} SET journey_events = ?", [n])
    return n


def _mark(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    exists = _rows(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?",
        [_MARK],
    )[0][0]
    if not exists:
        return None
    rows = _rows(
        con,
        f"SELECT watermark, newest, events, lo, hi, used, journey_events FROM {_MARK}",
    )
    return rows[0] if rows else None


def done(con: duckdb.DuckDBPyConnection) -> None:
    """After a consumer's last read: drop the copy when every consumer with kept tables in
    the store used it, or when it is large."""
    mark = _mark(con)
    if mark is None:
        return
    kept = {
        r[0]
        for r in _rows(
            con,
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
            " AND schema_name = current_schema() AND list_contains(?, table_name)",
            [list(CONSUMERS.values())],
        )
    }
    waiting = {consumer for consumer, state in CONSUMERS.items() if state in kept}
    if waiting <= set(mark[5]) or _count(con) > KEEP_MAX_ROWS:
        drop(con)


def _count(con: duckdb.DuckDBPyConnection) -> int:
    return int(_rows(con, f"SELECT count(*) FROM {TABLE}")[0][0])


def drop(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the copy (if any)."""
    for table in (TABLE, IDS, _MARK):
        _rows(con, f"DROP TABLE IF EXISTS temp.{table}")
