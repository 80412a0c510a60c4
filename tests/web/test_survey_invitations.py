"""The invitations page (/surveys/invitations) and its JSON twin: counts by status and worded
reasons for everyone, the ledger and "why was this customer not asked?" for analysts only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from tests.listen.kit import T0, FakeDirectory, delivery_records, surveys
from tests.web.conftest import bearer

from klantreis.app import App
from klantreis.demo.listening import RecordingSender
from klantreis.listen.delivery import sync_from_outbox
from klantreis.listen.run import Scheduler
from klantreis.model.events import events_from_records
from klantreis.outbox import Message, Outbox


def _listen(app: App) -> None:
    records = delivery_records(6, 3)
    app.store.append(events_from_records(records))
    s = Scheduler(
        app.store, surveys(1.0), app.journey, lambda inv: "https://x.test/s", message_type=Message
    )
    s.plan(T0 + timedelta(days=3), since=T0)
    directory = FakeDirectory({("c2", "*"): "objected"})
    outbox = Outbox(app.store)
    s.send_due(T0 + timedelta(days=3), outbox, directory)
    # the outbox sends them (to nobody) and the ledger learns it: only sent ones are invited
    outbox.deliver_due(
        T0 + timedelta(days=3), senders={"email": RecordingSender()}, resolve=lambda c, ch: c
    )
    sync_from_outbox(app.store)


def test_analyst_sees_why_a_customer_was_not_asked(web_app: App, as_user: Any) -> None:
    _listen(web_app)
    page = as_user("analyst").get("/surveys/invitations", params={"customer": "c2"})
    assert page.status_code == 200
    text = page.text
    assert 'data-testid="why-not"' in text and "De klant heeft bezwaar gemaakt" in text
    assert "objected" not in text.replace('value="', "")  # the code is worded
    assert "Deze enquête ging kort geleden al naar de klant" in text  # cooldown, by reason
    assert 'data-testid="recent"' in text and "Na de bezorging" in text
    none = as_user("analyst").get(
        "/surveys/invitations", params={"customer": "nobody", "lang": "en"}
    )
    assert "No invitation was planned for this customer." in none.text


def test_viewer_sees_counts_only(web_app: App, as_user: Any) -> None:
    _listen(web_app)
    page = as_user("viewer").get("/surveys/invitations", params={"customer": "c2"})
    assert page.status_code == 200
    assert 'data-testid="by-reason"' in page.text and 'data-testid="by-status"' in page.text
    assert 'data-testid="why-not"' not in page.text and 'data-testid="recent"' not in page.text
    assert 'name="customer"' not in page.text


def test_json_twin_keeps_codes_and_labels(web_app: App, tokens: dict[str, str]) -> None:
    _listen(web_app)
    from klantreis.web import create_app

    with TestClient(create_app(web_app)) as c:
        body = c.get(
            "/api/v1/surveys/invitations",
            params={"customer": "c2"},
            headers=bearer(tokens["read_analyst"]),
        ).json()
        data = body["data"]
        assert {(r["status"], r["reason"]) for r in data["why_not"]} == {("suppressed", "objected")}
        assert {r["reason"] for r in data["by_reason"]} == {"objected", "cooldown"}
        assert data["rates"]["channel"][0]["invited"] == 2
        viewer = c.get(
            "/api/v1/surveys/invitations", params={"customer": "c2"}, headers=bearer(tokens["read"])
        ).json()["data"]
        assert viewer["why_not"] is None and viewer["recent"] is None and viewer["total"] == 6
        assert viewer["upcoming"] is None


def test_planned_invitations_are_listed_apart_next_first(web_app: App, as_user: Any) -> None:
    """The latest list holds what was decided up to now; what is planned for later (e.g.
    held until after quiet hours) is its own list, the next one first."""
    _listen(web_app)
    soon = datetime.now(UTC) + timedelta(hours=2)
    later = soon + timedelta(days=1)
    ids = (
        web_app.store.query(
            "SELECT invitation_id FROM survey_invitations ORDER BY invitation_id LIMIT 2"
        )
        .column(0)
        .to_pylist()
    )
    with web_app.store.transaction() as con:
        for iid, at in ((ids[0], later), (ids[1], soon)):
            con.execute(
                "UPDATE survey_invitations SET send_at = ? WHERE invitation_id = ?", [at, iid]
            ).fetchall()
    data = as_user("analyst").get("/api/v1/surveys/invitations").json()["data"]
    assert [r["send_at"][:13] for r in data["upcoming"]] == [
        soon.isoformat()[:13],
        later.isoformat()[:13],
    ]
    assert len(data["recent"]) == 4
    assert all(r["send_at"] <= datetime.now(UTC).isoformat() for r in data["recent"])
    page = as_user("analyst").get("/surveys/invitations?lang=nl").text
    assert page.index("Gepland, de eerstvolgende eerst") < page.index("Laatste uitnodigingen")


def test_customer_text_is_escaped(web_app: App, as_user: Any) -> None:
    page = as_user("analyst").get("/surveys/invitations", params={"customer": "<script>x</script>"})
    assert page.status_code == 200 and "<script>x</script>" not in page.text
