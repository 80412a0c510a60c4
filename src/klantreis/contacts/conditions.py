"""The journey conditions and orders the root causes read, kept per journey x local day in the
store's DuckDB and refreshed per ingest batch: a refresh recomputes only the rows of the
journeys the batch touched, so its time follows the batch.

Why: :func:`klantreis.contacts.rootcause.condition_times` and
:func:`klantreis.contacts.metrics.orders_frame` read ~6M events and 1M orders from a 10M-event
log on every view of ``/contacts``. The page's numbers count a condition only when its event
lies inside the period (local days), so a table per journey would not do; per journey x
condition x local day is enough: the first occurrence in a window of days is the first row of
the window, and each row knows the day of the row before it (``prev_day``), so "first in the
window" is a filter, not a grouping. The portable functions stay the reference: a property
test checks the page's numbers from these tables equal theirs after random appends.

Ties: the first event is the first in the store's order (``occurred_at``, then
``source_order``, then ``event_id``), as in the journey index; the reference uses the same.

Tables (derived, safe to drop):

- ``dk_kinds``: per journey x kind x local day, for the kinds that are conditions (not
  :data:`~klantreis.contacts.rootcause.EXCLUDED_KINDS`) and the journey start kind: the
  first event's time, owner and customer, and ``prev_day`` (the journey's previous day with
  that kind, or null). Orders, kind conditions and fulfilments are read from it;
- ``dk_promised``: per journey x promise x local day: the first promised event's time, owner
  and due time (its deadline attribute, else its time, plus the grace), and ``prev_day``;
- ``dk_csat``: per CSAT answer about the service (:data:`~klantreis.contacts.metrics.SERVICE_TOUCHPOINT`):
  its local day, ``attrs.contact_id``, the channel it falls back to (``attrs.channel_asked``,
  else its own) and its score; the service table's CSAT is a join of the window's answers with
  the window's contacts (:func:`~klantreis.contacts.metrics.csat_channels`). Answers are
  added as they arrive (an answer is an event: it never changes);
- ``dk_options``: the filter choices of the page: the channels of inbound contacts and the
  ``attrs.segment`` values of the start events (distinct, added as they arrive);
- ``dk_state``: events seen, ``ingested_at`` watermark, layout, configuration fingerprint
  and a version counter bumped whenever a refresh changed rows.

A full build runs one journey-key range at a time (about ``range_events`` events, the
``index_range_events`` setting) under DuckDB's memory limit ``memory_mb`` (``index_memory_mb``),
as the derived views do: a journey is never split, so each range's rows are those of a
one-shot build, and no statement holds more than one range (the one-shot build peaked at
17.6 GB at 100M events). Each range is committed; the state is marked unfinished first and
saved last, so a build that stops half-way is rebuilt by the next read.

An incremental refresh reads the kept rows once: one scan copies the touched journeys' old
rows and those of the journeys with a row on the days the default window is about to move
by. It leaves a hand-over (:data:`~klantreis.contacts.cause_totals.HAND_TABLES`, temporary
tables of the writing connection, valid while ``dk_state`` is the one it saved): the rows of
all those journeys as saved. The window shift and the contacts' held counts read the rows of
the journeys it holds from it (:func:`~klantreis.contacts.cause_totals.journey_rows`) and
only the others from the 6.4M kept kinds (three scans of them after a 100,000-event batch at
10M events were one).

The root causes' counts of the default window (:data:`~klantreis.analytics.scope.DEFAULT_PERIOD`
ending on the newest event's local day: what ``/contacts`` shows first) are counted while the
tables are built (per key range) and after a refresh moved that window, so the page's first
view finds them kept (:mod:`klantreis.contacts.cause_totals`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Hashable
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from klantreis.analytics.derived_views import _commit, _inline
from klantreis.analytics.journey_index import DEFAULT_RANGE_EVENTS, _key_ranges
from klantreis.analytics.scope import DEFAULT_PERIOD, Scope
from klantreis.analytics.touched_events import done as touched_done
from klantreis.analytics.touched_events import touched_events
from klantreis.contacts.cause_totals import (
    CauseTotals,
    WindowTotals,
    drop_hand,
    hand_days,
)
from klantreis.contacts.kept_breaks import KeptBreaks, supports_breaks
from klantreis.contacts.metrics import SERVICE_TOUCHPOINT
from klantreis.contacts.rootcause import EXCLUDED_KINDS
from klantreis.contacts.window_sql import (
    Window,
    days_in_window,
    first_in_window,
    window_condition_rows_sql,
    window_conditions_sql,
)
from klantreis.model.journey import JourneyConfig
from klantreis.store import EventStore
from klantreis.store.memory import memory_limit

__all__ = [
    "ConditionRefresh",
    "ConditionViews",
    "Window",
    "first_in_window",
    "window_condition_rows_sql",
    "window_conditions_sql",
]

log = logging.getLogger(__name__)

#: Bump when a table below changes: tables of another layout are rebuilt.
LAYOUT = 3
#: The store's order of events (ties of ``occurred_at``), as in the journey index.
ORDER = "occurred_at, source_order, event_id"

#: The kept tables and their columns (made anew by a full build).
_TABLES = {
    "dk_kinds": "journey_id VARCHAR, kind VARCHAR, day DATE, first_at TIMESTAMPTZ,"
    " owner VARCHAR, customer_id VARCHAR, prev_day DATE",
    "dk_promised": "journey_id VARCHAR, promise_id VARCHAR, day DATE, first_at TIMESTAMPTZ,"
    " owner VARCHAR, due TIMESTAMPTZ, prev_day DATE",
    "dk_csat": "day DATE, contact_id VARCHAR, fallback VARCHAR, score DOUBLE",
    "dk_options": "field VARCHAR, value VARCHAR",
}
_DDL = (
    *(f"CREATE TABLE IF NOT EXISTS {table} ({columns})" for table, columns in _TABLES.items()),
    "CREATE TABLE IF NOT EXISTS dk_state (events BIGINT, watermark TIMESTAMPTZ,"
    " layout INTEGER, config VARCHAR, version BIGINT)",
)

#: The temporary tables of an incremental refresh.
_INCREMENTAL_TEMPS = (
    "_dk_affected",
    "_dk_moved",
    "_dk_scan_k",
    "_dk_scan_p",
    "_dk_old_k",
    "_dk_old_p",
    "_dk_new_k",
    "_dk_new_p",
)

_KINDS_SQL = f"""
SELECT journey_id, kind, day, first_at, owner, customer_id,
       lag(day) OVER (PARTITION BY journey_id, kind ORDER BY day) AS prev_day
FROM (
  SELECT journey_id, kind, CAST(timezone($zone, occurred_at) AS DATE) AS day,
         min(occurred_at) AS first_at,
         first(owner ORDER BY {ORDER}) AS owner,
         first(customer_id ORDER BY {ORDER}) AS customer_id
  FROM {{src}}
  WHERE journey_id IS NOT NULL AND (kind NOT IN (SELECT unnest($excluded)) OR kind = $start)
  GROUP BY ALL)
"""

_PROMISED_SQL = f"""
SELECT journey_id, $promise_id, day, first_at, owner,
       coalesce(deadline, first_at) + to_microseconds($grace_us) AS due,
       lag(day) OVER (PARTITION BY journey_id ORDER BY day) AS prev_day
FROM (
  SELECT journey_id, CAST(timezone($zone, occurred_at) AS DATE) AS day,
         min(occurred_at) AS first_at,
         first(owner ORDER BY {ORDER}) AS owner,
         first(TRY_CAST(try(json_extract_string(attrs, $path)) AS TIMESTAMPTZ)
               ORDER BY {ORDER}) AS deadline
  FROM {{src}}
  WHERE journey_id IS NOT NULL AND kind = $promised
  GROUP BY ALL)
"""


_CSAT_SQL = """
SELECT CAST(timezone($zone, occurred_at) AS DATE) AS day,
       try(json_extract_string(attrs, '$.contact_id')) AS contact_id,
       coalesce(nullif(try(json_extract_string(attrs, '$.channel_asked')), ''), channel),
       score
FROM events
WHERE kind = 'survey.response' AND metric = 'csat' AND touchpoint = $touchpoint {where}
"""

_OPTIONS_SQL = """
SELECT DISTINCT field, value FROM (
  SELECT 'channels' AS field, channel AS value FROM events
  WHERE kind = 'contact.inbound' {where}
  UNION ALL
  SELECT 'segments', try(json_extract_string(attrs, '$.segment')) FROM events
  WHERE kind = $start {where})
WHERE value IS NOT NULL AND value <> ''
"""


def _key_bounds(con: duckdb.DuckDBPyConnection) -> str:
    """The touched journeys' (``_dk_affected``) key range as SQL constants, to add to the
    condition that selects their kept rows: DuckDB then skips the row groups outside it.
    A batch of the newest events touches recent journeys, ~40% of the key range at 10M:
    their rows' read went from 0.55 to 0.30 CPU s (decision 101). Empty: no journey."""
    lo, hi = _rows(con, "SELECT min(journey_id), max(journey_id) FROM _dk_affected")[0]
    if lo is None:
        return ""
    return _inline(" AND journey_id >= ? AND journey_id <= ?", [lo, hi])


def _write_changes(con: duckdb.DuckDBPyConnection, table: str, old: str, new: str) -> int:
    """Bring some journeys' rows in ``table`` from ``old`` (their kept rows, with ``rid``:
    the row id) to ``new`` (their rows now) by writing only what changed: the old rows not
    among the new ones are deleted, the new rows not among the old ones inserted (a batch
    that adds a day to a journey leaves most of its rows as they were: rewriting them all
    cost a delete and an insert of each). Both hold one row per key (journey, kind or
    promise, day), so rows are compared as sets. How many rows were deleted and inserted."""
    columns = [c.split()[0] for c in _TABLES[table].split(",")]
    same = " AND ".join(f"o.{c} IS NOT DISTINCT FROM n.{c}" for c in columns)
    deleted = _count(
        con,
        f"DELETE FROM {table} WHERE rowid IN (SELECT o.rid FROM {old} o"
        f" ANTI JOIN {new} n ON {same})",
    )
    inserted = _count(
        con, f"INSERT INTO {table} SELECT n.* FROM {new} n ANTI JOIN {old} o ON {same}"
    )
    return deleted + inserted


class ConditionRefresh:
    """What a refresh did: ``mode`` current, incremental or full; journeys recomputed."""

    def __init__(self, mode: str, journeys: int = 0) -> None:
        self.mode, self.journeys = mode, journeys

    def __repr__(self) -> str:
        return f"ConditionRefresh({self.mode!r}, journeys={self.journeys})"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or []).fetchall()


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> int:
    return int(_rows(con, sql, params)[0][0])


class ConditionViews:
    """The kept conditions and orders of one store (see the module docstring); a full build
    runs key ranges of about ``range_events`` events under DuckDB's memory limit
    ``memory_mb`` (0: DuckDB's own)."""

    def __init__(
        self,
        store: EventStore,
        journey: JourneyConfig,
        version: Callable[[], Hashable] | None = None,
        memory_mb: int = 0,
        range_events: int = DEFAULT_RANGE_EVENTS,
    ) -> None:
        if range_events < 1:
            raise ValueError(f"range_events must be at least 1, not {range_events}")
        self.store, self.journey = store, journey
        self.memory_mb, self.range_events = memory_mb, range_events
        self.version = version if version is not None else store.version
        self._lock = threading.Lock()
        self._current: tuple[Hashable, int] | None = None
        #: The kept window counts of the root causes (``totals.last``: how the last was had).
        self.totals = CauseTotals(journey)
        #: The kept fulfilments of the kept promises (the weekly breaks).
        self.breaks = KeptBreaks(store, journey, memory_mb)
        #: Did the last refresh bring the weekly breaks up too (:meth:`KeptBreaks.replace`)?
        self._followed = False

    @property
    def zone(self) -> str:
        return self.journey.timezone

    def fingerprint(self) -> str:
        """What the rows depend on besides the events: time zone, start kind, promises."""
        parts = [self.zone, self.journey.journey_start, ",".join(EXCLUDED_KINDS)]
        parts.append(SERVICE_TOUCHPOINT)
        parts += [
            f"{p.id}|{p.promised}|{p.fulfilled_by}|{p.deadline_attr}|{p.grace_minutes}"
            for p in self.journey.promises
        ]
        return hashlib.blake2b("\n".join(parts).encode(), digest_size=8).hexdigest()

    # -- maintenance ---------------------------------------------------------------------
    def ensure(self) -> ConditionRefresh:
        """Refresh when events arrived (else do nothing)."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> ConditionRefresh:
        seen = self.version()
        if self._current is not None and self._current[0] == seen:
            return ConditionRefresh("current")
        self._followed = False
        with self.store.transaction() as con:
            result = self._ensure(con)
            counter = _count(con, "SELECT version FROM dk_state")
        if not self._followed:  # the weekly breaks follow the same batch
            self.breaks.ensure()
        self._current = (seen, counter)
        return result

    def cause_totals(self, window: Window) -> WindowTotals:
        """The root causes' journey counts of ``window`` (refreshed first): kept per window
        and updated by the touched journeys (:mod:`klantreis.contacts.cause_totals`)."""
        with self._lock:
            self._refresh()
            with self.store.transaction() as con:
                events = _count(con, "SELECT events FROM dk_state")
                return self.totals.window(con, window, events)

    def counter(self) -> int:
        """The version counter of the kept rows (refreshed first): page caches key on it."""
        self.ensure()
        with self._lock:
            assert self._current is not None
            return self._current[1]

    def rebuild(self) -> ConditionRefresh:
        """Drop and rebuild the tables (e.g. after a bulk load)."""
        with self._lock:
            self._current = None
            with self.store.transaction() as con:
                self._state(con)
                return self._full(con)

    def _state(self, con: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
        for ddl in _DDL:
            _rows(con, ddl)
        CauseTotals.create(con)
        rows = _rows(con, "SELECT events, watermark, layout, config, version FROM dk_state")
        return rows[0] if rows else None

    def _ensure(self, con: duckdb.DuckDBPyConnection) -> ConditionRefresh:
        state = self._state(con)
        n = _count(con, "SELECT count(*) FROM events")
        if state is None or state[2] != LAYOUT or state[3] != self.fingerprint():
            return self._full(con)
        if int(state[0]) == n:
            return ConditionRefresh("current")
        added = _count(con, "SELECT count(*) FROM events WHERE ingested_at > ?", [state[1]])
        if int(state[0]) + added != n:
            log.warning("kept conditions out of step (%d + %d != %d)", state[0], added, n)
            return self._full(con)
        return self._incremental(con, n, state[1], int(state[0]))

    def _fill(
        self,
        con: duckdb.DuckDBPyConnection,
        src: str,
        kinds: str = "dk_kinds",
        promised: str = "dk_promised",
    ) -> None:
        """Insert the rows of the events in ``src`` (whole journeys) into the tables
        ``kinds`` and ``promised`` (the kept ones, or copies in their layout)."""
        params = {
            "zone": self.zone,
            "excluded": list(EXCLUDED_KINDS),
            "start": self.journey.journey_start,
        }
        _rows(con, f"INSERT INTO {kinds} " + _KINDS_SQL.format(src=src), params)
        for p in self.journey.promises:
            _rows(
                con,
                f"INSERT INTO {promised} " + _PROMISED_SQL.format(src=src),
                {
                    "zone": self.zone,
                    "promise_id": p.id,
                    "promised": p.promised,
                    "path": f"$.{p.deadline_attr}",
                    "grace_us": round(p.grace_minutes * 60_000_000),
                },
            )

    def default_window(self, con: duckdb.DuckDBPyConnection) -> Window | None:
        """The local days ``/contacts`` shows by default: :data:`DEFAULT_PERIOD` ending on
        the newest event's local day (None for an empty log)."""
        newest = _rows(con, "SELECT max(occurred_at) FROM events")[0][0]
        if newest is None:
            return None
        day = newest.astimezone(ZoneInfo(self.zone)).date()
        return Scope(period=DEFAULT_PERIOD, as_of=day).days()

    def _full(self, con: duckdb.DuckDBPyConnection) -> ConditionRefresh:
        """Every table built afresh, one journey-key range at a time under ``memory_mb``
        (``con`` is inside the caller's ``store.transaction()``, which holds the store's lock
        throughout: each range is committed and no append runs in between), the default
        window's root causes counted per range; the state marked unfinished first and saved
        last (a build that stops half-way is rebuilt by the next read)."""
        with memory_limit(con, self.memory_mb):
            return self._full_in_ranges(con)

    def _full_in_ranges(self, con: duckdb.DuckDBPyConnection) -> ConditionRefresh:
        drop_hand(con)
        _rows(con, "UPDATE dk_state SET layout = -1")  # unfinished: the next read rebuilds
        for table, columns in _TABLES.items():  # dropped, not deleted: no dead rows to scan
            _rows(con, f"DROP TABLE IF EXISTS {table}")
            _rows(con, f"CREATE TABLE {table} ({columns})")
        CauseTotals.clear(con)
        n = _count(con, "SELECT count(*) FROM events")
        window = self.default_window(con)
        wid = self.totals.begin(con, window, n) if window is not None else None
        ranges = _key_ranges(con, n, self.range_events)
        journeys = 0
        for i, (where, params) in enumerate(ranges, start=1):
            _commit(con)
            journeys += self._build_range(con, _inline(where, params), window, wid)
            log.debug("kept conditions: key range %d of %d built", i, len(ranges))
        _commit(con)
        self._answers(con, "")
        self._save(con, n, None, bump=True)
        log.info("kept conditions rebuilt: %d events, %d key ranges", n, len(ranges))
        return ConditionRefresh("full", journeys)

    def _build_range(
        self, con: duckdb.DuckDBPyConnection, where: str, window: Window | None, wid: int | None
    ) -> int:
        """The rows of the journeys that ``where`` (constants, so the scans skip the row
        groups outside the range) selects, and their share of the default window ``wid``;
        how many journeys have kept rows."""
        self._fill(con, f"(SELECT * FROM events WHERE journey_id IS NOT NULL{where})")
        kinds, promised = (
            f"(SELECT * FROM {table} WHERE journey_id IS NOT NULL{where})"
            for table in ("dk_kinds", "dk_promised")
        )
        if window is not None and wid is not None:
            self.totals.add(con, wid, window, kinds, promised)
        return _count(con, f"SELECT count(DISTINCT journey_id) FROM {kinds}")

    def _incremental(
        self, con: duckdb.DuckDBPyConnection, n: int, watermark: Any, before: int
    ) -> ConditionRefresh:
        affected = "journey_id IN (SELECT journey_id FROM _dk_affected)"
        version = _count(con, "SELECT version FROM dk_state")
        followed = changed = False
        drop_hand(con)
        window = self.default_window(con)
        # the touched journeys' events: the copy the journey index's and the derived views'
        # refreshes of the same batch read (or made here for them)
        src, ids, _ = touched_events(con, watermark, "conditions")
        try:
            _rows(con, f"CREATE OR REPLACE TEMP TABLE _dk_affected AS FROM {ids}")
            journeys = _count(con, "SELECT count(*) FROM _dk_affected")
            if journeys:
                moving = self.totals.moving(con, window, before) if window else None
                changed = self._replace(con, affected + _key_bounds(con), src, moving)
                # the weekly breaks follow from the new rows at hand (not a second read)
                followed = self.breaks.replace(
                    con, version, "SELECT journey_id FROM _dk_affected", "_dk_new_p", "_dk_new_k"
                )
                self._hand(con, None if moving is None else moving[1])
        finally:
            for temp in _INCREMENTAL_TEMPS:
                _rows(con, f"DROP TABLE IF EXISTS {temp}")
            touched_done(con)
        answers = self._answers(con, "AND ingested_at > $watermark", watermark)
        # the counter moves when rows changed, and only then: pages key on it (a batch of
        # events that leave the touched journeys' conditions as they were keeps /contacts)
        self._save(con, n, None, bump=changed or answers > 0)
        if journeys:  # the hand-over is that of the saved state
            _rows(
                con,
                "CREATE OR REPLACE TEMP TABLE _dk_hand_state AS"
                " SELECT version, events, watermark FROM dk_state",
            )
        if followed:
            self.breaks.mark(con)
            self._followed = True
        self.totals.mark(con, before, n)
        if window is not None:  # kept, else shifted or counted now, not on the page's view
            self.totals.window(con, window, n)
        return ConditionRefresh("incremental", journeys)

    def _replace(
        self,
        con: duckdb.DuckDBPyConnection,
        affected: str,
        src: str,
        moving: tuple[str, dict[str, Any]] | None = None,
    ) -> bool:
        """Replace the rows of the ``affected`` journeys by those of their events in
        ``src`` (a table of them); the kept window counts lose the old rows' share and gain the new ones'
        (each read once: the old rows are copied, the new ones computed into a copy first;
        only the rows that changed are written, :func:`_write_changes`). The same scan copies the rows of the journeys with a
        row on the days ``moving`` (those a shift of the default window will read:
        ``_dk_scan_k`` / ``_dk_scan_p`` hold both, the affected ones ``_dk_old_k`` /
        ``_dk_old_p``). True when a row was written (the new rows differ from the old ones)."""
        scan = affected
        if moving is not None:
            days, params = moving
            _rows(
                con,
                "CREATE OR REPLACE TEMP TABLE _dk_moved AS SELECT journey_id FROM dk_kinds"
                f" WHERE {days} UNION SELECT journey_id FROM dk_promised WHERE {days}",
                params,
            )
            scan = (
                "journey_id IN (SELECT journey_id FROM _dk_affected"
                " UNION SELECT journey_id FROM _dk_moved)"
            )
        for table, copy, old, new in (
            ("dk_kinds", "_dk_scan_k", "_dk_old_k", "_dk_new_k"),
            ("dk_promised", "_dk_scan_p", "_dk_old_p", "_dk_new_p"),
        ):
            _rows(
                con,
                f"CREATE OR REPLACE TEMP TABLE {copy if moving else old} AS SELECT rowid AS rid,"
                f" * FROM {table} WHERE {scan}",
            )
            if moving is not None:
                _rows(con, f"CREATE OR REPLACE TEMP TABLE {old} AS FROM {copy} WHERE {affected}")
            _rows(con, f"CREATE OR REPLACE TEMP TABLE {new} AS FROM {table} LIMIT 0")
        self._fill(con, src, "_dk_new_k", "_dk_new_p")
        self.totals.replaced(con, ("_dk_old_k", "_dk_old_p"), ("_dk_new_k", "_dk_new_p"))
        written = 0
        for table, old, new in (
            ("dk_kinds", "_dk_old_k", "_dk_new_k"),
            ("dk_promised", "_dk_old_p", "_dk_new_p"),
        ):
            written += _write_changes(con, table, old, new)
        return written > 0

    @staticmethod
    def _hand(con: duckdb.DuckDBPyConnection, days: dict[str, Any] | None) -> None:
        """The hand-over (:data:`~.cause_totals.HAND_TABLES`) of the journeys the refresh
        read: the affected ones' new rows, and (``days``: the bounds of the moved days,
        :func:`~.window_sql.moved_days`) the others' kept rows on the moved days, with
        those bounds; its state row is written once the state is saved."""
        moved = days is not None
        hand_days(con, days)
        _rows(
            con,
            "CREATE OR REPLACE TEMP TABLE _dk_hand_j AS SELECT journey_id FROM _dk_affected"
            + (" UNION SELECT journey_id FROM _dk_moved" if moved else ""),
        )
        for hand, new, copy in (
            ("_dk_hand_k", "_dk_new_k", "_dk_scan_k"),
            ("_dk_hand_p", "_dk_new_p", "_dk_scan_p"),
        ):
            rest = (
                f" UNION ALL SELECT * EXCLUDE (rid) FROM {copy} WHERE journey_id NOT IN"
                " (SELECT journey_id FROM _dk_affected)"
                if moved
                else ""
            )
            _rows(con, f"CREATE OR REPLACE TEMP TABLE {hand} AS FROM {new}{rest}")

    def _answers(self, con: duckdb.DuckDBPyConnection, where: str, watermark: Any = None) -> int:
        """Add the CSAT answers and new filter choices of the events (those after
        ``watermark``): how many rows."""
        params = {"zone": self.zone, "touchpoint": SERVICE_TOUCHPOINT}
        options: dict[str, Any] = {"start": self.journey.journey_start}
        if watermark is not None:
            params["watermark"] = options["watermark"] = watermark
        added = int(
            _rows(con, "INSERT INTO dk_csat " + _CSAT_SQL.format(where=where), params)[0][0]
        )
        added += int(
            _rows(
                con,
                "INSERT INTO dk_options SELECT * FROM (" + _OPTIONS_SQL.format(where=where) + ")"
                " EXCEPT SELECT field, value FROM dk_options",
                options,
            )[0][0]
        )
        return added

    def _save(self, con: duckdb.DuckDBPyConnection, n: int, _: Any, bump: bool) -> None:
        old = _rows(con, "SELECT version FROM dk_state")
        version = (int(old[0][0]) if old else 0) + (1 if bump else 0)
        _rows(con, "DELETE FROM dk_state")
        _rows(
            con,
            "INSERT INTO dk_state SELECT ?, coalesce(max(ingested_at),"
            " TIMESTAMPTZ '1970-01-01 00:00:00+00'), ?, ?, ? FROM events",
            [n, LAYOUT, self.fingerprint(), version],
        )

    # -- reads ---------------------------------------------------------------------------
    def orders(self, window: Window) -> pd.DataFrame:
        """One row per journey with a start event in ``window`` (its first one there):
        ``orders_frame`` of the window's events, oldest first."""
        self.ensure()
        where, params = first_in_window(window, {"start": self.journey.journey_start})
        sql = (
            "SELECT journey_id, customer_id, first_at AS occurred_at FROM dk_kinds"
            f" WHERE kind = $start AND {where} ORDER BY occurred_at, journey_id"
        )
        cur = self.store.cursor()
        try:
            df = cur.sql(sql, params=params).to_arrow_table().to_pandas()
        finally:
            cur.close()
        df["occurred_at"] = pd.to_datetime(df["occurred_at"], utc=True)
        for col in ("journey_id", "customer_id"):
            df[col] = df[col].astype(object)
        return df

    def conditions(self, window: Window) -> pd.DataFrame:
        """``condition_times`` of the events in ``window``: journey_id, condition, at, owner."""
        self.ensure()
        sql, params = window_conditions_sql(self.journey, window)
        cur = self.store.cursor()
        try:
            df = cur.sql(sql, params=params).to_arrow_table().to_pandas()
        finally:
            cur.close()
        df["at"] = pd.to_datetime(df["at"], utc=True)
        for col in ("journey_id", "condition", "owner"):
            df[col] = df[col].astype(object)
        return df

    def answers(self, window: Window) -> pd.DataFrame:
        """The CSAT answers about the service in ``window``: contact_id, fallback, score
        (what :func:`~klantreis.contacts.metrics.csat_channels` reads)."""
        self.ensure()
        where, params = days_in_window(window)
        cur = self.store.cursor()
        try:
            rel = cur.sql(
                f"SELECT contact_id, fallback, score FROM dk_csat WHERE {where}",
                params=params or None,
            )
            df: pd.DataFrame = rel.to_arrow_table().to_pandas()
        finally:
            cur.close()
        for col in ("contact_id", "fallback"):
            df[col] = df[col].astype(object).where(df[col].notna(), None)
        return df

    def options(self) -> dict[str, list[str]]:
        """The channels of inbound contacts and the segments of the start events, sorted."""
        self.ensure()
        cur = self.store.cursor()
        try:
            rows = cur.execute("SELECT field, value FROM dk_options").fetchall()
        finally:
            cur.close()
        return {f: sorted(str(v) for k, v in rows if k == f) for f in ("channels", "segments")}

    def supports_breaks(self) -> bool:
        """Can :meth:`weekly_breaks` answer (:func:`~.kept_breaks.supports_breaks`)?"""
        return supports_breaks(self.journey)

    def weekly_breaks(self, window: Window, now: Any) -> pd.DataFrame:
        """Broken promises of the window's events per local week of their deadline:
        ``promise_outcomes_expr`` (status broken: fulfilled after the deadline plus grace,
        or not fulfilled while ``now`` is past it) counted by week and promise, from the
        kept fulfilments of the kept promises (:mod:`klantreis.contacts.kept_breaks`)."""
        self.ensure()
        return self.breaks.weekly(window, now)
