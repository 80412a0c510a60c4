"""Score cells: the sufficient statistics of every feedback answer, kept in the store's DuckDB
and refreshed per ingest batch in time proportional to the batch.

Why: ``/scores`` runs about fifteen aggregations over the answers (overall, previous period,
five breakdowns, series, matrix) and ``/`` its daily index cells; each scans the 1.2M answers
of a 10M-event log (0.3-0.5 s each on 2 busy cores), and the filter menus and the newest
answer's day scan the whole log again. Every one of them is a sum over answers that a
day x metric x touchpoint x owner x channel x segment x score cell holds exactly: counts per
score value give n, sums, sums of squares, promoters, detractors and top-2 boxes, so means,
proportions and their intervals come out identical.

Table ``ds_cells`` (derived, safe to drop), one row per cell and batch (a batch appends its
own rows; :meth:`ScoreCells.ensure` re-aggregates the table when it has grown to twice its
compacted size). Its columns are named like the event log's, so the portable Ibis functions
of :mod:`klantreis.analytics.metrics` run on it unchanged with ``weight="w"``:

- ``occurred_at``/``newest``: the first and last answer time of the cell (all in one local
  day, so every day-aligned window and period key treats the cell like its answers);
- ``day`` (local, in the journey's time zone), ``metric``, ``touchpoint``, ``owner``,
  ``channel``, ``score``: the answers' own values;
- ``attrs``: ``{"segment": ...}`` when the answer has ``attrs.segment``, else NULL;
- ``w``: the number of answers (events with a metric or a score).

``ds_state`` holds the events seen, the ``ingested_at`` watermark, the newest event time of
the whole log (the "fresh" day of the pages), the layout, time zone, compacted size and a
version counter bumped whenever the cells change. A count check (answers in the cells equal
answers in the log) rebuilds everything when they are out of step. A scope with a segment
filter is not answered here (it also matches the segment of the answer's journey start):
:func:`supports` says so and the pages take the portable path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from klantreis.analytics.derived_facts import KeptFacts
from klantreis.analytics.index_facts import FactState
from klantreis.analytics.scope import Scope
from klantreis.analytics.stats import DETRACTOR_MAX, PROMOTER_MIN, TOP2_MIN
from klantreis.model.journey import Promise
from klantreis.store import EventStore
from klantreis.store.memory import memory_limit

__all__ = ["ANSWER_WHERE", "CellsRefresh", "CellsStamp", "ScoreCells", "supports"]

log = logging.getLogger(__name__)

#: Bump when a table below changes: cells of another layout are rebuilt.
LAYOUT = 1
#: The answers the cells hold (the filter menus read events with a metric; sums need a score).
ANSWER_WHERE = "(metric IS NOT NULL OR score IS NOT NULL)"
_KEYS = "day, metric, touchpoint, owner, channel, attrs, score"
_DDL = (
    "CREATE TABLE IF NOT EXISTS ds_cells (occurred_at TIMESTAMPTZ, newest TIMESTAMPTZ,"
    " day DATE, metric VARCHAR, touchpoint VARCHAR, owner VARCHAR, channel VARCHAR,"
    " attrs VARCHAR, score DOUBLE, w BIGINT)",
    "CREATE TABLE IF NOT EXISTS ds_state (events BIGINT, watermark TIMESTAMPTZ,"
    " newest TIMESTAMPTZ, layout INTEGER, zone VARCHAR, compacted BIGINT, version BIGINT)",
)
_CELLS_SQL = f"""
SELECT min(occurred_at), max(occurred_at), CAST(timezone($zone, occurred_at) AS DATE) AS day,
       metric, touchpoint, owner, channel,
       CASE WHEN seg IS NULL THEN NULL ELSE CAST(json_object('segment', seg) AS VARCHAR) END
         AS attrs,
       score, count(*)
FROM (SELECT occurred_at, metric, touchpoint, owner, channel, score,
             try(json_extract_string(attrs, '$.segment')) AS seg
      FROM events WHERE {ANSWER_WHERE} {{where}})
GROUP BY ALL
"""
#: Index points of an answer, as :mod:`klantreis.analytics.index_cache` (a test compares).
POINTS_SQL = f"""CASE metric
    WHEN 'nps' THEN CASE WHEN score >= {PROMOTER_MIN} THEN 100.0
                         WHEN score <= {DETRACTOR_MAX} THEN 0.0 ELSE 50.0 END
    WHEN 'csat' THEN CASE WHEN score >= {TOP2_MIN} THEN 100.0 ELSE 0.0 END
    WHEN 'ces' THEN (7.0 - score) * (100.0 / 6.0)
    WHEN 'stars' THEN (score - 1.0) * 25.0 END"""
_COMPACT_SQL = f"""
CREATE OR REPLACE TEMP TABLE _ds_compact AS
SELECT min(occurred_at), max(newest), {_KEYS}, sum(w)::BIGINT FROM ds_cells GROUP BY ALL
"""


#: The answered cells with the score summed out (``ScoreCells.frame``): the sums of
#: ``metrics.SUMMARY_FIELDS``, so the page's fifteen summaries group ~10x fewer rows.
_FRAME_SQL = f"""
SELECT min(occurred_at) AS occurred_at, CAST(day - DATE '1970-01-01' AS BIGINT) AS day_number,
       metric, touchpoint, owner, channel,
       try(json_extract_string(attrs, '$.segment')) AS segment,
       sum(w)::BIGINT AS n, sum(score * w)::DOUBLE AS total,
       sum(score * score * w)::DOUBLE AS total_sq,
       sum(CASE WHEN score >= {PROMOTER_MIN} THEN w ELSE 0 END)::BIGINT AS promoters,
       sum(CASE WHEN score <= {DETRACTOR_MAX} THEN w ELSE 0 END)::BIGINT AS detractors,
       sum(CASE WHEN score >= {TOP2_MIN} THEN w ELSE 0 END)::BIGINT AS top2
FROM ds_cells WHERE score IS NOT NULL {{where}}
GROUP BY day, metric, touchpoint, owner, channel, segment
ORDER BY day, metric, touchpoint, owner, channel, segment
"""
#: In-memory frames kept per cells version (one per distinct ``since``).
_FRAMES_KEPT = 8


def supports(scope: Scope | None) -> bool:
    """Whether the cells answer ``scope`` exactly: a window, channels, touchpoints, owners,
    metrics and stages (of the touchpoint) are columns of the cells; segments (which also
    match the journey's start event), kinds, languages, sources, attributes, an outcome or
    sub-day bounds are not."""
    if scope is None:
        return True
    return not (
        scope.segments
        or scope.kinds
        or scope.langs
        or scope.sources
        or scope.attrs
        or scope.outcome is not None
        or scope.start is not None
        or scope.end is not None
    )


@dataclass(frozen=True)
class CellsRefresh:
    """What a refresh did: ``mode`` current, incremental, full or compacted; the rows it
    aggregated."""

    mode: str
    rows: int = 0


@dataclass(frozen=True)
class CellsStamp:
    """What a page cache keys on: the cells' version counter (moves only when answers were
    added or the cells rebuilt), the driver counts' (``derived_facts``: only when driver
    events were added or they were rebuilt) and the newest event time of the whole log."""

    cells: int
    facts: int
    newest: datetime | None


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or []).fetchall()


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> Any:
    return _rows(con, sql, params)[0][0]


class ScoreCells:
    """The score cells of one store in the time zone ``zone``. Cheap to create; ``ensure()``
    brings them up to date (``version``, the store's fingerprint, lets it skip its
    transaction while the store is unchanged)."""

    def __init__(
        self,
        store: EventStore,
        zone: str,
        version: Callable[[], Hashable] | None = None,
        promises: Sequence[Promise] = (),
        memory_mb: int = 0,
    ) -> None:
        self.store, self.zone, self.version = store, zone, version
        #: DuckDB's memory limit (MiB; 0: its own) while the movers' driver counts are
        #: counted from the kept tables (every journey's firsts: 2.2 GiB at 100M events).
        self.memory_mb = memory_mb
        #: The movers' driver counts, kept beside the cells (``derived_facts``).
        self.facts = KeptFacts(zone, promises)
        self._lock = threading.Lock()
        self._current: tuple[Hashable, CellsStamp] | None = None
        self._frames: dict[tuple[int, datetime | None], pd.DataFrame] = {}

    # -- maintenance -------------------------------------------------------------------
    def ensure(self) -> CellsRefresh:
        """Refresh when events arrived since the last refresh (else do nothing)."""
        with self._lock:
            seen = self.version() if self.version is not None else None
            if seen is not None and self._current is not None and self._current[0] == seen:
                return CellsRefresh("current")
            with self.store.transaction() as con:
                result = self._ensure(con)
                stamp = self._stamp(con)
            if seen is not None and stamp is not None:
                self._current = (seen, stamp)
            return result

    def _stamp(self, con: duckdb.DuckDBPyConnection) -> CellsStamp | None:
        state = self._state(con)
        if state is None:
            return None
        return CellsStamp(int(state[6]), self.facts.version(con), state[2])

    def stamps(self) -> CellsStamp:
        """The cells' and the driver counts' version counters and the newest event time,
        refreshed first: what a page cache keys on."""
        self.ensure()
        with self._lock:
            if self._current is not None:
                return self._current[1]
        with self.store.transaction() as con:
            stamp = self._stamp(con)
        return stamp if stamp is not None else CellsStamp(0, 0, None)

    def stamp(self) -> tuple[int, datetime | None]:
        """(version counter of the cells, newest event time): what a page cache keys on."""
        stamp = self.stamps()
        return stamp.cells, stamp.newest

    def rebuild(self) -> CellsRefresh:
        """Drop and rebuild the cells (e.g. after a bulk load)."""
        with self._lock:
            self._current = None
            with self.store.transaction() as con:
                self._state(con)
                return self._full(con)

    def _state(self, con: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
        for ddl in _DDL:
            _rows(con, ddl)
        rows = _rows(
            con, "SELECT events, watermark, newest, layout, zone, compacted, version FROM ds_state"
        )
        return rows[0] if rows else None

    def _ensure(self, con: duckdb.DuckDBPyConnection) -> CellsRefresh:
        state = self._state(con)
        n = int(_one(con, "SELECT count(*) FROM events"))
        if state is None or state[3] != LAYOUT or state[4] != self.zone:
            return self._full(con)
        built = not self.facts.current(con)
        if built:  # another configuration, or cells kept before the driver counts were
            self.facts.build(con)
        if int(state[0]) == n:
            return CellsRefresh("current")
        return self._incremental(con, n, state, facts=not built)

    def _full(self, con: duckdb.DuckDBPyConnection) -> CellsRefresh:
        old = self._state(con)
        version = int(old[6]) + 1 if old else 1
        _rows(con, "DELETE FROM ds_cells")
        _rows(con, f"INSERT INTO ds_cells {_CELLS_SQL.format(where='')}", {"zone": self.zone})
        n, mark, newest = _rows(
            con, "SELECT count(*), max(ingested_at), max(occurred_at) FROM events"
        )[0]
        cells = int(_one(con, "SELECT count(*) FROM ds_cells"))
        self._save(con, int(n), mark, newest, cells, version)
        self.facts.build(con)
        log.info("score cells rebuilt: %d events, %d cells", n, cells)
        return CellsRefresh("full", cells)

    def _incremental(
        self, con: duckdb.DuckDBPyConnection, n: int, state: tuple[Any, ...], facts: bool = True
    ) -> CellsRefresh:
        _, mark, newest, _, _, compacted, version = state
        added, new_mark, new_newest = _rows(
            con,
            "SELECT count(*), max(ingested_at), max(occurred_at) FROM events WHERE ingested_at > ?",
            [mark],
        )[0]
        if int(state[0]) + int(added) != n:  # rows without ingested_at, or deleted rows
            log.warning("score cells out of step (%d + %d != %d); rebuilding", state[0], added, n)
            return self._full(con)
        before = int(_one(con, "SELECT count(*) FROM ds_cells"))
        inserted = _one(
            con,
            f"INSERT INTO ds_cells {_CELLS_SQL.format(where='AND ingested_at > $mark')}",
            {"zone": self.zone, "mark": mark},
        )
        if facts:
            self.facts.append(con, mark)
        cells = int(_one(con, "SELECT count(*) FROM ds_cells"))
        answers = int(_one(con, "SELECT coalesce(sum(w), 0) FROM ds_cells"))
        expected = int(_one(con, f"SELECT count(*) FROM events WHERE {ANSWER_WHERE}"))
        if answers != expected:
            log.warning("score cells out of step (%d != %d answers); rebuilding", answers, expected)
            return self._full(con)
        if cells > 2 * max(int(compacted), 1000):
            self.facts.check_and_compact(con)  # scans the log: once per doubling
            _rows(con, _COMPACT_SQL)
            _rows(con, "DELETE FROM ds_cells")
            _rows(con, "INSERT INTO ds_cells SELECT * FROM _ds_compact")
            _rows(con, "DROP TABLE _ds_compact")
            compacted = cells = int(_one(con, "SELECT count(*) FROM ds_cells"))
        newest = max((t for t in (newest, new_newest) if t is not None), default=None)
        # the version moves when answers were added, and only then (a compaction merges rows
        # but keeps every sum): pages key on it (``stamps``)
        bump = 1 if int(inserted) > 0 else 0
        self._save(con, n, new_mark or mark, newest, int(compacted), int(version) + bump)
        return CellsRefresh("incremental", cells - before)

    def _save(
        self,
        con: duckdb.DuckDBPyConnection,
        n: int,
        mark: object,
        newest: object,
        compacted: int,
        version: int,
    ) -> None:
        _rows(con, "DELETE FROM ds_state")
        _rows(
            con,
            "INSERT INTO ds_state VALUES (?, coalesce(?, TIMESTAMPTZ '1970-01-01 00:00:00+00'),"
            " ?, ?, ?, ?, ?)",
            [n, mark, newest, LAYOUT, self.zone, compacted, version],
        )

    # -- reads -------------------------------------------------------------------------
    def table(self) -> Any:
        """The cells as an Ibis table (on a fresh cursor), for ``metrics`` with ``weight="w"``."""
        import ibis

        self.ensure()
        return ibis.duckdb.from_connection(self.store.cursor()).table("ds_cells")

    def frame(self, since: datetime | None = None) -> pd.DataFrame:
        """The answered cells with ``occurred_at`` from ``since`` on, in memory, the score
        summed out (``n, total, total_sq, promoters, detractors, top2`` per day x metric x
        touchpoint x owner x channel x segment), for
        :func:`klantreis.analytics.metrics.summarize` (one read per page view). Kept per
        cells version: a batch without answers does not re-read it."""
        version = self.stamp()[0]
        key = (version, since)
        with self._lock:
            if key in self._frames:
                return self._frames[key]
        where = "" if since is None else "AND occurred_at >= $since"
        cur = self.store.cursor()
        try:
            rel = cur.sql(
                _FRAME_SQL.format(where=where),
                params={"since": since} if since is not None else None,
            )
            df = rel.to_arrow_table().to_pandas()
        finally:
            cur.close()
        df["occurred_at"] = pd.to_datetime(df["occurred_at"], utc=True)
        for col in ("metric", "touchpoint", "owner", "channel", "segment"):
            # numpy objects: every summary masks the frame, and a mask over Arrow strings
            # costs a pyarrow take per column (most of the page's time)
            df[col] = df[col].astype(object)
        with self._lock:
            self._frames = {k: v for k, v in self._frames.items() if k[0] == version}
            while len(self._frames) >= _FRAMES_KEPT:
                self._frames.pop(next(iter(self._frames)))
            self._frames[key] = df
        return df

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        self.ensure()
        cur = self.store.cursor()
        try:
            return cur.execute(sql).fetchall()
        finally:
            cur.close()

    def newest_day(self, answers_only: bool = True) -> date | None:
        """The local day of the newest answer (``answers_only``; else of the newest event),
        as :func:`klantreis.analytics.scope.newest_answer_day`."""
        newest = None
        if answers_only:
            newest = self._query("SELECT max(newest) FROM ds_cells WHERE metric IS NOT NULL")[0][0]
        if newest is None:
            newest = self.stamp()[1]
        return None if newest is None else newest.astimezone(ZoneInfo(self.zone)).date()

    def index_cells(self, zone: str) -> tuple[int, pd.DataFrame] | None:
        """(events covered, the CX index's answer cells in ``zone``) as
        :func:`klantreis.analytics.index_cache.raw_cells` makes them from the log; None for
        another time zone."""
        if zone != self.zone:
            return None
        self.ensure()
        cur = self.store.cursor()
        try:
            with_points = f"SELECT *, {POINTS_SQL} AS pts FROM ds_cells WHERE score IS NOT NULL"
            cur.execute("BEGIN TRANSACTION")
            n = cur.execute("SELECT events FROM ds_state").fetchall()
            cells = cur.sql(
                "SELECT day, touchpoint, owner, channel, sum(w) AS n, sum(pts * w) AS points,"
                f" sum(pts * pts * w) AS points_sq FROM ({with_points}) WHERE pts IS NOT NULL"
                " GROUP BY ALL"
            ).to_arrow_table()
            cur.execute("COMMIT")
        finally:
            cur.close()
        if not n:
            return None
        return int(n[0][0]), cells.to_pandas()

    def load_facts(self, state: FactState) -> int | None:
        """Load the movers' driver counts of ``state`` from the kept tables (no log scan);
        the number of events they cover (None: another time zone or configuration, or no
        store for them)."""
        if (
            state.journey.timezone != self.zone
            or self.facts.key != KeptFacts(self.zone, state.journey.promises).key
        ):
            return None
        self.ensure()
        cur = self.store.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            n = cur.execute("SELECT events FROM ds_state").fetchall()
            if not n or not self.facts.current(cur):
                cur.execute("ROLLBACK")
                return None
            with memory_limit(cur, self.memory_mb):
                counts, broken = self.facts.read(
                    cur, state.kinds_wanted, state.days, state.bounds, state.owners
                )
            cur.execute("COMMIT")
        finally:
            cur.close()
        state.add(counts, broken)
        return int(n[0][0])

    def options(self) -> dict[str, list[str]]:
        """Distinct channels and ``attrs.segment`` values of the answers, sorted (the filter
        menus of the answer pages)."""
        rows = self._query(
            "SELECT DISTINCT channel, try(json_extract_string(attrs, '$.segment')) FROM ds_cells"
            " WHERE metric IS NOT NULL"
        )
        return {
            "channels": sorted({str(c) for c, _ in rows if c}),
            "segments": sorted({str(s) for _, s in rows if s}),
        }
