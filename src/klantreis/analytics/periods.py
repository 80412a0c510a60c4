"""Report periods (day, week, month) in the journey's time zone, and time bounds.

Events are stored with UTC instants; periods are cut on the *wall-clock* date in the journey's
time zone (default Europe/Amsterdam). So an answer at 23:30 UTC on 31 March 2026 (01:30 on
1 April in Amsterdam) counts for 1 April, and for April. Weeks start on Monday.

How, portably and fast: the zone's UTC offsets and daylight-saving transitions come from
Python's ``zoneinfo`` (1990 to five years ahead, the range validation allows) and become a
small balanced tree of comparisons on the instant in integer microseconds
(:func:`klantreis.analytics.backend.epoch_micros`). The engine groups on the *local day number*
(days since 1970-01-01 in local time) or the Monday of its week — integer arithmetic, identical
on DuckDB and Spark and about twice as fast on DuckDB as a per-row ``timezone()`` conversion.
Months are rolled up from days in pandas (sums add up), and day numbers become ``date``\\ s.

``since``/``until`` bounds are converted to UTC instants in Python: a date or a naive
date-time means local wall-clock time in the journey's time zone. ``since`` is inclusive,
``until`` exclusive.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import pandas as pd

from klantreis.analytics.backend import epoch_micros

__all__ = [
    "PERIODS",
    "next_period_start",
    "offsets_within",
    "period_starts",
    "previous_period_start",
    "time_span",
    "to_dates",
    "utc_bound",
    "with_period_key",
    "zone_offsets",
]

PERIODS = ("day", "week", "month")
US_PER_DAY = 86_400_000_000
FIRST_YEAR = 1990


def _check(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")
    return period


def _offset_us(zone: ZoneInfo, instant: datetime) -> int:
    off = instant.astimezone(zone).utcoffset()
    return int((off or timedelta(0)).total_seconds() * 1_000_000)


@functools.lru_cache(maxsize=32)
def zone_offsets(zone: str, last_year: int | None = None) -> tuple[tuple[int, int], ...]:
    """``((from_epoch_us, offset_us), ...)``: the zone's UTC offset from each instant on.

    The first entry starts at 1990 and applies to anything earlier too; transitions are
    found day by day and pinned to the second.

    >>> [(datetime.fromtimestamp(t / 1e6, UTC).isoformat(), o // 3_600_000_000)
    ...  for t, o in zone_offsets("Europe/Amsterdam", 2026) if t > 1_767_225_600_000_000]
    [('2026-03-29T01:00:00+00:00', 2), ('2026-10-25T01:00:00+00:00', 1)]
    """
    tz = ZoneInfo(zone)
    last_year = last_year or datetime.now(UTC).year + 6
    day = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    current = _offset_us(tz, day)
    out = [(int(day.timestamp()) * 1_000_000, current)]
    while day < end:
        nxt = day + timedelta(days=1)
        off = _offset_us(tz, nxt)
        if off != current:
            out.append((_transition_us(tz, day, nxt, off), off))
            current = off
        day = nxt
    return tuple(out)


def _transition_us(tz: ZoneInfo, lo: datetime, hi: datetime, new_offset: int) -> int:
    """First second in (lo, hi] with ``new_offset`` (bisection)."""
    a, b = int(lo.timestamp()), int(hi.timestamp())
    while b - a > 1:
        mid = (a + b) // 2
        if _offset_us(tz, datetime.fromtimestamp(mid, UTC)) == new_offset:
            b = mid
        else:
            a = mid
    return b * 1_000_000


def _offset_tree(us: ir.IntegerValue, offsets: Sequence[tuple[int, int]]) -> ir.IntegerValue:
    if len(offsets) == 1:
        return ibis.literal(offsets[0][1], type="int64")
    mid = len(offsets) // 2
    return ibis.ifelse(
        us < offsets[mid][0], _offset_tree(us, offsets[:mid]), _offset_tree(us, offsets[mid:])
    )


def time_span(table: ir.Table, column: str = "occurred_at") -> tuple[int, int] | None:
    """(first, last) instant of ``column`` in epoch microseconds, or None for an empty table.

    One small query (DuckDB answers it from column statistics in milliseconds); it lets
    :func:`with_period_key` use only the offset changes that fall inside the data.
    """
    row = table.aggregate(lo=table[column].min(), hi=table[column].max()).to_pyarrow()
    lo, hi = row.column("lo")[0].as_py(), row.column("hi")[0].as_py()
    if lo is None or hi is None:
        return None
    return int(lo.timestamp() * 1_000_000), int(hi.timestamp() * 1_000_000)


def offsets_within(
    offsets: Sequence[tuple[int, int]], span: tuple[int, int] | None
) -> list[tuple[int, int]]:
    """The offset entries that apply to some instant in ``span`` (all when None)."""
    if span is None:
        return list(offsets)
    lo, hi = span
    starts = [i for i, (t, _) in enumerate(offsets) if t <= lo]
    first = starts[-1] if starts else 0
    return [e for i, e in enumerate(offsets) if i >= first and (i == first or e[0] <= hi)]


def with_period_key(
    table: ir.Table,
    period: str,
    zone: str,
    name: str = "_period",
    column: str = "occurred_at",
    span: tuple[int, int] | None = None,
) -> ir.Table:
    """``table`` plus the engine-side group key of a period in column ``name``: the local day
    number (day, month) or the day number of the week's Monday (week). Turn the keys into
    dates with :func:`period_starts`.

    ``span`` (epoch microseconds, from :func:`time_span`) limits the offset tree to the
    changes inside the data: two years of Amsterdam data need 4 comparisons instead of ~80,
    which keeps Ibis' compile time at milliseconds. Instants outside ``span`` get the
    offset of its nearest end. Built in steps (micros, offset, day) so the tree refers to a
    column (copying a nested expression per use made Ibis/sqlglot slow).
    """
    _check(period)
    t = table.mutate(_epoch_us=epoch_micros(table, column))
    offsets = offsets_within(zone_offsets(zone), span)
    t = t.mutate(_offset_us=_offset_tree(t._epoch_us, offsets))
    t = t.mutate(_local_day=((t._epoch_us + t._offset_us) // US_PER_DAY).cast("int64"))
    day = t._local_day
    key = day - (day + 3) % 7 if period == "week" else day  # 1970-01-01 was a Thursday
    return t.mutate(**{name: key}).drop("_epoch_us", "_offset_us", "_local_day")


def period_starts(keys: pd.Series, period: str) -> pd.Series:
    """Engine period keys (day numbers) -> the period's first local ``date``."""
    days = pd.to_datetime(keys.astype("int64"), unit="D")
    if _check(period) == "month":
        days = days.dt.to_period("M").dt.start_time
    return days.dt.date


def next_period_start(starts: pd.Series, period: str) -> pd.Series:
    """Start dates of the periods following ``starts`` (a Series of dates)."""
    ts = pd.to_datetime(starts)
    if _check(period) == "month":
        return (ts + pd.offsets.MonthBegin(1)).dt.date
    return (ts + pd.Timedelta(days=1 if period == "day" else 7)).dt.date


def previous_period_start(starts: pd.Series, period: str) -> pd.Series:
    """Start dates of the periods before ``starts`` (a Series of dates)."""
    ts = pd.to_datetime(starts)
    if _check(period) == "month":
        return (ts - pd.offsets.MonthBegin(1)).dt.date
    return (ts - pd.Timedelta(days=1 if period == "day" else 7)).dt.date


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
    bound: datetime = value.astimezone(UTC)
    return bound
