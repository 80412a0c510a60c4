"""The fast path of the CX index on DuckDB: all-history daily cells in one query, kept in
memory per store file and refreshed incrementally, plus a cache of whole results.

Why: on 10M events the portable path (:func:`klantreis.analytics.cx_index.cx_index` with
``fast=False``) runs four engine queries per call (day span, answer cells, failure/contact
counts, broken promises: 1.5-4.5 s on 2 busy cores), far over the 300 ms the overview page
may take. The event log is append-only, so everything the index reads is a function of the
rows stored, and the row count plus the newest ``ingested_at`` identify that set:

- **Answer cells** (answers, points and squared points per local day x touchpoint x owner x
  channel, raw dimension values) for the whole history: one small frame (a few thousand
  rows) from which every period and every ``channel``/``owner``/``touchpoint`` filter is cut
  in pandas. After an ingest only the rows with ``ingested_at`` past the last watermark are
  aggregated and added (sums add up); a count check falls back to a full rebuild if anything
  does not add up (a delete, rows without ``ingested_at``).
- **Driver counts** of the movers' windows (:mod:`klantreis.analytics.index_facts`):
  failure/contact counts and per-journey first promise/fulfilment, merged the same way
  when a call next asks for those windows (after a new day nobody asks for the old ones).
- **Results**: whole :class:`IndexResult` objects per call arguments, dropped when the count
  or watermark changes.

The cache is a :class:`StoreCache` owned by the App (``app.index_cache()``, kept in
``app.caches``), never a module-level one: callers pass it as ``cache=``. Given the store's
version function (``EventStore.version``, the one "has the store changed?" check of every
App cache), a warm call costs that check only (one ``count(*)``, ~2 ms on 10M events); the
``count(*)``/``max(ingested_at)`` query that drives the incremental refresh runs only after
the version moved. Without a cache (or for another table than the cache's) a call gets a
fresh, unshared one: the one-query cells, nothing kept. Filtered tables and other engines take
the portable path. Tests check this path equals the portable one on the same data.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

import ibis
import ibis.expr.operations as ops
import pandas as pd
from ibis.common.exceptions import IbisError

from klantreis.analytics import movers as mv
from klantreis.analytics.index_facts import FactState
from klantreis.analytics.stats import DETRACTOR_MAX, PROMOTER_MIN, TOP2_MIN
from klantreis.model.journey import JourneyConfig
from klantreis.store.memory import memory_limit

__all__ = [
    "CELL_KEYS",
    "FAST_FILTER_KEYS",
    "StoreCache",
    "all_cells",
    "cached_call",
    "cells_apply",
    "facts",
    "raw_cells",
    "store_cache",
]

log = logging.getLogger(__name__)

#: Dimension filters the cached cells can apply themselves (their raw columns).
FAST_FILTER_KEYS = ("channel", "owner", "touchpoint")
CELL_KEYS = ("day", "touchpoint", "owner", "channel")
#: Results kept per store (distinct filter/period combinations).
MAX_RESULTS = 64
#: Driver-count states kept per store (window x owner filter; each is refreshed on ingest).
MAX_FACT_STATES = 4

_POINTS_SQL = f"""CASE metric
    WHEN 'nps' THEN CASE WHEN score >= {PROMOTER_MIN} THEN 100.0
                         WHEN score <= {DETRACTOR_MAX} THEN 0.0 ELSE 50.0 END
    WHEN 'csat' THEN CASE WHEN score >= {TOP2_MIN} THEN 100.0 ELSE 0.0 END
    WHEN 'ces' THEN (7.0 - score) * (100.0 / 6.0)
    WHEN 'stars' THEN (score - 1.0) * 25.0 END"""

#: The rows ingested between two versions.
_DELTA = "ingested_at > $ing_lo AND ingested_at <= $ing_hi"
_CELLS_SQL = f"""
SELECT CAST(timezone($zone, occurred_at) AS DATE) AS day, touchpoint, owner, channel,
       count(*) AS n, sum(pts) AS points, sum(pts * pts) AS points_sq
FROM (SELECT occurred_at, touchpoint, owner, channel, {_POINTS_SQL} AS pts
      FROM {{table}} WHERE score IS NOT NULL AND ({{where}}))
WHERE pts IS NOT NULL
GROUP BY ALL"""


def _duckdb_con(events: ibis.Table) -> Any | None:
    """The DuckDB connection of ``events`` when it is a plain table of a DuckDB backend."""
    try:
        backend = events._find_backend()
    except IbisError:  # no single backend: the portable path
        return None
    if getattr(backend, "name", "") != "duckdb":
        return None
    if not isinstance(events.op(), ops.DatabaseTable):
        return None
    return backend.con


def raw_cells(
    con: Any, table: str, zone: str, where: str = "TRUE", params: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Answer cells per local day x touchpoint x owner x channel (raw values, NULL kept)."""
    sql = _CELLS_SQL.format(table=table, where=where)
    cur = con.cursor()
    try:
        df = cur.sql(sql, params={"zone": zone, **(params or {})}).to_arrow_table().to_pandas()
    finally:
        cur.close()
    return df


def _merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    if new.empty:
        return old
    both = pd.concat([old, new], ignore_index=True)
    keys = list(CELL_KEYS)
    return (
        both.groupby(keys, dropna=False, sort=False)[["n", "points", "points_sq"]]
        .sum()
        .reset_index()
    )


@dataclass
class StoreCache:
    """What is known about one store's ``table`` at one version (row count, newest ingest).

    ``version`` (the store's cheap fingerprint) lets :meth:`refresh` skip its own count and
    watermark query while the store has not changed."""

    table: str
    version: Callable[[], Hashable] | None = None
    seen: Hashable = None  # the version the cells and results belong to
    count: int = -1
    watermark: datetime | None = None
    cells: dict[str, pd.DataFrame] = field(default_factory=dict)  # per time zone
    results: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)
    fact_states: dict[Hashable, FactState] = field(default_factory=dict)
    #: Per driver-count state, the rows it has not counted yet (``ing_lo``, ``ing_hi``: the
    #: ingest window of :data:`_DELTA`): added when the state is next asked for, so a state
    #: nobody asks for again (the movers' windows moved on: a new day) costs nothing.
    fact_behind: dict[Hashable, dict[str, Any]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: Kept cells to start from (``zone`` -> (events they cover, cells) or None): the score
    #: cells of :mod:`klantreis.analytics.derived_scores`, so a restart does not re-scan.
    seed: Callable[[str], tuple[int, pd.DataFrame] | None] | None = None
    #: Loads a new driver-count state from kept tables and returns the events they cover
    #: (None: not kept): ``derived_scores.ScoreCells.load_facts``, so a restart does not
    #: scan the log for the movers' drivers.
    facts_seed: Callable[[FactState], int | None] | None = None
    #: DuckDB's memory limit (MiB; 0: its own) while a driver-count state is first counted
    #: from the log (every journey's firsts in the movers' windows).
    memory_mb: int = 0

    def _count_and_watermark(self, con: Any) -> tuple[int, datetime | None]:
        cur = con.cursor()
        try:
            row = cur.sql(f"SELECT count(*), max(ingested_at) FROM {self.table}").fetchall()[0]
        finally:
            cur.close()
        return int(row[0]), row[1]

    def refresh(self, con: Any) -> None:
        """Bring the cached cells to the store's current version (incrementally)."""
        if self.version is not None:
            seen = self.version()  # before the count: a write after it moves the next one
            if seen == self.seen and self.count >= 0:
                return
            self.seen = seen
        count, mark = self._count_and_watermark(con)
        if (count, mark) == (self.count, self.watermark):
            return
        self.results.clear()
        old_count, old_mark = self.count, self.watermark
        self.count, self.watermark = count, mark
        if old_mark is None or old_count < 0:
            self.cells, self.fact_states, self.fact_behind = {}, {}, {}
            return
        window = {"ing_lo": old_mark, "ing_hi": mark}
        added = self._rows(con, _DELTA, window)
        if old_count + added != count:
            log.info(
                "index cache of %s rebuilt: %d + %d != %d rows", self.table, old_count, added, count
            )
            self.cells, self.fact_states, self.fact_behind = {}, {}, {}
            return
        for zone, cells in self.cells.items():
            self.cells[zone] = _merge(cells, raw_cells(con, self.table, zone, _DELTA, window))
        for key in self.fact_states:  # counted when asked for (:meth:`facts`)
            behind = self.fact_behind.setdefault(key, {"ing_lo": old_mark})
            behind["ing_hi"] = mark  # the windows of two refreshes join: the log only grows

    def _snapshot(self) -> tuple[str, dict[str, Any]]:
        """WHERE clause and parameters of all rows up to the current version."""
        if self.watermark is None:
            return "TRUE", {}
        return "ingested_at IS NULL OR ingested_at <= $ing_hi", {"ing_hi": self.watermark}

    def _rows(self, con: Any, where: str, params: Mapping[str, Any]) -> int:
        cur = con.cursor()
        try:
            return int(
                cur.sql(
                    f"SELECT count(*) FROM {self.table} WHERE {where}", params=dict(params)
                ).fetchall()[0][0]
            )
        finally:
            cur.close()

    def zone_cells(self, con: Any, zone: str) -> pd.DataFrame:
        """All-history answer cells in ``zone`` (built on first use at this version)."""
        if zone not in self.cells:
            seeded = self.seed(zone) if self.seed is not None else None
            if seeded is not None and seeded[0] == self.count:
                self.cells[zone] = seeded[1]
                return seeded[1]
            where, params = self._snapshot()
            cells = raw_cells(con, self.table, zone, where, params)
            expected = self._rows(con, where, params)
            if expected == self.count:
                self.cells[zone] = cells
            else:  # rows arrived in between: use this snapshot, keep nothing
                return cells
        return self.cells[zone]

    def facts(self, con: Any, key: Hashable, make: Callable[[], FactState]) -> mv.Facts:
        """The driver counts of ``key`` (loaded on first use, refreshed with the cells)."""
        if key not in self.fact_states:
            state = self._seeded_facts(make)
            if state is None:
                with memory_limit(con, self.memory_mb):
                    state = make().load(con, self.table, *self._snapshot())
            self.fact_states[key] = state
            while len(self.fact_states) > MAX_FACT_STATES:  # oldest first (dicts keep order)
                oldest = next(iter(self.fact_states))
                del self.fact_states[oldest]
                self.fact_behind.pop(oldest, None)
        elif key in self.fact_behind:
            self.fact_states[key].update(con, self.table, _DELTA, self.fact_behind.pop(key))
        return self.fact_states[key].facts()

    def _seeded_facts(self, make: Callable[[], FactState]) -> FactState | None:
        """A state loaded from the kept driver counts when they cover this version."""
        if self.facts_seed is None:
            return None
        state = make()
        covered = self.facts_seed(state)
        return state if covered is not None and covered == self.count else None

    def result(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        if key in self.results:
            self.results.move_to_end(key)
            return self.results[key]
        value = compute()
        self.results[key] = value
        while len(self.results) > MAX_RESULTS:
            self.results.popitem(last=False)
        return value


T = TypeVar("T")
Hit = tuple[Any, StoreCache]


def store_cache(events: ibis.Table, cache: StoreCache | None = None) -> Hit | None:
    """(connection, cache) for a plain DuckDB ``events`` table; None otherwise. ``cache`` (the
    App's) is used when it is for this table; else the call gets a fresh, unshared one."""
    con = _duckdb_con(events)
    if con is None:
        return None
    table = events.get_name()
    if cache is None or cache.table != table:
        return con, StoreCache(table=table)
    return con, cache


def cells_apply(wanted: Mapping[str, list[Any]]) -> bool:
    """Whether the cached cells can apply the dimension filters ``wanted`` themselves (only
    FAST_FILTER_KEYS with text values; others, like ``segment``, need the engine)."""
    return all(
        k in FAST_FILTER_KEYS and all(isinstance(v, str) for v in vs) for k, vs in wanted.items()
    )


def all_cells(hit: Hit | None, zone: str, wanted: Mapping[str, list[Any]]) -> pd.DataFrame | None:
    """The all-history cells when on the fast path and they can apply ``wanted``."""
    return hit[1].zone_cells(hit[0], zone) if hit and cells_apply(wanted) else None


def cached_call(
    events: ibis.Table,
    journey: JourneyConfig,
    fast: bool,
    key: Hashable,
    compute: Callable[[Hit | None], T],
    cache: StoreCache | None = None,
) -> T:
    """``compute(hit)`` on the fast path, its result kept per store version under ``key``
    (plus the journey) in ``cache``; ``compute(None)`` when the fast path does not apply
    (``fast`` False, not a plain DuckDB table)."""
    hit = store_cache(events, cache) if fast else None
    if hit is None:
        return compute(None)
    con, cache = hit
    with cache.lock:
        cache.refresh(con)
        result: T = cache.result((key, journey_key(journey)), lambda: compute(hit))
        return result


def facts(
    events: ibis.Table,
    journey: JourneyConfig,
    prev: tuple[date, date],
    cur: tuple[date, date],
    owners: list[str] | None,
    hit: tuple[Any, StoreCache] | None,
) -> mv.Facts:
    """The driver counts (:func:`movers.collect_facts`), kept per store version when on the
    fast path."""
    if hit is None:
        return mv.collect_facts(events, journey, prev, cur, owners)
    key = (journey_key(journey), prev, cur, freeze(owners))
    return hit[1].facts(hit[0], key, lambda: FactState(journey, prev, cur, owners))


def journey_key(journey: JourneyConfig) -> str:
    """A stable key of a journey configuration (its JSON, hashed)."""
    return hashlib.sha1(journey.model_dump_json().encode(), usedforsecurity=False).hexdigest()


def freeze(value: Any) -> Hashable:
    """A hashable form of call arguments (dicts and lists become sorted tuples)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [freeze(v) for v in value]
        return tuple(sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items)
    return value if isinstance(value, Hashable) else repr(value)
