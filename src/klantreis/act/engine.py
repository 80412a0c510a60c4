"""Evaluating case rules over the event log: which journeys need a case, and whose it is.

``rule_triggers`` is one Ibis expression per rule over the canonical event table (so it runs
on DuckDB and, unchanged, on Spark), run in full or only for the journeys an ingest batch
touched (``journeys=``). It returns one row per rule and journey: the first event that
triggered the rule, when, for which customer, and the owner of the case (see
:mod:`klantreis.act.rules` for how the owner is chosen). Events without a journey never
open a case: a case follows up one journey.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from klantreis.act.rules import CaseRule, CaseRules
from klantreis.analytics.promises import promise_outcomes_expr
from klantreis.model.journey import JourneyConfig

__all__ = ["TRIGGER_SCHEMA", "broken_step_owners", "phrase_pattern", "rule_triggers"]

TRIGGER_SCHEMA = pa.schema(
    [
        ("rule_id", pa.string()),
        ("journey_id", pa.string()),
        ("customer_id", pa.string()),
        ("owner", pa.string()),
        ("event_id", pa.string()),
        ("triggered_at", pa.timestamp("us", tz="UTC")),
    ]
)


_UTC_TS = dt.Timestamp(timezone="UTC", nullable=True)


def phrase_pattern(phrases: Sequence[str]) -> str:
    """A case-insensitive regular expression finding any phrase at the start of a word."""
    alternatives = "|".join(re.escape(p.strip().lower()) for p in phrases if p.strip())
    return rf"(^|[^\p{{L}}\p{{N}}])({alternatives})"


def _scoped(events: ir.Table, journeys: ir.Table | None) -> ir.Table:
    ev = events.filter(events.journey_id.notnull() & ~events.kind.startswith("case."))
    if journeys is None:
        return ev
    return ev.filter(ev.journey_id.isin(journeys.journey_id))


def _matches(events: ir.Table, rule: CaseRule, journeys: ir.Table | None) -> ir.Table:
    """The events that trigger ``rule`` (not yet one per journey)."""
    ev = _scoped(events, journeys)
    if rule.type == "score":
        cond = ev.metric == rule.metric
        if rule.at_most is not None:
            cond &= ev.score <= rule.at_most
        else:
            cond &= ev.score >= rule.at_least
        return ev.filter(cond & ev.score.notnull())
    if rule.type == "text":
        pattern = phrase_pattern(rule.phrases)
        return ev.filter(ev.kind.isin(rule.text_kinds) & ev.text.lower().re_search(pattern))
    if rule.type == "event":
        return ev.filter(ev.kind.isin(rule.kinds))
    return _repeat_contacts(events, rule, journeys)


def _repeat_contacts(events: ir.Table, rule: CaseRule, journeys: ir.Table | None) -> ir.Table:
    """Contacts that are a customer's ``min_contacts``-th within ``within_days`` days."""
    c = events.filter(
        events.kind.isin(rule.contact_kinds)
        & events.customer_id.notnull()
        & events.journey_id.notnull()
    )
    if journeys is not None:
        touched = events.filter(events.journey_id.isin(journeys.journey_id)).customer_id
        c = c.filter(c.customer_id.isin(touched))
    w = ibis.window(group_by=c.customer_id, order_by=[c.occurred_at, c.event_id])
    earlier = c.occurred_at.lag(rule.min_contacts - 1).over(w)
    c = c.mutate(earlier=earlier)
    limit = ibis.interval(seconds=int(rule.within_days * 86400))
    hit = c.filter(c.earlier.notnull() & (c.occurred_at <= c.earlier + limit)).drop("earlier")
    if journeys is not None:
        hit = hit.filter(hit.journey_id.isin(journeys.journey_id))
    return hit


def broken_step_owners(
    events: ir.Table, journey: JourneyConfig, now: datetime, journeys: ir.Table | None = None
) -> ir.Table | None:
    """Per journey with a broken promise: the owner of its first broken promise (by
    deadline) and when it broke; None when the journey file has no promises."""
    if not journey.promises:
        return None
    out = promise_outcomes_expr(events, journey, now=now)
    out = out.filter((out.status == "broken") & out.owner.notnull())
    if journeys is not None:
        out = out.filter(out.journey_id.isin(journeys.journey_id))
    broke_at = ibis.coalesce(out.fulfilled_at, out.deadline)
    return out.group_by("journey_id").aggregate(
        broken_owner=out.owner.argmin(out.deadline),
        broken_at=broke_at.min(),
        broken_customer=out.customer_id.argmin(out.deadline),
        promise_id=out.promise_id.argmin(out.deadline),
        first_deadline=out.deadline.min(),
    )


def _first_per_journey(hits: ir.Table) -> ir.Table:
    return hits.group_by("journey_id").aggregate(
        customer_id=hits.customer_id.argmin(hits.occurred_at),
        step_owner=hits.owner.argmin(hits.occurred_at),
        event_id=hits.event_id.argmin(hits.occurred_at),
        triggered_at=hits.occurred_at.min(),
    )


def _broken_promise_rule(
    rule: CaseRule,
    broken: ir.Table | None,
    events: ir.Table,
    journey: JourneyConfig,
    now: datetime,
    journeys: ir.Table | None,
) -> ir.Table | None:
    if rule.promises:
        out = promise_outcomes_expr(events, journey, rule.promises, now)
        out = out.filter(out.status == "broken")
        if journeys is not None:
            out = out.filter(out.journey_id.isin(journeys.journey_id))
        broken = out.group_by("journey_id").aggregate(
            broken_owner=out.owner.argmin(out.deadline),
            broken_at=ibis.coalesce(out.fulfilled_at, out.deadline).min(),
            broken_customer=out.customer_id.argmin(out.deadline),
            first_deadline=out.deadline.min(),
        )
    if broken is None:
        return None
    if rule.only_if:
        broken = _confirmed(rule, broken, events, journeys)
    return broken.select(
        "journey_id",
        customer_id=broken.broken_customer,
        step_owner=broken.broken_owner,
        event_id=ibis.null("string"),
        triggered_at=broken.broken_at,
    )


def _bad_score(ev: ir.Table) -> ir.BooleanValue:
    """A feedback score on the bad side: NPS 0-6, CES 5-7, CSAT or stars 1-2."""
    return (
        ((ev.metric == "nps") & (ev.score <= 6))
        | ((ev.metric == "ces") & (ev.score >= 5))
        | (ev.metric.isin(["csat", "stars"]) & (ev.score <= 2))
    )


def _confirmed(
    rule: CaseRule, broken: ir.Table, events: ir.Table, journeys: ir.Table | None
) -> ir.Table:
    """The broken promises that ``rule.only_if`` confirms: the journey also has an inbound
    contact at or after the deadline ("contact") or a bad score ("detractor"). The case is
    triggered when both are true (the later of the two moments)."""
    ev = _scoped(events, journeys)
    j = ev.join(broken.select("journey_id", "first_deadline"), "journey_id")
    conds = []
    if "contact" in rule.only_if:
        conds.append((j.kind == "contact.inbound") & (j.occurred_at >= j.first_deadline))
    if "detractor" in rule.only_if:
        conds.append(j.score.notnull() & _bad_score(j))
    hits = j.filter(ibis.or_(*conds))
    first = hits.group_by("journey_id").aggregate(confirmed_at=hits.occurred_at.min())
    b = broken.join(first, "journey_id")
    return b.mutate(broken_at=ibis.greatest(b.broken_at, b.confirmed_at.cast(b.broken_at.type())))


def _with_owner(first: ir.Table, rule: CaseRule, broken: ir.Table | None) -> ir.Table:
    fallback = ibis.literal(rule.fallback_owner)
    if rule.owner == "step":
        owner = ibis.coalesce(first.step_owner, fallback)
    elif rule.owner == "broken_step":
        if broken is not None:
            first = first.left_join(broken.select("journey_id", "broken_owner"), "journey_id").drop(
                "journey_id_right"
            )
            owner = ibis.coalesce(first.broken_owner, first.step_owner, fallback)
        else:
            owner = ibis.coalesce(first.step_owner, fallback)
    else:
        owner = ibis.literal(rule.owner)
    return first.select(
        rule_id=ibis.literal(rule.id),
        journey_id=first.journey_id,
        customer_id=first.customer_id,
        owner=owner.cast(dt.String(nullable=True)),
        event_id=first.event_id.cast(dt.String(nullable=True)),
        triggered_at=first.triggered_at.cast(_UTC_TS),
    )


def _subset(events: ir.Table, journeys: list[str]) -> ir.Table:
    """The events an evaluation of ``journeys`` can need: theirs, and every event of their
    customers (repeat contacts span journeys). On DuckDB they are read once (two look-ups
    with literal lists, which use the table's zone maps; an IN over a sub-query scanned the
    whole log) and kept in memory, so each rule works on a few thousand rows instead of the
    whole log. Elsewhere (Spark) the same filter stays part of each rule's plan."""
    backend = events._find_backend()
    if backend.name != "duckdb":
        mine = events.journey_id.isin(journeys)
        customers = events.filter(mine & events.customer_id.notnull()).customer_id
        return events.filter(mine | events.customer_id.isin(customers))
    con, name = backend.con, events.get_name()
    customers = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT customer_id FROM {name} WHERE customer_id IS NOT NULL"
            " AND journey_id IN (SELECT unnest(?::VARCHAR[]))",
            [journeys],
        ).fetchall()
    ]
    needed = con.sql(
        f"SELECT * FROM {name} WHERE journey_id IN (SELECT unnest(?::VARCHAR[]))"
        f" UNION SELECT * FROM {name} WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))",
        params=[journeys, customers],
    ).to_arrow_table()
    con.register("_case_scope", needed)
    return backend.table("_case_scope")


def rule_triggers(
    events: ir.Table,
    rules: CaseRules,
    journey: JourneyConfig,
    journeys: Sequence[str] | None = None,
    now: datetime | None = None,
) -> pa.Table:
    """One row per (enabled rule, journey) that the rule triggers (``TRIGGER_SCHEMA``).

    ``journeys``: only these journeys (an ingest batch's); None: the whole log. ``now``
    judges open promises (default: the newest event's time)."""
    if now is None:
        newest = events.occurred_at.max().to_pyarrow().as_py()
        now = newest or datetime.now(UTC)
    scope: ir.Table | None = None
    if journeys is not None:
        if not journeys:
            return TRIGGER_SCHEMA.empty_table()
        scope = ibis.memtable(
            pa.table({"journey_id": pa.array(sorted(set(journeys)), pa.string())})
        )
        events = _subset(events, sorted(set(journeys)))
    broken = broken_step_owners(events, journey, now, scope)
    parts = []
    for rule in rules.enabled():
        if rule.type == "broken_promise":
            first = _broken_promise_rule(rule, broken, events, journey, now, scope)
            if first is None:
                continue
        else:
            first = _first_per_journey(_matches(events, rule, scope))
        parts.append(_with_owner(first, rule, broken))
    if not parts:
        return TRIGGER_SCHEMA.empty_table()
    union = parts[0] if len(parts) == 1 else ibis.union(*parts)
    table = union.to_pyarrow()
    return table.cast(TRIGGER_SCHEMA).sort_by(
        [("rule_id", "ascending"), ("journey_id", "ascending")]
    )
