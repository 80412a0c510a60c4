"""The journey counts of the root causes, kept per window of local days and updated by the
difference of the journeys that changed: the first view of ``/contacts`` after an ingest no
longer counts the period's millions of condition rows.

What is kept per window (``dk_ct_*`` tables, beside the kept conditions of
:mod:`klantreis.contacts.conditions`): the journeys of the population (a start event in the
window), the journeys per condition and owner of its first event, the journeys per owner
(exposure: journeys with any condition of that owner) and the journeys two conditions share
when one is a broken promise. Each is a **sum over journeys** of what one journey gives, and
what a journey gives depends only on its own kept rows (``first_in_window`` reads a row's
day and its ``prev_day``). So:

- after an ingest, the touched journeys' old share is subtracted and their new share added
  (once their rows are recomputed, from copies of the old and the new rows), in the
  refresh's transaction, for every kept window in one pass of grouped statements;
- a window of the same length a few days later (the period follows the newest event) is the
  kept window minus the share, in the old window, of the journeys with a row on a day that
  left or entered, plus their share in the new one;
- any other window is counted in full once and then kept (at most :data:`KEPT_WINDOWS`, the
  least recently used one goes).

The contacts' held-before counts are kept beside them by
:mod:`klantreis.contacts.held_counts` (per window and contacts frame, brought up to date by
the view that reads them). Each window row records the event count it was last brought to;
a window behind the kept conditions (e.g. refreshed by code without this module) is counted
afresh.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from klantreis.contacts.window_sql import (
    Window,
    first_in_window,
    moved_days,
    near_windows,
    window_condition_rows_sql,
)
from klantreis.model.journey import JourneyConfig

__all__ = [
    "HAND_TABLES",
    "KEPT_WINDOWS",
    "CauseTotals",
    "WindowTotals",
    "compact_window",
    "compact_windows",
    "drop_hand",
    "forget_ended_before",
    "hand_days",
    "hand_is_current",
    "journey_rows",
    "moved_journeys",
]

#: Windows kept at once (the page's named periods: 7, 30, 90 and 365 days and all).
KEPT_WINDOWS = 5

DDL = (
    "CREATE TABLE IF NOT EXISTS dk_ct_windows (wid INTEGER, first DATE, last DATE,"
    " used BIGINT, events BIGINT, journeys BIGINT)",
    "CREATE TABLE IF NOT EXISTS dk_ct_conditions (wid INTEGER, name VARCHAR, broken BOOLEAN,"
    " owner VARCHAR, n BIGINT)",
    "CREATE TABLE IF NOT EXISTS dk_ct_owners (wid INTEGER, owner VARCHAR, n BIGINT)",
    "CREATE TABLE IF NOT EXISTS dk_ct_pairs (wid INTEGER, name VARCHAR, outer_name VARCHAR,"
    " outer_broken BOOLEAN, n BIGINT)",
)
#: The per-window tables and their key columns (besides ``wid``).
_TABLES = {
    "dk_ct_conditions": "name, broken, owner",
    "dk_ct_owners": "owner",
    "dk_ct_pairs": "name, outer_name, outer_broken",
}
_TEMPS = ("_ct_pop", "_ct_w", "_ct_x", "_ct_k", "_ct_p", "_ct_s", "_ct_miss")
#: The kept conditions' hand-over (temporary tables of the writing connection): the rows, as
#: saved by the last incremental refresh, of the journeys it touched or found on the days the
#: default window moved by; its state row says which saved state they are (version, events,
#: watermark of ``dk_state``). Made by :class:`~klantreis.contacts.conditions.ConditionViews`.
HAND_TABLES = ("_dk_hand_state", "_dk_hand_j", "_dk_hand_k", "_dk_hand_p", "_dk_hand_days")
#: The bounds of :func:`~klantreis.contacts.window_sql.moved_days` (its parameters).
_DAY_BOUNDS = ("a", "b", "c", "d")


@dataclass(frozen=True)
class WindowTotals:
    """The kept counts of one window: ``journeys`` (the population), ``conditions`` (name,
    broken, owner, n: journeys per condition and owner of its first event), ``owners``
    (journeys per owner) and ``pairs`` (name, outer_name, outer_broken, n: journeys sharing
    the broken promise ``name`` and the condition ``outer_name``)."""

    journeys: int
    conditions: pd.DataFrame
    owners: pd.Series
    pairs: pd.DataFrame


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or []).fetchall()


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: Any) -> pd.DataFrame:
    df: pd.DataFrame = con.execute(sql, params).fetchdf()
    return df


class CauseTotals:
    """The kept window counts of one store's kept conditions (see the module docstring);
    every method runs on the store's writing connection inside the caller's transaction."""

    def __init__(self, journey: JourneyConfig) -> None:
        self.journey = journey
        #: How the last window was had: "kept", "shifted" or "counted" (in full).
        self.last = ""

    @staticmethod
    def create(con: duckdb.DuckDBPyConnection) -> None:
        for ddl in DDL:
            _run(con, ddl)

    @staticmethod
    def clear(con: duckdb.DuckDBPyConnection) -> None:
        """Forget every window (the kept conditions were rebuilt)."""
        for table in ("dk_ct_windows", *_TABLES):
            _run(con, f"DELETE FROM {table}")

    # -- maintenance ---------------------------------------------------------------------
    def touched(self, con: duckdb.DuckDBPyConnection, kinds: str, promised: str, sign: int) -> None:
        """Subtract (``sign`` -1: their old rows) or add (+1: their new rows) the share of
        the journeys whose rows are all in ``kinds`` and ``promised`` (copies of the kept
        tables' rows of some journeys) in every kept window."""
        self.replaced(con, (kinds, promised), None, sign)

    def replaced(
        self,
        con: duckdb.DuckDBPyConnection,
        old: tuple[str, str] | None,
        new: tuple[str, str] | None,
        sign: int = -1,
    ) -> None:
        """Take the share of some journeys' ``old`` rows (tables of kinds and promised, as
        :meth:`touched`; ``sign`` -1, +1 to add them instead) out of every kept window and
        add that of their ``new`` rows: one pass of grouped statements for every window and
        both sets, not one per window and set."""
        windows = _run(con, "SELECT wid, first, last FROM dk_ct_windows")
        parts = [
            _Part(wid, (first, last), part_sign, tables)
            for wid, first, last in windows
            for part_sign, tables in ((sign, old), (-sign, new))
            if tables is not None
        ]
        try:
            self._add_parts(con, parts)
        finally:
            _drop(con)

    def begin(self, con: duckdb.DuckDBPyConnection, window: Window, events: int) -> int:
        """A new kept window at ``events`` events with no journeys yet: a full build of the
        kept conditions adds each key range's journeys (:meth:`add`)."""
        return self._new(con, window, events)

    def add(
        self, con: duckdb.DuckDBPyConnection, wid: int, window: Window, kinds: str, promised: str
    ) -> None:
        """Add the share of the journeys whose rows are all in ``kinds`` and ``promised``
        (tables or subqueries) to the kept window ``wid`` of ``window``."""
        try:
            self._add(con, wid, window, 1, kinds, promised)
        finally:
            _drop(con)

    def mark(self, con: duckdb.DuckDBPyConnection, before: int, events: int) -> None:
        """The kept windows of ``before`` events are now those of ``events`` events (a
        window left behind by a refresh without this module stays behind: counted afresh)."""
        _run(con, "UPDATE dk_ct_windows SET events = ? WHERE events = ?", [events, before])

    # -- reads ---------------------------------------------------------------------------
    def window(self, con: duckdb.DuckDBPyConnection, window: Window, events: int) -> WindowTotals:
        """The counts of ``window`` at ``events`` events: kept, shifted from a kept window
        of the same length, or counted in full (and then kept)."""
        rows = _run(
            con,
            "SELECT wid, events FROM dk_ct_windows"
            " WHERE first IS NOT DISTINCT FROM ? AND last IS NOT DISTINCT FROM ?",
            list(window),
        )
        if rows and rows[0][1] != events:
            self._forget(con, rows[0][0])
            rows = []
        self.last = "kept"
        wid = int(rows[0][0]) if rows else self._make(con, window, events)
        _run(
            con,
            "UPDATE dk_ct_windows SET used = (SELECT max(used) + 1 FROM dk_ct_windows)"
            " WHERE wid = ?",
            [wid],
        )
        return self._read(con, wid)

    def moving(
        self, con: duckdb.DuckDBPyConnection, window: Window, events: int
    ) -> tuple[str, dict[str, Any]] | None:
        """The days (SQL over ``day``, and its parameters) whose journeys :meth:`window`
        would move a kept window of ``events`` events by to give ``window`` (None: it is
        kept, or none is near: counted in full)."""
        rows = _run(
            con,
            "SELECT count(*) FROM dk_ct_windows WHERE events = ?"
            " AND first IS NOT DISTINCT FROM ? AND last IS NOT DISTINCT FROM ?",
            [events, *window],
        )
        near = None if rows[0][0] else self._near(con, window, events)
        return None if near is None else moved_days((near[1], near[2]), window)

    def _make(self, con: duckdb.DuckDBPyConnection, window: Window, events: int) -> int:
        """A new kept window: shifted from a near one, else counted in full."""
        wid = self._shifted(con, window, events)
        self.last = "shifted"
        if wid is None:
            self.last = "counted"
            wid = self._new(con, window, events)
            try:
                self._add(con, wid, window, 1, "dk_kinds", "dk_promised")
            finally:
                _drop(con)
        self._evict(con)
        return wid

    def _read(self, con: duckdb.DuckDBPyConnection, wid: int) -> WindowTotals:
        p = [wid]
        journeys = int(_run(con, "SELECT journeys FROM dk_ct_windows WHERE wid = ?", p)[0][0])
        conditions = _frame(
            con, "SELECT name, broken, owner, n FROM dk_ct_conditions WHERE wid = ?", p
        )
        owners = _frame(
            con, "SELECT owner, n FROM dk_ct_owners WHERE wid = ? AND owner IS NOT NULL", p
        )
        pairs = _frame(
            con, "SELECT name, outer_name, outer_broken, n FROM dk_ct_pairs WHERE wid = ?", p
        )
        return WindowTotals(journeys, conditions, owners.set_index("owner")["n"], pairs)

    # -- windows -------------------------------------------------------------------------
    def _new(self, con: duckdb.DuckDBPyConnection, window: Window, events: int) -> int:
        wid = int(_run(con, "SELECT coalesce(max(wid), 0) + 1 FROM dk_ct_windows")[0][0])
        _run(
            con,
            "INSERT INTO dk_ct_windows SELECT ?, ?, ?, coalesce(max(used), 0), ?, 0"
            " FROM dk_ct_windows",
            [wid, *window, events],
        )
        return wid

    def _shifted(self, con: duckdb.DuckDBPyConnection, window: Window, events: int) -> int | None:
        """A copy of a kept window of the same length (or the same open start) moved to
        ``window`` by the journeys of the days that left or entered (None when no kept
        window is near enough: a quarter of the days, or a week of an open start)."""
        near = self._near(con, window, events)
        if near is None:
            return None
        old_wid, old_first, old_last = near
        wid = self._new(con, window, events)
        _run(
            con,
            "UPDATE dk_ct_windows SET journeys = (SELECT journeys FROM dk_ct_windows"
            " WHERE wid = $old) WHERE wid = $new",
            {"old": old_wid, "new": wid},
        )
        for table, keys in _TABLES.items():
            _run(
                con,
                f"INSERT INTO {table} SELECT ?, {keys}, n FROM {table} WHERE wid = ?",
                [wid, old_wid],
            )
        days, params = moved_days((old_first, old_last), window)
        try:
            moved_journeys(con, "_ct_s", days, params)
            journey_rows(con, "_ct_s", "_ct_k", "_ct_p")
            rows = ("_ct_k", "_ct_p")
            self._add_parts(
                con, [_Part(wid, (old_first, old_last), -1, rows), _Part(wid, window, 1, rows)]
            )
        finally:
            _drop(con)
        return wid

    @staticmethod
    def _near(con: duckdb.DuckDBPyConnection, window: Window, events: int) -> Any:
        """The kept window (wid, first, last) to shift to ``window``, or None."""
        near = near_windows(window)
        if near is None:
            return None
        where, params = near
        rows = _run(
            con,
            f"SELECT wid, first, last FROM dk_ct_windows WHERE events = $events AND {where}",
            {**params, "events": events},
        )
        return rows[0] if rows else None

    def _evict(self, con: duckdb.DuckDBPyConnection) -> None:
        old = _run(
            con,
            "SELECT wid FROM dk_ct_windows ORDER BY used DESC, wid DESC OFFSET ?",
            [KEPT_WINDOWS],
        )
        for (wid,) in old:
            self._forget(con, wid)

    @staticmethod
    def forget_ended_before(con: duckdb.DuckDBPyConnection, window: Window) -> int:
        """Forget the kept windows of ``window``'s length that end before it (the default
        periods of the days gone): how many. Every kept window is updated by each refresh."""
        return forget_ended_before(con, "dk_ct_windows", window, CauseTotals._forget)

    @staticmethod
    def _forget(con: duckdb.DuckDBPyConnection, wid: int) -> None:
        for table in ("dk_ct_windows", *_TABLES):
            _run(con, f"DELETE FROM {table} WHERE wid = ?", [wid])

    # -- counting ------------------------------------------------------------------------
    def _add(
        self,
        con: duckdb.DuckDBPyConnection,
        wid: int,
        window: Window,
        sign: int,
        kinds: str,
        promised: str,
    ) -> None:
        """Add ``sign`` x the counts of the rows in ``kinds`` and ``promised`` (whole
        journeys) in ``window`` to the kept window ``wid``."""
        self._add_parts(con, [_Part(wid, window, sign, (kinds, promised))])

    def _add_parts(self, con: duckdb.DuckDBPyConnection, parts: list[_Part]) -> None:
        """Add each part's ``sign`` x the counts of its rows (whole journeys) in its window
        to its kept window, in one pass: each journey of a part is a key of its own
        (``jk``), so the parts' journeys are counted side by side and the signed sums
        grouped per window once."""
        if not parts:
            return
        pops, conds, params = [], [], {}
        for k, part in enumerate(parts):
            kinds, promised = part.tables
            where, p = first_in_window(part.window, {"start": self.journey.journey_start})
            pops.append(
                _suffixed(
                    f"SELECT journey_id, {k} AS part FROM {kinds} WHERE kind = $start AND {where}",
                    k,
                )
            )
            params.update(_suffixed_params(p, k))
            rows, p = window_condition_rows_sql(self.journey, part.window, kinds, promised)
            conds.append(
                "SELECT p.jk, p.part, w.name, w.broken, w.owner FROM"
                f" ({_suffixed(rows, k)}) w JOIN (SELECT journey_id, jk, part FROM _ct_pop"
                f" WHERE part = {k}) p USING (journey_id)"
            )
            params.update(_suffixed_params(p, k))
        pop = (
            "CREATE OR REPLACE TEMP TABLE _ct_pop AS SELECT journey_id, part,"
            " CAST(row_number() OVER () AS INTEGER) AS jk FROM (" + " UNION ALL ".join(pops) + ")"
        )
        _run(con, pop, _used(pop, params))
        w = "CREATE OR REPLACE TEMP TABLE _ct_w AS " + " UNION ALL ".join(conds)
        _run(con, w, _used(w, params))
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE _ct_x AS SELECT * FROM (VALUES "
            + ", ".join(f"({k}, {p.wid}, {p.sign})" for k, p in enumerate(parts))
            + ") x(part, wid, sign)",
        )
        n = int(_run(con, "SELECT count(*) FROM _ct_pop")[0][0])
        _run(
            con,
            "UPDATE dk_ct_windows SET journeys = journeys + d.n FROM (SELECT x.wid,"
            " sum(x.sign * coalesce(c.n, 0)) AS n FROM _ct_x x LEFT JOIN (SELECT part, count(*)"
            " AS n FROM _ct_pop GROUP BY part) c USING (part) GROUP BY x.wid) d"
            " WHERE dk_ct_windows.wid = d.wid",
        )
        _run(
            con,
            "INSERT INTO dk_ct_conditions SELECT x.wid, name, broken, owner, sum(x.sign)"
            " FROM _ct_w JOIN _ct_x x USING (part) GROUP BY ALL",
        )
        # journeys per owner: a bit per journey key (1..n), ~5x cheaper than DISTINCT
        _run(
            con,
            "INSERT INTO dk_ct_owners SELECT x.wid, owner, sum(x.sign * o.n) FROM"
            " (SELECT part, owner, bit_count(bitstring_agg(jk, 1, $n)) AS n FROM _ct_w"
            " WHERE owner IS NOT NULL GROUP BY ALL) o JOIN _ct_x x USING (part) GROUP BY ALL",
            {"n": max(n, 1)},
        )
        _run(
            con,
            "INSERT INTO dk_ct_pairs SELECT x.wid, b.name, a.name, a.broken, sum(x.sign)"
            " FROM _ct_w b JOIN _ct_w a USING (jk) JOIN _ct_x x ON x.part = b.part"
            " WHERE b.broken GROUP BY ALL",
        )
        wids = sorted({p.wid for p in parts})
        for table, keys in _TABLES.items():
            compact_windows(con, table, keys, wids)


@dataclass(frozen=True)
class _Part:
    """One set of rows counted into a kept window: ``sign`` x the share of the journeys
    whose rows are all in ``tables`` (kinds, promised) in ``window``, into window ``wid``."""

    wid: int
    window: Window
    sign: int
    tables: tuple[str, str]


#: A named DuckDB parameter (``$name``) in a statement.
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _suffixed(sql: str, k: int) -> str:
    """``sql`` with every parameter ``$name`` renamed ``$name_k`` (parts side by side)."""
    return _PARAM.sub(rf"$\1_{k}", sql)


def _suffixed_params(params: dict[str, Any], k: int) -> dict[str, Any]:
    return {f"{name}_{k}": value for name, value in params.items()}


def _used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ``params`` that ``sql`` names (DuckDB refuses others)."""
    names = set(_PARAM.findall(sql))
    return {name: value for name, value in params.items() if name in names}


def compact_window(con: duckdb.DuckDBPyConnection, table: str, keys: str, wid: int) -> None:
    """One row per key of window ``wid`` in ``table`` (the sum of its ``n``; zeros go): the
    kept counts of a window after signed rows were added."""
    compact_windows(con, table, keys, [wid])


def compact_windows(con: duckdb.DuckDBPyConnection, table: str, keys: str, wids: list[int]) -> None:
    """:func:`compact_window` of every window in ``wids`` at once."""
    ids = [int(w) for w in wids]
    _run(
        con,
        f"CREATE OR REPLACE TEMP TABLE _ct_m AS SELECT wid, {keys}, sum(n) AS n FROM {table}"
        f" WHERE list_contains($wids, wid) GROUP BY ALL HAVING sum(n) <> 0",
        {"wids": ids},
    )
    _run(con, f"DELETE FROM {table} WHERE list_contains($wids, wid)", {"wids": ids})
    _run(con, f"INSERT INTO {table} SELECT * FROM _ct_m")
    _run(con, "DROP TABLE _ct_m")


def forget_ended_before(
    con: duckdb.DuckDBPyConnection,
    table: str,
    window: Window,
    forget: Callable[[duckdb.DuckDBPyConnection, int], None],
) -> int:
    """``forget`` each window of ``table`` (``wid``, ``first``, ``last``) of ``window``'s
    length that ends before it (none for an open window): how many."""
    first, last = window
    if first is None or last is None:
        return 0
    rows = _run(
        con,
        f"SELECT wid FROM {table} WHERE last - first = ? AND last < ?",
        [(last - first).days, last],
    )
    for (wid,) in rows:
        forget(con, int(wid))
    return len(rows)


def drop_hand(con: duckdb.DuckDBPyConnection) -> None:
    """Forget the kept conditions' hand-over (:data:`HAND_TABLES`): their rows change."""
    for temp in HAND_TABLES:
        _run(con, f"DROP TABLE IF EXISTS {temp}")


def hand_is_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Is the kept conditions' hand-over (:data:`HAND_TABLES`) that of their saved state?"""
    present = _run(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?",
        [HAND_TABLES[0]],
    )[0][0]
    if not present:
        return False
    same = _run(
        con,
        "SELECT count(*) FROM _dk_hand_state h JOIN dk_state s ON h.version = s.version"
        " AND h.events = s.events AND h.watermark = s.watermark",
    )[0][0]
    return bool(same)


def hand_days(con: duckdb.DuckDBPyConnection, days: dict[str, Any] | None) -> None:
    """Record in the hand-over the moved days (the parameters of
    :func:`~klantreis.contacts.window_sql.moved_days`) whose journeys' rows it holds (None:
    no days, only the touched journeys)."""
    _run(con, "CREATE OR REPLACE TEMP TABLE _dk_hand_days (a DATE, b DATE, c DATE, d DATE)")
    if days is not None:
        _run(con, "INSERT INTO _dk_hand_days VALUES (?, ?, ?, ?)", [days[k] for k in _DAY_BOUNDS])


def moved_journeys(
    con: duckdb.DuckDBPyConnection, into: str, days: str, params: dict[str, Any]
) -> None:
    """The temporary table ``into`` (``journey_id``): the journeys with a kept row on the
    moved days ``days`` (SQL and ``params`` of :func:`~klantreis.contacts.window_sql.moved_days`).
    When the kept conditions' hand-over is current and holds the rows of those same days'
    journeys (the refresh moved the default window by them), they are read from it: every
    journey with a row on those days now is there (an untouched one had it before, a
    touched one's new rows are there), and the 6.4M kept kinds are not scanned again."""
    tables = ("dk_kinds", "dk_promised")
    if hand_is_current(con):
        recorded = _run(con, "SELECT a, b, c, d FROM _dk_hand_days")
        if recorded and list(recorded[0]) == [params[k] for k in _DAY_BOUNDS]:
            tables = ("_dk_hand_k", "_dk_hand_p")
    _run(
        con,
        f"CREATE OR REPLACE TEMP TABLE {into} AS SELECT journey_id FROM {tables[0]}"
        f" WHERE {days} UNION SELECT journey_id FROM {tables[1]} WHERE {days}",
        params,
    )


def journey_rows(
    con: duckdb.DuckDBPyConnection,
    journeys: str,
    kinds: str,
    promised: str,
    where: str = "TRUE",
    params: dict[str, Any] | None = None,
) -> int:
    """The temporary tables ``kinds`` and ``promised``: the kept rows (``where``: of some
    days) of the journeys in the table ``journeys`` (column ``journey_id``). When the kept
    conditions' hand-over (:data:`HAND_TABLES`) is that of the saved state, the rows of the
    journeys it holds come from it and only the others are read from the kept tables (6.4M
    kinds at 10M events: a scan, skipped when none is missing). How many journeys were read
    from the kept tables (-1: all, no current hand-over)."""
    params = params or {}
    used = {k: v for k, v in params.items() if f"${k}" in where}
    if not hand_is_current(con):
        for out, table in ((kinds, "dk_kinds"), (promised, "dk_promised")):
            _run(
                con,
                f"CREATE OR REPLACE TEMP TABLE {out} AS FROM {table} WHERE {where}"
                f" AND journey_id IN (SELECT journey_id FROM {journeys})",
                used or None,
            )
        return -1
    _run(
        con,
        "CREATE OR REPLACE TEMP TABLE _ct_miss AS SELECT DISTINCT journey_id FROM"
        f" {journeys} j WHERE journey_id IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM _dk_hand_j h WHERE h.journey_id = j.journey_id)",
    )
    missing = int(_run(con, "SELECT count(*) FROM _ct_miss")[0][0])
    for out, hand, table in (
        (kinds, "_dk_hand_k", "dk_kinds"),
        (promised, "_dk_hand_p", "dk_promised"),
    ):
        sql = (
            f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT t.* FROM {hand} t"
            f" SEMI JOIN {journeys} j ON t.journey_id = j.journey_id WHERE {where}"
        )
        if missing:
            sql += (
                f" UNION ALL SELECT * FROM {table} WHERE {where}"
                " AND journey_id IN (SELECT journey_id FROM _ct_miss)"
            )
        _run(con, sql, used or None)
    _run(con, "DROP TABLE _ct_miss")
    return missing


def _drop(con: duckdb.DuckDBPyConnection) -> None:
    for temp in _TEMPS:
        _run(con, f"DROP TABLE IF EXISTS {temp}")
