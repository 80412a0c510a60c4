"""The driver counts of the CX index movers on DuckDB, kept in memory and refreshed
incrementally after an ingest (part of the fast path, see ``index_cache``).

The portable reference is :func:`klantreis.analytics.movers.collect_facts` (the tests
compare both). Its counts for fixed windows are built from two mergeable parts:

- failure and contact events per (kind, owner, window): counts, so new rows just add;
- per journey and promise, the first ``promised`` event (its time, deadline and owner) and
  the first ``fulfilled_by`` event (time, owner) in the promise look-back range: minima, so
  new rows merge by taking the earlier one. Which promises broke is then evaluated in pandas
  with the rules of ``movers._broken_promises`` (a few hundred thousand journeys: ~50 ms).

The portable query recomputes all of it on every call (0.7-1.5 s on 10M events); here an
ingest costs two small queries over the newly ingested rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from klantreis.analytics import movers as mv
from klantreis.model.journey import JourneyConfig, Promise

__all__ = ["FactState", "frame"]

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


@dataclass
class FactState:
    """The mergeable parts of ``collect_facts(events, journey, previous, current, owners)``."""

    journey: JourneyConfig
    previous: tuple[date, date]
    current: tuple[date, date]
    owners: Sequence[str] | None
    kinds: pd.DataFrame = field(default_factory=pd.DataFrame)
    journeys: dict[str, pd.DataFrame] = field(default_factory=dict)
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

    def load(self, con: Any, table: str, where: str, params: dict[str, Any]) -> FactState:
        """Add the rows selected by ``where`` (all rows, or the newly ingested ones)."""
        start, middle, end = self.bounds
        by_owner = {"owners": list(self.owners)} if self.owners else {}
        sql = _KINDS_SQL.format(
            table=table, where=where, owners="AND list_contains($owners, owner)" if by_owner else ""
        )
        kinds = frame(
            con,
            sql,
            {
                **params,
                **by_owner,
                "middle": middle,
                "start": start,
                "end": end,
                "kinds": self.kinds_wanted,
            },
        )
        journeys = {
            promise.id: frame(
                con,
                _JOURNEYS_SQL.format(table=table, where=where),
                {
                    **params,
                    "promised": promise.promised,
                    "fulfilled": promise.fulfilled_by,
                    "path": f"$.{promise.deadline_attr}",
                    "lo": start - mv.PROMISE_LOOKBACK,
                    "end": end,
                },
            ).set_index("journey_id")
            for promise in self.journey.promises
        }
        return self.add(kinds, journeys)

    def add(self, kinds: pd.DataFrame, journeys: dict[str, pd.DataFrame]) -> FactState:
        """Add counts per (kind, owner, is_current) and per promise the journeys' firsts
        (from the log, or from the kept tables of ``derived_facts``)."""
        if not kinds.empty:
            self._facts = None
            self.kinds = kinds if self.kinds.empty else pd.concat([self.kinds, kinds])
        for promise in self.journey.promises:
            rows = journeys[promise.id]
            old = self.journeys.get(promise.id)
            if old is None or not rows.empty:
                self._facts = None
            self.journeys[promise.id] = rows if old is None else _merge_journeys(old, rows)
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
            rows += self._broken(promise, self.journeys[promise.id])
        return mv._split(rows, "key")

    def _broken(self, promise: Promise, j: pd.DataFrame) -> list[dict[str, Any]]:
        """Broken promises per (owner, is_current): the rules of movers._broken_promises,
        on numpy arrays (naive UTC datetime64)."""
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
        counts = Counter(zip(owner.tolist(), (broke_at[hit] >= middle).tolist(), strict=True))
        return [
            {"key": promise.id, "owner": o, "is_current": bool(c), "count": n}
            for (o, c), n in counts.items()
            if not self.owners or o in self.owners
        ]


def _naive_utc(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def _utc_values(s: pd.Series) -> np.ndarray:
    """A (naive UTC) time column as datetime64[us] (NaT for missing)."""
    values: np.ndarray = s.to_numpy(dtype="datetime64[us]")
    return values
