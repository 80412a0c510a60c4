"""Journey building blocks shared by discovery, promises, impact and the timeline.

A *journey* is all events with the same ``journey_id`` (events without one belong to no
journey). Inside a journey, events are ordered by ``occurred_at``, then by ``source_order``
(the position the source gave the event: XES trace position, file row and the mapping's
``[[events]]`` order, HTTP arrival order), then by ``event_id``: that order is total and
stable, so equal time stamps keep the source's order, as pm4py keeps its data frame's row
order (the parity tests in ``tests/journeys`` check both agree).

The *activity* of a step is the event's ``kind`` by default, or its ``touchpoint``.

Filters are the one :class:`klantreis.analytics.scope.Scope`, read per journey:

- journey-level (touchpoint, owner, channel, kind, ..., segment, attrs, window, outcome):
  keep whole journeys with an event that matches (for the window: whose first event lies in
  it), so the directly-follows graph of the remaining journeys is unchanged in shape;
  ``attrs`` keys may also name a column (``journey_id``, ``channel``);
- event-level (stage): keep only the events of those stages, so the graph shows how
  customers move *within* the stage.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from klantreis.analytics.backend import json_text
from klantreis.analytics.discovery_tables import ACTIVITIES, Activity
from klantreis.analytics.scope import JourneyCondition, Scope, attr_value
from klantreis.model.journey import JourneyConfig

__all__ = [
    "ACTIVITIES",
    "FEEDBACK_KINDS",
    "Activity",
    "JourneyCondition",
    "apply_filter",
    "attr_value",
    "journey_events",
    "journey_level_only",
    "kind_labels",
    "order_keys",
    "paths",
    "selected_journeys",
    "steps",
]


#: Kinds that are a customer's voice rather than a step of the process; hand-overs skip them.
FEEDBACK_KINDS: tuple[str, ...] = (
    "survey.response",
    "review.posted",
    "social.mention",
    "contact.inbound",
    "contact.outbound",
)


def order_keys(events: ir.Table) -> list[ir.Column]:
    """The order of events inside a journey: time, then the order the source gave them in
    (``source_order``: equal time stamps keep it), then event id (total and stable)."""
    return [events.occurred_at, events.source_order, events.event_id]


def kind_labels(events: ir.Table) -> dict[str, str]:
    """Kind -> the source's own name for it (``attrs.label``, kept by the XES reader when it
    slugs "Resolve ticket" to ``resolve_ticket``), for kinds that have one (the smallest
    label when a kind has several)."""
    label = json_text(events, "label")
    rows = (
        events.filter(label.notnull())
        .group_by("kind")
        .aggregate(label=label.min())
        .to_pyarrow()
        .to_pylist()
    )
    return {r["kind"]: r["label"] for r in rows if r["kind"] is not None}


def journey_events(events: ir.Table) -> ir.Table:
    """Only events that belong to a journey."""
    return events.filter(events.journey_id.notnull())


def _matching_journeys(events: ir.Table, predicate: ir.BooleanValue) -> ir.Table:
    return events.filter(predicate).select("journey_id").distinct()


def _semi(events: ir.Table, journeys: ir.Table) -> ir.Table:
    return events.filter(events.journey_id.isin(journeys.journey_id))


def _values(expr: ir.Value, wanted: tuple[str | None, ...]) -> ir.BooleanValue:
    present = [v for v in wanted if v is not None]
    pred = expr.isin(present) if present else ibis.literal(False)
    return (pred | expr.isnull()) if None in wanted else pred


def selected_journeys(events: ir.Table, journey: JourneyConfig, flt: Scope) -> ir.Table | None:
    """The journey ids a scope's journey-level parts select, or None for "all of them"."""
    ev = journey_events(events)
    parts: list[ir.Table] = []
    for column, wanted in flt.columns().items():
        parts.append(_matching_journeys(ev, _values(ev[column], wanted)))
    for key, wanted in flt.attrs:
        parts.append(_matching_journeys(ev, _values(attr_value(ev, key), wanted)))
    if flt.segments:
        parts.append(_matching_journeys(ev, _values(json_text(ev, "segment"), flt.segments)))
    start, end = flt.bounds(journey.timezone)
    if start is not None or end is not None:
        first = ev.group_by("journey_id").aggregate(first_at=ev.occurred_at.min())
        if start is not None:
            first = first.filter(first.first_at >= start)
        if end is not None:
            first = first.filter(first.first_at < end)
        parts.append(first.select("journey_id"))
    if flt.outcome is not None:
        parts.append(flt.outcome.journeys(events, journey))
    if not parts:
        return None
    result = parts[0]
    for part in parts[1:]:
        result = result.filter(result.journey_id.isin(part.journey_id))
    return result


def journey_level_only(flt: Scope) -> bool:
    """True when the scope only selects whole journeys (no event is dropped)."""
    return not flt.stages


def apply_filter(events: ir.Table, journey: JourneyConfig, flt: Scope | None = None) -> ir.Table:
    """The events of the selected journeys (and stages), journey-less events dropped."""
    ev = journey_events(events)
    if flt is None or flt.is_empty:
        return ev
    chosen = selected_journeys(events, journey, flt)
    if chosen is not None:
        ev = _semi(ev, chosen)
    if flt.stages:
        tp_stage = journey.stage_of_touchpoint()
        tps = [tp for tp, stage in tp_stage.items() if stage in flt.stages]
        ev = ev.filter(ev.touchpoint.isin(tps or ["\x00none"]))
    return ev


def steps(events: ir.Table, activity: Activity = "kind") -> ir.Table:
    """One row per event with the next event of the same journey.

    Columns: journey_id, event_id, occurred_at, activity, owner, seq (0-based), next_activity,
    next_owner, next_at, wait_s (seconds to the next event; null for the last event).
    """
    if activity not in ACTIVITIES:
        raise ValueError(f"activity must be one of {', '.join(ACTIVITIES)}, not {activity!r}")
    ev = journey_events(events)
    w = ibis.window(group_by=ev.journey_id, order_by=order_keys(ev))
    act = ev[activity]
    out = ev.select(
        "journey_id",
        "event_id",
        "occurred_at",
        "owner",
        activity=act,
        seq=ibis.row_number().over(w),
        next_activity=act.lead().over(w),
        next_owner=ev.owner.lead().over(w),
        next_at=ev.occurred_at.lead().over(w),
    )
    return out.mutate(
        wait_s=out.next_at.delta(out.occurred_at, unit="microsecond").cast("float64") / 1e6
    )


def paths(events: ir.Table, activity: Activity = "kind") -> ir.Table:
    """Each journey's path: journey_id and ``variant``, its activities in order (a missing
    activity is ``(none)``).

    Portable: an unordered collect of (seq, activity) pairs, then sorted, because ordered
    aggregation (``collect(order_by=...)``) does not compile for Spark.
    """
    s = steps(events, activity)
    pair = ibis.struct({"seq": s.seq, "activity": s.activity.fill_null("(none)")})
    grouped = s.group_by("journey_id").aggregate(pairs=pair.collect())
    return grouped.select("journey_id", variant=grouped.pairs.sort().map(lambda p: p.activity))
