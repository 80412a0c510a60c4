"""The outer loop's proof: after a root cause is fixed, did its contacts and its score move?

An analyst marks a root-cause code "fix shipped on <date>" (:func:`mark_fix`; kept in the
``root_cause_fixes`` table, newest mark wins, every mark kept with who and when). For a
marked cause, :func:`fix_effect` compares the ``window_days`` before the fix date with the
``window_days`` from it:

- **affected contact rate**: inbound contacts whose reason (the latest human label, else the
  reason the source gave) is one of the cause's ``contact_reasons``, per 100 journeys started
  in the window, each journey followed for ``follow_days`` days from its start (so journeys
  after the fix are not favoured by having had less time to call; journeys started less than
  ``follow_days`` ago are left out). Difference after - before with a **Welch t-interval**
  on the contacts per journey (an interval for a difference of means; no Poisson assumption
  about repeat callers);
- **score**: the cause's metric on its touchpoints, answers given in each window, compared
  with the metric's own test (:func:`klantreis.analytics.stats.compare`: NPS z-test with the
  NPS variance, two-proportion z-test for CSAT top-2, Welch t for CES/stars).

Either side with too few (journeys: ``min_journeys``; answers: ``min_answers``) is
``too_few`` and has no difference: "too few after the fix" is shown instead of a claim.
Keys and numbers only; the page words them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from klantreis.act.rules import CaseRules, RootCause
from klantreis.analytics.stats import Summary, compare, estimate, test_name
from klantreis.model.journey import JourneyConfig
from klantreis.store import EventStore

__all__ = ["FixError", "Window", "ensure_schema", "fix_effect", "fixes", "mark_fix"]

WINDOW_DAYS = 28
FOLLOW_DAYS = 14
MIN_JOURNEYS = 100


class FixError(ValueError):
    """A fix mark that cannot be stored (unknown code, a date in the future)."""


def ensure_schema(store: EventStore) -> None:
    with store.transaction() as con:
        con.execute(
            """CREATE TABLE IF NOT EXISTS root_cause_fixes (
                root_cause VARCHAR NOT NULL, fixed_on DATE NOT NULL,
                marked_by VARCHAR NOT NULL, marked_at TIMESTAMPTZ NOT NULL, note VARCHAR)"""
        ).fetchall()


def mark_fix(
    store: EventStore,
    rules: CaseRules,
    root_cause: str,
    fixed_on: date,
    by: str,
    at: datetime | None = None,
    note: str | None = None,
    timezone: str = "Europe/Amsterdam",
) -> None:
    """Record that the fix of ``root_cause`` shipped on ``fixed_on`` (a local date)."""
    at = at or datetime.now(UTC)
    if rules.root_cause(root_cause) is None:
        raise FixError(f"unknown root cause '{root_cause}'")
    if fixed_on > at.astimezone(ZoneInfo(timezone)).date():
        raise FixError("the fix date is in the future")
    if fixed_on < date(2000, 1, 1):
        raise FixError("the fix date is too far in the past")
    ensure_schema(store)
    with store.transaction() as con:
        con.execute(
            "INSERT INTO root_cause_fixes VALUES (?, ?, ?, ?, ?)",
            [root_cause, fixed_on, by, at, (note or "")[:500] or None],
        ).fetchall()


def fixes(store: EventStore) -> dict[str, dict[str, Any]]:
    """Per root cause: its newest fix mark (``fixed_on``, ``marked_by``, ``marked_at``)."""
    ensure_schema(store)
    rows = store.query(
        "SELECT root_cause, arg_max(fixed_on, marked_at) AS fixed_on,"
        " arg_max(marked_by, marked_at) AS marked_by, max(marked_at) AS marked_at"
        " FROM root_cause_fixes GROUP BY root_cause"
    ).to_pylist()
    return {r.pop("root_cause"): r for r in rows}


@dataclass(frozen=True)
class Window:
    """The two periods compared (UTC): [before_start, fix) and [fix, after_end)."""

    before_start: datetime
    fix: datetime
    after_end: datetime

    def as_dict(self) -> dict[str, str]:
        return {k: v.isoformat() for k, v in self.__dict__.items()}


def _window(fixed_on: date, now: datetime, zone: str, days: int, lag_days: int) -> Window:
    fix = datetime.combine(fixed_on, time(0), ZoneInfo(zone)).astimezone(UTC)
    end = min(fix + timedelta(days=days), now - timedelta(days=lag_days))
    return Window(fix - timedelta(days=days), fix, max(end, fix))


def _contact_sides(
    store: EventStore, journey: JourneyConfig, reasons: list[str], w: Window, follow: int
) -> dict[str, dict[str, float]]:
    rows = store.query(
        f"""
        WITH lab AS (
          SELECT json_extract_string(attrs, '$.contact_id') AS cid,
                 arg_max(json_extract_string(attrs, '$.reason'), occurred_at) AS label
          FROM events WHERE kind = 'contact.labelled' GROUP BY 1),
        c AS (
          SELECT e.journey_id, e.occurred_at
          FROM events e LEFT JOIN lab l
            ON l.cid = coalesce(json_extract_string(e.attrs, '$.contact_id'), e.event_id)
          WHERE e.kind = 'contact.inbound' AND e.journey_id IS NOT NULL
            AND coalesce(l.label, json_extract_string(e.attrs, '$.reason'))
                IN (SELECT unnest(?::VARCHAR[]))),
        j AS (
          SELECT journey_id, min(occurred_at) AS started FROM events
          WHERE kind = ? AND journey_id IS NOT NULL GROUP BY journey_id
          HAVING min(occurred_at) >= ? AND min(occurred_at) < ?),
        per AS (
          SELECT j.journey_id, j.started < ? AS before, count(c.journey_id) AS k
          FROM j LEFT JOIN c ON c.journey_id = j.journey_id AND c.occurred_at >= j.started
            AND c.occurred_at < j.started + INTERVAL {int(follow)} DAY
          GROUP BY ALL)
        SELECT before, count(*) AS n, sum(k) AS total, sum(k * k) AS total_sq FROM per
        GROUP BY before
        """,
        [reasons, journey.journey_start, w.before_start, w.after_end, w.fix],
    ).to_pylist()
    out = {"before": {"n": 0, "total": 0.0, "total_sq": 0.0}}
    out["after"] = dict(out["before"])
    for r in rows:
        out["before" if r["before"] else "after"] = {
            "n": int(r["n"]),
            "total": float(r["total"] or 0),
            "total_sq": float(r["total_sq"] or 0),
        }
    return out


def _score_sides(
    store: EventStore, cause: RootCause, w: Window, end: datetime
) -> dict[str, Summary]:
    tp = " AND touchpoint IN (SELECT unnest(?::VARCHAR[]))" if cause.touchpoints else ""
    params: list[Any] = [w.fix, cause.metric, w.before_start, end]
    if cause.touchpoints:
        params.append(cause.touchpoints)
    rows = store.query(
        f"""
        SELECT occurred_at < ? AS before, count(*) AS n, sum(score) AS total,
          sum(score * score) AS total_sq, count(*) FILTER (score >= 9) AS promoters,
          count(*) FILTER (score <= 6) AS detractors, count(*) FILTER (score >= 4) AS top2
        FROM events WHERE kind = 'survey.response' AND metric = ? AND score IS NOT NULL
          AND occurred_at >= ? AND occurred_at < ?{tp}
        GROUP BY ALL
        """,
        params,
    ).to_pylist()
    out = {"before": Summary(0), "after": Summary(0)}
    for r in rows:
        side = "before" if r.pop("before") else "after"
        out[side] = Summary(
            n=int(r["n"]),
            total=float(r["total"] or 0),
            total_sq=float(r["total_sq"] or 0),
            promoters=int(r["promoters"]),
            detractors=int(r["detractors"]),
            top2=int(r["top2"]),
        )
    return out


def _comparison(metric: str, a: Summary, b: Summary, alpha: float, minimum: int) -> dict[str, Any]:
    c = compare(metric, a, b, alpha, minimum)
    return {
        "test": c.test,
        "diff": c.diff,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "p_value": c.p_value,
        "significant": c.significant,
        "too_few": c.too_few,
        "too_few_after": b.n < max(minimum, 2),
        "too_few_before": a.n < max(minimum, 2),
    }


def fix_effect(
    store: EventStore,
    journey: JourneyConfig,
    cause: RootCause,
    fixed_on: date,
    now: datetime | None = None,
    *,
    window_days: int = WINDOW_DAYS,
    follow_days: int = FOLLOW_DAYS,
    confidence: float = 0.95,
    min_answers: int = 30,
    min_journeys: int = MIN_JOURNEYS,
) -> dict[str, Any]:
    """Before vs after the fix of ``cause`` on ``fixed_on`` (see the module)."""
    now = now or datetime.now(UTC)
    alpha = 1 - confidence
    zone = journey.timezone
    wc = _window(fixed_on, now, zone, window_days, follow_days)
    sides = _contact_sides(store, journey, cause.contact_reasons, wc, follow_days)
    a, b = (
        Summary(int(s["n"]), s["total"], s["total_sq"]) for s in (sides["before"], sides["after"])
    )
    contacts = _comparison("ces", a, b, alpha, min_journeys)  # Welch t on contacts per journey
    for key in ("diff", "ci_low", "ci_high"):
        contacts[key] = None if contacts[key] is None else 100.0 * contacts[key]
    for name, s in (("before", a), ("after", b)):
        contacts[name] = {
            "journeys": s.n,
            "contacts": int(s.total),
            "rate": 100.0 * s.total / s.n if s.n else None,
        }
    ws = _window(fixed_on, now, zone, window_days, 0)
    scores = _score_sides(store, cause, ws, ws.after_end)
    score = _comparison(cause.metric, scores["before"], scores["after"], alpha, min_answers)
    for name in ("before", "after"):
        est = estimate(cause.metric, scores[name], confidence, min_answers=1)
        score[name] = {"n": scores[name].n, "value": est.value}
    score["metric"] = cause.metric
    return {
        "root_cause": cause.id,
        "fixed_on": fixed_on.isoformat(),
        "window_days": window_days,
        "follow_days": follow_days,
        "confidence": confidence,
        "contact_window": wc.as_dict(),
        "score_window": ws.as_dict(),
        "contacts": {**contacts, "test": test_name("ces"), "reasons": list(cause.contact_reasons)},
        "score": score,
    }
