"""The contacts' held conditions of the root causes, kept per window of local days and
contacts frame, and updated by the contacts that changed: the first view of ``/contacts``
no longer joins the window's contacts with their journeys' conditions on every view.

What :class:`~klantreis.contacts.kept_causes.KeptCauses` counts from the contacts (the
"held-before" join): per reason x condition the contacts that held it before they came in
(``with_condition``, each contact id once, with the reason of its first row in the frame),
per reason x condition x owner the same among that reason's contacts (the owner of the
first row), and per reason the contacts of the population (``n1``). Each is a **sum over
contact ids** of what one contact id gives, and what a contact id gives depends only on its
own rows in the contacts frame (journey, reason, time, frame order) and on the kept rows of
those rows' journeys (:mod:`klantreis.contacts.conditions`). So per window (``dk_kh_*``):

- the counts (``dk_kh_held``, ``dk_kh_owners``, ``dk_kh_n1``), read by a view;
- each contact id's share (``dk_kh_rows``, ``dk_kh_pop``) and the frame they were counted on
  (``dk_kh_frame``: per row its contact id and a hash of the id, its rank in the frame among
  that id's rows, journey, reason and time; the hashes' sum on the window row), so a share
  can be taken out again.

A view brings its window up to date with the frame it is given: the contact ids whose rows
differ from the kept frame (new contacts, relabels, another model, a channel filter: when
the hash sum differs, the rows whose hash is not kept and the kept ones gone) and
those with a row on a journey that events arrived for since the window's watermark (the
kept conditions' ``ingested_at`` mark) lose their old share and gain their new one. The
frame is compared, not trusted: whatever made the contacts and their reasons (the kept
contacts of :mod:`klantreis.contacts.derived`, a test's reference frame) the counts are
those of that frame. Comparing costs a hash of every row (0.25 CPU s for 228k contacts),
so a caller that knows the frame's identity (:meth:`HeldCounts.window`'s ``frame_id``: the
kept contacts' version and the frame's bounds) gives it; the window keeps it, and a view
with the same identity reads only the rows of the contact ids on touched journeys. A
:class:`FrameId` tells appends apart: with the same ``rows`` and a ``top`` not lower than
the kept one, the frame is the kept one plus the rows numbered (``ord``) from the kept top
on, so only their contact ids are read too (a new contact no longer costs the compare). A
:class:`FrameSource` (the page's: the kept contacts as a query) is read in SQL here instead
of a pandas frame, and only the rows of those contact ids when the window is trusted. A
window of other kept conditions (another configuration, a watermark not behind the current
one, events that do not add up) is counted afresh; at most
:data:`~klantreis.contacts.cause_totals.KEPT_WINDOWS` windows are kept (the least recently
used one goes). A view that would change over half the contact ids counts afresh too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from klantreis.contacts.cause_totals import (
    KEPT_WINDOWS,
    compact_window,
    forget_ended_before,
    journey_rows,
    moved_journeys,
)
from klantreis.contacts.window_sql import (
    Window,
    days_in_window,
    first_in_window,
    moved_days,
    near_windows,
    window_condition_rows_sql,
)
from klantreis.model.journey import JourneyConfig
from klantreis.store.memory import memory_limit

__all__ = ["BATCH_CONTACTS", "FrameId", "FrameSource", "HeldCounts", "HeldTotals"]

_DDL = (
    "CREATE TABLE IF NOT EXISTS dk_kh_windows (wid INTEGER, first DATE, last DATE,"
    " frame_key VARCHAR, config VARCHAR, events BIGINT, watermark TIMESTAMPTZ, used BIGINT,"
    " frame_sum HUGEINT, frame_id VARCHAR)",
    # stores of session 9 kept windows without the frame's identity
    "ALTER TABLE dk_kh_windows ADD COLUMN IF NOT EXISTS frame_id VARCHAR",
    "CREATE TABLE IF NOT EXISTS dk_kh_frame (wid INTEGER, contact_id VARCHAR, h UBIGINT)",
    "CREATE TABLE IF NOT EXISTS dk_kh_rows (wid INTEGER, contact_id VARCHAR, reason VARCHAR,"
    " name VARCHAR, broken BOOLEAN, owner VARCHAR, first BOOLEAN)",
    "CREATE TABLE IF NOT EXISTS dk_kh_pop (wid INTEGER, contact_id VARCHAR, reason VARCHAR,"
    " n BIGINT)",
    "CREATE TABLE IF NOT EXISTS dk_kh_held (wid INTEGER, reason VARCHAR, name VARCHAR,"
    " broken BOOLEAN, n BIGINT)",
    "CREATE TABLE IF NOT EXISTS dk_kh_owners (wid INTEGER, reason VARCHAR, name VARCHAR,"
    " broken BOOLEAN, owner VARCHAR, n BIGINT)",
    "CREATE TABLE IF NOT EXISTS dk_kh_n1 (wid INTEGER, reason VARCHAR, n BIGINT)",
)
#: The per-window counts: table, key columns (besides ``wid``), and the grouped share of
#: the contact rows in ``{rows}`` / ``{pop}`` it is the sum of.
_COUNTS = {
    "dk_kh_held": (
        "reason, name, broken",
        "SELECT reason, name, broken, count(*) AS n FROM {rows} WHERE first GROUP BY ALL",
    ),
    "dk_kh_owners": (
        "reason, name, broken, owner",
        "SELECT reason, name, broken, owner, count(*) AS n FROM {rows}"
        " WHERE owner IS NOT NULL GROUP BY ALL",
    ),
    "dk_kh_n1": ("reason", "SELECT reason, sum(n) AS n FROM {pop} GROUP BY ALL"),
}
#: Contact ids joined with their journeys' conditions at a time when a window is counted
#: or updated (~1 GiB at 10M events per 290k contacts in one join): more are done in parts,
#: under the memory setting.
BATCH_CONTACTS = 100_000
_SHARES = ("dk_kh_frame", "dk_kh_rows", "dk_kh_pop")
#: ``_kh_f`` from the rows ``{rows}`` (contact id, journey, reason, time; ``pos`` or ``ord``:
#: their place, ``{order}``): each row's rank among its id's rows and its hash (id, rank,
#: journey, reason, time).
_HASHED = (
    "CREATE OR REPLACE TEMP TABLE _kh_f AS SELECT *, hash(contact_id, rank, journey_id,"
    " reason, occurred_at) AS h FROM (SELECT contact_id, row_number() OVER (PARTITION BY"
    " contact_id ORDER BY {order}) AS rank, journey_id, reason, occurred_at, {pos} AS pos"
    " FROM {rows})"
)
_TEMPS = (
    "_kh_f", "_kh_pick", "_kh_ids", "_kh_c", "_kh_pop", "_kh_k", "_kh_p", "_kh_w", "_kh_held",
    "_kh_rows", "_kh_multi", "_kh_cpop", "_kh_old_rows", "_kh_old_pop", "_kh_touched",
    "_kh_j", "_kh_jk", "_kh_jp", "_kh_parts", "_kh_moved",
)  # fmt: skip


@dataclass(frozen=True)
class FrameId:
    """The identity of a frame whose rows carry a number (``ord``) in the order they were
    added: ``rows`` changes whenever a row could change other than by an added row (labels,
    another model, a rebuild, other bounds); ``top`` is above every number the frame's rows
    had when it was read. Frames of the same ``rows`` differ only by the rows numbered from
    the lower ``top`` on."""

    rows: str
    top: int


class FrameSource(Protocol):
    """A frame the held counts read in SQL, on their own connection and in their own
    transaction, instead of a pandas frame: only the rows they need (a trusted window: those
    of the contact ids on touched journeys or added since). Its rows carry ``ord`` (as a
    :class:`FrameId`'s frame), and the frame's order is (``occurred_at``, ``ord``)."""

    def identity(self, con: duckdb.DuckDBPyConnection) -> FrameId:
        """The frame's identity, read on ``con`` (so in step with the rows it reads)."""
        ...

    def rows(self) -> tuple[str, dict[str, Any]]:
        """A query of the frame's rows (``contact_id``, ``journey_id``, ``reason``,
        ``occurred_at``, ``ord``; any order) and its named parameters (their names start
        with ``src_``)."""
        ...


@dataclass(frozen=True)
class HeldTotals:
    """The kept held counts of one window and frame: ``held`` (reason, name, broken,
    with_condition), ``owners`` (reason, name, broken, owner, contacts) and ``n1`` (reason,
    n: the frame's contacts of the population's journeys)."""

    held: pd.DataFrame
    owners: pd.DataFrame
    n1: pd.DataFrame


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or []).fetchall()


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: Any) -> pd.DataFrame:
    df: pd.DataFrame = con.execute(sql, params).fetchdf()
    return df


def _strings(column: pd.Series) -> pa.Array:
    """A text column as Arrow strings (missing: null). A column of pandas' Arrow-backed
    strings (what the kept contacts' frame holds) is taken as it is: going through Python
    objects cost 0.25 CPU s for 228k contacts."""
    return pa.array(column, pa.string(), from_pandas=True)


def _contacts_table(c: pd.DataFrame, pos: Any = None) -> pa.Table:
    """The frame's rows (``pos``: their places in the whole frame; default: all of it)."""
    return pa.table(
        {
            "contact_id": _strings(c["contact_id"]),
            "journey_id": _strings(c["journey_id"]),
            "reason": _strings(c["reason"]),
            "occurred_at": pa.array(c["occurred_at"], pa.timestamp("us", tz="UTC")),
            "pos": pa.array(range(len(c)) if pos is None else pos, pa.int64()),
        }
    )


def _among(values: pa.Array, value_set: pa.Array) -> Any:
    """Which of ``values`` are in ``value_set``, as a NumPy mask (a missing value is in it
    when a missing value is, as ``IS NOT DISTINCT FROM``). Arrow's ``is_in``: pandas'
    ``isin`` of a text column costs ~10x as much (decision 100)."""
    return pc.is_in(values, value_set=value_set).fill_null(False).to_numpy(zero_copy_only=False)


def _load_frame(
    con: duckdb.DuckDBPyConnection, contacts: pd.DataFrame, ids: pa.Array | None = None
) -> None:
    """``_kh_f``: the rows of ``contacts`` (of the contact ids ``ids`` only, when given: all
    rows of each, at their places in the frame) with their rank among the id's rows and a
    hash of the row."""
    if ids is None:
        table = _contacts_table(contacts)
    else:
        rows = np.flatnonzero(_among(_strings(contacts["contact_id"]), ids))
        table = _contacts_table(contacts.iloc[rows], rows)
    con.register("_kh_in", table)
    try:
        _run(con, _HASHED.format(order="pos", pos="pos", rows="_kh_in"))
    finally:
        con.unregister("_kh_in")


def _load_source(
    con: duckdb.DuckDBPyConnection, source: FrameSource, touched: bool, added_from: int | None
) -> None:
    """``_kh_f`` (as :func:`_load_frame`) from the rows of ``source``: all, or (``touched``)
    all rows of the contact ids with a row on a touched journey (``_kh_touched``) or (from
    ``added_from``) numbered from it on. ``pos``: the rows' order in the frame (from 1 among
    the rows read; only its order within one contact id counts)."""
    rows, params = source.rows()
    rows = f"({rows}) s"
    if touched:
        on = "journey_id IN (SELECT journey_id FROM _kh_touched)"
        if added_from is not None:
            on += " OR ord >= $added_from"
            params = {**params, "added_from": added_from}
        _run(
            con,
            f"CREATE OR REPLACE TEMP TABLE _kh_pick AS SELECT DISTINCT contact_id FROM {rows}"
            f" WHERE {on}",
            params,
        )
        params = {k: v for k, v in params.items() if k != "added_from"}
        rows += " SEMI JOIN _kh_pick p ON s.contact_id IS NOT DISTINCT FROM p.contact_id"
    order = "occurred_at, ord"
    pos = f"row_number() OVER (ORDER BY {order})"
    _run(con, _HASHED.format(order=order, pos=pos, rows=rows), params)


def _load(
    con: duckdb.DuckDBPyConnection,
    contacts: pd.DataFrame | FrameSource,
    touched: bool = False,
    added_from: int | None = None,
) -> None:
    """``_kh_f`` from a pandas frame or a :class:`FrameSource`: the whole frame, or
    (``touched``) only the rows of the contact ids on touched journeys or added from
    ``added_from`` on."""
    if isinstance(contacts, pd.DataFrame):
        ids = _touched_ids(con, contacts, added_from) if touched else None
        _load_frame(con, contacts, ids)
    else:
        _load_source(con, contacts, touched, added_from)


def _a_day_gone(old: Any, window: Window) -> bool:
    """Whether the kept window ``old`` (first, last) ends two days or more before ``window``:
    the default period of a day gone, not that of the day before ``window`` (today's, which
    a page still reads while the job keeps the next day's)."""
    last = window[1]
    return old[1] is not None and last is not None and old[1] < last - timedelta(days=1)


def _trusted(kept: str | None, ident: str, top: int | None) -> tuple[bool, int | None]:
    """Whether the window's kept frame identity ``kept`` is ``ident`` (a :class:`FrameId`'s
    ``rows``, its ``top`` after a ``#``: one not above ``top``), and from which number on the
    frame's rows were added since (None: none). The top goes into the identity's text, not
    a column of its own: code without it still writes the windows' rows."""
    if kept is None or top is None:
        return kept is not None and kept == ident, None
    head, _, kept_top = kept.rpartition("#")
    if head != ident or not kept_top.isdigit() or int(kept_top) > top:
        return False, None
    return True, None if int(kept_top) == top else int(kept_top)


def _touched_ids(
    con: duckdb.DuckDBPyConnection, contacts: pd.DataFrame, added_from: int | None
) -> pa.Array:
    """The contact ids of ``contacts`` with a row on a touched journey (``_kh_touched``) or
    (``added_from``) a row numbered from it on (added since the kept frame). In Arrow, not
    pandas: after 100,000 of the newest events (36k touched journeys) pandas' ``isin`` here
    and in :func:`_load_frame` took ~0.33 CPU s, more than the hash of the whole frame
    (0.13) that this path saves (decision 100)."""
    journeys = con.sql("SELECT journey_id FROM _kh_touched").to_arrow_table().column(0)
    on = _among(_strings(contacts["journey_id"]), journeys.combine_chunks().cast(pa.string()))
    if added_from is not None:
        on = on | (contacts["ord"].to_numpy() >= added_from)
    return _strings(contacts["contact_id"]).filter(pa.array(on))


class HeldCounts:
    """The kept held counts of one store's kept conditions (see the module docstring); runs
    on the store's writing connection inside the caller's transaction. A count or update of
    more than ``batch`` contact ids (default :data:`BATCH_CONTACTS`) joins them in parts,
    under DuckDB's memory limit ``memory_mb`` (the ``index_memory_mb`` setting; 0: DuckDB's
    own)."""

    def __init__(
        self, journey: JourneyConfig, memory_mb: int = 0, batch: int | None = None
    ) -> None:
        batch = BATCH_CONTACTS if batch is None else batch
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        self.journey, self.memory_mb, self.batch = journey, memory_mb, batch
        #: In how many parts the last count or update joined its contact ids.
        self.parts = 0
        #: How the last window was had: "kept", "updated" (n contact ids) or "counted".
        self.last = ""
        #: Whether the last window compared the frame with the kept one (not trusted by
        #: its identity).
        self.compared = True
        #: How many journeys the last update read from the kept tables (the others came
        #: from the conditions' hand-over; -1: all, no hand-over; 0: none).
        self.read = -1

    @staticmethod
    def create(con: duckdb.DuckDBPyConnection) -> None:
        for ddl in _DDL:
            _run(con, ddl)

    def window(
        self,
        con: duckdb.DuckDBPyConnection,
        window: Window,
        contacts: pd.DataFrame | FrameSource,
        frame_key: str = "",
        frame_id: str | FrameId | None = None,
        keep_near: bool = False,
    ) -> HeldTotals:
        """The held counts of ``contacts`` (id, journey, reason, time; frame order) in
        ``window``: kept, updated by the contact ids that changed, or counted in full.
        ``frame_key`` names the frame's kind (e.g. its channels): one window each.
        ``frame_id``: an identity of the frame that changes whenever its rows could (e.g.
        the kept contacts' version and the frame's bounds): when the window was last
        brought up to date with a frame of the same identity, the frame is not compared
        (only the contact ids with a row on a touched journey are read from it); None:
        always compared. A :class:`FrameId` (``contacts`` then has its rows' ``ord``): a
        frame of the same ``rows`` and a ``top`` not below the kept one is not compared
        either; its rows numbered from the kept top on are read too. ``keep_near``: the near
        window (today's) stays kept; ``window`` (the next day's default period, made before
        the day starts) is the window of a day gone moved to it, or else a copy of the near
        one (see :meth:`_slot`). ``contacts`` may be a :class:`FrameSource` instead: its
        rows are read in SQL here, only those needed, and its identity is read on ``con``
        (``frame_id`` is not used)."""
        self.create(con)
        self.last = ""
        if not isinstance(contacts, pd.DataFrame):
            frame_id = contacts.identity(con)
        ident, top = frame_id, None
        if isinstance(frame_id, FrameId):
            ident, top = frame_id.rows, frame_id.top
        state = _run(con, "SELECT config, events, watermark FROM dk_state")[0]
        try:
            wid = self._slot(con, window, frame_key, state, keep_near)
            # the identity is kept with the window's ``used`` of that update: a view by code
            # that does not keep identities (an older version) leaves it stale, not trusted
            kept_id = "SELECT used, frame_id FROM dk_kh_windows WHERE wid = ?"
            used, kept = _run(con, kept_id, [wid])[0]
            same, added_from = _trusted(kept, f"{used}|{ident}", top)
            same = same and ident is not None and not self.last
            self.compared = not same
            _load(con, contacts, same, added_from)
            if not self._update(con, wid, window, same):  # most of the frame changed
                if same:
                    _load(con, contacts)
                    same = False
                self._count_all(con, wid, window)
            # the frame's hash sum: kept, or (rows added) that of the kept rows, which are now
            # the frame's, or that of the whole frame compared
            total = "(SELECT sum(h) FROM _kh_f)"
            if same:
                added = "(SELECT sum(h) FROM dk_kh_frame WHERE wid = $wid)"
                total = "frame_sum" if added_from is None else added
            _run(
                con,
                "UPDATE dk_kh_windows SET used = (SELECT max(used) + 1 FROM dk_kh_windows),"
                " config = $config, events = $events, watermark = $mark, frame_id ="
                " CAST((SELECT max(used) + 1 FROM dk_kh_windows) AS VARCHAR) || '|' || $ident,"
                f" frame_sum = {total} WHERE wid = $wid",
                dict(zip(("config", "events", "mark"), state, strict=True))
                | {"ident": ident if top is None else f"{ident}#{top}", "wid": wid},
            )
            self._evict(con)
            return self._read(con, wid)
        finally:
            for temp in _TEMPS:
                _run(con, f"DROP TABLE IF EXISTS {temp}")

    # -- windows -------------------------------------------------------------------------
    def _slot(
        self,
        con: duckdb.DuckDBPyConnection,
        window: Window,
        key: str,
        state: Any,
        keep_near: bool = False,
    ) -> int:
        """The kept window to bring up to date, with ``_kh_touched`` the journeys whose
        share may have changed since: events arrived for them, or (a near window moved to
        ``window``; ``keep_near``: a copy of it, unless a near window of a day gone is kept:
        that one is moved) they have rows on a day that left or entered; else a new empty
        one."""
        rows = _run(
            con,
            "SELECT wid, events, watermark FROM dk_kh_windows WHERE first IS NOT"
            " DISTINCT FROM ? AND last IS NOT DISTINCT FROM ? AND frame_key = ? AND config = ?",
            [*window, key, state[0]],
        )
        if rows and self._arrived(con, rows[0][1:], state):
            return int(rows[0][0])
        for (wid,) in _run(
            con,
            "SELECT wid FROM dk_kh_windows WHERE first IS NOT DISTINCT FROM ?"
            " AND last IS NOT DISTINCT FROM ? AND frame_key = ?",
            [*window, key],
        ):
            self._forget(con, wid)
        near = near_windows(window)
        if near is not None:
            where, params = near
            rows = _run(
                con,
                "SELECT wid, events, watermark, first, last FROM dk_kh_windows"
                f" WHERE frame_key = $key AND config = $config AND {where}",
                {**params, "key": key, "config": state[0]},
            )
            gone = [row for row in rows if keep_near and _a_day_gone(row[3:], window)]
            rows = gone[:1] or rows  # keep_near: a window of a day gone is moved, not copied
            if rows and self._arrived(con, rows[0][1:3], state):
                wid, old = int(rows[0][0]), rows[0][3:]
                if keep_near and not gone:
                    wid = self._copy(con, wid)
                days, params = moved_days(old, window)
                moved_journeys(con, "_kh_moved", days, params)
                _run(con, "INSERT INTO _kh_touched SELECT journey_id FROM _kh_moved")
                _run(
                    con,
                    "UPDATE dk_kh_windows SET first = ?, last = ? WHERE wid = ?",
                    [*window, wid],
                )
                self.last = "shifted"
                return wid
        self.last = "counted"
        wid = int(_run(con, "SELECT coalesce(max(wid), 0) + 1 FROM dk_kh_windows")[0][0])
        self._forget(con, wid)  # rows a lost window row left under that number: not its share
        _run(
            con,
            "INSERT INTO dk_kh_windows SELECT ?, ?, ?, ?, ?, ?, ?, coalesce(max(used), 0),"
            " NULL, NULL FROM dk_kh_windows",
            [wid, *window, key, *state],
        )
        _run(con, "CREATE OR REPLACE TEMP TABLE _kh_touched (journey_id VARCHAR)")
        return wid

    def _copy(self, con: duckdb.DuckDBPyConnection, wid: int) -> int:
        """A new window with the rows of window ``wid`` (its state, frame and shares)."""
        new = int(_run(con, "SELECT coalesce(max(wid), 0) + 1 FROM dk_kh_windows")[0][0])
        self._forget(con, new)  # rows a lost window row left under that number
        for table in ("dk_kh_windows", *_SHARES, *_COUNTS):
            _run(
                con,
                f"INSERT INTO {table} SELECT * REPLACE (CAST(? AS INTEGER) AS wid)"
                f" FROM {table} WHERE wid = ?",
                [new, wid],
            )
        return new

    @staticmethod
    def forget_ended_before(con: duckdb.DuckDBPyConnection, window: Window) -> int:
        """Forget the kept windows of ``window``'s length that end before it (the default
        periods of the days gone, of every frame): how many."""
        return forget_ended_before(con, "dk_kh_windows", window, HeldCounts._forget)

    @staticmethod
    def _arrived(con: duckdb.DuckDBPyConnection, kept: Any, state: Any) -> bool:
        """Whether the kept conditions went from ``kept`` (events, watermark) to ``state``
        by appends (``_kh_touched``: the journeys of the appended events)."""
        (kept_events, kept_mark), (_, events, watermark) = kept, state
        if kept_mark > watermark or kept_events > events:
            return False
        span = [kept_mark, watermark]
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE _kh_touched AS SELECT DISTINCT journey_id"
            " FROM events WHERE ingested_at > ? AND ingested_at <= ? AND journey_id IS NOT NULL",
            span,
        )
        where = "ingested_at > ? AND ingested_at <= ?"
        added = _run(con, f"SELECT count(*) FROM events WHERE {where}", span)[0][0]
        return bool(kept_events + added == events)

    def _evict(self, con: duckdb.DuckDBPyConnection) -> None:
        old = _run(
            con,
            "SELECT wid FROM dk_kh_windows ORDER BY used DESC, wid DESC OFFSET ?",
            [KEPT_WINDOWS],
        )
        for (wid,) in old:
            self._forget(con, wid)

    @staticmethod
    def _forget(con: duckdb.DuckDBPyConnection, wid: int) -> None:
        for table in ("dk_kh_windows", *_SHARES, *_COUNTS):
            _run(con, f"DELETE FROM {table} WHERE wid = ?", [wid])

    def _read(self, con: duckdb.DuckDBPyConnection, wid: int) -> HeldTotals:
        p = [wid]
        held = _frame(
            con, "SELECT reason, name, broken, n AS with_condition FROM dk_kh_held WHERE wid = ?", p
        )
        owners = _frame(
            con,
            "SELECT reason, name, broken, owner, n AS contacts FROM dk_kh_owners WHERE wid = ?",
            p,
        )
        n1 = _frame(con, "SELECT reason, n FROM dk_kh_n1 WHERE wid = ?", p)
        return HeldTotals(held, owners, n1)

    # -- counting ------------------------------------------------------------------------
    def _update(self, con: duckdb.DuckDBPyConnection, wid: int, window: Window, same: bool) -> bool:
        """Take out the share of the contact ids that differ from the kept frame or have a
        row on a touched journey, and add their share in ``_kh_f`` (``same``: the frame is
        known to be the kept one but for the rows added, ``_kh_f`` holds the rows of those
        ids only: the touched ones and the added ones). False, with nothing done, when that
        is over half the frame's contact ids."""
        touched = "SELECT contact_id FROM _kh_f"
        if not same:
            touched += " SEMI JOIN _kh_touched USING (journey_id)"
        same = (
            same
            or _run(
                con,
                "SELECT frame_sum = (SELECT sum(h) FROM _kh_f) FROM dk_kh_windows WHERE wid = ?",
                [wid],
            )[0][0]
        )
        if not same:  # the rows whose hash is not kept, and the kept ones no longer there
            kept = "(SELECT contact_id, h FROM dk_kh_frame WHERE wid = $wid)"
            touched += (
                " UNION ALL SELECT contact_id FROM _kh_f ANTI JOIN"
                f" {kept} k USING (h) UNION ALL SELECT contact_id FROM {kept} k ANTI JOIN _kh_f USING (h)"
            )
        _run(
            con,
            f"CREATE OR REPLACE TEMP TABLE _kh_ids AS SELECT DISTINCT contact_id FROM ({touched})",
            {"wid": wid} if not same else None,
        )
        changed = int(_run(con, "SELECT count(*) FROM _kh_ids")[0][0])
        if self.last != "counted":
            done = self.last or "updated"
            self.last = f"{done} ({changed})" if changed else (self.last or "kept")
        if not changed:
            return True
        total = self._frame_ids(con, wid, same)
        if 2 * changed > total:  # most of the frame: count it in full
            return False
        self._recount(con, wid, window)
        return True

    @staticmethod
    def _frame_ids(con: duckdb.DuckDBPyConnection, wid: int, same: bool) -> int:
        """How many contact ids the frame has, for the "over half" check of :meth:`_update`:
        those of ``_kh_f`` (the whole frame), or (``same``: ``_kh_f`` holds only the ids read)
        a bound from the kept frame: its rows, not its ids (one or more rows per id).
        Counting the kept frame's distinct ids took 0.035-0.045 CPU s per view at 228k
        contacts; the rows are counted from one integer column. Either count gives the same
        held counts: the check only chooses between an update and a count in full."""
        if same:
            sql, params = "SELECT count(*) FROM dk_kh_frame WHERE wid = ?", [wid]
        else:
            sql, params = "SELECT count(*) FROM (SELECT DISTINCT contact_id FROM _kh_f)", None
        return int(_run(con, sql, params)[0][0])

    def _count_all(self, con: duckdb.DuckDBPyConnection, wid: int, window: Window) -> None:
        """Count the window afresh from the whole frame ``_kh_f``."""
        for table in (*_SHARES, *_COUNTS):
            _run(con, f"DELETE FROM {table} WHERE wid = ?", [wid])
        _run(con, "CREATE OR REPLACE TEMP TABLE _kh_ids AS SELECT DISTINCT contact_id FROM _kh_f")
        self.last = "counted"
        self._recount(con, wid, window, kept=False)

    def _recount(
        self, con: duckdb.DuckDBPyConnection, wid: int, window: Window, kept: bool = True
    ) -> None:
        """Take out the kept share of the contact ids ``_kh_ids`` (``kept`` False: none is
        kept) and add theirs in ``_kh_f``: in parts of at most ``batch`` contact ids (whole
        ids: an id's share depends only on its own rows; in the order of their first
        journey), each joined with its journeys' conditions on its own, under ``memory_mb``
        when there is more than one (a join of every contact held 8.7 GiB at 100M events)."""
        ids = "SEMI JOIN _kh_ids i ON t.contact_id IS NOT DISTINCT FROM i.contact_id"
        if kept:
            self._take_out(con, wid, ids)
        n = int(_run(con, "SELECT count(*) FROM _kh_ids")[0][0])
        parts = max(1, -(-n // self.batch))
        self.parts, self.read = parts, 0
        part = (
            "SEMI JOIN (SELECT contact_id FROM _kh_parts WHERE part = $part) i"
            " ON t.contact_id IS NOT DISTINCT FROM i.contact_id"
        )
        with memory_limit(con, self.memory_mb if parts > 1 else 0):
            if parts > 1:
                # the ids in the order of their first journey: a part's journeys are a narrow
                # range of keys, so each part reads few row groups of the kept conditions
                _run(
                    con,
                    "CREATE OR REPLACE TEMP TABLE _kh_parts AS SELECT contact_id, (row_number()"
                    " OVER (ORDER BY j NULLS FIRST, contact_id) - 1) // $batch AS part FROM"
                    " (SELECT i.contact_id, min(f.journey_id) AS j FROM _kh_ids i"
                    " LEFT JOIN _kh_f f ON i.contact_id IS NOT DISTINCT FROM f.contact_id"
                    " GROUP BY i.contact_id)",
                    {"batch": self.batch},
                )
            for k in range(parts):
                # one part (a refresh's few ids, most windows): the ids themselves
                which, params = (part, {"part": k}) if parts > 1 else (ids, None)
                _run(
                    con,
                    f"CREATE OR REPLACE TEMP TABLE _kh_c AS SELECT t.* FROM _kh_f t {which}",
                    params,
                )
                read = self._held_rows(con, window)
                self.read = -1 if -1 in (read, self.read) else self.read + read
                self._add_counts(con, wid, 1, "_kh_rows", "_kh_cpop")
                _run(con, "INSERT INTO dk_kh_frame SELECT ?, contact_id, h FROM _kh_c", [wid])
                _run(con, "INSERT INTO dk_kh_rows SELECT ?, * FROM _kh_rows", [wid])
                _run(con, "INSERT INTO dk_kh_pop SELECT ?, * FROM _kh_cpop", [wid])
            for table, (keys, _) in _COUNTS.items():
                compact_window(con, table, keys, wid)

    def _take_out(self, con: duckdb.DuckDBPyConnection, wid: int, ids: str) -> None:
        """Take the kept share of the contact ids ``_kh_ids`` out of window ``wid``."""
        for table, temp in (("dk_kh_rows", "_kh_old_rows"), ("dk_kh_pop", "_kh_old_pop")):
            _run(
                con,
                f"CREATE OR REPLACE TEMP TABLE {temp} AS SELECT t.* FROM {table} t {ids}"
                " WHERE t.wid = ?",
                [wid],
            )
        self._add_counts(con, wid, -1, "_kh_old_rows", "_kh_old_pop")
        for table in _SHARES:
            _run(
                con,
                f"DELETE FROM {table} WHERE wid = ? AND rowid IN (SELECT t.rowid FROM"
                f" {table} t {ids} WHERE t.wid = ?)",
                [wid, wid],
            )

    def _held_rows(self, con: duckdb.DuckDBPyConnection, window: Window) -> int:
        """Each contact id's share of the contacts ``_kh_c``: ``_kh_rows`` (per contact id,
        reason and held condition: the owner of its first row, and ``first``: this reason
        is that of the id's first row holding the condition) and ``_kh_cpop`` (per contact
        id and reason: its rows on the population's journeys). How many journeys were read
        from the kept tables (as :func:`~klantreis.contacts.cause_totals.journey_rows`)."""
        journey = self.journey
        # the contacts' journeys' rows of the window's days: those the conditions' refresh
        # has just made or read come from its hand-over, the rest from the kept tables
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE _kh_j AS SELECT DISTINCT journey_id FROM _kh_c"
            " WHERE journey_id IS NOT NULL",
        )
        days, bounds = days_in_window(window)
        # the journeys' key range as constants too: DuckDB skips the row groups outside it
        lo, hi = _run(con, "SELECT min(journey_id), max(journey_id) FROM _kh_j")[0]
        if lo is not None:
            days += " AND journey_id >= $jlo AND journey_id <= $jhi"
            bounds = {**bounds, "jlo": lo, "jhi": hi}
        read = journey_rows(con, "_kh_j", "_kh_jk", "_kh_jp", days, bounds)
        where, params = first_in_window(window, {"start": journey.journey_start})
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE _kh_pop AS SELECT journey_id,"
            " CAST(row_number() OVER () AS INTEGER) AS jk FROM _kh_jk"
            f" WHERE kind = $start AND {where}",
            params,
        )
        for temp, rows in (("_kh_k", "_kh_jk"), ("_kh_p", "_kh_jp")):
            _run(
                con,
                f"CREATE OR REPLACE TEMP TABLE {temp} AS SELECT t.* FROM {rows} t"
                " SEMI JOIN _kh_pop p ON t.journey_id = p.journey_id",
            )
        conds, params = window_condition_rows_sql(journey, window, "_kh_k", "_kh_p")
        _run(
            con,
            # a hash join (pop holds each journey once); ``IN (subquery)`` was ~7x the CPU
            "CREATE OR REPLACE TEMP TABLE _kh_w AS SELECT p.jk, w.name, w.broken, w.at,"
            f" w.owner FROM ({conds}) w JOIN _kh_pop p USING (journey_id)",
            params,
        )
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE _kh_held AS SELECT c.contact_id, c.reason, c.pos,"
            " w.name, w.broken, w.owner FROM (SELECT c.*, p.jk FROM _kh_c c"
            " JOIN _kh_pop p USING (journey_id)) c JOIN _kh_w w USING (jk)"
            " WHERE w.at < c.occurred_at",
        )
        # per contact id, reason and condition (as the reference's drop_duplicates): the
        # owner of its first row, and whether its first row is the id's first for it; an id
        # of one row has one row per condition already (most: grouping them was ~1 CPU s)
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE _kh_multi AS SELECT contact_id FROM _kh_c"
            " GROUP BY contact_id HAVING count(*) > 1",
        )
        multi = "_kh_multi m ON h.contact_id IS NOT DISTINCT FROM m.contact_id"
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE _kh_rows AS SELECT contact_id, reason, name, broken,"
            f" owner, TRUE AS first FROM _kh_held h ANTI JOIN {multi} UNION ALL"
            " SELECT contact_id, reason, name, broken, owner,"
            " pos = min(pos) OVER (PARTITION BY contact_id, name, broken) AS first"
            " FROM (SELECT contact_id, reason, name, broken, arg_min_null(owner, pos) AS owner,"
            f" min(pos) AS pos FROM _kh_held h SEMI JOIN {multi}"
            " GROUP BY contact_id, reason, name, broken)",
        )
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE _kh_cpop AS SELECT contact_id, reason, count(*) AS n"
            " FROM _kh_c WHERE journey_id IN (SELECT journey_id FROM _kh_pop) GROUP BY ALL",
        )
        return read

    @staticmethod
    def _add_counts(
        con: duckdb.DuckDBPyConnection, wid: int, sign: int, rows: str, pop: str
    ) -> None:
        """Add ``sign`` x the grouped share of the contact rows ``rows`` and ``pop``."""
        for table, (keys, share) in _COUNTS.items():
            _run(
                con,
                f"INSERT INTO {table} SELECT $wid, {keys}, $sign * n FROM"
                f" ({share.format(rows=rows, pop=pop)})",
                {"wid": wid, "sign": sign},
            )
