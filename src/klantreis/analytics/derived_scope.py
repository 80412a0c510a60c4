"""What the derived views' reads share (:mod:`klantreis.analytics.derived_reads` for steps and
hand-overs, :mod:`klantreis.analytics.derived_promises` for promises and impact): which scopes
the views can answer, the scope as a condition on ``dv_journey`` (the period's window on the
journey's first event, the channels and segments of its events), and a read cursor with the
scope's journeys as a temp table."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from klantreis.analytics.derived_views import DerivedViews
from klantreis.analytics.journey_index import JourneySql
from klantreis.analytics.scope import Scope
from klantreis.model.journey import JourneyConfig

__all__ = [
    "Reader",
    "day_condition",
    "journey_sql",
    "now_utc",
    "scope_condition",
    "supports",
    "trim_scope",
    "utc",
]

_SCOPE_FIELDS = ("period", "as_of", "since", "until", "start", "end", "channels", "segments")


def supports(flt: Scope | None) -> bool:
    """True when the views can answer this scope (window, channels, segments only)."""
    if flt is None:
        return True
    for name in Scope.__dataclass_fields__:
        if name not in _SCOPE_FIELDS and getattr(flt, name) not in (None, ()):
            return False
    return None not in flt.channels and None not in flt.segments


def trim_scope(views: DerivedViews, journey: JourneyConfig, flt: Scope | None) -> Scope | None:
    """``flt`` without its time window when the window holds every journey's first event
    (the page's "all" period still ends at the newest day): the same journeys, and the
    readers (and the journey index) need not select them one by one."""
    if flt is None or not supports(flt):
        return flt
    lo, hi = flt.bounds(journey.timezone)
    if lo is None and hi is None:
        return flt
    views.ensure()
    cur = views.store.cursor()
    try:
        first, last = cur.execute("SELECT min(first_at), max(first_at) FROM dv_journey").fetchall()[
            0
        ]
    finally:
        cur.close()
    if first is None or ((lo is None or lo <= first) and (hi is None or last < hi)):
        return Scope(channels=flt.channels, segments=flt.segments)
    return flt


class Reader:
    """A read cursor with the scope's journeys as a temp table (when the scope selects)."""

    def __init__(self, views: DerivedViews, journey: JourneyConfig, flt: Scope | None) -> None:
        if not supports(flt):
            raise ValueError("the derived views cannot answer this scope")
        views.ensure()
        self.cur = views.store.cursor()
        self.where = ""
        #: a condition on ``day`` of the per-day totals when they answer the scope exactly
        self.days = day_condition(flt, journey)
        cond, params = scope_condition(flt, journey)
        if cond:
            self.cur.execute(
                f"CREATE TEMP TABLE _dv_sel AS SELECT journey_id FROM dv_journey WHERE {cond}",
                params,
            )
            self.where = " AND journey_id IN (SELECT journey_id FROM _dv_sel)"

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cur.close()

    def arrow(self, sql: str, params: Any = None) -> pa.Table:
        rel = self.cur.sql(sql, params=params) if params else self.cur.sql(sql)
        return utc(rel.to_arrow_table())

    def rows(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        table = self.arrow(sql, params)
        out: list[dict[str, Any]] = table.to_pylist()
        return out


def day_condition(flt: Scope | None, journey: JourneyConfig) -> str | None:
    """The scope as a condition on the local ``day`` of the per-day totals
    (``dv_step_days``, ``dv_answer_days``) when that is exact: a window only (no channel or
    segment), whose ends are local midnights; else None."""
    if flt is None or flt.channels or flt.segments:
        return None
    zone = ZoneInfo(journey.timezone)
    parts = []
    for end, op in zip(flt.bounds(journey.timezone), (">=", "<"), strict=True):
        if end is None:
            continue
        local = end.astimezone(zone)
        if local.timetz().replace(tzinfo=None) != time(0):
            return None
        parts.append(f" AND day {op} DATE '{local.date().isoformat()}'")
    return "".join(parts) if parts else None


def utc(table: pa.Table) -> pa.Table:
    """Time stamps typed ``timestamp[us, tz=UTC]`` as the portable functions give them (DuckDB
    says ``Etc/UTC``)."""
    fields = [
        pa.field(f.name, pa.timestamp("us", tz="UTC"), f.nullable)
        if pa.types.is_timestamp(f.type)
        else f
        for f in table.schema
    ]
    schema = pa.schema(fields)
    return table if schema == table.schema else table.cast(schema)


def scope_condition(flt: Scope | None, journey: JourneyConfig) -> tuple[str, list[Any]]:
    if flt is None:
        return "", []
    parts: list[str] = []
    params: list[Any] = []
    lo, hi = flt.bounds(journey.timezone)
    if lo is not None:
        parts.append("first_at >= ?")
        params.append(lo)
    if hi is not None:
        parts.append("first_at < ?")
        params.append(hi)
    for column, wanted in (("channels", flt.channels), ("segments", flt.segments)):
        if wanted:
            parts.append(f"list_has_any({column}, ?::VARCHAR[])")
            params.append(list(wanted))
    return " AND ".join(parts), params


def now_utc(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def journey_sql(
    views: DerivedViews, journey: JourneyConfig, flt: Scope | None
) -> JourneySql | None:
    """The journeys ``flt`` selects as a query of ``dv_journey`` (for the journey index: one
    row per journey, where the portable selection groups the whole event log to find each
    journey's first event); None when it selects all of them. The views are refreshed first;
    the scope must be one they answer (:func:`supports`)."""
    if not supports(flt):
        raise ValueError("the derived views cannot answer this scope")
    cond, params = scope_condition(flt, journey)
    if not cond:
        return None
    views.ensure()
    return JourneySql(f"SELECT journey_id FROM dv_journey WHERE {cond}", tuple(params))
