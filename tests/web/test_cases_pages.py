"""The case pages and /api/v1/cases: analysts work cases, viewers see counts only, customer
text is escaped, changes become events through the writer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.act.helpers import late_parcel, load

from conftest import bearer
from klantreis.access import accounts
from klantreis.act.cases import case_id_for, get_case, list_cases
from klantreis.act.rules import default_case_rules
from klantreis.act.runner import evaluate_cases
from klantreis.app import App


def _with_cases(app: App) -> str:
    load(app, late_parcel("JW1", "CW1", score=2, text="<script>window.__pwned=1</script> kapot"))
    evaluate_cases(app, default_case_rules(app.journey))
    return case_id_for("criticus", "JW1")


def test_analyst_works_a_case_from_the_page(web_app: App, as_user: Any) -> None:
    cid = _with_cases(web_app)
    analyst = as_user("analyst")
    page = analyst.get(f"/cases/{cid}")
    assert page.status_code == 200
    assert "VlotBezorgd" in page.text and "Criticus (NPS 0-6)" in page.text
    assert "<script>window.__pwned" not in page.text  # the customer's text, escaped
    csrf = analyst.cookies.get("kr_csrf")
    r = analyst.post(f"/cases/{cid}/note", data={"note": "Vervoerder gebeld", "csrf_token": csrf})
    assert r.status_code == 303
    r = analyst.post(f"/cases/{cid}/assign", data={"assignee": "analyst", "csrf_token": csrf})
    assert r.status_code == 303
    mine = analyst.get("/api/v1/cases").json()["data"]["mine"]
    assert [m["case_id"] for m in mine] == [cid]
    bad = analyst.post(f"/cases/{cid}/status", data={"status": "closed", "csrf_token": csrf})
    assert bad.status_code == 422 and "root-cause" in bad.text
    r = analyst.post(
        f"/cases/{cid}/status",
        data={"status": "closed", "root_cause": "te_laat_bezorgd", "csrf_token": csrf},
    )
    assert r.status_code == 303
    case = get_case(web_app.store, cid)
    assert case is not None and case.status == "closed" and case.first_action_at is not None
    kinds = (
        web_app.store.query(
            "SELECT kind FROM events WHERE json_extract_string(attrs, '$.case_id') = ? ORDER BY kind",
            [cid],
        )
        .column("kind")
        .to_pylist()
    )
    assert kinds == ["case.closed", "case.first_action", "case.opened"]
    assert "Gesloten" in analyst.get(f"/cases/{cid}").text


def test_viewer_sees_counts_only(web_app: App, as_user: Any) -> None:
    cid = _with_cases(web_app)
    viewer = as_user("viewer")
    data = viewer.get("/api/v1/cases").json()["data"]
    assert data["masked"] is True and data["mine"] == []
    assert {c["owner_name"] for c in data["counts"]} >= {"VlotBezorgd"}
    team = viewer.get("/api/v1/cases/team").json()["data"]
    assert team["cases"] == []
    assert viewer.get(f"/cases/{cid}").status_code == 403
    assert viewer.get(f"/api/v1/cases/{cid}").status_code == 403
    assert "CW1" not in viewer.get("/cases").text
    assert "CW1" not in viewer.get("/cases/team").text
    csrf = viewer.cookies.get("kr_csrf")
    assert (
        viewer.post(f"/cases/{cid}/note", data={"note": "x", "csrf_token": csrf}).status_code == 403
    )


def test_team_queue_and_api_with_a_token(web_app: App, as_user: Any, client: Any) -> None:
    cid = _with_cases(web_app)
    token, _ = accounts.create_token(web_app.store, ["read"], user="analyst")
    team = client.get("/api/v1/cases/team?owner=carrier:vlotbezorgd", headers=bearer(token)).json()[
        "data"
    ]
    assert cid in {c["case_id"] for c in team["cases"]}
    assert team["owner_name"] == "VlotBezorgd"
    r = client.post(
        f"/api/v1/cases/{cid}/notes", json={"note": "via de API"}, headers=bearer(token)
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["events"] == 1  # case.first_action
    missing = client.post("/api/v1/cases/nope/notes", json={"note": "x"}, headers=bearer(token))
    assert missing.status_code == 404
    assert client.get("/api/v1/cases").status_code == 401
    assert len(list_cases(web_app.store, owner="carrier:vlotbezorgd")) >= 1


def test_open_count_per_owner_matches_the_team_queue(web_app: App, as_user: Any) -> None:
    _with_cases(web_app)
    analyst = as_user("analyst")
    counts = analyst.get("/api/v1/cases").json()["data"]["counts"]
    for c in counts:
        team = analyst.get("/api/v1/cases/team", params={"owner": c["owner"]}).json()["data"]
        assert c["open"] == team["pager"]["total"] >= 1, c  # each case once, not twice
        assert c["total"] == c["open"] + c.get("closed", 0)


def test_the_case_page_shows_the_answer_that_opened_it(web_app: App, as_user: Any) -> None:
    cid = _with_cases(web_app)
    analyst = as_user("analyst")
    data = analyst.get(f"/api/v1/cases/{cid}").json()["data"]
    case = get_case(web_app.store, cid)
    assert case is not None and data["trigger"]["event_id"] == case.trigger_event_id
    assert data["trigger"]["kind"] == "survey.response" and data["trigger"]["score"] == 2
    marked = [e for e in data["timeline"] if e["trigger"]]
    assert [e["event_id"] for e in marked] == [case.trigger_event_id]
    page = analyst.get(f"/cases/{cid}?lang=nl").text
    why = page.split('data-testid="case-trigger"')[1].split("</section>")[0]
    assert "Waarom deze zaak" in why and "kapot" in why and "&lt;script&gt;" in why
    assert page.count('class="trigger"') == 1 and "opende deze zaak" in page
    assert "Why this case" in analyst.get(f"/cases/{cid}?lang=en").text


@pytest.mark.parametrize(("lang", "unit", "decimal"), [("nl", "u", ","), ("en", "h", ".")])
def test_hours_to_first_action_keep_their_unit(
    web_app: App, as_user: Any, lang: str, unit: str, decimal: str
) -> None:
    """ "p90 8.0 h" broke between "8.0" and "h": a number and its unit stay on one line, in
    the page's number format."""
    cid = _with_cases(web_app)
    analyst = as_user("analyst")
    csrf = analyst.cookies.get("kr_csrf")
    analyst.post(f"/cases/{cid}/note", data={"note": "gebeld", "csrf_token": csrf})
    page = analyst.get("/cases", params={"lang": lang}).text
    hours = re.findall(rf"(\s)\d+(?:\{decimal}\d)?(\s){unit}\b", page)
    assert hours, "the first action's hours are on the page"
    assert {space for pair in hours for space in pair} == {"\N{NO-BREAK SPACE}"}
