"""Re-surveys after a case is closed: the same question and scale as the answer that opened
the case, planned into the survey invitations ledger so that the survey scheduler
(:mod:`klantreis.listen.run`) sends them like any invitation — through the outbox, with the
directory's consent and the contact rules (cap per period, days between messages, the
survey's cooldown, quiet hours). There is no exemption: a customer who was just asked
something else is not asked again; the ledger keeps the reason (``min_days_between``...).

:func:`plan_resurveys` turns the closed cases due a re-survey
(:func:`klantreis.act.outcomes.resurvey_requests`) into ``planned`` invitations:

- the survey: ``resurvey_surveys[metric]`` of the case rules, where ``metric`` is the metric of
  the answer that opened the case (NPS for a case opened otherwise); the survey's first scored
  question must ask that metric, else the case is skipped (counted as ``no_survey``);
- one invitation per survey, journey and customer (two cases on one journey: one re-survey);
- ``send_at`` = closure + ``resurvey_after_days``, expiring after the survey's ``expires``;
  a closure whose re-survey could no longer be sent is left alone;
- the trigger event is the case's ``case.closed`` event (the scheduler checks at send time
  that the customer has not answered since), the journey and customer are the case's, the
  owner is the case's owner (the answer counts for who worked the case).

The answer comes back through the respondent form as a ``survey.response`` on the case's
journey, and :func:`klantreis.act.outcomes.case_outcomes` reads it as the re-survey score.
Safe to call repeatedly (ledger ids are derived; existing rows are kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from klantreis.act.outcomes import resurvey_requests
from klantreis.act.rules import CaseRules
from klantreis.listen import ledger
from klantreis.model.survey import SCALES, Survey, SurveyConfig
from klantreis.store import EventStore

__all__ = ["ResurveyPlan", "plan_resurveys", "resurvey_problems", "resurvey_survey"]


@dataclass
class ResurveyPlan:
    """What one :func:`plan_resurveys` did."""

    due: int = 0
    planned: int = 0
    no_survey: int = 0
    too_late: int = 0
    by_survey: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _primary_metric(survey: Survey) -> str | None:
    scored = [q for q in survey.questions if q.type in SCALES]
    return scored[0].type if scored else None


def resurvey_survey(rules: CaseRules, surveys: SurveyConfig, metric: str) -> Survey | None:
    """The active survey that re-asks ``metric`` (None: no re-survey for it)."""
    survey_id = rules.resurvey_surveys.get(metric)
    survey = surveys.survey(survey_id) if survey_id else None
    if survey is None or not survey.active or _primary_metric(survey) != metric:
        return None
    return survey


def resurvey_problems(rules: CaseRules, surveys: SurveyConfig) -> list[str]:
    """Re-survey ids the surveys file does not have, or whose question is another scale."""
    out = []
    for metric, survey_id in sorted(rules.resurvey_surveys.items()):
        survey = surveys.survey(survey_id)
        if survey is None:
            out.append(f"resurvey_surveys.{metric}: no survey '{survey_id}' in the surveys file")
        elif _primary_metric(survey) != metric:
            out.append(
                f"resurvey_surveys.{metric}: survey '{survey_id}' asks"
                f" '{_primary_metric(survey)}', not '{metric}'"
            )
    return out


def _closed_events(store: EventStore, case_ids: list[str]) -> dict[str, tuple[str, Any]]:
    """case id -> (event id, lang) of its newest ``case.closed`` event."""
    if not case_ids:
        return {}
    rows = store.query(
        "SELECT json_extract_string(attrs, '$.case_id') AS case_id,"
        " arg_max(event_id, occurred_at) AS event_id FROM events"
        " WHERE kind = 'case.closed' AND json_extract_string(attrs, '$.case_id')"
        " IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1",
        [case_ids],
    ).to_pylist()
    return {r["case_id"]: (r["event_id"], None) for r in rows}


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def plan_resurveys(
    store: EventStore,
    rules: CaseRules,
    surveys: SurveyConfig,
    now: datetime | None = None,
    limit: int = 10_000,
) -> ResurveyPlan:
    """Plan the re-surveys of closed cases due by ``now`` (see the module)."""
    now = _utc(now or datetime.now(UTC))
    report = ResurveyPlan()
    if not rules.resurvey_surveys:
        return report
    ledger.ensure_schema(store)
    longest = max(
        (s.trigger.expires_td for s in surveys.surveys if s.id in rules.resurvey_surveys.values()),
        default=timedelta(days=7),
    )
    after = timedelta(days=rules.resurvey_after_days)
    due = resurvey_requests(store, rules, now, limit=limit, closed_since=now - after - longest)
    report.due = len(due)
    closed = _closed_events(store, [r["case_id"] for r in due])
    planned: dict[str, ledger.Invitation] = {}
    for row in due:
        survey = resurvey_survey(rules, surveys, row["metric"] or "nps")
        if survey is None:
            report.no_survey += 1
            continue
        trigger = closed.get(row["case_id"])
        if trigger is None:  # the case's events are not in the log (yet)
            continue
        send_at = _utc(row["closed_at"]) + after
        expires_at = send_at + survey.trigger.expires_td
        if expires_at <= now:
            report.too_late += 1
            continue
        key = f"resurvey\x1f{row['journey_id']}\x1f{row['customer_id']}"
        inv_id = ledger.invitation_id(survey.id, key)
        planned.setdefault(
            inv_id,
            ledger.Invitation(
                invitation_id=inv_id,
                survey_id=survey.id,
                customer_id=row["customer_id"],
                journey_id=row["journey_id"],
                trigger_event_id=trigger[0],
                touchpoint=survey.touchpoint or row["touchpoint"],
                owner=row["owner"],
                channel=survey.channels[0] if survey.channels else None,
                send_at=send_at,
                planned_at=now,
                expires_at=expires_at,
            ),
        )
    report.planned = ledger.insert_new(store, list(planned.values()))
    for inv in planned.values():
        report.by_survey[inv.survey_id] = report.by_survey.get(inv.survey_id, 0) + 1
    return report
