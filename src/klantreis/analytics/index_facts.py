"""The driver counts of the CX index movers on DuckDB, kept in memory and refreshed
incrementally after an ingest (part of the fast path, see ``index_cache``).

The portable reference is :func:`klantreis.analytics.movers.collect_facts` (the tests
compare both). Its counts for fixed windows are built from two mergeable parts:

- failure and contact events per (kind, owner, window): counts, so new rows just add;
- broken promises per (promise, owner, window): counted in SQL with the rules of
  ``movers._broken_promises`` over every journey's first ``promised`` event (its time,
  deadline and owner) and first ``fulfilled_by`` event (time, owner) in the promise
  look-back range, under the memory setting (decision 71: at 100M DuckDB's aggregate of
  every journey's firsts held 2.2 GiB, 3.8 with 28-day windows). Only the counts are kept,
  not the journeys' firsts. An ingest touches few journeys: their firsts before
  and after the new rows are read from the log (:data:`_OLD_ROWS`), the old ones'
  broken promises taken out of the counts and the merged ones' put in (the earlier
  promise, the earlier fulfilment; on a tie the older row, as before). That lookup scans
  the log's rows of the movers' windows (~0.26 CPU s per promise at 10M events, about
  what merging the kept frames cost): it grows with the events in the windows.

The portable query recomputes all of it on every call (0.7-1.5 s on 10M events); here an
ingest costs small queries over the newly ingested rows and the journeys they touch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from klantreis.analytics import movers as mv
from klantreis.model.journey import JourneyConfig, Promise

__all__ = ["FactState", "broken_counts", "frame"]

_KINDS_SQL = """
SELECT kind, owner, occurred_at >= $middle AS is_current, count(*) AS count
FROM {table}
WHERE list_contains($kinds, kind) AND occurred_at >= $start AND occurred_at < $end
  {owners} AND ({where})
GROUP BY ALL"""

_JOURNEYS_SQL = """
SELECT journey_id,
  min(occurred_at) FILTER (WHERE kind = $promised) AS p_at,
  arg_min_null(coalesce(TRY_CAST(TRY(json_extract_string(attrs, $path)) AS TIMESTAMPTZ),
                        occurred_at), occurred_at) FILTER (WHERE kind = $promised) AS deadline,
  arg_min_null(owner, occurred_at) FILTER (WHERE kind = $promised) AS p_owner,
  min(occurred_at) FILTER (WHERE kind = $fulfilled) AS f_at,
  arg_min_null(owner, occurred_at) FILTER (WHERE kind = $fulfilled) AS f_owner
FROM {table}
WHERE journey_id IS NOT NULL AND occurred_at >= $lo AND occurred_at < $end
  AND kind IN ($promised, $fulfilled) AND ({where})
GROUP BY journey_id"""

#: Broken promises per (owner, is_current) of the per-journey firsts of ``{firsts}`` (the
#: rows of ``_JOURNEYS_SQL``): the rules of ``movers._broken_promises`` (and ``_broken``).
_BROKEN_SQL = """
SELECT coalesce(f_owner, p_owner) AS owner, coalesce(f_at, deadline) >= $middle AS is_current,
  count(*)::BIGINT AS count
FROM ({firsts})
WHERE p_at IS NOT NULL AND coalesce(f_at, $end) > deadline + $grace
  AND coalesce(f_at, deadline) >= $start AND coalesce(f_at, deadline) < $end
GROUP BY ALL"""

#: The rows of the journeys ``$ids`` up to the old snapshot (``$ing_lo``): their firsts before
#: an ingest (the ids: a semi-join built on the list, not on the log's rows).
_OLD_ROWS = (
    "journey_id IN (SELECT unnest($ids)) AND (ingested_at IS NULL OR ingested_at <= $ing_lo)"
)

_PROMISED = ["p_at", "deadline", "p_owner"]
_FULFILLED = ["f_at", "f_owner"]


def frame(con: Any, sql: str, params: dict[str, Any], own_cursor: bool = True) -> pd.DataFrame:
    """The query's rows; UTC time columns as naive datetime64[us] (fast to compare). On a
    cursor of its own unless ``own_cursor`` is False (the caller's transaction)."""
    cur = con.cursor() if own_cursor else con
    try:
        df = cur.sql(sql, params=params).to_arrow_table().to_pandas()
    finally:
        if own_cursor:
            cur.close()
    for col in df.columns:
        if isinstance(df[col].dtype, pd.DatetimeTZDtype):
            df[col] = df[col].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    return df


def broken_counts(
    con: Any,
    firsts: str,
    params: dict[str, Any],
    promise: Promise,
    bounds: tuple[datetime, datetime, datetime],
    own_cursor: bool = True,
) -> pd.DataFrame:
    """Broken promises of ``promise`` per (owner, is_current) over the per-journey firsts
    the query ``firsts`` selects (``_JOURNEYS_SQL``'s columns); ``bounds`` = (start,
    middle, end) of the windows."""
    start, middle, end = bounds
    grace = timedelta(minutes=promise.grace_minutes)
    sql = _BROKEN_SQL.format(firsts=firsts)
    counted = {**params, "start": start, "middle": middle, "end": end, "grace": grace}
    return frame(con, sql, counted, own_cursor=own_cursor)


def _first(frame: pd.DataFrame, at: str, cols: list[str]) -> pd.DataFrame:
    """Per journey (index) the row with the earliest ``at`` (the first one on ties)."""
    rows = frame[cols].dropna(subset=[at]).sort_values(at, kind="stable")
    return rows[~rows.index.duplicated(keep="first")]


def _merge_journeys(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Old and new per-journey firsts combined: the earlier promise, the earlier fulfilment."""
    if new.empty:
        return old
    touched = old.index.intersection(new.index)
    both = pd.concat([old.loc[touched], new])
    merged = _first(both, "p_at", _PROMISED).join(_first(both, "f_at", _FULFILLED), how="outer")
    return pd.concat([old.drop(touched), merged])


Counts = Counter[tuple[str | None, bool]]


def _counter(rows: pd.DataFrame) -> Counts:
    """Per (owner, is_current) the count of ``rows`` (``_BROKEN_SQL``'s columns)."""
    out: Counts = Counter()
    for owner, current, n in zip(rows["owner"], rows["is_current"], rows["count"], strict=True):
        out[(owner if isinstance(owner, str) else None, bool(current))] += int(n)
    return out


@dataclass
class FactState:
    """The mergeable parts of ``collect_facts(events, journey, previous, current, owners)``."""

    journey: JourneyConfig
    previous: tuple[date, date]
    current: tuple[date, date]
    owners: Sequence[str] | None
    kinds: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Per promise id: its broken promises per (owner, is_current), every owner.
    broken: dict[str, Counts] = field(default_factory=dict)
    _facts: mv.Facts | None = None  # the counts until new rows arrive

    @property
    def bounds(self) -> tuple[datetime, datetime, datetime]:
        start, end = mv.day_bounds(self.previous[0], self.current[1], self.journey.timezone)
        middle, _ = mv.day_bounds(self.current[0], self.current[1], self.journey.timezone)
        return start, middle, end

    @property
    def days(self) -> tuple[date, date, date]:
        """(first day, first day of the current window, last day): local days."""
        return self.previous[0], self.current[0], self.current[1]

    @property
    def kinds_wanted(self) -> list[str]:
        return [*mv.failure_kinds(self.journey), mv.CONTACT_KIND]

    def _kind_rows(self, con: Any, table: str, where: str, params: dict[str, Any]) -> pd.DataFrame:
        start, middle, end = self.bounds
        by_owner = {"owners": list(self.owners)} if self.owners else {}
        sql = _KINDS_SQL.format(
            table=table, where=where, owners="AND list_contains($owners, owner)" if by_owner else ""
        )
        wanted = {"middle": middle, "start": start, "end": end, "kinds": self.kinds_wanted}
        return frame(con, sql, {**params, **by_owner, **wanted})

    def _promise_params(self, promise: Promise) -> dict[str, Any]:
        start, _, end = self.bounds
        return {
            "promised": promise.promised,
            "fulfilled": promise.fulfilled_by,
            "path": f"$.{promise.deadline_attr}",
            "lo": start - mv.PROMISE_LOOKBACK,
            "end": end,
        }

    def load(self, con: Any, table: str, where: str, params: dict[str, Any]) -> FactState:
        """Count the rows selected by ``where`` (a snapshot of the log: all rows up to a
        version); the journeys' broken promises are counted in SQL."""
        broken = {
            promise.id: broken_counts(
                con,
                _JOURNEYS_SQL.format(table=table, where=where),
                {**params, **self._promise_params(promise)},
                promise,
                self.bounds,
            )
            for promise in self.journey.promises
        }
        return self.add(self._kind_rows(con, table, where, params), broken)

    def update(self, con: Any, table: str, delta: str, window: dict[str, Any]) -> FactState:
        """Add the rows ingested in ``window`` (``delta``: ``ing_lo`` < ingested_at <=
        ``ing_hi``) to a state that counts the rows up to ``ing_lo``: the new failure and
        contact events, and per promise the journeys the new rows touch, re-evaluated."""
        kinds = self._kind_rows(con, table, delta, window)
        if not kinds.empty:
            self._facts = None
            self.kinds = kinds if self.kinds.empty else pd.concat([self.kinds, kinds])
        for promise in self.journey.promises:
            wanted = self._promise_params(promise)
            sql = _JOURNEYS_SQL.format(table=table, where=delta)
            added = frame(con, sql, {**window, **wanted}).set_index("journey_id")
            if added.empty:
                continue
            self._facts = None
            ids = {"ids": added.index.tolist(), "ing_lo": window["ing_lo"]}
            sql = _JOURNEYS_SQL.format(table=table, where=_OLD_ROWS)
            old = frame(con, sql, {**ids, **wanted}).set_index("journey_id")
            counts = self.broken.setdefault(promise.id, Counter())
            counts.subtract(self._broken(promise, old))
            counts.update(self._broken(promise, _merge_journeys(old, added)))
        return self

    def add(self, kinds: pd.DataFrame, broken: dict[str, pd.DataFrame]) -> FactState:
        """Add counts per (kind, owner, is_current) and per promise its broken promises per
        (owner, is_current) (from the log, or from the kept tables of ``derived_facts``)."""
        self._facts = None
        if not kinds.empty:
            self.kinds = kinds if self.kinds.empty else pd.concat([self.kinds, kinds])
        for promise in self.journey.promises:
            self.broken.setdefault(promise.id, Counter()).update(_counter(broken[promise.id]))
        return self

    def facts(self) -> mv.Facts:
        """The counts as :class:`movers.Facts` (same keys as ``collect_facts``)."""
        if self._facts is None:
            self._facts = self._count()
        return self._facts

    def _count(self) -> mv.Facts:
        rows = [
            {
                "key": r["kind"],
                # a missing owner as None whatever pandas made of it (NaN after a concat)
                "owner": r["owner"] if isinstance(r["owner"], str) else None,
                "is_current": bool(r["is_current"]),
                "count": int(r["count"]),
            }
            for r in self.kinds.to_dict("records")
        ]
        for promise in self.journey.promises:
            rows += [
                {"key": promise.id, "owner": o, "is_current": c, "count": n}
                for (o, c), n in self.broken.get(promise.id, Counter()).items()
                if n and (not self.owners or o in self.owners)
            ]
        return mv._split(rows, "key")

    def _broken(self, promise: Promise, j: pd.DataFrame) -> Counts:
        """Broken promises per (owner, is_current) of the per-journey firsts ``j`` (every
        owner): the rules of ``_BROKEN_SQL``, on numpy arrays (naive UTC datetime64)."""
        start, middle, end = (np.datetime64(_naive_utc(t), "us") for t in self.bounds)
        p_at, deadline, f_at = (_utc_values(j[c]) for c in ("p_at", "deadline", "f_at"))
        fulfilled = ~np.isnat(f_at)
        limit = deadline + np.timedelta64(int(promise.grace_minutes * 60_000_000), "us")
        broke_at = np.where(fulfilled, f_at, deadline)
        done = np.where(fulfilled, f_at, end)
        hit = ~np.isnat(p_at) & (done > limit) & (broke_at >= start) & (broke_at < end)
        f_owner, p_owner = (
            j[c].to_numpy(dtype=object, na_value=None) for c in ("f_owner", "p_owner")
        )
        owner = np.where([o is not None for o in f_owner], f_owner, p_owner)[hit]
        return Counter(zip(owner.tolist(), (broke_at[hit] >= middle).tolist(), strict=True))


def _naive_utc(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def _utc_values(s: pd.Series) -> np.ndarray:
    """A (naive UTC) time column as datetime64[us] (NaT for missing)."""
    values: np.ndarray = s.to_numpy(dtype="datetime64[us]")
    return values
