"""Case queues at scale: a few thousand cases, 50 a page with a keyboard-usable pager and
counts, the team queue ordered by urgency over the whole queue (clocks computed at once with
``clock_arrays``, equal to the per-case clocks); and a root cause marked "fix shipped" on
the page (CSRF-protected) shows its before/after sentences."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from klantreis.act import cases as act_cases
from klantreis.act import outcomes
from klantreis.act.cases import Action, apply_actions, case_clocks, clocks_for, list_cases
from klantreis.act.rules import default_case_rules
from klantreis.act.runner import evaluate_cases
from klantreis.app import App
from klantreis.model.events import events_from_records

N = 3_000
BASE = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _many(app: App) -> None:
    rows = []
    for i in range(N):
        at = BASE + timedelta(minutes=7 * i)
        rows.append(
            {
                "event_id": f"S{i}",
                "occurred_at": at.isoformat(),
                "kind": "survey.response",
                "journey_id": f"JS{i}",
                "customer_id": f"CS{i}",
                "owner": "carrier:vlotbezorgd",
                "touchpoint": "bezorging",
                "metric": "nps",
                "score": float(i % 7),
            }
        )
    app.store.append(events_from_records(rows))
    rules = default_case_rules(app.journey)
    evaluate_cases(app, rules, now=BASE + timedelta(days=20))
    found = sorted(list_cases(app.store, limit=N), key=lambda c: c.case_id)
    actions = []
    for k, c in enumerate(found):
        if k % 3 == 0:  # a third waits for the carrier, some of them done waiting
            actions.append(
                Action(
                    c.case_id,
                    "status",
                    c.opened_at + timedelta(hours=1),
                    "anna",
                    "waiting_third_party",
                )
            )
            if k % 2 == 0:
                actions.append(
                    Action(
                        c.case_id, "status", c.opened_at + timedelta(hours=9), "anna", "in_progress"
                    )
                )
        if k < 120:
            actions.append(
                Action(
                    c.case_id,
                    "assign",
                    c.opened_at + timedelta(hours=2),
                    "anna",
                    "analyst",
                    automatic=True,
                )
            )
    apply_actions(app, rules, actions)


def test_clocks_for_equals_case_clocks(web_app: App) -> None:
    _many(web_app)
    rules = default_case_rules(web_app.journey)
    now = BASE + timedelta(days=25)
    found = act_cases.with_logs(web_app.store, list_cases(web_app.store, limit=400))
    fast = clocks_for(web_app.store, found, rules, now)
    for case, got in zip(found, fast, strict=True):
        want = case_clocks(case, rules, now)
        for name in ("first_action", "resolution"):
            a, b = got[name], want[name]
            assert abs(a.elapsed - b.elapsed) < 1e-3, (case.case_id, name)
            assert a.paused == b.paused and a.stopped_at == b.stopped_at
            assert (a.due_at is None) == (b.due_at is None)
            if a.due_at and b.due_at:
                assert abs((a.due_at - b.due_at).total_seconds()) < 1e-3


def _outcomes_case_by_case(app: App, rules: Any, now: datetime) -> list[dict[str, Any]]:
    """The reference: every case with its log and :func:`case_clocks` per case (what
    ``case_outcomes`` computed before it took ``clocks_for``)."""
    found = act_cases.with_logs(app.store, list_cases(app.store, limit=10 * N))
    out = []
    for case in found:
        clocks = case_clocks(case, rules, now)
        first, resolution = clocks["first_action"], clocks["resolution"]
        out.append(
            {
                "case_id": case.case_id,
                "status": case.status,
                "first_action_hours": first.elapsed / 3600 if case.first_action_at else None,
                "within_sla": resolution.met if case.closed_at else None,
            }
        )
    return out


def test_case_outcomes_equal_the_case_by_case_clocks(web_app: App) -> None:
    _many(web_app)
    rules = default_case_rules(web_app.journey)
    found = sorted(list_cases(web_app.store, limit=10 * N), key=lambda c: c.case_id)
    closing = [  # some closed within their SLA, some late, some after a pause
        Action(
            c.case_id,
            "status",
            c.opened_at + timedelta(hours=10 + 40 * (k % 4)),
            "anna",
            "closed",
            root_cause=rules.root_causes[0].id,
        )
        for k, c in enumerate(found)
        if k % 5 < 2
    ]
    apply_actions(web_app, rules, closing)
    now = BASE + timedelta(days=25)
    got = outcomes.case_outcomes(web_app.store, rules, now)
    want = _outcomes_case_by_case(web_app, rules, now)
    assert len(got) == len(want) == len(found) > N  # every case (no limit unless asked)
    assert [r["case_id"] for r in got] == [r["case_id"] for r in want]
    met = [r["within_sla"] for r in got]
    assert True in met and False in met and None in met  # the cases cover every outcome
    assert sum(r["first_action_hours"] is not None for r in got) > 100
    for a, b in zip(got, want, strict=True):
        assert a["status"] == b["status"] and a["within_sla"] == b["within_sla"], a["case_id"]
        fa, fb = a["first_action_hours"], b["first_action_hours"]
        assert (fa is None) == (fb is None)
        if fa is not None and fb is not None:
            assert abs(fa - fb) < 1e-6, a["case_id"]
    assert len(outcomes.case_outcomes(web_app.store, rules, now, limit=10)) == 10


def test_team_queue_and_my_cases_page_by_50(web_app: App, as_user: Any) -> None:
    _many(web_app)
    analyst = as_user("analyst")
    began = time.perf_counter()
    first = analyst.get("/api/v1/cases/team?owner=carrier:vlotbezorgd").json()["data"]
    seconds = time.perf_counter() - began
    assert seconds < 20, seconds  # a few thousand clocks at once (was per case)
    total = first["pager"]["total"]
    assert total > 2_000 and first["pager"]["pages"] == -(-total // 50)
    assert len(first["cases"]) == 50
    second = analyst.get("/api/v1/cases/team?owner=carrier:vlotbezorgd&page=2").json()["data"]
    assert not {c["case_id"] for c in first["cases"]} & {c["case_id"] for c in second["cases"]}
    used = [c["clocks"]["resolution"]["fraction"] for c in first["cases"] + second["cases"]]
    assert used == sorted(used, reverse=True)  # most urgent first, across pages
    last = analyst.get(f"/api/v1/cases/team?owner=carrier:vlotbezorgd&page={10**6}").json()
    assert last["data"]["pager"]["page"] == first["pager"]["pages"]  # clamped
    page = analyst.get("/cases/team?owner=carrier:vlotbezorgd&page=2")
    assert page.status_code == 200
    html = page.text
    assert 'nav class="pager"' in html and 'rel="prev"' in html and 'rel="next"' in html
    assert "51–100 van" in html and "Pagina 2 van" in html
    assert html.count('data-testid="case-row"') == 50
    mine = analyst.get("/cases?status=all&page=3")
    assert mine.status_code == 200 and mine.text.count('data-testid="case-row"') == 20
    assert "101–120 van 120 zaken" in mine.text and 'rel="next"' not in mine.text


def test_fix_shipped_is_marked_on_the_page(web_app: App, as_user: Any) -> None:
    _many(web_app)
    rules = default_case_rules(web_app.journey)
    found = list_cases(web_app.store, limit=30)
    apply_actions(
        web_app,
        rules,
        [
            Action(
                c.case_id,
                "status",
                c.opened_at + timedelta(days=1),
                "anna",
                "closed",
                root_cause="te_laat_bezorgd",
            )
            for c in found
        ],
    )
    analyst = as_user("analyst")
    csrf = analyst.cookies.get("kr_csrf")
    refused = analyst.post(
        "/cases/root-causes/fix", data={"code": "te_laat_bezorgd", "fixed_on": "2026-11-10"}
    )
    assert refused.status_code in (400, 403)  # no CSRF token
    bad = analyst.post(
        "/cases/root-causes/fix",
        data={"code": "te_laat_bezorgd", "fixed_on": "gisteren", "csrf_token": csrf},
    )
    assert bad.status_code == 422
    ok = analyst.post(
        "/cases/root-causes/fix",
        data={"code": "te_laat_bezorgd", "fixed_on": "2026-11-10", "csrf_token": csrf},
    )
    assert ok.status_code == 303
    page = analyst.get("/cases").text
    assert 'data-testid="fix-effect"' in page and "opgelost op" in page
    # no orders in this store: no journeys to count, so no claim about contacts
    assert "Nog geen reizen na de oplossing" in page
    assert "Score:" in page and "95%-interval" in page
    viewer = as_user("viewer")
    assert (
        viewer.post(
            "/cases/root-causes/fix",
            data={
                "code": "te_laat_bezorgd",
                "fixed_on": "2026-11-10",
                "csrf_token": viewer.cookies.get("kr_csrf"),
            },
        ).status_code
        == 403
    )
