"""Report periods (day, week, month) in the journey's time zone, and time bounds.

Events are stored with UTC instants. A period is cut on the *wall-clock* time in the journey's
time zone (default Europe/Amsterdam): the engine converts each instant to local time
(:func:`klantreis.analytics.backend.local_time`, which follows daylight saving time) and
truncates it. So an answer at 23:30 UTC on 31 March 2026 (01:30 on 1 April in Amsterdam)
counts for 1 April, and for April. Weeks start on Monday (ISO weeks) on both engines.

``since``/``until`` bounds are converted to UTC instants in Python (no engine work): a date or
a naive date-time means local wall-clock time in the journey's time zone. ``since`` is
inclusive, ``until`` exclusive.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import ibis.expr.types as ir
import pandas as pd

__all__ = ["PERIODS", "next_period_start", "period_start", "to_dates", "utc_bound"]

PERIODS: dict[str, str] = {"day": "D", "week": "W", "month": "M"}


def _check(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")
    return PERIODS[period]


def period_start(local: ir.TimestampValue, period: str) -> ir.DateValue:
    """The first local date of the period containing the local wall-clock time ``local``."""
    unit = _check(period)
    return (local if unit == "D" else local.truncate(unit)).date()


def next_period_start(starts: pd.Series, period: str) -> pd.Series:
    """Start dates of the periods following ``starts`` (a Series of dates)."""
    _check(period)
    ts = pd.to_datetime(starts)
    if period == "day":
        shifted = ts + pd.Timedelta(days=1)
    elif period == "week":
        shifted = ts + pd.Timedelta(days=7)
    else:
        shifted = ts + pd.offsets.MonthBegin(1)
    return shifted.dt.date


def to_dates(values: pd.Series) -> pd.Series:
    """Engine output (dates, date-times or strings) -> Python ``date`` objects."""
    return pd.to_datetime(values).dt.date


def utc_bound(value: Any, zone: str) -> datetime | None:
    """``since``/``until`` -> an aware UTC datetime.

    Accepts None, a date (local midnight), a datetime (naive = local) or an ISO-8601 string.

    >>> utc_bound("2026-04-01", "Europe/Amsterdam")
    datetime.datetime(2026, 3, 31, 22, 0, tzinfo=datetime.timezone.utc)
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if not isinstance(value, datetime):
        raise TypeError(f"cannot use {value!r} as a time bound")
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.astimezone(UTC)


def period_length(period: str) -> timedelta:
    """Nominal length (for display and sanity checks only; months vary)."""
    return {"day": timedelta(days=1), "week": timedelta(days=7),
            "month": timedelta(days=30)}[period]
