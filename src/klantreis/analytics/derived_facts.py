"""Kept driver counts of the CX index movers: what :class:`klantreis.analytics.index_facts.
FactState` loads from the log after a restart, kept in the store's DuckDB beside the score
cells and appended per ingest batch (maintained by
:class:`klantreis.analytics.derived_scores.ScoreCells`, in its transaction, past the same
``ingested_at`` watermark).

Why: on a 10M-event log the first ``/`` after a restart scanned the log for the movers'
failure and contact counts and for every journey's first promise and fulfilment in the
movers' windows (1-5 s of the page). These tables hold exactly what those scans select:

- ``df_kinds``: events per local day (the journey's time zone) x kind x owner, for every
  kind that can be a driver: ``contact.inbound`` and any kind ending in one of
  ``movers.FAILURE_SUFFIXES`` (a superset of ``movers.failure_kinds(journey)``). The
  movers' windows are whole local days, so their counts are sums of days.
- ``df_promises``: every event of a configured promise's ``promised`` kind (role ``p``, its
  deadline parsed as ``index_facts`` parses it) and ``fulfilled_by`` kind (role ``f``): the
  log's rows for those kinds, few columns. Per journey the first of each role in the
  look-back range is then the same query as on the log, over ~20% of the rows and no JSON.

``df_state``: layout, time zone, the promises' fingerprint (another configuration rebuilds
the tables from the log) and a version counter bumped by every change. A drift check (the
kept counts equal the log's) runs when the score cells compact (each doubling), not per
batch, so a batch costs time proportional to its size.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from klantreis.analytics import movers as mv
from klantreis.analytics.index_facts import broken_counts, frame
from klantreis.model.journey import Promise

__all__ = ["KeptFacts", "promises_key"]

log = logging.getLogger(__name__)

#: Bump when a table below changes: tables of another layout are rebuilt.
LAYOUT = 1
_DDL = (
    "CREATE TABLE IF NOT EXISTS df_kinds (day DATE, kind VARCHAR, owner VARCHAR, n BIGINT)",
    "CREATE TABLE IF NOT EXISTS df_promises (promise VARCHAR, role VARCHAR, journey_id VARCHAR,"
    " occurred_at TIMESTAMPTZ, owner VARCHAR, deadline TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS df_state (layout INTEGER, zone VARCHAR, promises VARCHAR,"
    " version BIGINT)",
)
_SUFFIXES = ", ".join(f"'{s}'" for s in mv.FAILURE_SUFFIXES)
_DRIVER_KINDS = (  # SQL, built by concatenation
    "(kind = '" + mv.CONTACT_KIND + "' OR string_split(kind, '.')[-1] IN (" + _SUFFIXES + "))"
)
_KINDS_SQL = f"""
INSERT INTO df_kinds
SELECT CAST(timezone($zone, occurred_at) AS DATE), kind, owner, count(*)
FROM events WHERE {_DRIVER_KINDS} {{where}} GROUP BY ALL"""
_PROMISED_SQL = """
INSERT INTO df_promises
SELECT $id, 'p', journey_id, occurred_at, owner,
       coalesce(TRY_CAST(TRY(json_extract_string(attrs, $path)) AS TIMESTAMPTZ), occurred_at)
FROM events WHERE kind = $kind AND journey_id IS NOT NULL {where}"""
_FULFILLED_SQL = """
INSERT INTO df_promises
SELECT $id, 'f', journey_id, occurred_at, owner, NULL
FROM events WHERE kind = $kind AND journey_id IS NOT NULL {where}"""
#: The same counts as ``index_facts._KINDS_SQL`` on the log, from the days.
_READ_KINDS_SQL = """
SELECT kind, owner, day >= $middle AS is_current, sum(n)::BIGINT AS count
FROM df_kinds
WHERE list_contains($kinds, kind) AND day >= $start AND day <= $last {owners}
GROUP BY ALL"""
#: The same rows as ``index_facts._JOURNEYS_SQL`` on the log.
_READ_JOURNEYS_SQL = """
SELECT journey_id,
  min(occurred_at) FILTER (WHERE role = 'p') AS p_at,
  arg_min_null(deadline, occurred_at) FILTER (WHERE role = 'p') AS deadline,
  arg_min_null(owner, occurred_at) FILTER (WHERE role = 'p') AS p_owner,
  min(occurred_at) FILTER (WHERE role = 'f') AS f_at,
  arg_min_null(owner, occurred_at) FILTER (WHERE role = 'f') AS f_owner
FROM df_promises
WHERE promise = $id AND occurred_at >= $lo AND occurred_at < $end
GROUP BY journey_id"""


def promises_key(promises: Sequence[Promise]) -> str:
    """The fingerprint of what the kept promise rows depend on."""
    return json.dumps([[p.id, p.promised, p.fulfilled_by, p.deadline_attr] for p in promises])


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or []).fetchall()


class KeptFacts:
    """The kept driver counts of one store (time zone ``zone``, the journey's
    ``promises``); every method runs on the caller's connection (inside its transaction)."""

    def __init__(self, zone: str, promises: Sequence[Promise]) -> None:
        self.zone, self.promises = zone, list(promises)
        self.key = promises_key(self.promises)

    def _state(self, con: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
        for ddl in _DDL:
            _run(con, ddl)
        rows = _run(con, "SELECT layout, zone, promises, version FROM df_state")
        return rows[0] if rows else None

    def current(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the tables are of this layout, time zone and promises."""
        state = self._state(con)
        return state is not None and tuple(state[:3]) == (LAYOUT, self.zone, self.key)

    def build(self, con: duckdb.DuckDBPyConnection) -> None:
        """Rebuild both tables from the whole log."""
        state = self._state(con)
        _run(con, "DELETE FROM df_kinds")
        _run(con, "DELETE FROM df_promises")
        self._insert(con, "", {})
        _run(con, "DELETE FROM df_state")
        version = int(state[3]) + 1 if state else 1
        _run(
            con, "INSERT INTO df_state VALUES (?, ?, ?, ?)", [LAYOUT, self.zone, self.key, version]
        )
        log.info("kept driver counts rebuilt")

    def append(self, con: duckdb.DuckDBPyConnection, mark: datetime | None) -> int:
        """Add the rows ingested after ``mark`` (one batch); the version counter moves when
        rows were added, and only then (pages key on it). The rows added."""
        added = self._insert(con, "AND ingested_at > $mark", {"mark": mark})
        if added:
            _run(con, "UPDATE df_state SET version = version + 1")
        return added

    def version(self, con: duckdb.DuckDBPyConnection) -> int:
        """The version counter (0 before the first build)."""
        state = self._state(con)
        return int(state[3]) if state is not None else 0

    def _insert(self, con: duckdb.DuckDBPyConnection, where: str, params: dict[str, Any]) -> int:
        added = _run(con, _KINDS_SQL.format(where=where), {"zone": self.zone, **params})[0][0]
        for p in self.promises:
            path = {"path": f"$.{p.deadline_attr}"}
            added += _run(
                con,
                _PROMISED_SQL.format(where=where),
                {"id": p.id, "kind": p.promised, **path, **params},
            )[0][0]
            added += _run(
                con,
                _FULFILLED_SQL.format(where=where),
                {"id": p.id, "kind": p.fulfilled_by, **params},
            )[0][0]
        return int(added)

    def check_and_compact(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Compare the kept counts with the log's (rebuild when they differ) and merge the
        batches' day rows. True when they agreed."""
        kept = _run(con, "SELECT coalesce(sum(n), 0) FROM df_kinds")[0][0]
        logged = _run(con, f"SELECT count(*) FROM events WHERE {_DRIVER_KINDS}")[0][0]
        rows = _run(con, "SELECT count(*) FROM df_promises")[0][0]
        expected = sum(
            _run(
                con,
                "SELECT count(*) FROM events WHERE kind = ? AND journey_id IS NOT NULL",
                [kind],
            )[0][0]
            for p in self.promises
            for kind in (p.promised, p.fulfilled_by)
        )
        if (int(kept), int(rows)) != (int(logged), int(expected)):
            log.warning("kept driver counts out of step; rebuilding")
            self.build(con)
            return False
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE _df_compact AS"
            " SELECT day, kind, owner, sum(n)::BIGINT FROM df_kinds GROUP BY ALL",
        )
        _run(con, "DELETE FROM df_kinds")
        _run(con, "INSERT INTO df_kinds SELECT * FROM _df_compact")
        _run(con, "DROP TABLE _df_compact")
        return True

    def read(
        self,
        con: duckdb.DuckDBPyConnection,
        kinds: Sequence[str],
        days: tuple[Any, Any, Any],
        bounds: tuple[datetime, datetime, datetime],
        owners: Sequence[str] | None,
    ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        """(counts per kind x owner x is_current, per promise its broken promises per owner
        x is_current) as ``FactState.load`` counts them on the log: ``days`` = (first day,
        first day of the current window, last day), ``bounds`` = (start, middle, end) of
        the windows in UTC."""
        first, middle, last = days
        by_owner = {"owners": list(owners)} if owners else {}
        sql = _READ_KINDS_SQL.format(owners="AND list_contains($owners, owner)" if by_owner else "")
        params = {"kinds": list(kinds), "start": first, "middle": middle, "last": last}
        counts = frame(con, sql, {**params, **by_owner}, own_cursor=False)
        lo = bounds[0] - mv.PROMISE_LOOKBACK
        broken = {
            p.id: broken_counts(
                con, _READ_JOURNEYS_SQL, {"id": p.id, "lo": lo}, p, bounds, own_cursor=False
            )
            for p in self.promises
        }
        return counts, broken
