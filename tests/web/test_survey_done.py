"""Issue 14's "done means", end to end on a demo store in a real browser (system Chromium,
real uvicorn server): the analyst sees invitations planned from the event log, suppressed
ones explained; a personal link opened at 390 px without JavaScript is answered and shows in
the scores of the right carrier; a second invitation to the same customer the same week is
refused with its reason (fatigue), which the analyst reads on the why-not search."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, chromium, log_in, serving

from conftest import PASSWORDS, make_settings
from klantreis.app import App
from klantreis.demo.runner import run_demo
from klantreis.listen import ledger
from klantreis.listen.triggers import sample_fraction
from klantreis.model.events import events_from_records
from klantreis.web.pages.survey_form import runtime
from klantreis.wording import Wording

pytestmark = BROWSER_MARKS
FATIGUE = ("cooldown", "min_days_between", "cap")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, str]]:
    from klantreis.access import accounts

    path = tmp_path_factory.mktemp("survey-done") / "demo.duckdb"
    app = App(make_settings(str(path)))
    run_demo(app, 1_500, seed=3, days=40, now=datetime.now(UTC) - timedelta(hours=1))
    for role, password in PASSWORDS.items():
        accounts.add_user(app.store, role, role, password)
    runtime(app)
    with serving(app) as base:
        yield app, base
    app.close()


@pytest.fixture(scope="module")
def browser(demo: tuple[App, str]) -> Iterator[Any]:
    """Closed before the server stops (it needs the server): no page still asks it then."""
    with chromium() as b:
        yield b


def _open_invitations(app: App) -> list[ledger.Invitation]:
    rows = app.store.query(
        "SELECT invitation_id FROM survey_invitations WHERE status IN ('queued', 'sent')"
        " AND survey_id = 'na_bezorging' AND owner LIKE 'carrier:%' AND expires_at > now()"
        " AND journey_id NOT IN (SELECT journey_id FROM events WHERE kind = 'survey.response'"
        " AND journey_id IS NOT NULL)"
        " ORDER BY queued_at DESC, invitation_id"
    ).to_pylist()
    found = [ledger.get(app.store, r["invitation_id"]) for r in rows]
    out = list({i.customer_id: i for i in reversed(found) if i is not None}.values())[::-1]
    assert len(out) >= 2, "the demo handed delivery invitations to the outbox"
    return out


def _carrier_n(page: Any, carrier: str) -> int:
    data = json.loads(
        page.evaluate("fetch('/api/v1/scores?period=all', {cache: 'no-store'}).then(r => r.text())")
    )
    owners = {r["key"]: r for r in data["data"]["breakdowns"]["owner"]}
    return int(owners[carrier]["nps"]["n"]) if carrier in owners else 0


def test_done_means(browser: Any, demo: tuple[App, str]) -> None:
    app, base = demo
    w = Wording("nl")
    desk = browser.new_context(viewport={"width": 390, "height": 844})
    staff = desk.new_page()
    log_in(staff, base, "analyst", PASSWORDS["analyst"])
    # invitations planned from the event log, the suppressed ones with their reasons in words
    staff.goto(base + "/surveys/invitations")
    text = staff.locator("main").inner_text()
    for reason in ("no_consent", "objected"):
        assert w(f"listen.reason.{reason}") in text, reason
    assert any(w(f"listen.reason.{r}") in text for r in FATIGUE)

    # a personal link, opened on a phone without JavaScript, answered; the carrier's scores
    invitation, unanswered = _open_invitations(app)[:2]
    carrier = invitation.owner or ""
    before = _carrier_n(staff, carrier)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = phone.new_page()
    link = "/" + app.survey_link(invitation).split("/", 3)[3]
    assert page.goto(base + link).status == 200
    page.get_by_label("8", exact=True).check()
    page.get_by_role("button", name="Volgende" if invitation.lang != "en" else "Next").click()
    page.locator("form button[type=submit]").click()
    assert page.url.endswith("/thanks")
    phone.close()
    for _ in range(20):  # the server's writer commits in the background
        if _carrier_n(staff, carrier) == before + 1:
            break
        staff.wait_for_timeout(250)
    assert _carrier_n(staff, carrier) == before + 1

    # a customer with an invitation (not answered) bought again and got it delivered: no
    # second survey that week, and the analyst reads why
    invitation = unanswered
    now = datetime.now(UTC)
    tag = next(  # a delivery in the survey's sample: only the contact rules can stop it
        t
        for t in (f"done-{i}" for i in range(100))
        if sample_fraction("na_bezorging", invitation.customer_id, f"{t}-delivery.completed") < 0.5
    )
    again = [
        {
            "event_id": f"{tag}-{kind}",
            "occurred_at": (now - timedelta(days=1, hours=2 - i)).isoformat(),
            "kind": kind,
            "customer_id": invitation.customer_id,
            "journey_id": "O-done-again",
            "owner": carrier if kind == "delivery.completed" else None,
        }
        for i, kind in enumerate(("order.placed", "delivery.completed"))
    ]
    app.store.append(events_from_records(again))
    report = app.run_surveys(now + timedelta(days=1))
    assert set(report.suppressed) & set(FATIGUE), report
    second = app.store.query(
        "SELECT status, reason FROM survey_invitations WHERE journey_id = 'O-done-again'"
    ).to_pylist()
    assert second and second[0]["status"] == "suppressed" and second[0]["reason"] in FATIGUE
    staff.goto(base + f"/surveys/invitations?customer={invitation.customer_id}")
    why = staff.locator("main").inner_text()
    assert w(f"listen.reason.{second[0]['reason']}") in why
    fits = staff.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert fits
    desk.close()
