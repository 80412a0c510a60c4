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
"""

from __future__ import annotations

from datetime import timedelta

from klantreis.analytics.scope import DEFAULT_PERIOD, Scope
from klantreis.contacts.cause_totals import CauseTotals
from klantreis.contacts.conditions import ConditionViews, Window
from klantreis.contacts.derived import ContactViews
from klantreis.contacts.held_counts import HeldCounts

__all__ = ["keep_next_day"]

#: The held counts' window key of the page's default frame (no channel chosen).
DEFAULT_FRAME_KEY = repr(())


def keep_next_day(conditions: ConditionViews, contacts: ContactViews) -> Window | None:
    """Keep the counts of the default period of the day after the newest event's day (see
    the module docstring), brought up to date; forget those of the days before today. The
    window kept (None: an empty log)."""
    conditions.ensure()
    with conditions.store.transaction() as con:
        today = conditions.default_window(con)
    if today is None or today[1] is None:
        return None
    scope = Scope(period=DEFAULT_PERIOD, as_of=today[1] + timedelta(days=1))
    window = scope.days()
    since, until = scope.bounds(conditions.zone)
    conditions.cause_totals(window)  # kept, else shifted from today's (a new kept window)
    frame, frame_id = contacts.cause_frame_with_id(since, until, ())
    held = HeldCounts(conditions.journey, conditions.memory_mb)
    with conditions.store.transaction() as con:
        held.window(con, window, frame, DEFAULT_FRAME_KEY, frame_id, keep_near=True)
        CauseTotals.forget_ended_before(con, today)
        HeldCounts.forget_ended_before(con, today)
    return window
