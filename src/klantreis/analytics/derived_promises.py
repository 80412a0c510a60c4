"""The journeys page's promise rates, at-risk list and impact ranking read from the derived
views (:mod:`klantreis.analytics.derived_views`): the same tables and values as
``promises.promise_rates``, ``promises.at_risk``, ``impact.default_conditions`` and
``impact.impact_ranking``. Fulfilled promises and the journeys whose promises are all
fulfilled come from the kept totals (their outcome is final); only unfulfilled promises are
classified at ``now``. Where each restated rule lives: see
:mod:`klantreis.analytics.derived_reads`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from klantreis.analytics import stats
from klantreis.analytics.conditions import (
    PROMISE_OUTCOMES,
    Condition,
    HasKind,
    PromiseBroken,
)
from klantreis.analytics.derived_scope import Reader, now_utc
from klantreis.analytics.derived_totals import settled_outcome_sql
from klantreis.analytics.derived_views import PENDING, SUMS, TROUBLE_KINDS, DerivedViews
from klantreis.analytics.impact import (
    RANK_BY,
    SCORE_METRICS,
    Impact,
    _contact_effect,
    _cost,
    promise_conditions,
)
from klantreis.analytics.promises import _with_rates
from klantreis.analytics.scope import Scope
from klantreis.model.journey import JourneyConfig, Promise

__all__ = ["at_risk", "default_conditions", "impact_ranking", "promise_rates"]


# -- promises ------------------------------------------------------------------------------
def _outcome_sql(p: Promise, table: str = "dv_promise") -> str:
    """One promise's rows of ``table`` classified at ``$now`` (as ``promises._classify``)."""
    grace = int(p.grace_minutes * 60)
    horizon = int(p.at_risk_hours * 3600)
    overdue = int(p.overdue_hours * 3600)
    limit = f"(deadline + INTERVAL {grace} SECOND)"
    outcome = (
        f"CASE WHEN fulfilled_at IS NOT NULL THEN {settled_outcome_sql(p)}"
        f" WHEN $now > {limit} THEN 'undelivered' ELSE 'open' END"
    )
    tp = "'" + p.touchpoint.replace("'", "''") + "'" if p.touchpoint else "promised_touchpoint"
    return f"""
    SELECT journey_id, customer_id, promise_id,
           coalesce(fulfilled_owner, promised_owner) AS owner, {tp} AS touchpoint,
           promised_at, deadline, fulfilled_at, status, outcome,
           CASE status WHEN 'kept' THEN 0.0 WHEN 'broken' THEN
             date_diff('microsecond', deadline, coalesce(fulfilled_at, $now)) / 6e7 END
             AS minutes_late,
           status = 'open' AND deadline <= $now + INTERVAL {horizon} SECOND AS at_risk,
           outcome = 'undelivered' AND deadline >= $now - INTERVAL {overdue} SECOND AS overdue
    FROM (SELECT *, CASE WHEN outcome IN ('late', 'undelivered') THEN 'broken'
                    ELSE outcome END AS status
          FROM (SELECT *, {outcome} AS outcome FROM {table}
                WHERE promise_id = '{p.id}' {{where}}))
    """


#: Only unfulfilled promises depend on "now" (at risk, overdue, not delivered yet); they are
#: all among the pending journeys' rows (``derived_views.PENDING``).
_UNFULFILLED = " AND fulfilled_at IS NULL"
_PENDING_PROMISE = PENDING["promise"]


def _outcomes_sql(
    journey: JourneyConfig,
    where: str,
    promise_ids: Sequence[str] = (),
    table: str = "dv_promise",
) -> str:
    chosen = [p for p in journey.promises if not promise_ids or p.id in promise_ids]
    return " UNION ALL ".join(f"({_outcome_sql(p, table).format(where=where)})" for p in chosen)


def promise_rates(
    views: DerivedViews,
    journey: JourneyConfig,
    by: str = "owner",
    now: datetime | None = None,
    confidence: float = 0.95,
) -> pa.Table:
    """:func:`klantreis.analytics.promises.promise_rates` (by owner, touchpoint or promise)."""
    if by not in ("owner", "touchpoint", "promise"):
        raise ValueError("by must be owner, touchpoint or promise here")
    if not journey.promises:
        raise ValueError("the journey configuration defines no promises")
    group = "promise_id" if by == "promise" else by
    with Reader(views, journey, None) as r:
        # fulfilled promises from the kept totals (final), the unfulfilled ones classified now
        table = r.arrow(
            f'SELECT promise_id, {group} AS "group", sum(n)::BIGINT AS journeys,'
            + ", ".join(
                f"coalesce(sum(n) FILTER ({c}), 0)::BIGINT AS {name}"
                for name, c in (
                    ("kept", "status = 'kept'"),
                    ("broken", "status = 'broken'"),
                    ("open", "status = 'open'"),
                    ("late", "outcome = 'late'"),
                    ("undelivered", "outcome = 'undelivered'"),
                )
            )
            + ", sum(minutes_late) FILTER (status = 'broken')"
            " / sum(n) FILTER (status = 'broken') AS mean_minutes_late,"
            " coalesce(sum(at_risk), 0)::BIGINT AS at_risk"
            " FROM (SELECT promise_id, owner, touchpoint, outcome,"
            " CASE outcome WHEN 'late' THEN 'broken' ELSE outcome END AS status, n,"
            " minutes_late, 0 AS at_risk FROM dv_promise_settled"
            " UNION ALL SELECT promise_id, owner, touchpoint, outcome, status, 1, minutes_late,"
            " at_risk::INTEGER FROM"
            f" ({_outcomes_sql(journey, _UNFULFILLED, table=_PENDING_PROMISE)})) GROUP BY ALL",
            {"now": now_utc(now)},
        )
    return _with_rates(table, confidence).sort_by(
        [("promise_id", "ascending"), ("group", "ascending")]
    )


def at_risk(views: DerivedViews, journey: JourneyConfig, now: datetime | None = None) -> pa.Table:
    """:func:`klantreis.analytics.promises.at_risk` from the views."""
    if not journey.promises:
        raise ValueError("the journey configuration defines no promises")
    with Reader(views, journey, None) as r:
        table = r.arrow(
            f"SELECT * FROM ({_outcomes_sql(journey, _UNFULFILLED, table=_PENDING_PROMISE)})"
            " WHERE at_risk OR overdue",
            {"now": now_utc(now)},
        )
    return table.sort_by([("deadline", "ascending"), ("journey_id", "ascending")])


# -- impact --------------------------------------------------------------------------------
def default_conditions(
    views: DerivedViews, journey: JourneyConfig, now: datetime | None = None
) -> list[Condition]:
    """:func:`klantreis.analytics.impact.default_conditions` from the views."""
    out: list[Condition] = []
    with Reader(views, journey, None) as r:
        found = (
            r.rows(  # fulfilled late from the kept totals; not delivered (yet) classified now
                "SELECT DISTINCT promise_id, owner, outcome FROM dv_promise_settled"
                " WHERE outcome = 'late' UNION SELECT promise_id, owner, outcome FROM"
                f" ({_outcomes_sql(journey, _UNFULFILLED, table=_PENDING_PROMISE)})"
                " WHERE status = 'broken'",
                {"now": now_utc(now)},
            )
            if journey.promises
            else []
        )
        kinds = [
            row["kind"]
            for row in r.rows(
                "SELECT kind FROM dv_kinds GROUP BY kind HAVING sum(n) > 0 ORDER BY kind"
            )
        ]
    out += promise_conditions(journey, found, now)
    return out + [HasKind(k) for k in kinds]


def _signatures(
    r: Reader, journey: JourneyConfig, now: datetime, metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """Journeys in scope grouped by what the conditions look at (each promise's outcome and
    owner, the trouble kinds): contact sums and each metric's answer sums per group.
    Unscoped: the journeys whose promises are all fulfilled from the kept totals (their
    outcomes are final), the others (the kept pending rows) grouped now."""
    if r.where:
        rows = _grouped(r, journey, now, metrics, r.where.replace(" AND ", " WHERE ", 1), "")
    else:
        rows = _grouped(r, journey, now, metrics, "", "", PENDING)
        rows += [_settled_row(row) for row in r.rows("SELECT * FROM dv_impact_settled")]
    return rows


def _settled_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of ``dv_impact_settled`` as the signature rows :func:`_grouped` gives."""
    out = {k: v for k, v in row.items() if k not in ("outcomes", "owners")}
    for i, (o, w) in enumerate(zip(row["outcomes"], row["owners"], strict=True)):
        out[f"o{i}"], out[f"w{i}"] = o, w
    return out


def _grouped(
    r: Reader,
    journey: JourneyConfig,
    now: datetime,
    metrics: Sequence[str],
    where: str,
    outcome_where: str,
    tables: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The journeys ``where`` selects grouped by signature, outcomes classified at ``now``
    (from ``tables``' journey and promise rows; default the views')."""
    tables = tables or {"journey": "dv_journey", "promise": "dv_promise"}
    mask = " + ".join(
        f"list_contains(j.trouble, '{k}')::INTEGER * {1 << b}" for b, k in enumerate(TROUBLE_KINDS)
    )
    joins, cols = [], [f"({mask}) AS trouble"]
    for i, p in enumerate(journey.promises):
        joins.append(
            " LEFT JOIN (SELECT journey_id, outcome, owner FROM"
            f" ({_outcomes_sql(journey, outcome_where, [p.id], tables['promise'])}))"
            f" p{i} USING (journey_id)"
        )
        cols += [f"p{i}.outcome" + f" AS o{i}", f"p{i}.owner" + f" AS w{i}"]
    sig = ", ".join(c.split(" AS ")[1] for c in cols)
    sums = ", ".join(
        f"sum(j.{m}_{x})::{'DOUBLE' if x.startswith('total') else 'BIGINT'} AS {m}_{x}"
        for m in metrics
        for x in SUMS
    )
    rows = r.rows(
        f"SELECT {', '.join(cols)}, count(*) AS n, sum(j.contacts)::DOUBLE AS total,"
        f" sum(j.contacts * j.contacts)::DOUBLE AS total_sq, {sums}"
        f" FROM (SELECT * FROM {tables['journey']}{where}) j{''.join(joins)} GROUP BY {sig}",
        {"now": now},
    )
    return rows


def _tests(condition: Condition, journey: JourneyConfig) -> tuple[Any, Any]:
    """(in population, has the condition) as predicates on a signature row."""
    if isinstance(condition, HasKind):
        kind = condition.kind
        if kind not in TROUBLE_KINDS:
            raise ValueError(f"the derived views keep trouble kinds only, not {kind!r}")
        bit = 1 << TROUBLE_KINDS.index(kind)
        return (lambda s: True), (lambda s: bool(s["trouble"] & bit))
    if isinstance(condition, PromiseBroken):
        i = [p.id for p in journey.promises].index(condition.promise_id)
        hit, population = PROMISE_OUTCOMES[condition.outcome]
        owner = condition.owner
        return (
            lambda s: s[f"o{i}"] in population,
            lambda s: s[f"o{i}"] in hit and (owner is None or s[f"w{i}"] == owner),
        )
    raise ValueError(f"the derived views cannot evaluate {condition!r}")


def _sums(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    """The summary sums (``SUMS``' order) of each row as a matrix, read from ``columns`` (a
    missing one counts 0)."""
    out = np.zeros((len(rows), len(SUMS)))
    for i, row in enumerate(rows):
        out[i, : len(columns)] = [row.get(c) or 0.0 for c in columns]
    return out


def _summary(sums: Any, chosen: Any) -> stats.Summary:
    """The summary of the ``chosen`` rows (a boolean mask) of a :func:`_sums` matrix."""
    n, total, total_sq, promoters, detractors, top2 = sums[chosen].sum(axis=0)
    return stats.Summary(
        n=int(n),
        total=float(total),
        total_sq=float(total_sq),
        promoters=int(promoters),
        detractors=int(detractors),
        top2=int(top2),
    )


def impact_ranking(
    views: DerivedViews,
    journey: JourneyConfig,
    conditions: Sequence[Condition] | None = None,
    flt: Scope | None = None,
    rank_by: str = "contacts",
    alpha: float = 0.05,
    min_answers: int | None = None,
    now: datetime | None = None,
) -> list[Impact]:
    """:func:`klantreis.analytics.impact.impact_ranking` from the views (promise and kind
    conditions)."""
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by must be one of {', '.join(RANK_BY)}")
    min_answers = journey.min_answers if min_answers is None else min_answers
    chosen = list(conditions) if conditions is not None else default_conditions(views, journey, now)
    with Reader(views, journey, flt) as r:
        contacts = _signatures(r, journey, now_utc(now), SCORE_METRICS)
    # every signature row tested once per condition, the sums added as matrices (each
    # condition used to filter the rows ten times, once per metric and side)
    contact_sums = _sums(contacts, ("n", "total", "total_sq"))
    score_sums = {m: _sums(contacts, [f"{m}_{x}" for x in SUMS]) for m in SCORE_METRICS}
    items = []
    for condition in chosen:
        in_pop, has = _tests(condition, journey)
        pop = np.array([bool(in_pop(s)) for s in contacts], dtype=bool)
        hit = pop & np.array([bool(has(s)) for s in contacts], dtype=bool)
        split = {False: pop & ~hit, True: hit}
        summaries = {flag: _summary(contact_sums, mask) for flag, mask in split.items()}
        effect = _contact_effect({k: v for k, v in summaries.items() if v.n}, alpha)
        comparisons = {
            m: stats.compare(
                m,
                _summary(score_sums[m], split[False]),
                _summary(score_sums[m], split[True]),
                alpha,
                min_answers,
            )
            for m in SCORE_METRICS
        }
        items.append(
            Impact(
                condition.label, effect.journeys_with, effect.journeys_without, comparisons, effect
            )
        )
    return sorted(items, key=lambda i: (*_cost(i, rank_by), i.condition))
