"""Outcomes of cases: was the customer recovered, how fast did someone act, was the SLA met,
did the customer have to contact us again — per owner and per rule (the case's reason); the
root-cause backlog; and the closed cases due a re-survey.

Keys and numbers only (the page words them). Definitions:

- **recovery**: of the closed cases whose customer answered the re-survey (the first answer
  on the same journey after the closure, on the scale of the answer that opened the case;
  NPS for cases opened otherwise — see :mod:`klantreis.act.resurvey`), the share "recovered"
  (NPS >= 7; CSAT/stars >= 4; CES <= 3) and "fully recovered" (NPS >= 9; CSAT/stars 5;
  CES <= 2), each with a Wilson interval; ``answered`` is that n (cases without an answer are
  not counted as unrecovered: they are unknown);
- **time to first action**: business hours from opening to the first human action (median,
  p90) over cases that had one;
- **closed within SLA**: share of closed cases whose resolution clock (pauses left out) met
  the target, Wilson interval;
- **repeat contacts**: share of closed cases whose customer contacted us (``contact.inbound``)
  within 7 days after the closure, Wilson interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from klantreis.act.cases import clocks_for, count_cases, ensure_schema, list_cases
from klantreis.act.rules import CaseRules
from klantreis.analytics.stats import wilson_arrays
from klantreis.store import EventStore

__all__ = [
    "REPEAT_DAYS",
    "GroupBy",
    "case_outcomes",
    "outcome_table",
    "recovered",
    "resurvey_requests",
    "root_cause_backlog",
]

REPEAT_DAYS = 7
GroupBy = Literal["owner", "rule_id", "all"]


def case_outcomes(
    store: EventStore, rules: CaseRules, now: datetime | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """One row per case (every case; ``limit``: the newest that many): owner, rule_id,
    status, root_cause, business hours to the first action, whether the resolution SLA was
    met (closed cases), the re-survey score and whether the customer contacted us again
    within 7 days of the closure.

    The clocks of all cases are computed at once (``clocks_for``: one query for the pauses,
    numpy for the clocks), not case by case: 27,358 cases took 50 s of a 63 s profile per
    case on a shared machine, and the cases page reads every case."""
    now = now or datetime.now(UTC)
    ensure_schema(store)
    cases = list_cases(store, limit=count_cases(store) if limit is None else limit)
    clocks = clocks_for(store, cases, rules, now)
    after = _after_closure(store)
    out = []
    for case, clock in zip(cases, clocks, strict=True):
        first, resolution = clock["first_action"], clock["resolution"]
        extra = after.get(case.case_id, {})
        score, metric = extra.get("resurvey_score"), extra.get("metric") or "nps"
        out.append(
            {
                "case_id": case.case_id,
                "owner": case.owner,
                "rule_id": case.rule_id,
                "status": case.status,
                "root_cause": case.root_cause,
                "first_action_hours": first.elapsed / 3600 if case.first_action_at else None,
                "within_sla": resolution.met if case.closed_at else None,
                "resurvey_score": score,
                "resurvey_metric": metric if score is not None else None,
                "recovered": None if score is None else recovered(metric, score, full=False),
                "fully_recovered": None if score is None else recovered(metric, score, full=True),
                "repeat_contact": extra.get("repeat_contact") if case.closed_at else None,
            }
        )
    return out


def _after_closure(store: EventStore) -> dict[str, dict[str, Any]]:
    """Per closed case: the first answer of the same customer and journey after the
    closure on the case's scale (the metric of the answer that opened it, else NPS), and
    whether a contact followed within ``REPEAT_DAYS`` days."""
    rows = store.query(
        f"""
        WITH c AS (
          SELECT c.*, coalesce(t.metric, 'nps') AS metric
          FROM cases c LEFT JOIN events t ON t.event_id = c.trigger_event_id
          WHERE c.closed_at IS NOT NULL)
        SELECT c.case_id, c.metric,
          (SELECT arg_min(e.score, e.occurred_at) FROM events e
            WHERE e.kind = 'survey.response' AND e.metric = c.metric
              AND e.journey_id = c.journey_id AND e.customer_id IS NOT DISTINCT FROM c.customer_id
              AND e.occurred_at > c.closed_at) AS resurvey_score,
          EXISTS (SELECT 1 FROM events e
            WHERE e.kind = 'contact.inbound' AND e.customer_id = c.customer_id
              AND e.occurred_at > c.closed_at
              AND e.occurred_at <= c.closed_at + INTERVAL {REPEAT_DAYS} DAY) AS repeat_contact
        FROM c
        """
    ).to_pylist()
    return {r.pop("case_id"): r for r in rows}


def recovered(metric: str, score: float, full: bool = False) -> bool:
    """Whether a re-survey ``score`` on ``metric``'s scale counts as recovered (NPS >= 7,
    CSAT/stars >= 4, CES <= 3) or, with ``full``, fully recovered (NPS >= 9, CSAT/stars 5,
    CES <= 2)."""
    if metric == "ces":
        return score <= (2 if full else 3)
    if metric in ("csat", "stars"):
        return score >= (5 if full else 4)
    return score >= (9 if full else 7)


def _share(successes: int, n: int, confidence: float) -> dict[str, Any]:
    if n == 0:
        return {"n": 0, "successes": 0, "value": None, "ci_low": None, "ci_high": None}
    iv = wilson_arrays(np.array([successes]), np.array([n]), confidence)
    return {
        "n": n,
        "successes": successes,
        "value": float(iv.value[0]),
        "ci_low": float(iv.ci_low[0]),
        "ci_high": float(iv.ci_high[0]),
    }


def _quantiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None}
    arr = np.array(values, dtype=float)
    return {"median": float(np.median(arr)), "p90": float(np.quantile(arr, 0.9))}


def _summarise(rows: Sequence[dict[str, Any]], confidence: float) -> dict[str, Any]:
    closed = [r for r in rows if r["status"] == "closed"]
    answered = [r for r in closed if r["resurvey_score"] is not None]
    sla = [r["within_sla"] for r in closed if r["within_sla"] is not None]
    repeat = [r["repeat_contact"] for r in closed if r["repeat_contact"] is not None]
    firsts = [r["first_action_hours"] for r in rows if r["first_action_hours"] is not None]
    return {
        "cases": len(rows),
        "open": len(rows) - len(closed),
        "closed": len(closed),
        "recovered_7": _share(sum(r["recovered"] for r in answered), len(answered), confidence),
        "recovered_9": _share(
            sum(r["fully_recovered"] for r in answered), len(answered), confidence
        ),
        "first_action_hours": {"n": len(firsts), **_quantiles(firsts)},
        "within_sla": _share(sum(bool(s) for s in sla), len(sla), confidence),
        "repeat_contact": _share(sum(bool(s) for s in repeat), len(repeat), confidence),
    }


def outcome_table(
    store: EventStore,
    rules: CaseRules,
    by: GroupBy = "owner",
    now: datetime | None = None,
    confidence: float = 0.95,
    rows: Sequence[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Outcomes per owner, per rule (``rule_id``) or for all cases (``"all"``): counts,
    recovery (>= 7 and >= 9) with Wilson intervals, time to first action (median, p90,
    business hours), closure within SLA and repeat contacts within 7 days of closure.
    ``rows`` reuses :func:`case_outcomes` already computed."""
    rows = list(rows) if rows is not None else case_outcomes(store, rules, now)
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault("all" if by == "all" else r[by], []).append(r)
    return [
        {"group": key, **_summarise(members, confidence)} for key, members in sorted(groups.items())
    ]


def root_cause_backlog(
    store: EventStore, rules: CaseRules, rows: Sequence[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Closed cases rolled up by root-cause code: the owner who can remove the cause (the
    code's owner, else the cases' most frequent owner), the count and the share of closed
    cases, most frequent first: the outer loop's backlog."""
    rows = list(rows) if rows is not None else case_outcomes(store, rules)
    closed = [r for r in rows if r["status"] == "closed" and r["root_cause"]]
    counts: dict[str, dict[str, int]] = {}
    for r in closed:
        counts.setdefault(r["root_cause"], {}).setdefault(r["owner"], 0)
        counts[r["root_cause"]][r["owner"]] += 1
    out = []
    for code, owners in counts.items():
        cause = rules.root_cause(code)
        n = sum(owners.values())
        top = max(sorted(owners), key=lambda o: owners[o])
        out.append(
            {
                "root_cause": code,
                "owner": cause.owner if cause and cause.owner else top,
                "cases": n,
                "share": 100.0 * n / len(closed),
                "case_owners": dict(sorted(owners.items())),
            }
        )
    return sorted(out, key=lambda r: (-r["cases"], r["root_cause"]))


def resurvey_requests(
    store: EventStore,
    rules: CaseRules,
    now: datetime | None = None,
    limit: int = 10_000,
    closed_since: datetime | None = None,
) -> list[dict[str, Any]]:
    """Closed cases due a re-survey: closed at least ``resurvey_after_days`` ago, with a
    customer, and no feedback answer from that customer on that journey since the closure.

    Each row says what to ask again (the same metric and touchpoint as the answer that
    opened the case; NPS when a case was not opened by an answer). The survey engine sends
    them through the outbox (:mod:`klantreis.act.resurvey` plans them; this function sends
    nothing). ``closed_since``: only cases closed from then on (older ones are too late)."""
    now = now or datetime.now(UTC)
    ensure_schema(store)
    due_before = now - timedelta(days=rules.resurvey_after_days)
    rows = store.query(
        """
        SELECT c.case_id, c.customer_id, c.journey_id, c.owner, c.rule_id, c.closed_at,
          coalesce(t.metric, 'nps') AS metric, t.touchpoint
        FROM cases c LEFT JOIN events t ON t.event_id = c.trigger_event_id
        WHERE c.closed_at IS NOT NULL AND c.closed_at <= ? AND c.closed_at >= ?
          AND c.customer_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM events e WHERE e.kind = 'survey.response'
            AND e.journey_id = c.journey_id AND e.customer_id = c.customer_id
            AND e.occurred_at > c.closed_at)
        ORDER BY c.closed_at, c.case_id LIMIT ?
        """,
        [due_before, closed_since or datetime(1970, 1, 1, tzinfo=UTC), limit],
    ).to_pylist()
    return list(rows)
