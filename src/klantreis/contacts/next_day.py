"""The next day's default period of ``/contacts``, kept before the day starts.

``/contacts`` shows :data:`~klantreis.analytics.scope.DEFAULT_PERIOD` ending on the newest
event's local day (:meth:`~klantreis.contacts.conditions.ConditionViews.default_window`).
The first event of a new day moves that period by a day. Moving the kept counts then (the
root causes' window totals and the contacts' held counts) reads every journey with a row
on the day that left: at 10M events ~22,000 journeys, 2 CPU s, in the first view after
that event.

So the kept-views job keeps the next day's period too, while the day is still today:

- the root causes' totals of the next day's window (shifted from today's once, then
  updated by every refresh of the kept conditions, as every kept window is);
- the contacts' held counts of that window and the frame a view would give for it (a copy
  of today's window moved once, then brought up to date at each turn of the job).

When the day starts, the page finds both windows kept: only the new events' journeys are
counted. The default periods of the days gone are forgotten (each kept window costs every
refresh a share).

Making the next day's window reads the journeys with a kept row on the day that will leave
(~22,000 at 10M events) once: they join the kept conditions' hand-over
(:func:`hand_moved`), from which both the root causes' shift and the held counts' shift
then read them, instead of each scanning the 6.4M kept kinds for them twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb

from klantreis.analytics.scope import DEFAULT_PERIOD, Scope
from klantreis.contacts.cause_totals import CauseTotals, hand_days, hand_is_current
from klantreis.contacts.conditions import ConditionViews, Window
from klantreis.contacts.derived import ContactViews
from klantreis.contacts.held_counts import HeldCounts
from klantreis.contacts.window_sql import moved_days

__all__ = ["hand_moved", "keep_next_day"]

#: The held counts' window key of the page's default frame (no channel chosen).
DEFAULT_FRAME_KEY = repr(())


#: How many events the held counts of a day gone may be behind the kept conditions to be
#: moved to the next day's period (more: today's is copied; see :func:`_held_gone`). At 10M
#: events a copy costs ~1.2 CPU s with the checkpoint it brings, a move after 100,000 newest
#: events ~0.2-0.8 more than that (docs/benchmarks.md, h-nextday).
MOVE_GONE_EVENTS = 10_000


def keep_next_day(
    conditions: ConditionViews, contacts: ContactViews, move_gone_events: int = MOVE_GONE_EVENTS
) -> Window | None:
    """Keep the counts of the default period of the day after the newest event's day (see
    the module docstring), brought up to date; forget those of the days before today. The
    window kept (None: an empty log). ``move_gone_events``: see :data:`MOVE_GONE_EVENTS`."""
    conditions.ensure()
    with conditions.store.transaction() as con:
        today = conditions.default_window(con)
    if today is None or today[1] is None:
        return None
    scope = Scope(period=DEFAULT_PERIOD, as_of=today[1] + timedelta(days=1))
    window = scope.days()
    since, until = scope.bounds(conditions.zone)
    with conditions.store.transaction() as con:
        events = con.execute("SELECT events FROM dk_state").fetchall()[0][0]
        moving = conditions.totals.moving(con, window, events)
        gone = _held_gone(con, window, move_gone_events)
        if gone is not None:  # the held counts move it: more days than the root causes
            moving = moved_days(gone, window)
        if moving is not None:  # a new window: its moved days' journeys read once
            hand_moved(con, *moving)
    conditions.cause_totals(window)  # kept, else shifted from today's (a new kept window)
    frame, frame_id = contacts.cause_frame_with_id(since, until, ())
    held = HeldCounts(conditions.journey, conditions.memory_mb)
    with conditions.store.transaction() as con:
        held.window(con, window, frame, DEFAULT_FRAME_KEY, frame_id, keep_near=True)
        CauseTotals.forget_ended_before(con, today)
        HeldCounts.forget_ended_before(con, today)
    return window


def _held_gone(con: duckdb.DuckDBPyConnection, window: Window, behind: int) -> Window | None:
    """The kept held counts' window of the default frame that :meth:`HeldCounts.window`
    (``keep_near``) will move to ``window`` in place: that of a day gone (ending two days or
    more before it), when ``window`` is not kept; None: none (a copy of today's, or kept).
    A window of a day gone more than ``behind`` events behind the kept conditions is
    forgotten first (today's is then copied): moving it would count again the contacts of
    every journey those events touched, which today's has already counted."""
    HeldCounts.create(con)
    first, last = window
    if first is None or last is None:
        return None
    rows = con.execute(
        "SELECT wid, first, last, events < (SELECT events FROM dk_state) - $behind"
        " FROM dk_kh_windows WHERE frame_key = $key AND last - first = $n"
        " ORDER BY last = $last DESC, abs(last - $last)",
        {"key": DEFAULT_FRAME_KEY, "n": (last - first).days, "last": last, "behind": behind},
    ).fetchall()
    if not rows or rows[0][2] == last:
        return None
    near = [r for r in rows if 4 * abs((r[2] - last).days) <= (last - first).days]
    gone = [r for r in near if r[2] < last - timedelta(days=1)]
    if gone and gone[0][3]:
        for wid, *_ in gone:
            HeldCounts._forget(con, int(wid))
        return None
    return (gone[0][1], gone[0][2]) if gone else None


def hand_moved(con: duckdb.DuckDBPyConnection, days: str, params: dict[str, Any]) -> int:
    """Make the kept conditions' hand-over (:data:`~klantreis.contacts.cause_totals.HAND_TABLES`)
    hold the kept rows of every journey with a row on the moved days ``days`` (SQL and
    ``params`` of :func:`~klantreis.contacts.window_sql.moved_days`) and record those days:
    the root causes' and the held counts' shifts by those days then read the journeys and
    their rows from it (:func:`~klantreis.contacts.cause_totals.moved_journeys`,
    :func:`~klantreis.contacts.cause_totals.journey_rows`). Without a current hand-over one
    of the saved state is made. How many journeys were added."""
    if not hand_is_current(con):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _dk_hand_state AS"
            " SELECT version, events, watermark FROM dk_state"
        )
        con.execute("CREATE OR REPLACE TEMP TABLE _dk_hand_j (journey_id VARCHAR)")
        for hand, table in (("_dk_hand_k", "dk_kinds"), ("_dk_hand_p", "dk_promised")):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {hand} AS FROM {table} LIMIT 0")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _nd_moved AS SELECT journey_id FROM dk_kinds"
        f" WHERE {days} UNION SELECT journey_id FROM dk_promised WHERE {days}"
        " EXCEPT SELECT journey_id FROM _dk_hand_j",
        params,
    )
    try:
        for hand, table in (("_dk_hand_k", "dk_kinds"), ("_dk_hand_p", "dk_promised")):
            con.execute(
                f"INSERT INTO {hand} SELECT * FROM {table}"
                " WHERE journey_id IN (SELECT journey_id FROM _nd_moved)"
            )
        added = con.execute("INSERT INTO _dk_hand_j SELECT journey_id FROM _nd_moved").fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS _nd_moved")
    hand_days(con, params)
    return int(added[0][0])
