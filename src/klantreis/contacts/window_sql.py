"""The SQL that reads a window of local days from the kept conditions
(:mod:`klantreis.contacts.conditions`): which rows are the first of their journey inside the
window, and the window's conditions (kinds and broken promises). The tables are named by the
caller, so the same SQL reads the kept tables or a copy of a few journeys' rows
(:mod:`klantreis.contacts.cause_totals` counts touched journeys that way)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from klantreis.contacts.rootcause import EXCLUDED_KINDS
from klantreis.model.journey import JourneyConfig

__all__ = [
    "Window",
    "days_in_window",
    "first_in_window",
    "moved_days",
    "near_windows",
    "window_condition_rows_sql",
    "window_conditions_sql",
]

#: A window of local days, both inclusive; None = open.
Window = tuple[date | None, date | None]


def days_in_window(window: Window) -> tuple[str, dict[str, Any]]:
    """The rows whose ``day`` lies in ``window`` (only those can be first in it)."""
    where, params = ["TRUE"], {}
    if window[0] is not None:
        where.append("day >= $first")
        params["first"] = window[0]
    if window[1] is not None:
        where.append("day <= $last")
        params["last"] = window[1]
    return " AND ".join(where), params


def near_windows(window: Window) -> tuple[str, dict[str, Any]] | None:
    """Which kept windows (a table with ``first`` and ``last``) are near enough to be moved
    to ``window`` by the days that left or entered, nearest first: the same length and a
    quarter of its days away at most, or an open start and a week away at most (None: no
    window is, ``window`` has an open end)."""
    first, last = window
    if last is None:
        return None
    if first is None:
        return (
            "first IS NULL AND abs(last - $last) <= 7 ORDER BY abs(last - $last), wid",
            {"last": last},
        )
    return (
        "last - first = $length AND 4 * abs(last - $last) <= $length"
        " ORDER BY abs(last - $last), wid",
        {"length": (last - first).days, "last": last},
    )


def moved_days(old: Window, new: Window) -> tuple[str, dict[str, Any]]:
    """The rows whose ``day`` left or entered when the kept window ``old`` moved to the near
    window ``new`` (:func:`near_windows`; none left for an open start)."""
    first, last = new
    old_first, old_last = old
    assert last is not None and old_last is not None
    # an empty range is b < a
    if first is not None and old_first is not None:
        left = (min(first, old_first), max(first, old_first) - timedelta(days=1))
    else:
        left = (last, last - timedelta(days=1))
    entered = (min(last, old_last) + timedelta(days=1), max(last, old_last))
    days = "(day BETWEEN $a AND $b OR day BETWEEN $c AND $d)"
    return days, {"a": left[0], "b": left[1], "c": entered[0], "d": entered[1]}


def first_in_window(window: Window, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The rows that are the first of their journey (and kind) inside ``window``."""
    first, last = window
    where = ["TRUE"]
    if first is not None:
        where.append("day >= $first AND (prev_day IS NULL OR prev_day < $first)")
        params["first"] = first
    else:
        where.append("prev_day IS NULL")
    if last is not None:
        where.append("day <= $last")
        params["last"] = last
    return " AND ".join(where), params


def window_conditions_sql(journey: JourneyConfig, window: Window) -> tuple[str, dict[str, Any]]:
    """SQL of ``condition_times`` over the events in ``window``, from the kept tables:
    journey_id, condition, at, owner (one row per journey and condition)."""
    rows, params = window_condition_rows_sql(journey, window)
    sql = (
        "SELECT journey_id, CASE WHEN broken THEN 'broken:' ELSE 'kind:' END || name"
        f' AS condition, "at", owner FROM ({rows})'
    )
    return sql, params


def window_condition_rows_sql(
    journey: JourneyConfig,
    window: Window,
    kinds: str = "dk_kinds",
    promised: str = "dk_promised",
) -> tuple[str, dict[str, Any]]:
    """:func:`window_conditions_sql` before the condition's name is made (millions of rows
    need no new text): journey_id, name (the kind, or the promise of a broken promise),
    broken, at, owner; read from the tables ``kinds`` and ``promised`` (the kept ones, or
    rows of some journeys in their layout)."""
    params: dict[str, Any] = {"start": journey.journey_start}
    where, params = first_in_window(window, params)
    # the kinds table holds no excluded kind besides the start kind (see conditions._KINDS_SQL)
    parts = [
        "SELECT journey_id, kind AS name, FALSE AS broken, first_at AS at, owner"
        f" FROM {kinds} WHERE {where} AND kind <> $start"
    ]
    if journey.promises:
        params["excluded"] = list(EXCLUDED_KINDS)
    for i, p in enumerate(journey.promises):
        params[f"pid{i}"], params[f"ful{i}"] = p.id, p.fulfilled_by
        parts.append(
            f"SELECT p.journey_id, $pid{i} AS name, TRUE AS broken, p.due AS at, p.owner"
            f" FROM (SELECT * FROM {promised} WHERE promise_id = $pid{i} AND {where}) p"
            f" LEFT JOIN (SELECT journey_id, first_at FROM {kinds} WHERE kind = $ful{i}"
            f" AND NOT list_contains($excluded, kind) AND {where}) f USING (journey_id)"
            " WHERE f.first_at IS NULL OR f.first_at > p.due"
        )
    return " UNION ALL ".join(parts), params
