"""What a journey condition costs: its effect on scores and on contacts.

For a condition (a broken, late or undelivered promise, a slow hand-over, many contacts, a
path, an attribute),
journeys in the condition's population are split into *with* (B) and *without* (A). Per metric
(nps, ces, csat and stars: every metric the store knows) the survey answers of both groups
are compared with the tests of :mod:`klantreis.analytics.stats` (diff = with - without, its
CI and p-value; the mean metrics ces and stars with Welch's t-test), and inbound
contacts per 100 journeys are compared with Welch's t-test on contacts per journey.

The ranking orders conditions by the extra contacts they cause in total (per-journey difference
x journeys with the condition), or by lost score points x journeys with ``rank_by="nps"`` etc.
Effects that are not significant rank after significant ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import ibis.expr.types as ir

from klantreis.analytics import stats
from klantreis.analytics.conditions import CONTACT_KIND, Condition, HasKind, PromiseBroken
from klantreis.analytics.journeys import apply_filter
from klantreis.analytics.promises import promise_outcomes_expr
from klantreis.analytics.scope import Scope
from klantreis.model.journey import JourneyConfig

__all__ = [
    "RANK_BY",
    "SCORE_METRICS",
    "ContactEffect",
    "Impact",
    "default_conditions",
    "impact",
    "impact_ranking",
]

#: Every metric the store knows: nps (Newcombe-style difference of NPS), csat (two
#: proportions), ces and stars (means, Welch's t-test) -- the tests of ``stats.compare``.
SCORE_METRICS = stats.METRICS
#: What a ranking can order by: extra contacts, or lost points of a score metric.
RANK_BY = ("contacts", *SCORE_METRICS)
#: Kinds whose presence is worth checking by default (when they occur in the data).
TROUBLE_KINDS = ("delivery.failed", "payment.failed", "invoice.bounced", "return.requested")


@dataclass(frozen=True)
class ContactEffect:
    """Inbound contacts per 100 journeys with and without the condition."""

    journeys_with: int
    journeys_without: int
    per100_with: float | None
    per100_without: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    significant: bool


@dataclass(frozen=True)
class Impact:
    condition: str
    journeys_with: int
    journeys_without: int
    metrics: dict[str, stats.Comparison]
    contacts: ContactEffect

    def as_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "journeys_with": self.journeys_with,
            "journeys_without": self.journeys_without,
            "metrics": {m: _clean(asdict(c)) for m, c in self.metrics.items()},
            "contacts": _clean(asdict(self.contacts)),
        }


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def _flags(
    events: ir.Table, journey: JourneyConfig, condition: Condition, flt: Scope | None
) -> ir.Table:
    base = apply_filter(events, journey, flt).select("journey_id").distinct()
    population = condition.population(events, journey)
    if population is not None:
        base = base.filter(base.journey_id.isin(population.journey_id))
    hit = condition.journeys(events, journey)
    return base.mutate(flag=base.journey_id.isin(hit.journey_id))


def _score_summaries(
    events: ir.Table, flags: ir.Table, metrics: Sequence[str]
) -> dict[tuple[str, bool], stats.Summary]:
    ev = events.filter(
        (events.kind == "survey.response")
        & events.metric.isin(list(metrics))
        & events.score.notnull()
    )
    j = ev.inner_join(flags, "journey_id")
    agg = j.group_by(["metric", "flag"]).aggregate(
        n=j.count(),
        total=j.score.sum(),
        total_sq=(j.score * j.score).sum(),
        promoters=(j.score >= 9).sum(),
        detractors=(j.score <= 6).sum(),
        top2=(j.score >= 4).sum(),
    )
    out = {}
    for row in agg.to_pyarrow().to_pylist():
        out[(row["metric"], bool(row["flag"]))] = stats.Summary(
            n=int(row["n"]),
            total=float(row["total"]),
            total_sq=float(row["total_sq"]),
            promoters=int(row["promoters"]),
            detractors=int(row["detractors"]),
            top2=int(row["top2"]),
        )
    return out


def _contact_summaries(events: ir.Table, flags: ir.Table) -> dict[bool, stats.Summary]:
    ev = events.filter(events.kind == CONTACT_KIND)
    per = ev.group_by("journey_id").aggregate(k=ev.count())
    j = flags.left_join(per, "journey_id")
    k = j.k.fill_null(0).cast("float64")
    agg = j.group_by("flag").aggregate(n=j.count(), total=k.sum(), total_sq=(k * k).sum())
    return {
        bool(r["flag"]): stats.Summary(
            n=int(r["n"]), total=float(r["total"] or 0), total_sq=float(r["total_sq"] or 0)
        )
        for r in agg.to_pyarrow().to_pylist()
    }


def _contact_effect(s: dict[bool, stats.Summary], alpha: float) -> ContactEffect:
    a, b = s.get(False, stats.Summary(n=0)), s.get(True, stats.Summary(n=0))
    c = stats.compare("ces", a, b, alpha=alpha, min_answers=2)  # Welch t on the means

    def per100(x: float | None) -> float | None:
        return None if x is None else 100.0 * x

    return ContactEffect(
        journeys_with=b.n,
        journeys_without=a.n,
        per100_with=per100(b.total / b.n) if b.n else None,
        per100_without=per100(a.total / a.n) if a.n else None,
        diff=per100(c.diff),
        ci_low=per100(c.ci_low),
        ci_high=per100(c.ci_high),
        p_value=c.p_value,
        significant=c.significant,
    )


def impact(
    events: ir.Table,
    journey: JourneyConfig,
    condition: Condition,
    flt: Scope | None = None,
    metrics: Sequence[str] = SCORE_METRICS,
    alpha: float = 0.05,
    min_answers: int | None = None,
) -> Impact:
    """The effect of ``condition`` on scores (with - without) and on contacts per 100."""
    min_answers = journey.min_answers if min_answers is None else min_answers
    flags = _flags(events, journey, condition, flt)
    scores = _score_summaries(events, flags, metrics)
    contacts = _contact_summaries(events, flags)
    comparisons = {
        m: stats.compare(
            m,
            scores.get((m, False), stats.Summary(n=0)),
            scores.get((m, True), stats.Summary(n=0)),
            alpha,
            min_answers,
        )
        for m in metrics
    }
    effect = _contact_effect(contacts, alpha)
    return Impact(
        condition.label, effect.journeys_with, effect.journeys_without, comparisons, effect
    )


def promise_conditions(
    journey: JourneyConfig, found: list[dict[str, Any]], now: datetime | None
) -> list[Condition]:
    """Per promise: broken overall and per owner, and — where some were never fulfilled —
    late and not delivered apart; ``found`` holds the distinct (promise_id, owner, outcome)
    of the broken promises (from the log, or from the kept views)."""
    out: list[Condition] = []
    for p in journey.promises:
        mine = [r for r in found if r["promise_id"] == p.id]
        out.append(PromiseBroken(p.id, None, now))
        owners = sorted({r["owner"] for r in mine if r["owner"]})
        out += [PromiseBroken(p.id, owner, now) for owner in owners]
        if any(r["outcome"] == "undelivered" for r in mine):
            out += [
                PromiseBroken(p.id, None, now, "late"),
                PromiseBroken(p.id, None, now, "undelivered"),
            ]
    return out


def default_conditions(
    events: ir.Table, journey: JourneyConfig, now: datetime | None = None
) -> list[Condition]:
    """Broken promises (overall and per owner); where some were never fulfilled, also late
    and not delivered apart (so a late delivery's cost is not mixed with cancellations); and
    trouble kinds present in the data."""
    out: list[Condition] = []
    if journey.promises:
        outcomes = promise_outcomes_expr(events, journey, now=now)
        found = (
            outcomes.filter(outcomes.status == "broken")
            .select("promise_id", "owner", "outcome")
            .distinct()
            .to_pyarrow()
            .to_pylist()
        )
        out += promise_conditions(journey, found, now)
    present = events.filter(events.kind.isin(list(TROUBLE_KINDS))).select("kind").distinct()
    kinds = sorted(r["kind"] for r in present.to_pyarrow().to_pylist())
    out += [HasKind(k) for k in kinds]
    return out


def _cost(item: Impact, rank_by: str) -> tuple[int, float]:
    if rank_by == "contacts":
        c = item.contacts
        extra = (c.diff or 0.0) / 100.0 * item.journeys_with
        return (0 if c.significant else 1, -extra)
    comp = item.metrics.get(rank_by)
    if comp is None or comp.diff is None:
        return (2, 0.0)
    lost = -comp.diff * item.journeys_with
    if rank_by == "ces":  # assumed: higher CES = more effort (worse); stars: higher is better
        lost = -lost
    return (0 if comp.significant else 1, -lost)


def impact_ranking(
    events: ir.Table,
    journey: JourneyConfig,
    conditions: Iterable[Condition] | None = None,
    flt: Scope | None = None,
    rank_by: str = "contacts",
    alpha: float = 0.05,
    min_answers: int | None = None,
    now: datetime | None = None,
) -> list[Impact]:
    """Impacts of several conditions (default: :func:`default_conditions`), costliest first."""
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by must be one of {', '.join(RANK_BY)}")
    chosen = (
        list(conditions) if conditions is not None else default_conditions(events, journey, now)
    )
    items = [impact(events, journey, c, flt, alpha=alpha, min_answers=min_answers) for c in chosen]
    return sorted(items, key=lambda i: (*_cost(i, rank_by), i.condition))
