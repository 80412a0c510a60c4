"""A journey index in the store's DuckDB: every event with its successor, and every
journey's path, kept up to date incrementally.

Why DuckDB SQL and not Ibis: the directly-follows graph needs each journey's events in order;
in a plain query that is a sort of the whole log on every request (3-11 s for 10M events on 2
cores). The index pays the sort once and then only for the journeys that received new events,
after which the graph is one parallel aggregation (about 0.5 s for 10M events). Ibis cannot
create or incrementally maintain tables across engines, so this part is DuckDB-only; the Ibis
functions in :mod:`klantreis.analytics.discovery` remain the portable reference and the tests
check both give the same answers.

Tables (all derived, safe to drop): ``journey_steps`` (journey_id, seq, kind, touchpoint,
next_kind, next_touchpoint, wait_s), ``journey_paths`` (journey_id, kind_path,
touchpoint_path as strings of one character per step, first/last kind and touchpoint),
both with the activities as integer codes, ``journey_codes`` (per activity the list of names a code is a position in;
readers group by code and name the few groups), ``journey_dfg`` (the graph of all journeys
as a wait histogram per edge: activity, source, target, bucket, steps, summed waits; filled on
first use, then merged per refresh) and ``journey_index_state`` (events, watermark, version).
Freshness is keyed by the event count: the index refreshes lazily when the count changed,
recomputing only journeys with events ingested after the watermark (``ingested_at``); a final
count check falls back to a full rebuild if anything does not add up.

A full build goes by journey-key ranges; a range whose events the log stores journey by
journey is read in that order without the window's sort (``_RANGE_STORED_SQL``, the range
cut in parts read side by side, one per DuckDB thread), any other by the window.

The kept graph is mergeable: a refresh takes away the old steps of the touched journeys and
adds their new ones (time proportional to the batch; before, every refresh dropped the graph
and the next view recomputed exact quantiles over every step, 1-4.7 s on 10M events). Counts
and means are exact; median and p90 are read from logarithmic wait buckets (the hand-overs'
histogram, :data:`~klantreis.analytics.derived_totals.ALPHA`): within 1% (relative) of the
exact ``quantile_cont``. A selection of journeys (a scope) still gets exact quantiles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count, pairwise
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from klantreis.analytics.derived_totals import BUCKET_SQL
from klantreis.analytics.discovery_tables import (
    ACTIVITIES,
    VARIANT_SEP,
    Discovery,
    sort_edges,
)
from klantreis.analytics.kept_graph import EDGES_SQL as _EDGES_SQL
from klantreis.analytics.kept_graph import ENDS_SQL
from klantreis.analytics.kept_graph import INDEX_VERSION as INDEX_VERSION
from klantreis.analytics.kept_graph import NAMES_SQL as _NAMES
from klantreis.analytics.touched_events import done as touched_done
from klantreis.analytics.touched_events import journey_events as touched_journey_events
from klantreis.analytics.touched_events import touched_events
from klantreis.store import EventStore
from klantreis.store.memory import memory_limit as _memory_limit

if TYPE_CHECKING:  # Ibis is imported only when a selection of journeys is asked for
    import ibis.expr.types as ir

__all__ = ["JourneyIndex", "JourneySql", "RefreshResult", "add_codes", "open_index"]

log = logging.getLogger(__name__)
#: The stamps of every journey index of this process (:meth:`JourneyIndex.stamp`): a new
#: object or a change takes the next, so no two states of any index share one.
_STAMPS = count(1)

#: Separator inside stored paths (the ASCII unit separator; never in kinds or touchpoint ids).
PATH_SEP = VARIANT_SEP

_TABLES = (
    "journey_steps",
    "journey_paths",
    "journey_dfg",
    "journey_codes",
    "journey_index_state",
)
#: Steps and paths hold activities (kinds, touchpoints) as codes: a code is the name's
#: position in ``journey_codes.names`` of its activity (names are only ever appended, so a
#: code never changes meaning; NULL stays NULL). Writing four string columns per event was
#: most of the steps' insert, and lists of strings most of the paths' (issue 17).
_STEPS_COLUMNS = (
    "(journey_id VARCHAR, seq BIGINT, kind INTEGER, touchpoint INTEGER, next_kind INTEGER,"
    " next_touchpoint INTEGER, wait_s DOUBLE)"
)
_PATHS_COLUMNS = (
    "(journey_id VARCHAR, kind_path VARCHAR, touchpoint_path VARCHAR, first_kind INTEGER,"
    " last_kind INTEGER, first_touchpoint INTEGER, last_touchpoint INTEGER)"
)
_DDL = (
    "CREATE TABLE IF NOT EXISTS journey_codes (activity VARCHAR, names VARCHAR[])",
    f"CREATE TABLE IF NOT EXISTS journey_steps {_STEPS_COLUMNS}",
    f"CREATE TABLE IF NOT EXISTS journey_paths {_PATHS_COLUMNS}",
    "CREATE TABLE IF NOT EXISTS journey_dfg (activity VARCHAR, source VARCHAR, target VARCHAR,"
    " bucket INTEGER, n BIGINT, wait_s DOUBLE)",
    "CREATE TABLE IF NOT EXISTS journey_index_state (events BIGINT, watermark TIMESTAMPTZ,"
    " version INTEGER)",
)
#: A full build fills these, one committed key range at a time, then puts them in place of
#: ``journey_steps`` and ``journey_paths`` in one transaction (readers never see half).
_BUILD_TABLES = {
    "journey_steps": ("journey_steps_build", _STEPS_COLUMNS),
    "journey_paths": ("journey_paths_build", _PATHS_COLUMNS),
}

#: The order of events inside a journey (``klantreis.analytics.journeys.order_keys``).
_ORDER = "occurred_at, source_order, event_id"

_UNCODED = "journey index: an activity without a code"


def _code(a: str) -> str:
    """The code of the column ``a`` (evaluated per dictionary entry of a compressed scan)."""
    return (
        f"CASE WHEN {a} IS NULL THEN NULL ELSE coalesce(list_position({_NAMES.format(a=a)}, {a}),"
        f" error('{_UNCODED}')::INTEGER) END AS {a}"
    )


def _coded(src: str, extra: str = "") -> str:
    """The event columns the index reads from ``src`` (and ``extra``), activities as codes."""
    return (
        f"(SELECT journey_id, occurred_at, source_order, event_id, {_code('kind')},"
        f" {_code('touchpoint')}{extra} FROM {src})"
    )


def _path_key(codes: str) -> str:
    """A path of codes as a string, one character per step (``chr(code + 32)``, a NULL
    activity ``' '``): grouping by a string is about four times cheaper than by a list."""
    return f"array_to_string(list_transform({codes}, lambda c: chr(coalesce(c, 0) + 32)), '')"


def _path_names(key: str, names: str) -> str:
    """The names of a path key's steps (``'(none)'`` for a NULL activity), as a list."""
    return (
        f"list_transform(string_split({key}, ''), lambda ch: coalesce({names}[unicode(ch) - 32],"
        " '(none)'))"
    )


#: Steps and paths with the activities' names (NULL in a path: ``'(none)'``), as the index
#: held them before codes: what the tests compare with the references.
NAMED_STEPS_SQL = f"""
SELECT journey_id, seq, k[kind] AS kind, t[touchpoint] AS touchpoint, k[next_kind] AS next_kind,
       t[next_touchpoint] AS next_touchpoint, wait_s
FROM journey_steps, (SELECT {_NAMES.format(a="kind")} AS k, {_NAMES.format(a="touchpoint")} AS t)
"""
NAMED_PATHS_SQL = f"""
SELECT journey_id,
       array_to_string({_path_names("kind_path", "k")}, chr(31)),
       array_to_string({_path_names("touchpoint_path", "t")}, chr(31)),
       k[first_kind], k[last_kind], t[first_touchpoint], t[last_touchpoint]
FROM journey_paths, (SELECT {_NAMES.format(a="kind")} AS k, {_NAMES.format(a="touchpoint")} AS t)
"""

#: The steps of the journeys in ``{src}`` (the event log, or a copy of some journeys' events).
_STEPS_SELECT_FROM = f"""
SELECT journey_id, row_number() OVER w - 1, kind, touchpoint,
       lead(kind) OVER w, lead(touchpoint) OVER w,
       (epoch_us(lead(occurred_at) OVER w) - epoch_us(occurred_at)) / 1e6
FROM {_coded("{src}")} WHERE journey_id IS NOT NULL {{where}}
WINDOW w AS (PARTITION BY journey_id ORDER BY {_ORDER})
"""
_STEPS_SELECT = _STEPS_SELECT_FROM.replace("{src}", "events")
_STEPS_SQL = "INSERT INTO journey_steps" + _STEPS_SELECT
#: ``wait_s`` from epoch microseconds: the same numbers as ``date_diff('microsecond', ...)``
#: (time zones and summer time included; tests/journeys/test_index_ranges.py), about ten
#: times cheaper on TIMESTAMPTZ, where ``date_diff`` goes through ICU's calendar (a fifth
#: of a build's CPU time).

#: The paths of the journeys straight from the events (an ordered ``string_agg``): the
#: reference the tests compare the paths made from the steps (``_RANGE_PATHS_SQL``) with.
_PATHS_SQL = f"""
INSERT INTO journey_paths
SELECT journey_id,
       string_agg(coalesce(kind, '(none)'), chr(31) ORDER BY {_ORDER}),
       string_agg(coalesce(touchpoint, '(none)'), chr(31) ORDER BY {_ORDER}),
       first(kind ORDER BY {_ORDER}), last(kind ORDER BY {_ORDER}),
       first(touchpoint ORDER BY {_ORDER}), last(touchpoint ORDER BY {_ORDER})
FROM events WHERE journey_id IS NOT NULL {{where}}
GROUP BY journey_id
"""

#: A full build's steps of one key range, ordered by the fixed-width keys only
#: (``occurred_at, source_order``): the ``event_id`` string as a third sort key was about a
#: third of the window's time. Where two neighbours tie on both keys (only there does the
#: event id decide) the step gets ``seq`` -1, and the build redoes those journeys with the
#: full order (``_RANGE_TIES_SQL``), so the table ends equal to ``_STEPS_SELECT``'s.
_RANGE_STEPS_SQL = f"""
INSERT INTO journey_steps_build
SELECT journey_id,
       CASE WHEN lead(occurred_at) OVER w = occurred_at
             AND lead(source_order) OVER w IS NOT DISTINCT FROM source_order
            THEN -1 ELSE row_number() OVER w - 1 END,
       kind, touchpoint, lead(kind) OVER w, lead(touchpoint) OVER w,
       (epoch_us(lead(occurred_at) OVER w) - epoch_us(occurred_at)) / 1e6
FROM {_coded("events")} WHERE journey_id IS NOT NULL{{where}}
WINDOW w AS (PARTITION BY journey_id ORDER BY occurred_at, source_order)
"""

#: The journeys of one range with a tie, found by their ``seq`` -1 (a scan that skips the
#: other ranges' row groups and, by its statistics, most of this one's).
_RANGE_TIES_SQL = """
CREATE OR REPLACE TEMP TABLE _journey_index_ties AS
SELECT DISTINCT journey_id FROM journey_steps_build WHERE seq < 0{where}
"""
_TIES = "AND journey_id IN (SELECT journey_id FROM _journey_index_ties)"

#: A full build's steps of one key range in the order the log stores its events, with no
#: sort at all: ``lead``/``lag`` and ``row_number`` over the scan (DuckDB's streaming window)
#: and each journey's ``seq`` as the row's position minus that of the journey's first row.
#: That is the window's answer only when the range's events come journey after journey
#: (ids ascending), each journey's in its (``occurred_at``, ``source_order``) order, as a
#: bulk load of a file written journey by journey stores them: a pair of neighbours out of
#: that order stops the statement with :data:`_UNORDERED` (the range is then built by the
#: window, ``_RANGE_STEPS_SQL``). Neighbours that tie on both keys get ``seq`` -1, as there.
#: The window's sort was about half of a build's CPU time (issue 17).
_UNORDERED = "journey index: events not stored in journey order"
_RANGE_STORED_SQL = f"""
SELECT journey_id,
       CASE WHEN bad THEN error('{_UNORDERED}')::BIGINT WHEN tie THEN -1
            ELSE p - max(CASE WHEN start THEN p END)
                     OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) END,
       kind, touchpoint, CASE WHEN same THEN nk END, CASE WHEN same THEN nt END,
       CASE WHEN same THEN (nu - u) / 1e6 END
FROM (
  SELECT *, nj = journey_id AS same,
         nj < journey_id OR (nj = journey_id AND (nu < u OR (nu = u AND (ns < s
             OR (s IS NULL AND ns IS NOT NULL))))) AS bad,
         nj = journey_id AND nu = u AND ns IS NOT DISTINCT FROM s AS tie
  FROM (
    SELECT journey_id, kind, touchpoint, epoch_us(occurred_at) AS u, source_order AS s,
           row_number() OVER () AS p, lag(journey_id) OVER () IS DISTINCT FROM journey_id AS start,
           lead(journey_id) OVER () AS nj, lead(kind) OVER () AS nk, lead(touchpoint) OVER () AS nt,
           lead(epoch_us(occurred_at)) OVER () AS nu, lead(source_order) OVER () AS ns
    FROM {_coded("events")} WHERE journey_id IS NOT NULL{{where}}))
"""

#: Parts of a key range whose steps are read from the stored order side by side in one
#: statement; None: as many as DuckDB's threads. A part's streaming window runs on one
#: thread, so one range read whole kept one of the two cores idle for ~60% of a build; the
#: parts are the branches of one ``UNION ALL``, which DuckDB runs at once when the insert
#: need not keep their order (``preserve_insertion_order`` off for the build's session).
#: One statement and one transaction per range as before, so the same events per range and
#: the same memory bound (key ranges side by side in their own transactions instead made
#: the store's checkpoint grow by 1.3-1.8 CPU s at 10M: session 8, docs/benchmarks.md).
_STORED_PARTS: int | None = None
#: The fewest events a part is cut to (a smaller range is read whole).
_STORED_MIN_PART = 50_000

#: A key range's paths from its steps (already in ``{steps}``; the range condition skips the
#: other ranges' row groups): each journey's kind and touchpoint codes as lists, by one hash
#: aggregate. The lists mostly come out in ``seq`` order already (checked: ``list(seq)``
#: equals ``range(n)``) and are then kept as they are; otherwise they are put in ``seq``
#: order by ``list_grade_up`` of the small integer list (an ordered aggregate sorts the
#: whole range, a ``list_sort`` of structs compares structs).
_RANGE_PATHS_SQL = """
INSERT INTO {{paths}}
SELECT journey_id, {key_kp}, {key_tp}, kp[1], kp[-1], tp[1], tp[-1]
FROM (SELECT journey_id,
             CASE WHEN o THEN ks ELSE list_transform(list_grade_up(sq), lambda i: ks[i]) END AS kp,
             CASE WHEN o THEN ts ELSE list_transform(list_grade_up(sq), lambda i: ts[i]) END AS tp
      FROM (SELECT journey_id, list(kind) AS ks, list(touchpoint) AS ts, list(seq) AS sq,
                   list(seq) = range(count(*)) AS o
            FROM {{steps}} WHERE journey_id IS NOT NULL{{where}} GROUP BY journey_id))
""".format(key_kp=_path_key("kp"), key_tp=_path_key("tp"))

#: Events per journey-key range of a full build (the ``index_range_events`` setting).
DEFAULT_RANGE_EVENTS = 1_000_000

#: DuckDB's memory limit (MiB) while a full build runs (the ``index_memory_mb`` setting):
#: past it DuckDB evicts cached blocks and spills to its temporary directory, so the
#: process stays near it whatever the store's size; 0 leaves DuckDB's own limit.
DEFAULT_MEMORY_MB = 1024

#: Journey ids sampled to place the range boundaries (per range; at least 10,000 in all).
_SAMPLE_PER_RANGE = 2_000

_DFG_SQL = f"""
SELECT nm[source] AS source, nm[target] AS target, count, mean_s, q[1] AS median_s,
       q[2] AS p90_s FROM (
  SELECT {{a}} AS source, next_{{a}} AS target, count(*) AS count, avg(wait_s) AS mean_s,
         quantile_cont(wait_s, [0.5, 0.9]) AS q
  FROM journey_steps WHERE wait_s IS NOT NULL{{where}} GROUP BY ALL), (SELECT {_NAMES} AS nm)
"""

#: One activity's contribution to the kept graph from the steps in ``{steps}``: steps and
#: summed waits per edge x wait bucket (``derived_totals.BUCKET_SQL``; no wait: NULL).
_HIST_SQL = f"""
SELECT '{{a}}' AS activity, nm[c] AS source, nm[nc] AS target, bucket, n, wait_s FROM (
  SELECT {{a}} AS c, next_{{a}} AS nc, {BUCKET_SQL} AS bucket, count(*) AS n,
         sum(wait_s) AS wait_s
  FROM {{steps}} WHERE wait_s IS NOT NULL GROUP BY ALL), (SELECT {_NAMES} AS nm)
"""

#: The kept graph's rows plus (sign 1) or minus (sign -1) each contribution, summed per key;
#: buckets left empty are dropped.
_MERGE_SQL = """
SELECT activity, source, target, bucket, sum(n)::BIGINT AS n, sum(wait_s) AS wait_s
FROM ({parts}) GROUP BY ALL HAVING sum(n) <> 0
"""

_AFFECTED = "AND journey_id IN (SELECT journey_id FROM _journey_index_affected)"

#: An incremental refresh's steps of the touched journeys (``{src}``: their events), every
#: step, with ``fresh`` on the steps of the events ingested after the watermark (``?``).
_TAIL_STEPS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _journey_index_all AS
SELECT journey_id, row_number() OVER w - 1 AS seq, kind, touchpoint,
       lead(kind) OVER w AS next_kind, lead(touchpoint) OVER w AS next_touchpoint,
       (epoch_us(lead(occurred_at) OVER w) - epoch_us(occurred_at)) / 1e6 AS wait_s,
       ingested_at > ? AS fresh
FROM {_coded("{src}", ", ingested_at")} WHERE journey_id IS NOT NULL
WINDOW w AS (PARTITION BY journey_id ORDER BY {_ORDER})
"""
#: Per touched journey the first step that changes: the one before its first new event (a
#: new journey: 0). Steps before it have the same events before and after them.
_TAIL_KEEP_SQL = """
CREATE OR REPLACE TEMP TABLE _journey_index_keep AS
SELECT journey_id, greatest(min(seq) FILTER (fresh) - 1, 0) AS keep
FROM _journey_index_all GROUP BY journey_id
"""
#: The row ids of the kept steps from the first changed one on (two parameters: the
#: touched key range, as constants the scan skips the other row groups with).
_TAIL_OLD_ROWS_SQL = """
SELECT s.rowid FROM journey_steps s JOIN _journey_index_keep k ON s.journey_id = k.journey_id
WHERE s.journey_id BETWEEN ? AND ? AND s.seq >= k.keep
"""
#: The new steps from the first changed one on.
_TAIL_NEW_SQL = """
SELECT a.journey_id, a.seq, a.kind, a.touchpoint, a.next_kind, a.next_touchpoint, a.wait_s
FROM _journey_index_all a JOIN _journey_index_keep k USING (journey_id) WHERE a.seq >= k.keep
"""
_TAIL_TEMPS = ("_journey_index_all", "_journey_index_keep")


@dataclass(frozen=True)
class JourneySql:
    """A selection of journeys as a DuckDB query of ``journey_id`` on the store (and its
    parameters): e.g. from the derived views' ``dv_journey`` (one row per journey) instead of
    an Ibis expression over the event log."""

    sql: str
    params: tuple[object, ...] = ()


class _OutOfStep(Exception):
    """An incremental refresh does not add up: its transaction is rolled back and the
    index rebuilt."""


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did: ``mode`` is current, incremental or full."""

    mode: str
    journeys: int
    events: int


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or []).fetchall()


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(_rows(con, sql)[0][0])


class JourneyIndex:
    """The journey index of one store. Cheap to create; ``ensure()`` brings it up to date.

    ``version`` (the store's fingerprint, ``EventStore.version``; the App passes it) lets
    ``ensure()`` skip its write transaction and count query while the store is unchanged."""

    def __init__(
        self,
        store: EventStore,
        version: Callable[[], Hashable] | None = None,
        range_events: int = DEFAULT_RANGE_EVENTS,
        memory_mb: int = DEFAULT_MEMORY_MB,
    ) -> None:
        if range_events < 1:
            raise ValueError(f"range_events must be at least 1, not {range_events}")
        self.store = store
        self.version = version
        self.range_events = range_events
        self.memory_mb = memory_mb
        self._current: tuple[Hashable, int] | None = None  # (version, events) last ensured
        self._stamp = next(_STAMPS)

    # -- maintenance ---------------------------------------------------------------------
    def ensure(self) -> RefreshResult:
        """Refresh when the event count changed since the last refresh (else do nothing)."""
        if self.version is None:
            return self._changed(self._ensure())
        seen = self.version()  # before the refresh: a write after it moves the next one
        if self._current is not None and self._current[0] == seen:
            return RefreshResult("current", 0, self._current[1])
        result = self._changed(self._ensure())
        self._current = (seen, result.events)
        return result

    def _changed(self, result: RefreshResult) -> RefreshResult:
        """A new stamp when ``result`` changed the index's rows (a build, or a refresh that
        touched journeys; events without a journey change nothing here)."""
        if result.mode == "full" or result.journeys > 0:
            self._stamp = next(_STAMPS)
        return result

    def stamp(self) -> int:
        """The index's stamp, refreshed first: it moves when its rows changed, and only then
        (unique in this process, kept in memory like the page caches that key on it)."""
        self.ensure()
        return self._stamp

    def _ensure(self) -> RefreshResult:
        with self.store.write_lock():  # no append between the check and a full build
            try:
                with self.store.transaction() as con:
                    state = self._state(con)
                    n = _count(con, "SELECT count(*) FROM events")
                    if state and int(state[0][0]) == n:
                        return RefreshResult("current", 0, n)
                    if state:
                        return self._incremental(con, n, state[0][1])
            except _OutOfStep as exc:  # rolled back; rebuilt below
                log.warning("journey index out of step (%s); rebuilding", exc)
            return self._full()

    @staticmethod
    def _state(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
        """The saved state; tables of another index version are dropped first."""
        columns = {
            r[0]
            for r in _rows(
                con,
                "SELECT column_name FROM duckdb_columns() WHERE table_name = 'journey_index_state'",
            )
        }
        state = (
            _rows(con, "SELECT events, watermark, version FROM journey_index_state")
            if "version" in columns
            else []
        )
        if columns and (not state or state[0][2] != INDEX_VERSION):
            state = []
            for table in _TABLES:
                _rows(con, f"DROP TABLE IF EXISTS {table}")
        for ddl in _DDL:
            _rows(con, ddl)
        return state

    def rebuild(self) -> RefreshResult:
        """Rebuild the whole index."""
        self._current = None
        return self._changed(self._full())

    def _full(self) -> RefreshResult:
        """Rebuild every table, one journey-key range of about ``range_events`` events at a
        time, each range its own transaction into build tables that replace the index in
        one last transaction. The sort and the grouping hold one range, not the store (the
        whole store at once peaked at ~0.45 GiB per million events and grew faster than
        the store); a range's scan of the event log skips the row groups whose journey
        ids lie outside it. Appends wait (the store's write lock) until the index is in
        place; a build that stops half-way leaves the old index and its state as they
        were (the build tables are dropped by the next build)."""
        with self.store.write_lock(), _memory_limit(self.store.con, self.memory_mb):
            with self.store.transaction() as con:
                self._state(con)
                n = _count(con, "SELECT count(*) FROM events")
                add_codes(con, "events")
                for build, columns in _BUILD_TABLES.values():
                    _rows(con, f"DROP TABLE IF EXISTS {build}")
                    _rows(con, f"CREATE TABLE {build} {columns}")
                parts = _STORED_PARTS or int(_rows(con, "SELECT current_setting('threads')")[0][0])
                parts = max(1, min(parts, min(self.range_events, n) // _STORED_MIN_PART))
                ranges = _split_ranges(_key_bounds(con, n, self.range_events, parts=parts), parts)
            self._build_ranges(ranges)
            with self.store.transaction() as con:
                for table, (build, _) in _BUILD_TABLES.items():
                    _rows(con, f"DROP TABLE {table}; ALTER TABLE {build} RENAME TO {table}")
                _rows(con, "DELETE FROM journey_dfg")
                journeys = _count(con, "SELECT count(*) FROM journey_paths")
                self._save_state(con, n)
        log.info(
            "journey index rebuilt: %d events, %d journeys, %d key ranges",
            n,
            journeys,
            len(ranges),
        )
        return RefreshResult("full", journeys, n)

    def _build_ranges(self, ranges: list[_KeyRange]) -> None:
        """Build the key ranges one after the other, each in its own committed transaction
        on a cursor of its own whose session lets the inserts drop their order (a range's
        parts then run at once, and the store's checkpoint has less to do): from the log's
        stored order (``_RANGE_STORED_SQL``) until a range's events are out of journey order
        (rolled back); that range and every later one by the window (a log out of order in
        one range mostly is in the next ones too)."""
        cur = self.store.cursor()
        stored = True
        try:
            _rows(cur, "SET SESSION preserve_insertion_order = false")
            for i, key_range in enumerate(ranges):
                if stored and not _commit_range(cur, key_range, stored_order=True):
                    log.info(
                        "journey index: %d of %d key ranges built by the window",
                        len(ranges) - i,
                        len(ranges),
                    )
                    stored = False
                if not stored:
                    _commit_range(cur, key_range, stored_order=False)
        finally:
            cur.close()

    def _incremental(
        self, con: duckdb.DuckDBPyConnection, n: int, watermark: object
    ) -> RefreshResult:
        """Recompute the steps and paths of the journeys with new events and merge the
        difference into the kept graph. Their events are read once, shared with the derived
        views' refresh (:mod:`klantreis.analytics.touched_events`: the touched key range as
        constants, so DuckDB skips the row groups outside it); old steps are deleted by row
        id (a second scan by journey id cost as much as the first), and the paths are made
        from the new steps (no second sort of the events)."""
        src, ids, bounds = touched_events(con, watermark, "index")
        kept = [r[0] for r in _rows(con, "SELECT DISTINCT activity FROM journey_dfg")]
        try:
            journeys = _count(con, f"SELECT count(*) FROM {ids}")
            if journeys:
                self._replace_affected(con, src, ids, bounds, kept, watermark)
            expected = touched_journey_events(con)  # counted once for the batch's refreshes
        finally:
            for temp in ("_journey_index_old", "_journey_index_new", *_TAIL_TEMPS):
                _rows(con, f"DROP TABLE IF EXISTS {temp}")
            touched_done(con)
        indexed = _count(con, "SELECT count(*) FROM journey_steps")
        if indexed != expected:
            raise _OutOfStep(f"{indexed} steps for {expected} events")
        self._save_state(con, n)
        return RefreshResult("incremental", journeys, n)

    @staticmethod
    def _replace_affected(
        con: duckdb.DuckDBPyConnection,
        src: str,
        ids: str,
        bounds: list[object],
        kept: list[str],
        watermark: object,
    ) -> None:
        """Replace the steps of the journeys ``ids`` (within ``bounds``) from their first
        changed step on by those of their events in ``src``, their paths by the new ones, and
        merge the difference into the kept graphs.

        A journey's steps before its first new event keep their ``seq`` and their next
        event, so only the step before the first new event and every step after it change
        (decision 97): a batch whose events land after the journeys' last kept events
        (the newest events) replaces one old step per journey, not all of them."""
        # every step of the touched journeys from their events (the window over their
        # history); ``fresh`` marks the steps of the batch's events
        add_codes(con, src)
        _rows(con, _TAIL_STEPS_SQL.format(src=src), [watermark])
        _rows(con, _TAIL_KEEP_SQL)
        # the old steps from the first changed one on: their row ids, and what the kept
        # graphs take away (if any is kept)
        old = "rowid AS rid" + "".join(f", {a}, next_{a}" for a in ACTIVITIES) + ", wait_s"
        _rows(
            con,
            "CREATE OR REPLACE TEMP TABLE _journey_index_old AS"
            f" SELECT {old if kept else 'rowid AS rid'} FROM journey_steps"
            f" WHERE rowid IN ({_TAIL_OLD_ROWS_SQL})",
            bounds,
        )
        _rows(con, "DELETE FROM journey_steps WHERE rowid IN (SELECT rid FROM _journey_index_old)")
        within = f" AND journey_id BETWEEN ? AND ? AND journey_id IN (SELECT journey_id FROM {ids})"
        _rows(con, f"DELETE FROM journey_paths WHERE true{within}", bounds)
        _rows(con, f"CREATE OR REPLACE TEMP TABLE _journey_index_new {_STEPS_COLUMNS}")
        _rows(con, f"INSERT INTO _journey_index_new {_TAIL_NEW_SQL}")
        _rows(con, "INSERT INTO journey_steps SELECT * FROM _journey_index_new")
        _rows(
            con,
            _RANGE_PATHS_SQL.format(paths="journey_paths", steps="_journey_index_all", where=""),
        )
        for a in kept:  # the graphs kept so far: take the old steps away, add the new
            parts = " UNION ALL ".join(
                (
                    f"SELECT * FROM journey_dfg WHERE activity = '{a}'",
                    _HIST_SQL.format(a=a, steps="_journey_index_new"),
                    "SELECT activity, source, target, bucket, -n, -wait_s FROM ("
                    + _HIST_SQL.format(a=a, steps="_journey_index_old")
                    + ")",
                )
            )
            _rows(
                con,
                f"CREATE OR REPLACE TEMP TABLE _journey_index_dfg AS {_MERGE_SQL.format(parts=parts)}",
            )
            _rows(con, f"DELETE FROM journey_dfg WHERE activity = '{a}'")
            _rows(con, "INSERT INTO journey_dfg SELECT * FROM _journey_index_dfg")
            _rows(con, "DROP TABLE _journey_index_dfg")

    @staticmethod
    def _save_state(con: duckdb.DuckDBPyConnection, n: int) -> None:
        _rows(con, "DELETE FROM journey_index_state")
        _rows(
            con,
            "INSERT INTO journey_index_state SELECT ?, coalesce(max(ingested_at),"
            " TIMESTAMPTZ '1970-01-01 00:00:00+00'), ? FROM events",
            [n, INDEX_VERSION],
        )

    # -- queries -------------------------------------------------------------------------
    @contextmanager
    def _selection(self, journeys: ir.Table | JourneySql | None) -> Iterator[_Selection]:
        """A cursor on which the selected journey ids (if any) are computed once."""
        cur = self.store.cursor()
        try:
            if journeys is None:
                yield _Selection(cur, "")
                return
            if isinstance(journeys, JourneySql):
                ids = cur.sql(journeys.sql, params=list(journeys.params)).to_arrow_table()
            else:
                import ibis

                ids = cur.sql(ibis.to_sql(journeys)).to_arrow_table()
            cur.register("_journey_selection", ids.select(["journey_id"]))
            yield _Selection(cur, " AND journey_id IN (SELECT journey_id FROM _journey_selection)")
        finally:
            cur.close()

    def dfg(
        self, activity: str = "kind", journeys: ir.Table | JourneySql | None = None
    ) -> pa.Table:
        """Directly-follows edges, as :func:`klantreis.analytics.discovery.dfg` returns them.

        For a selection of journeys, one aggregation; median and p90 come from one
        ``quantile_cont`` with a list (the same interpolated quantiles as Ibis' ``median()``
        and ``quantile(0.9)``). The graph of all journeys is read from the kept wait
        histogram (``journey_dfg``, merged per refresh): counts and means exact, median and
        p90 within :data:`~klantreis.analytics.derived_totals.ALPHA` (relative).
        """
        with self._selection(journeys) as sel:
            return self._dfg(_column(activity), sel)

    def _dfg(self, a: str, sel: _Selection) -> pa.Table:
        if sel.where:
            return sort_edges(sel.query(_DFG_SQL.format(a=a, where=sel.where)))
        edges = sel.query(_EDGES_SQL.format(a=a))  # sorted as sort_edges sorts, in SQL
        if edges.num_rows:
            return edges
        with self.store.transaction() as con:  # not kept yet (or no edges): fill it
            _rows(con, f"DELETE FROM journey_dfg WHERE activity = '{a}'")
            _rows(con, f"INSERT INTO journey_dfg {_HIST_SQL.format(a=a, steps='journey_steps')}")
        return sel.query(_EDGES_SQL.format(a=a))

    def journey_count(self, journeys: ir.Table | JourneySql | None = None) -> int:
        with self._selection(journeys) as sel:
            return self._journey_count(sel)

    @staticmethod
    def _journey_count(sel: _Selection) -> int:
        return int(
            sel.query(f"SELECT count(*) AS n FROM journey_paths{sel.where_first}")
            .column("n")[0]
            .as_py()
        )

    def variants(
        self,
        activity: str = "kind",
        journeys: ir.Table | JourneySql | None = None,
        top: int | None = 20,
    ) -> pa.Table:
        """The ``top`` variants (all with None), sorted and limited in SQL."""
        with self._selection(journeys) as sel:
            return self._variants(_column(activity), sel, top, self._journey_count(sel))

    @staticmethod
    def _variants(a: str, sel: _Selection, top: int | None, total: int) -> pa.Table:
        """What ``finish_variants`` gives, all in SQL: the path order is the variant key's
        order (same separator), and no Python list becomes Arrow (that would make pyarrow
        import pandas, 0.6 s of a CLI command's start)."""
        limit = "" if top is None else f" LIMIT {int(top)}"
        share = f"count::DOUBLE / {int(total)}" if total else "0.0::DOUBLE"
        table = sel.query(
            f"SELECT variant, count, {share} AS share, len(variant)::BIGINT AS length FROM ("
            f"SELECT {_path_names('path', 'nm')} AS variant, count"
            f" FROM (SELECT {a}_path AS path, count(*) AS count FROM journey_paths"
            f"{sel.where_first} GROUP BY ALL), (SELECT {_NAMES.format(a=a)} AS nm))"
            f" ORDER BY count DESC, array_to_string(variant, chr({ord(PATH_SEP)})){limit}"
        )
        return _as_item_lists(table)

    @staticmethod
    def _ends(a: str, sel: _Selection) -> tuple[pa.Table, pa.Table]:
        """Start and end activities, from each journey's first and last step."""
        first, last = (  # sorted as sort_activity_counts sorts, in SQL (no pyarrow.compute)
            sel.query(ENDS_SQL.format(end=end, a=a, where=sel.where_first))
            for end in ("first", "last")
        )
        return first, last

    def discover(
        self,
        activity: str = "kind",
        top: int | None = 20,
        journeys: ir.Table | JourneySql | None = None,
    ) -> Discovery:
        """Graph, variants, start and end activities from the index (refreshed first)."""
        self.ensure()
        a = _column(activity)
        with self._selection(journeys) as sel:
            total = self._journey_count(sel)
            start, end = self._ends(a, sel)
            return Discovery(
                journeys=total,
                dfg=self._dfg(a, sel),
                variants=self._variants(a, sel, top, total),
                start=start,
                end=end,
            )


@dataclass(frozen=True)
class _Selection:
    """A read cursor and the SQL condition that limits rows to the selected journeys."""

    cur: duckdb.DuckDBPyConnection
    where: str

    @property
    def where_first(self) -> str:
        return self.where.replace(" AND ", " WHERE ", 1)

    def query(self, sql: str) -> pa.Table:
        return self.cur.sql(sql).to_arrow_table()


def _as_item_lists(table: pa.Table) -> pa.Table:
    """``variant`` typed ``list<item: string>`` as the Ibis path's (DuckDB names the child
    ``l``); a zero-copy view, since a cast would import pyarrow.compute."""
    target = pa.list_(pa.string())
    chunks = [chunk.view(target) for chunk in table.column("variant").chunks]
    return table.set_column(0, "variant", pa.chunked_array(chunks, target))


def add_codes(
    con: duckdb.DuckDBPyConnection, src: str, where: str = "", params: list[object] | None = None
) -> None:
    """Give every kind and touchpoint in ``src`` (the rows ``where`` selects) a code: new
    names are appended to their activity's list in ``journey_codes``, so the codes already
    given keep their meaning (a build in progress and the index it replaces share them)."""
    found = _rows(
        con,
        f"SELECT list(DISTINCT kind) FILTER (kind IS NOT NULL), list(DISTINCT touchpoint)"
        f" FILTER (touchpoint IS NOT NULL) FROM {src} WHERE true{where}",
        params,
    )[0]
    for a, names in zip(ACTIVITIES, found, strict=True):
        old = _rows(con, "SELECT names FROM journey_codes WHERE activity = ?", [a])
        known = set(old[0][0]) if old else set()
        new = sorted(set(names or []) - known)
        if not old:
            _rows(con, "INSERT INTO journey_codes VALUES (?, ?::VARCHAR[])", [a, new])
        elif new:
            _rows(
                con,
                "UPDATE journey_codes SET names = list_concat(names, ?::VARCHAR[])"
                " WHERE activity = ?",
                [new, a],
            )


def _key_ranges(
    con: duckdb.DuckDBPyConnection,
    events: int,
    range_events: int,
    where: str = "",
    params: list[object] | None = None,
) -> list[tuple[str, list[object]]]:
    """Conditions (SQL and parameters) that split the journeys into contiguous ranges of
    ``journey_id`` of about ``range_events`` events each, together covering every journey
    once (:func:`_key_bounds`); one journey is never split."""
    bounds = [None, *_key_bounds(con, events, range_events, where, params), None]
    return [_between(lo, hi) for lo, hi in pairwise(bounds)]


def _key_bounds(
    con: duckdb.DuckDBPyConnection,
    events: int,
    range_events: int,
    where: str = "",
    params: list[object] | None = None,
    parts: int = 1,
) -> list[object]:
    """The ``journey_id`` boundaries (ascending, each the first id of the next range) of
    ranges of about ``range_events / parts`` events each: quantiles of a sample of the
    journey ids of the ``events`` events that ``where`` (with ``params``) selects, all by
    default, so a range holds about as many of them (not journeys) as the next."""
    ranges = -(-events // range_events) * parts
    if ranges <= 1:
        return []
    sample = max(10_000, ranges * _SAMPLE_PER_RANGE)
    # the sample is drawn before a WHERE: a condition of the caller's filters first
    selected = f"(SELECT journey_id FROM events WHERE journey_id IS NOT NULL{where})"
    rows = _rows(
        con,
        f"SELECT quantile_disc(journey_id, ?) FROM (SELECT journey_id FROM"
        f" {selected if where else 'events'} WHERE journey_id IS NOT NULL"
        f" USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE (17))",
        [[i / ranges for i in range(1, ranges)], *(params or [])],
    )
    return sorted(set(rows[0][0] or []))


def _between(lo: object, hi: object) -> tuple[str, list[object]]:
    """The condition of the journey ids from ``lo`` up to ``hi`` (None: no bound)."""
    sql, args = "", []
    if lo is not None:
        sql, args = " AND journey_id >= ?", [lo]
    if hi is not None:
        sql, args = sql + " AND journey_id < ?", [*args, hi]
    return sql, args


@dataclass(frozen=True)
class _KeyRange:
    """A key range of a full build (its condition and parameters) and its parts (each a
    condition and parameters, together the range), read side by side from the stored order."""

    where: str
    params: list[object]
    parts: list[tuple[str, list[object]]]


def _split_ranges(bounds: list[object], parts: int) -> list[_KeyRange]:
    """Key ranges of ``parts`` consecutive parts each (the last one maybe fewer), the
    parts cut at ``bounds`` (:func:`_key_bounds`)."""
    edges = [None, *bounds, None]
    ranges = []
    for i in range(0, len(edges) - 1, parts):
        cut = edges[i : i + parts + 1]
        ranges.append(
            _KeyRange(*_between(cut[0], cut[-1]), [_between(lo, hi) for lo, hi in pairwise(cut)])
        )
    return ranges


def _commit_range(cur: duckdb.DuckDBPyConnection, key_range: _KeyRange, stored_order: bool) -> bool:
    """One key range built (:func:`_build_range`) in its own transaction on ``cur``: True
    when committed, False when its events were not in journey order (rolled back)."""
    _rows(cur, "BEGIN TRANSACTION")
    try:
        _build_range(cur, key_range, stored_order=stored_order)
    except BaseException as exc:
        _rows(cur, "ROLLBACK")
        if stored_order and isinstance(exc, duckdb.Error) and _UNORDERED in str(exc):
            return False
        raise
    _rows(cur, "COMMIT")
    return True


def _build_range(
    con: duckdb.DuckDBPyConnection, key_range: _KeyRange, stored_order: bool = False
) -> None:
    """Steps and paths of one key range into the build tables: the steps from the stored
    order (``stored_order``: the range's parts side by side, one ``UNION ALL``; raises a
    ``duckdb.Error`` with :data:`_UNORDERED` when the events are not in journey order) or
    by the window on the fixed-width keys, the journeys with a tie on them again by the
    full order, then the paths."""
    where, params = key_range.where, key_range.params
    if stored_order:
        steps = " UNION ALL ".join(_RANGE_STORED_SQL.format(where=w) for w, _ in key_range.parts)
        steps_params = [p for _, part in key_range.parts for p in part]
        _rows(con, "INSERT INTO journey_steps_build " + steps, steps_params)
    else:
        _rows(con, _RANGE_STEPS_SQL.format(where=where), params)
    _rows(con, _RANGE_TIES_SQL.format(where=where), params)
    try:
        if _count(con, "SELECT count(*) FROM _journey_index_ties"):
            _rows(con, f"DELETE FROM journey_steps_build WHERE journey_id IS NOT NULL {_TIES}")
            _rows(
                con,
                "INSERT INTO journey_steps_build" + _STEPS_SELECT.format(where=where + " " + _TIES),
                params,
            )
    finally:
        _rows(con, "DROP TABLE IF EXISTS _journey_index_ties")
    paths_sql = _RANGE_PATHS_SQL.format(
        paths="journey_paths_build", steps="journey_steps_build", where=where
    )
    _rows(con, paths_sql, params)


def _column(activity: str) -> str:
    if activity not in ACTIVITIES:
        raise ValueError(f"activity must be one of {', '.join(ACTIVITIES)}, not {activity!r}")
    return activity


def open_index(store: EventStore, index: JourneyIndex | None = None) -> JourneyIndex | None:
    """The store's journey index (``index``, e.g. the App's, or a new one), refreshed; None
    when the store cannot hold one (read-only)."""
    index = index or JourneyIndex(store)
    try:
        index.ensure()
    except duckdb.Error as exc:
        log.info("journey index unavailable (%s); using plain queries", exc)
        return None
    return index
