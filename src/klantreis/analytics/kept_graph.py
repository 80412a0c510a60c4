"""The kept directly-follows graph of all journeys, read straight from the store's file.

The journey index (:mod:`klantreis.analytics.journey_index`) keeps the graph of all journeys
as a wait histogram (``journey_dfg``) and each journey's path (``journey_paths``). When the
index is current (its state names this version of the index and as many events as the log
holds), the graph, the journey count and the start and end steps are four small queries.
:func:`read_kept_graph` runs them on a read-only connection and nothing else: no App, no
store object, no Arrow, numpy or pydantic, so ``klantreis journeys dfg`` starts about as
fast as a bare DuckDB query process (issue 17). Whenever it cannot answer exactly as the
index would (no index yet, out of date, another version, a store a server holds), it
answers None and the caller takes the usual way, which refreshes the index.

This module holds what both ways share: the index version and the SQL that reads the edges
from the histogram (counts and means exact, median and p90 within
:data:`~klantreis.analytics.derived_totals.ALPHA`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from klantreis.analytics.derived_totals import GAMMA

__all__ = ["EDGES_SQL", "ENDS_SQL", "INDEX_VERSION", "NAMES_SQL", "KeptGraph", "read_kept_graph"]

log = logging.getLogger(__name__)

#: Bump when the index's tables change: an index of another version is dropped and rebuilt
#: (``JourneyIndex.ensure``), and :func:`read_kept_graph` does not read it.
INDEX_VERSION = 5

#: The value a wait bucket stands for (``derived_totals.bucket_value``).
_BUCKET_VALUE = (
    f"CASE WHEN bucket IS NULL THEN 0.0 ELSE 2 * {GAMMA!r} ** bucket / {GAMMA + 1!r} END"
)

#: The edges of one activity from the kept histogram: count and mean exact, median and p90
#: as ``quantile_cont`` interpolates between the order statistics around ``q * (n - 1)``,
#: each taken as its bucket's value (``derived_totals.hist_quantile``, in SQL). The ranks
#: and their fractions are BIGINT arithmetic (the same numbers as the DECIMAL of
#: ``floor(0.9 * (total - 1))``, a fifth cheaper: the edges are most of a kept graph's read).
EDGES_SQL = f"""
WITH h AS (
  SELECT source, target, {_BUCKET_VALUE} AS v, n, wait_s,
         sum(n) OVER (PARTITION BY source, target ORDER BY bucket ASC NULLS FIRST
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)::BIGINT AS cum,
         sum(n) OVER (PARTITION BY source, target)::BIGINT AS total
  FROM journey_dfg WHERE activity = '{{a}}'),
r AS (
  SELECT *, (total - 1) // 2 AS lo5, ((total - 1) % 2) / 2 AS f5,
         (9 * (total - 1)) // 10 AS lo9, ((9 * (total - 1)) % 10) / 10 AS f9
  FROM h),
e AS (
  SELECT source, target, max(total)::BIGINT AS count, sum(wait_s) / max(total) AS mean_s,
         arg_min(v, cum) FILTER (cum > lo5) AS a5,
         arg_min(v, cum) FILTER (cum > least(lo5 + 1, total - 1)) AS b5, max(f5) AS f5,
         arg_min(v, cum) FILTER (cum > lo9) AS a9,
         arg_min(v, cum) FILTER (cum > least(lo9 + 1, total - 1)) AS b9, max(f9) AS f9
  FROM r GROUP BY source, target)
SELECT source, target, count, mean_s, a5 + f5 * (b5 - a5) AS median_s,
       a9 + f9 * (b9 - a9) AS p90_s
FROM e ORDER BY count DESC, source, target
"""

#: The index's state and the log's size, in one row (an index is current when they agree).
_STATE_SQL = "SELECT version, events, (SELECT count(*) FROM events) FROM journey_index_state"

#: One activity's names as a scalar subquery: the index keeps activities as codes, a code
#: being the name's position in this list (``journey_index.add_codes``).
NAMES_SQL = "(SELECT names FROM journey_codes WHERE activity = '{a}')"

#: Start (``first``) or end (``last``) steps with their journeys (of the paths ``where``
#: selects), as ``JourneyIndex`` sorts them: grouped by code, then named.
ENDS_SQL = f"""
SELECT nm[c] AS activity, count FROM (
  SELECT {{end}}_{{a}} AS c, count(*) AS count FROM journey_paths{{where}} GROUP BY ALL),
  (SELECT {NAMES_SQL} AS nm)
ORDER BY count DESC, activity
"""

#: Both ends at once, from one pass over the paths: each (first, last) pair's journeys, then
#: each end's steps summed over them (``ENDS_SQL``'s rows, ``end`` naming the end); their
#: ``first`` counts add up to the journey count. Two ``ENDS_SQL`` queries and a count
#: scanned the paths twice (about 7 ms of CPU of the 15 at 1M journeys).
_BOTH_ENDS_SQL = f"""
WITH p AS (SELECT first_{{a}} AS f, last_{{a}} AS l, count(*) AS n FROM journey_paths GROUP BY ALL),
nm AS (SELECT {NAMES_SQL} AS nm)
SELECT 'first' AS "end", nm[f] AS activity, sum(n)::BIGINT AS count FROM p, nm GROUP BY ALL
UNION ALL
SELECT 'last' AS "end", nm[l] AS activity, sum(n)::BIGINT AS count FROM p, nm GROUP BY ALL
ORDER BY "end", count DESC, activity
"""

_ACTIVITIES = ("kind", "touchpoint")


@dataclass(frozen=True)
class KeptGraph:
    """What ``JourneyIndex.discover`` gives for all journeys, as plain rows: ``edges`` as
    ``Discovery.dfg.to_pylist()``, ``start`` and ``end`` as theirs."""

    journeys: int
    edges: list[dict[str, Any]]
    start: list[dict[str, Any]]
    end: list[dict[str, Any]]


def read_kept_graph(db_path: str, activity: str = "kind") -> KeptGraph | None:
    """The kept graph of all journeys in the store at ``db_path``, or None when only a
    refresh of the index could give it (see the module's text)."""
    if activity not in _ACTIVITIES or db_path == ":memory:" or not Path(db_path).is_file():
        return None
    try:
        con = duckdb.connect(db_path, read_only=True)
    except duckdb.Error as exc:  # held by a writer (a server), or not a store
        log.debug("kept graph not read (%s)", exc)
        return None
    try:
        return _read(con, activity)
    except duckdb.Error as exc:  # no index tables, or an older layout
        log.debug("kept graph not read (%s)", exc)
        return None
    finally:
        con.close()


def _read(con: duckdb.DuckDBPyConnection, activity: str) -> KeptGraph | None:
    state = con.execute(_STATE_SQL).fetchall()
    if len(state) != 1 or state[0][0] != INDEX_VERSION or state[0][1] != state[0][2]:
        return None
    edges = _dicts(con, EDGES_SQL.format(a=activity))
    if not edges:  # not kept yet: the index fills it
        return None
    ends: dict[str, list[dict[str, Any]]] = {"first": [], "last": []}
    for end, step, count in con.execute(_BOTH_ENDS_SQL.format(a=activity)).fetchall():
        ends[end].append({"activity": step, "count": count})
    journeys = sum(row["count"] for row in ends["first"])
    return KeptGraph(journeys=journeys, edges=edges, start=ends["first"], end=ends["last"])


def _dicts(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
