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

import ibis
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
    events: ir.Table, journey: JourneyConfig, conditions: Sequence[Condition], flt: Scope | None
) -> ir.Table:
    """(step, journey_id, flag) for every condition (``step``: its index) in one table: the
    journeys in scope and in the condition's population, flagged where it holds."""
    base = apply_filter(events, journey, flt).select("journey_id").distinct()
    parts = []
    for step, condition in enumerate(conditions):
        mine = base
        population = condition.population(events, journey)
        if population is not None:
            mine = mine.filter(mine.journey_id.isin(population.journey_id))
        hit = condition.journeys(events, journey)
        parts.append(
            mine.select(
                step=ibis.literal(step, type="int32"),
                journey_id=mine.journey_id,
                flag=mine.journey_id.isin(hit.journey_id),
            )
        )
    return parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)


#: Summaries per (step, metric, flag); ``metric`` None holds the inbound contacts per journey.
_Summaries = dict[tuple[int, str | None, bool], stats.Summary]


def _summaries(events: ir.Table, flags: ir.Table, metrics: Sequence[str]) -> _Summaries:
    """The score answers and the contacts per journey of every step's two groups, summed in
    one query (one compile, however many conditions)."""
    ev = events.filter(
        (events.kind == "survey.response")
        & events.metric.isin(list(metrics))
        & events.score.notnull()
    )
    j = ev.inner_join(flags, "journey_id")
    scores = j.group_by(["step", "metric", "flag"]).aggregate(
        n=j.count(),
        total=j.score.sum().cast("float64"),
        total_sq=(j.score * j.score).sum().cast("float64"),
        promoters=(j.score >= 9).sum().cast("int64"),
        detractors=(j.score <= 6).sum().cast("int64"),
        top2=(j.score >= 4).sum().cast("int64"),
    )
    contacts = events.filter(events.kind == CONTACT_KIND)
    per = contacts.group_by("journey_id").aggregate(k=contacts.count())
    c = flags.left_join(per, "journey_id")
    k = c.k.fill_null(0).cast("float64")
    zero = ibis.literal(0, type="int64")
    counted = c.group_by(["step", "flag"]).aggregate(
        metric=ibis.null().cast("string"),
        n=c.count(),
        total=k.sum(),
        total_sq=(k * k).sum(),
        promoters=zero,
        detractors=zero,
        top2=zero,
    )
    both = ibis.union(scores, counted.select(*scores.columns), distinct=False)
    out: _Summaries = {}
    for row in both.to_pyarrow().to_pylist():
        out[(int(row["step"]), row["metric"], bool(row["flag"]))] = stats.Summary(
            n=int(row["n"]),
            total=float(row["total"] or 0),
            total_sq=float(row["total_sq"] or 0),
            promoters=int(row["promoters"]),
            detractors=int(row["detractors"]),
            top2=int(row["top2"]),
        )
    return out


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
    return _impacts(events, journey, [condition], flt, metrics, alpha, min_answers)[0]


def _impacts(
    events: ir.Table,
    journey: JourneyConfig,
    conditions: Sequence[Condition],
    flt: Scope | None,
    metrics: Sequence[str],
    alpha: float,
    min_answers: int | None,
) -> list[Impact]:
    """:func:`impact` of every condition, from one query."""
    if not conditions:
        return []
    min_answers = journey.min_answers if min_answers is None else min_answers
    summaries = _summaries(events, _flags(events, journey, conditions, flt), metrics)
    none = stats.Summary(n=0)
    out = []
    for step, condition in enumerate(conditions):
        comparisons = {
            m: stats.compare(
                m,
                summaries.get((step, m, False), none),
                summaries.get((step, m, True), none),
                alpha,
                min_answers,
            )
            for m in metrics
        }
        contacts = {f: s for (i, m, f), s in summaries.items() if i == step and m is None}
        effect = _contact_effect(contacts, alpha)
        out.append(
            Impact(
                condition.label, effect.journeys_with, effect.journeys_without, comparisons, effect
            )
        )
    return out


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
    items = _impacts(events, journey, chosen, flt, SCORE_METRICS, alpha, min_answers)
    return sorted(items, key=lambda i: (*_cost(i, rank_by), i.condition))
