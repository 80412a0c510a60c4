"""Re-surveys after closure: planned from closed cases into the invitations ledger, on the
scale of the answer that opened the case, sent by the survey scheduler (consent, contact
rules, outbox) — and end to end: a closed case's re-survey mail reaches a real SMTP server,
its link is answered on the respondent form, and the owner's recovery rate moves."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from tests.act.helpers import T0, load, story
from tests.outbox.servers import SmtpSink, smtp_server

from klantreis.act import cases, outcomes
from klantreis.act.resurvey import plan_resurveys, resurvey_problems
from klantreis.act.rules import default_case_rules
from klantreis.act.runner import evaluate_cases
from klantreis.app import App
from klantreis.settings import Settings
from klantreis.web import create_app

SECRET = "test-secret-key-0123456789abcdef"


def _close_all(app: App, rules: Any, at: datetime) -> None:
    for case in cases.list_cases(app.store):
        cause = "factuur_fout" if case.owner == "finance" else "te_laat_bezorgd"
        cases.set_status(app, rules, case.case_id, "closed", "anna", at=at, root_cause=cause)


def test_closed_cases_are_planned_once_on_their_own_scale(app: App) -> None:
    rules = default_case_rules(app.journey)
    assert resurvey_problems(rules, app.surveys) == []
    load(app, story())
    evaluate_cases(app, rules)
    closed_at = T0 + timedelta(days=4)
    _close_all(app, rules, closed_at)
    early = plan_resurveys(app.store, rules, app.surveys, closed_at + timedelta(days=1))
    assert early.planned == 0  # not due before resurvey_after_days
    now = closed_at + timedelta(days=3, hours=1)
    plan = plan_resurveys(app.store, rules, app.surveys, now)
    rows = app.store.query(
        "SELECT survey_id, journey_id, owner, status, send_at, trigger_event_id"
        " FROM survey_invitations ORDER BY journey_id"
    ).to_pylist()
    by_journey = {r["journey_id"]: r for r in rows}
    # J1 has two cases (criticus, belofte_gebroken): one re-survey; J4 (CES) on its own scale
    assert set(by_journey) == {"J1", "J2", "J4", "J5", "J6", "J7"}
    assert plan.planned == 6 and plan.due == 7
    assert by_journey["J4"]["survey_id"] == "heronderzoek_ces"
    assert by_journey["J1"]["survey_id"] == "heronderzoek"
    assert by_journey["J1"]["owner"] == "carrier:vlotbezorgd"
    assert {r["status"] for r in rows} == {"planned"}
    assert all(r["send_at"] == closed_at + timedelta(days=3) for r in rows)
    closed_events = app.store.query(
        "SELECT event_id FROM events WHERE kind = 'case.closed'"
    ).to_pylist()
    assert {r["trigger_event_id"] for r in rows} <= {e["event_id"] for e in closed_events}
    assert plan_resurveys(app.store, rules, app.surveys, now).planned == 0  # idempotent
    late = plan_resurveys(app.store, rules, app.surveys, now + timedelta(days=30))
    assert late.due == 0  # closures too old to be asked are not looked at


def test_a_metric_without_a_survey_is_not_asked(app: App) -> None:
    rules = default_case_rules(app.journey).model_copy(
        update={"resurvey_surveys": {"nps": "na_contact"}}  # asks CES, not NPS
    )
    assert resurvey_problems(rules, app.surveys) == [
        "resurvey_surveys.nps: survey 'na_contact' asks 'ces', not 'nps'"
    ]
    load(app, story())
    evaluate_cases(app, rules)
    _close_all(app, rules, T0 + timedelta(days=4))
    plan = plan_resurveys(app.store, rules, app.surveys, T0 + timedelta(days=7, hours=1))
    assert plan.planned == 0 and plan.no_survey == plan.due > 0


# -- end to end ---------------------------------------------------------------------------------
def _run_time() -> datetime:
    """10:00 in Amsterdam today (or yesterday when that is still ahead): outside quiet hours."""
    zone = ZoneInfo("Europe/Amsterdam")
    local = datetime.now(zone).replace(hour=10, minute=0, second=0, microsecond=0)
    if local > datetime.now(zone):
        local -= timedelta(days=1)
    return local.astimezone(UTC)


def _detractor_journey(base: datetime) -> list[dict[str, Any]]:
    def e(eid: str, hours: float, kind: str, **kw: Any) -> dict[str, Any]:
        at = (base + timedelta(hours=hours)).isoformat()
        return {"event_id": eid, "occurred_at": at, "kind": kind, **kw}

    common = {"journey_id": "R1", "customer_id": "CR1"}
    deadline = (base + timedelta(hours=24)).isoformat()
    return [
        e("R1-o", 0, "order.placed", **common),
        e("R1-p", 1, "delivery.promised", owner="carrier:vlotbezorgd", **common)
        | {"attrs": {"deadline": deadline}},
        e("R1-d", 50, "delivery.completed", owner="carrier:vlotbezorgd", **common),
        e("R1-s", 54, "survey.response", metric="nps", score=2.0, **common),
    ]


def test_close_a_case_then_the_resurvey_mail_is_answered_and_recovery_moves(
    tmp_path: Path,
) -> None:
    run_at = _run_time()
    base = run_at - timedelta(days=12)  # the delivery's own survey window is over
    with smtp_server(SmtpSink()) as (sink, port):
        settings = replace(
            Settings.load(env={}, db_path=str(tmp_path / "store.duckdb"), secret_key=SECRET),
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
            smtp_from="service@huisenhaard.example",
            webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        with App(settings) as app:
            load(app, _detractor_journey(base))
            app.directory.upsert("CR1", email="cr1@example.com", lang="nl")
            app.directory.set_consent("CR1", "surveys", True, source="test")
            assert app.run_cases(base + timedelta(days=3)).opened
            rules = app.case_rules
            [case] = cases.list_cases(app.store)
            assert (case.rule_id, case.owner) == ("criticus", "carrier:vlotbezorgd")

            def recovery() -> dict[str, Any]:
                table = outcomes.outcome_table(app.store, rules, "owner", run_at)
                row = next(r for r in table if r["group"] == "carrier:vlotbezorgd")
                return dict(row["recovered_7"])

            closed_at = run_at - timedelta(days=3, hours=2)
            cases.set_status(
                app,
                rules,
                case.case_id,
                "closed",
                "anna",
                at=closed_at,
                root_cause="te_laat_bezorgd",
            )
            assert recovery()["n"] == 0
            report = app.run_surveys(run_at)  # plans the re-survey and hands it to the outbox
            assert report.queued == 1, report
            assert app.deliver_outbox().sent == 1
            assert app.run_surveys(run_at).queued == 0  # once
            assert [r.rcpt for r in sink.received] == [["cr1@example.com"]]
            body = sink.received[0].body.decode("utf-8", "replace").replace("=\r\n", "")
            link = re.search(r"https?://[^\s\"<>]+/s/[A-Za-z0-9._~=-]+", body)
            assert link, body
            path = "/" + link.group(0).split("/", 3)[3]
            with TestClient(create_app(app, cache_pages=False), follow_redirects=False) as web:
                page = web.get(path)
                assert page.status_code == 200 and 'type="radio"' in page.text
                done = web.post(path, data={"question": "nps", "nps": "9"})
                assert done.status_code == 303 and done.headers["location"].endswith("/thanks")
                for _ in range(40):  # the web's writer commits in the background
                    if recovery()["n"]:
                        break
                    time.sleep(0.1)
            moved = recovery()
            assert (moved["n"], moved["successes"]) == (1, 1)
            answer = app.store.query(
                "SELECT journey_id, owner, metric, score FROM events WHERE kind ="
                " 'survey.response' AND occurred_at > ?",
                [closed_at],
            ).to_pylist()
            assert answer == [
                {
                    "journey_id": "R1",
                    "owner": "carrier:vlotbezorgd",
                    "metric": "nps",
                    "score": 9.0,
                }
            ]


def test_no_resurvey_without_consent(tmp_path: Path) -> None:
    run_at = _run_time()
    base = run_at - timedelta(days=12)
    settings = Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"), secret_key=SECRET)
    with App(settings) as app:
        load(app, _detractor_journey(base))
        app.directory.upsert("CR1", email="cr1@example.com", lang="nl")
        app.directory.set_consent("CR1", "surveys", False, source="test")
        app.run_cases(base + timedelta(days=3))
        [case] = cases.list_cases(app.store)
        cases.set_status(
            app,
            app.case_rules,
            case.case_id,
            "closed",
            "anna",
            at=run_at - timedelta(days=3, hours=2),
            root_cause="te_laat_bezorgd",
        )
        report = app.run_surveys(run_at)
        assert report.queued == 0 and report.suppressed.get("objected") == 1
        row = app.store.query("SELECT survey_id, status, reason FROM survey_invitations")
        assert row.to_pylist() == [
            {"survey_id": "heronderzoek", "status": "suppressed", "reason": "objected"}
        ]
