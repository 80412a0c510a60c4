"""The broken promises per week of ``/contacts``' trend from kept rows: each kept promise
(``dk_promised``, :mod:`klantreis.contacts.conditions`) keeps the fulfilment that answers it,
so the weekly breaks are one scan of the promises, not a join with the kept kinds per view.

Why: the weekly breaks joined the window's first promise of each journey with the window's
first fulfilment of that journey (a scan of the kept kinds, 6.4M rows at 10M events, and a
hash join of 1M rows) on every view. The first fulfilment inside a window is a fact of the
promise row the window starts with: a promise row is the first of its journey in the window
when its previous day (``prev_day``) lies before the window, so every fulfilment after
``prev_day`` is one of two kinds: before the window or in it. ``dk_breaks`` keeps per promise
row the first fulfilment after its ``prev_day`` (``ful_at``, on ``ful_day``): when that day
lies in the window it is the window's first fulfilment; after the window there is none in it;
before the window (a fulfilment before the promise that reopened the journey: rare) the
window's fulfilment is read from the kept kinds for those journeys only.

Tables (derived, safe to drop):

- ``dk_breaks``: per kept promise row (journey, promise, local day): ``prev_day``, ``due``,
  ``ful_at``, ``ful_day``;
- ``dk_breaks_state``: the kept conditions' version, events and watermark it follows, their
  configuration fingerprint and this layout. A refresh recomputes the rows of the journeys of
  the events ingested since (from the refreshed kept tables), so its time follows the batch.
  The kept conditions' incremental refresh does it in its own transaction from the touched
  journeys' new rows it has just computed (:meth:`KeptBreaks.replace`): a separate refresh
  read the touched journeys' rows out of the 6.4M kept kinds again (0.4-0.6 CPU s after a
  100,000-event batch at 10M events); it remains for a full build or rows out of step.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from klantreis.contacts.kept_follow import Follower
from klantreis.contacts.kept_follow import rows as _rows
from klantreis.contacts.rootcause import EXCLUDED_KINDS
from klantreis.contacts.window_sql import Window, first_in_window
from klantreis.model.events import EVENT_COLUMNS
from klantreis.model.journey import JourneyConfig
from klantreis.store import EventStore
from klantreis.store.memory import memory_limit

__all__ = ["BREAKS_LAYOUT", "KeptBreaks", "supports_breaks"]

#: Bump when a table below changes: tables of another layout are rebuilt.
BREAKS_LAYOUT = 1

_DDL = (
    "CREATE TABLE IF NOT EXISTS dk_breaks (journey_id VARCHAR, promise_id VARCHAR, day DATE,"
    " prev_day DATE, due TIMESTAMPTZ, ful_at TIMESTAMPTZ, ful_day DATE)",
    "CREATE TABLE IF NOT EXISTS dk_breaks_state (version BIGINT, events BIGINT,"
    " watermark TIMESTAMPTZ, config VARCHAR, layout INTEGER)",
)

#: A promise's rows with the first fulfilment after their previous day, from the kept
#: promises ({promised}) and kinds ({kinds}), or copies of some journeys' rows.
_ROWS_SQL = """
SELECT p.journey_id, p.promise_id, p.day, p.prev_day, p.due, f.first_at, f.day
FROM (SELECT journey_id, promise_id, day, prev_day, due,
             coalesce(prev_day, DATE '0001-01-01') AS after
      FROM {promised} WHERE promise_id = $pid) p
ASOF LEFT JOIN (SELECT journey_id, day, first_at FROM {kinds} WHERE kind = $ful) f
ON p.journey_id = f.journey_id AND p.after < f.day
"""


def supports_breaks(journey: JourneyConfig) -> bool:
    """Can the weekly breaks be read from the kept tables (no promise kind is excluded from
    the kept kinds and no deadline is read from an event column)?"""
    kinds = {k for p in journey.promises for k in (p.promised, p.fulfilled_by)}
    columns = {p.deadline_attr for p in journey.promises} & set(EVENT_COLUMNS)
    return not (kinds & set(EXCLUDED_KINDS)) and not columns


class KeptBreaks(Follower):
    """The kept fulfilments of the kept promises of ``store`` (see the module docstring); a
    full fill runs under DuckDB's memory limit ``memory_mb`` (0: DuckDB's own), as the kept
    conditions' range build does: at 100M events the fill of every promise row peaked at
    3.3 GiB outside it (1.2 GiB under 1 GiB, measured by h-100m2)."""

    DDL = _DDL

    def __init__(self, store: EventStore, journey: JourneyConfig, memory_mb: int = 0) -> None:
        super().__init__(store)
        self.journey = journey
        self.memory_mb = memory_mb

    def _follow(self, con: duckdb.DuckDBPyConnection) -> str:
        kept = _rows(con, "SELECT version, events, watermark, config FROM dk_state")
        if not kept:
            return "current"  # no kept conditions (yet)
        version, events, watermark, config = kept[0]
        state = _rows(con, "SELECT version, events, watermark, config, layout FROM dk_breaks_state")
        same = bool(state) and state[0][3:] == (config, BREAKS_LAYOUT)
        if same and state[0][0] == version:
            return "current"
        mode = "full"
        if same:
            mode = self._incremental(con, state[0][1:3], events, watermark)
        if mode == "full":
            with memory_limit(con, self.memory_mb):
                _rows(con, "DELETE FROM dk_breaks")
                self._fill(con, "dk_promised", "dk_kinds")
        self._save(con)
        return mode

    def replace(
        self, con: duckdb.DuckDBPyConnection, version: int, journeys: str, promised: str, kinds: str
    ) -> bool:
        """Inside the kept conditions' refresh, before its state is saved: when these rows
        follow the conditions' ``version`` (the one before the refresh), replace the rows of
        the refreshed ``journeys`` (SQL of their ids) by those of their new ``promised`` and
        ``kinds`` rows (the refresh's copies: no read of the 6.4M kept kinds) and say so;
        then :meth:`mark` once the conditions' state is saved. False: :meth:`ensure` follows
        later, as before."""
        for ddl in self.DDL:
            _rows(con, ddl)
        state = _rows(con, "SELECT version, config, layout FROM dk_breaks_state")
        config = _rows(con, "SELECT config FROM dk_state")
        if not state or not config or state[0] != (version, config[0][0], BREAKS_LAYOUT):
            return False
        self._redo(con, journeys, promised, kinds)
        return True

    def mark(self, con: duckdb.DuckDBPyConnection) -> None:
        """Record that the rows follow the kept conditions' saved state (after
        :meth:`replace` in the same transaction)."""
        self._save(con)
        self.last = "incremental"

    @staticmethod
    def _save(con: duckdb.DuckDBPyConnection) -> None:
        """The rows follow the kept conditions' state as it is now (``dk_state``)."""
        _rows(con, "DELETE FROM dk_breaks_state")
        _rows(
            con,
            "INSERT INTO dk_breaks_state SELECT version, events, watermark, config, ?"
            " FROM dk_state",
            [BREAKS_LAYOUT],
        )

    def _redo(
        self, con: duckdb.DuckDBPyConnection, journeys: str, promised: str, kinds: str
    ) -> None:
        """The rows of ``journeys`` (SQL of their ids) made anew from ``promised`` and
        ``kinds`` (tables holding those journeys' rows)."""
        _rows(con, f"DELETE FROM dk_breaks WHERE journey_id IN ({journeys})")
        self._fill(con, promised, kinds)

    def _fill(self, con: duckdb.DuckDBPyConnection, promised: str, kinds: str) -> None:
        for p in self.journey.promises:
            _rows(
                con,
                "INSERT INTO dk_breaks " + _ROWS_SQL.format(promised=promised, kinds=kinds),
                {"pid": p.id, "ful": p.fulfilled_by},
            )

    def _incremental(
        self, con: duckdb.DuckDBPyConnection, seen: Any, events: int, watermark: Any
    ) -> str:
        """Recompute the journeys of the events after the watermark seen (up to the kept
        conditions' one); ``full`` when the counts do not add up (events were removed)."""
        before, mark = seen
        span = "FROM events WHERE ingested_at > ? AND ingested_at <= ?"
        added = int(_rows(con, f"SELECT count(*) {span}", [mark, watermark])[0][0])
        if int(before) + added != int(events):
            return "full"
        _rows(
            con,
            "CREATE OR REPLACE TEMP TABLE _db_touched AS SELECT DISTINCT journey_id"
            f" {span} AND journey_id IS NOT NULL",
            [mark, watermark],
        )
        try:
            touched = "SELECT journey_id FROM _db_touched"
            only = f"journey_id IN ({touched})"
            # the touched journeys' rows, each table read once for every promise
            _rows(con, f"CREATE OR REPLACE TEMP TABLE _db_p AS FROM dk_promised WHERE {only}")
            _rows(
                con,
                "CREATE OR REPLACE TEMP TABLE _db_k AS FROM dk_kinds WHERE kind IN"
                f" (SELECT unnest($ful)) AND {only}",
                {"ful": sorted({p.fulfilled_by for p in self.journey.promises})},
            )
            self._redo(con, touched, "_db_p", "_db_k")
        finally:
            for temp in ("_db_touched", "_db_p", "_db_k"):
                _rows(con, f"DROP TABLE IF EXISTS {temp}")
        return "incremental"

    # -- reads ---------------------------------------------------------------------------
    def weekly(self, window: Window, now: Any) -> pd.DataFrame:
        """Broken promises of ``window`` per local week of their deadline (refreshed
        first): period, promise_id, broken."""
        self.ensure()
        zone = self.journey.timezone
        where, params = first_in_window(window, {"zone": zone, "now": now})
        first, last = window
        fulfilled = "CASE WHEN ful_day <= $last THEN ful_at END" if last is not None else "ful_at"
        early = "ful_day < $first" if first is not None else "FALSE"
        broken = "({f} > {p}due OR ({f} IS NULL AND $now > {p}due))"
        cur = self.store.cursor()
        try:
            slow = int(
                cur.execute(
                    f"SELECT count(*) FROM dk_breaks WHERE {where} AND {early}",
                    {k: v for k, v in params.items() if f"${k}" in where + early},
                ).fetchall()[0][0]
            )
            parts = []
            for i, p in enumerate(self.journey.promises):
                params[f"pid{i}"], params[f"ful{i}"] = p.id, p.fulfilled_by
                params[f"grace{i}"] = round(p.grace_minutes * 60_000_000)
                rows = f"SELECT * FROM dk_breaks WHERE promise_id = $pid{i} AND {where}"
                parts.append(
                    f"SELECT promise_id, due - to_microseconds($grace{i}) AS deadline"
                    f" FROM ({rows}) WHERE NOT coalesce({early}, FALSE)"
                    f" AND {broken.format(f=fulfilled, p='')}"
                )
                if slow:  # their first fulfilment in the window from the kept kinds
                    parts.append(
                        f"SELECT p.promise_id, p.due - to_microseconds($grace{i}) AS deadline"
                        f" FROM ({rows} AND {early}) p LEFT JOIN (SELECT journey_id, first_at"
                        f" FROM dk_kinds WHERE kind = $ful{i} AND {where} AND journey_id IN"
                        f" (SELECT journey_id FROM ({rows} AND {early}))) f USING (journey_id)"
                        f" WHERE {broken.format(f='f.first_at', p='p.')}"
                    )
            if not parts:
                return pd.DataFrame({"period": [], "promise_id": [], "broken": []})
            sql = (
                "SELECT strftime(date_trunc('week', timezone($zone, deadline)), '%Y-%m-%d')"
                " AS period, promise_id, count(*) AS broken FROM ("
                + " UNION ALL ".join(parts)
                + ") GROUP BY ALL ORDER BY period, promise_id"
            )
            used = {k: v for k, v in params.items() if f"${k}" in sql}
            df: pd.DataFrame = cur.sql(sql, params=used).to_arrow_table().to_pandas()
        finally:
            cur.close()
        return df
