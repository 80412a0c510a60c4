"""Promises from the journey configuration: kept, late, not delivered or open per journey,
how late, kept-rates by owner, touchpoint and period, and the journeys at risk right now.

Rules (one promise, one journey):

- the promise is the journey's *first* ``promised`` event (a later re-promise does not reset
  what the customer was told first); its deadline is ``attrs[deadline_attr]`` (ISO-8601), or,
  when absent or unreadable, the promised event's own time;
- it is fulfilled by the journey's first ``fulfilled_by`` event;
- ``outcome``: kept: fulfilled at or before deadline + grace; late: fulfilled later;
  undelivered (not delivered): not fulfilled while ``now`` is past deadline + grace (a
  cancelled order counts here: it was never fulfilled); open: not fulfilled and the deadline +
  grace not yet passed;
- ``status`` (kept / broken / open): broken = late or undelivered, as before; the rates keep
  ``broken`` and ``kept_rate`` = kept / (kept + late + undelivered), and add
  ``on_time_rate`` = kept / (kept + late): of the fulfilled promises, the share in time;
- a deadline given as a date only is the end of that local day; that is decided at ingest
  (see ``klantreis.ingest.compile``; ``Promise.deadline_date`` says otherwise);
- ``minutes_late``: minutes after the deadline (fulfilment time, or ``now`` when unfulfilled)
  for broken promises, 0 for kept ones, null for open ones;
- at risk: open, and the deadline is at most ``at_risk_hours`` after ``now``;
- overdue: not fulfilled, and the deadline passed at most ``overdue_hours`` before ``now``
  (the customer is still waiting); the at-risk list holds the at-risk and the overdue ones;
- the owner is the owner of the fulfilling event, else of the promised event (the carrier).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from klantreis.analytics.journeys import attr_value, journey_events
from klantreis.analytics.stats import wilson_arrays
from klantreis.model.journey import JourneyConfig, Promise

__all__ = ["at_risk", "promise_outcomes", "promise_outcomes_expr", "promise_rates"]

GroupBy = Literal["owner", "touchpoint", "period", "promise"]
UTC_TS = dt.Timestamp(timezone="UTC")


def _now(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _one_promise(events: ir.Table, promise: Promise, now: datetime) -> ir.Table:
    ev = journey_events(events)
    pr = ev.filter(ev.kind == promise.promised)
    deadline = ibis.coalesce(attr_value(pr, promise.deadline_attr).try_cast(UTC_TS), pr.occurred_at)
    pr = pr.group_by("journey_id").aggregate(
        customer_id=pr.customer_id.argmin(pr.occurred_at),
        promised_at=pr.occurred_at.min(),
        deadline=deadline.argmin(pr.occurred_at),
        promised_owner=pr.owner.argmin(pr.occurred_at),
        promised_touchpoint=pr.touchpoint.argmin(pr.occurred_at),
    )
    ff = ev.filter(ev.kind == promise.fulfilled_by)
    ff = ff.group_by("journey_id").aggregate(
        fulfilled_at=ff.occurred_at.min(), fulfilled_owner=ff.owner.argmin(ff.occurred_at)
    )
    j = pr.left_join(ff, "journey_id").drop("journey_id_right")
    return _classify(j, promise, now)


def _classify(j: ir.Table, promise: Promise, now: datetime) -> ir.Table:
    now_lit = ibis.literal(now, type=UTC_TS)
    limit = j.deadline + ibis.interval(seconds=int(promise.grace_minutes * 60))
    done = j.fulfilled_at.notnull()
    outcome = ibis.cases(
        (done & (j.fulfilled_at <= limit), "kept"),
        (done, "late"),
        (now_lit > limit, "undelivered"),
        else_="open",
    )
    status = ibis.cases((outcome.isin(["late", "undelivered"]), "broken"), else_=outcome)
    late_at = ibis.coalesce(j.fulfilled_at, now_lit)
    late_min = late_at.delta(j.deadline, unit="microsecond").cast("float64") / 6e7
    horizon = now_lit + ibis.interval(seconds=int(promise.at_risk_hours * 3600))
    since = now_lit - ibis.interval(seconds=int(promise.overdue_hours * 3600))
    return j.select(
        "journey_id",
        "customer_id",
        promise_id=ibis.literal(promise.id),
        owner=ibis.coalesce(j.fulfilled_owner, j.promised_owner),
        touchpoint=ibis.literal(promise.touchpoint, type="string")
        if promise.touchpoint
        else j.promised_touchpoint,
        promised_at=j.promised_at,
        deadline=j.deadline,
        fulfilled_at=j.fulfilled_at,
        status=status,
        outcome=outcome,
        minutes_late=ibis.cases(
            (status == "kept", 0.0), (status == "broken", late_min), else_=ibis.null("float64")
        ),
        at_risk=(status == "open") & (j.deadline <= horizon),
        overdue=(outcome == "undelivered") & (j.deadline >= since),
    )


def promise_outcomes_expr(
    events: ir.Table,
    journey: JourneyConfig,
    promise_ids: list[str] | None = None,
    now: datetime | None = None,
) -> ir.Table:
    """Per journey and promise: status (kept/broken/open), outcome (kept/late/undelivered/
    open), minutes late, at risk."""
    chosen = [p for p in journey.promises if not promise_ids or p.id in promise_ids]
    unknown = set(promise_ids or []) - {p.id for p in journey.promises}
    if unknown:
        raise ValueError(
            f"unknown promise(s): {', '.join(sorted(unknown))}"
            f" (known: {', '.join(p.id for p in journey.promises) or 'none'})"
        )
    if not chosen:
        raise ValueError("the journey configuration defines no promises")
    parts = [_one_promise(events, p, _now(now)) for p in chosen]
    return parts[0] if len(parts) == 1 else ibis.union(*parts)


def promise_outcomes(
    events: ir.Table,
    journey: JourneyConfig,
    promise_ids: list[str] | None = None,
    now: datetime | None = None,
) -> pa.Table:
    """:func:`promise_outcomes_expr`, executed and sorted by promise and journey."""
    table = promise_outcomes_expr(events, journey, promise_ids, now).to_pyarrow()
    return table.sort_by([("promise_id", "ascending"), ("journey_id", "ascending")])


def _group_column(out: ir.Table, by: GroupBy, period: str) -> ir.Value:
    if by == "period":
        unit = {"day": "D", "week": "W", "month": "M"}[period]
        return out.deadline.truncate(unit).date().cast("string")
    if by == "promise":
        return out.promise_id
    return out[by]


def promise_rates(
    events: ir.Table,
    journey: JourneyConfig,
    by: GroupBy = "owner",
    period: Literal["day", "week", "month"] = "week",
    promise_ids: list[str] | None = None,
    now: datetime | None = None,
    confidence: float = 0.95,
) -> pa.Table:
    """Promise-kept rate per promise and group, with a Wilson interval over decided promises.

    Columns: promise_id, group, journeys, kept, broken, open, late, undelivered (broken =
    late + undelivered), kept_rate (kept / (kept + broken), in percent), ci_low, ci_high,
    mean_minutes_late (of broken promises), at_risk, on_time_rate (kept / (kept + late): the
    fulfilled promises in time), on_time_ci_low, on_time_ci_high.
    """
    out = promise_outcomes_expr(events, journey, promise_ids, now)
    out = out.mutate(group=_group_column(out, by, period))
    agg = out.group_by(["promise_id", "group"]).aggregate(
        journeys=out.count(),
        kept=(out.status == "kept").sum(),
        broken=(out.status == "broken").sum(),
        open=(out.status == "open").sum(),
        late=(out.outcome == "late").sum(),
        undelivered=(out.outcome == "undelivered").sum(),
        mean_minutes_late=out.minutes_late.mean(where=out.status == "broken"),
        at_risk=out.at_risk.sum(),
    )
    table = agg.to_pyarrow()
    return _with_rates(table, confidence).sort_by(
        [("promise_id", "ascending"), ("group", "ascending")]
    )


def _with_rates(table: pa.Table, confidence: float) -> pa.Table:
    def col(name: str) -> np.ndarray:
        values: np.ndarray = table.column(name).to_numpy(zero_copy_only=False).astype(float)
        return values

    kept = col("kept")
    for prefix, other in (("", "broken"), ("on_time_", "late")):
        n = kept + col(other)
        interval = wilson_arrays(kept, n, confidence)
        empty = pa.array(n == 0)

        def masked(values: object, empty: pa.Array = empty) -> pa.Array:
            none = pa.scalar(None, pa.float64())
            return pc.if_else(empty, none, pa.array(values, pa.float64()))

        rate = "kept_rate" if not prefix else "on_time_rate"
        table = (
            table.append_column(rate, masked(interval.value))
            .append_column(f"{prefix}ci_low", masked(interval.ci_low))
            .append_column(f"{prefix}ci_high", masked(interval.ci_high))
        )
    return table


def at_risk(
    events: ir.Table,
    journey: JourneyConfig,
    now: datetime | None = None,
    promise_ids: list[str] | None = None,
) -> pa.Table:
    """Open promises whose deadline is within ``at_risk_hours`` of ``now``, and unfulfilled
    ones overdue by at most ``overdue_hours`` (column ``overdue``), soonest deadline first."""
    out = promise_outcomes_expr(events, journey, promise_ids, now)
    out = out.filter(out.at_risk | out.overdue)
    table = out.to_pyarrow()
    return table.sort_by([("deadline", "ascending"), ("journey_id", "ascending")])
