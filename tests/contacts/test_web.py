"""The contacts pages: HTML and JSON from one function, escaping, labelling via the form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from klantreis.app import App
from klantreis.settings import Settings

from .helpers import contact, event, load

fastapi_testclient = pytest.importorskip("fastapi.testclient")
web = pytest.importorskip("klantreis.web")
accounts = pytest.importorskip("klantreis.access.accounts")

EVIL = "<script>window.__pwned=1</script> waar blijft mijn pakket"
PASSWORD = "analyst-pass-1"


@pytest.fixture
def web_app(tmp_path: Path) -> Iterator[App]:
    app = App(
        Settings.load(
            env={},
            db_path=str(tmp_path / "s.duckdb"),
            secret_key="test-secret-key-0123456789abcdef",
        )
    )
    records = []
    for i in range(6):
        records.append(event("order.placed", f"J{i}", i))
    records += [
        contact("J0", 2, None, text=EVIL),
        contact("J1", 3, "productvraag", text="welke maat?"),
        contact("J2", 4, None, text="factuur niet ontvangen"),
    ]
    load(app, records)
    accounts.add_user(app.store, "analyst", "analyst", PASSWORD)
    accounts.add_user(app.store, "viewer", "viewer", "viewer-pass-1")
    yield app
    app.close()


def login(app: App, user: str, password: str) -> object:
    client = fastapi_testclient.TestClient(web.create_app(app), follow_redirects=False)
    client.__enter__()
    client.get("/login")
    resp = client.post(
        "/login",
        data={
            "username": user,
            "password": password,
            "csrf_token": client.cookies.get("kr_csrf"),
            "next": "/",
        },
    )
    assert resp.status_code == 303
    return client


def test_contacts_page_and_json_share_the_data(web_app: App) -> None:
    client = login(web_app, "analyst", PASSWORD)
    page = client.get("/contacts")
    assert page.status_code == 200 and "<script>window.__pwned" not in page.text
    data = client.get("/api/v1/contacts").json()["data"]
    assert data["overall"][0]["orders"] == 6 and data["overall"][0]["contacts"] == 3
    assert "warroom" in data and data["warroom"]["contacts"] == 3
    csv_export = client.get("/contacts/warroom.csv")
    assert csv_export.status_code == 200 and csv_export.text.startswith("rank,reason")
    client.__exit__(None, None, None)


def test_classify_page_escapes_and_the_api_classifies(web_app: App) -> None:
    client = login(web_app, "viewer", "viewer-pass-1")
    page = client.get("/contacts/classify", params={"text": EVIL})
    assert page.status_code == 200 and "<script>window.__pwned" not in page.text
    assert "&lt;script&gt;" in page.text
    api = client.get(
        "/api/v1/contacts_classify", params=[("text", "waar blijft mijn pakket"), ("text", "qqq")]
    ).json()
    results = api["data"]["results"]
    assert [r["reason"] for r in results] == ["waar_is_mijn_pakket", "unknown"]
    assert api["data"]["model"] == "cold start"
    client.__exit__(None, None, None)


def test_labelling_queue_and_the_label_form(web_app: App) -> None:
    client = login(web_app, "analyst", PASSWORD)
    queue = client.get("/api/v1/contacts_queue").json()["data"]
    ids = [i["contact_id"] for i in queue["items"]]
    assert "J0-C0" in ids and queue["can_label"]
    page = client.get("/contacts/queue")
    assert "<script>window.__pwned" not in page.text
    bad = client.post(
        "/contacts/label",
        data={"contact_id": "J0-C0", "reason": "waar_is_mijn_pakket", "csrf_token": "forged"},
    )
    assert bad.status_code == 403
    ok = client.post(
        "/contacts/label",
        data={
            "contact_id": "J0-C0",
            "reason": "waar_is_mijn_pakket",
            "csrf_token": client.cookies.get("kr_csrf"),
        },
    )
    assert ok.status_code == 303
    after = client.get("/api/v1/contacts_queue").json()["data"]
    assert "J0-C0" not in [i["contact_id"] for i in after["items"]]
    client.__exit__(None, None, None)


def test_viewers_cannot_label_and_see_masked_texts(web_app: App) -> None:
    client = login(web_app, "viewer", "viewer-pass-1")
    data = client.get("/api/v1/contacts_queue").json()["data"]
    assert data["masked"] and not data["can_label"]
    resp = client.post(
        "/contacts/label",
        data={
            "contact_id": "J0-C0",
            "reason": "productvraag",
            "csrf_token": client.cookies.get("kr_csrf"),
        },
    )
    assert resp.status_code == 403
    client.__exit__(None, None, None)


def test_viewer_queue_with_a_contact_without_text(web_app: App) -> None:
    load(web_app, [contact("J3", 5, None, text=None), contact("J4", 5, None, text="")])  # type: ignore[arg-type]
    client = login(web_app, "viewer", "viewer-pass-1")
    resp = client.get("/api/v1/contacts_queue")
    assert resp.status_code == 200, resp.text
    texts = [i["text"] for i in resp.json()["data"]["items"]]
    assert texts.count("") == 2
    assert client.get("/contacts/queue").status_code == 200
    client.__exit__(None, None, None)


def test_viewer_queue_shows_handles_not_contact_ids(web_app: App) -> None:
    client = login(web_app, "viewer", "viewer-pass-1")
    items = client.get("/api/v1/contacts_queue").json()["data"]["items"]
    assert items and all(i["contact_id"].startswith("h_") for i in items)
    assert "J0-C0" not in client.get("/contacts/queue").text
    client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from datetime import UTC, datetime

    from klantreis.demo.runner import run_demo

    path = tmp_path_factory.mktemp("demo") / "d.duckdb"
    app = App(Settings.load(env={}, db_path=str(path), secret_key="test-secret-key-0123456789ab"))
    run_demo(app, 3000, seed=5, days=90, now=datetime(2026, 11, 20, 14, tzinfo=UTC))
    accounts.add_user(app.store, "viewer", "viewer", "viewer-pass-1")
    client = login(app, "viewer", "viewer-pass-1")
    yield client
    client.__exit__(None, None, None)  # type: ignore[attr-defined]
    app.close()


def test_contacts_filters_narrow_the_page_and_the_api(demo_client: object) -> None:
    c: object = demo_client

    def data(**params: str) -> dict:  # type: ignore[type-arg]
        resp = c.get("/api/v1/contacts", params=params)  # type: ignore[attr-defined]
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]  # type: ignore[no-any-return]

    everything = data(period="all")["overall"][0]
    week = data(period="7d")["overall"][0]
    assert week["orders"] < everything["orders"] / 5 and week["contacts"] < everything["contacts"]
    phone = data(period="all", channel="phone")
    assert phone["overall"][0]["orders"] == everything["orders"], "orders stay all orders"
    assert 0 < phone["overall"][0]["contacts"] < everything["contacts"]
    assert {r["channel"] for r in phone["by_channel"]} == {"phone"}
    business = data(period="all", segment="nieuw")["overall"][0]
    assert 0 < business["orders"] < everything["orders"]
    page = c.get("/contacts", params={"channel": "phone", "period": "all"})  # type: ignore[attr-defined]
    assert 'value="phone" selected' in page.text


def test_contacts_trend_shows_the_rise_and_the_promise_breaks(demo_client: object) -> None:
    resp = demo_client.get("/api/v1/contacts", params={"period": "all"})  # type: ignore[attr-defined]
    d = resp.json()["data"]
    waar = [r for r in d["trend"]["contacts"] if r["reason"] == "waar_is_mijn_pakket"]
    assert len(waar) >= 10, "one point a week"
    first, last = waar[1:4], waar[-4:-1]  # whole weeks
    assert sum(r["per_100_orders"] for r in last) > 1.3 * sum(r["per_100_orders"] for r in first)
    breaks = [b for b in d["trend"]["breaks"] if b["promise_id"] == "op_tijd_bezorgd"]
    assert len(breaks) >= 10 and all(b["name"] == "Op tijd bezorgd" for b in breaks)
    top = d["warroom"]["rows"][0]
    assert top["reason"] == "waar_is_mijn_pakket"
    low, mid, high = (
        top["saving_root_cause_low_per_year"],
        top["saving_root_cause_per_year"],
        top["saving_root_cause_high_per_year"],
    )
    assert 0 < low <= mid <= high < top["cost_per_year"], "the cause's share, not all of it"
    html = demo_client.get("/contacts", params={"period": "all"}).text  # type: ignore[attr-defined]
    assert 'id="chart-trend"' in html and 'id="chart-breaks"' in html
    assert 'data-testid="reason-link"' in html and "reason=waar_is_mijn_pakket#reason" in html


def test_a_reason_links_to_its_contacts_and_their_journeys(demo_client: object) -> None:
    html = demo_client.get(  # type: ignore[attr-defined]
        "/contacts", params={"period": "all", "reason": "waar_is_mijn_pakket"}
    ).text
    assert 'data-testid="reason-contacts"' in html
    assert html.count('data-testid="reason-contact"') == 20
    assert "#timeline" in html and "/journeys?journey=" in html


def test_the_queue_classifies_no_contact_per_view(
    web_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/api/v1/contacts_queue`` reads the kept contacts: a second view classifies no text
    (it classified every contact per view: >= 19 GiB at 100M events), a view after one new
    contact classifies that one, and the items are the portable queue's."""
    from klantreis.contacts.classifier import ColdStart
    from klantreis.contacts.labels import labelling_queue

    seen: list[int] = []
    predict = ColdStart.predict

    def spy(self: ColdStart, texts: Any) -> Any:
        seen.append(len(texts))
        return predict(self, texts)

    monkeypatch.setattr(ColdStart, "predict", spy)
    client = login(web_app, "analyst", PASSWORD)
    first = client.get("/api/v1/contacts_queue").json()["data"]["items"]
    seen.clear()
    again = client.get("/api/v1/contacts_queue").json()["data"]["items"]
    assert again == first and sum(seen) == 0
    load(web_app, [contact("J5", 5, None, text="qwerty")])
    after = client.get("/api/v1/contacts_queue?limit=2").json()["data"]["items"]
    assert sum(seen) == 1 and after[0]["contact_id"] == "J5-C0"
    portable = labelling_queue(web_app.events_table(), web_app.contacts.taxonomy, None, 2)
    assert [i["contact_id"] for i in after] == [q.contact_id for q in portable]
    client.__exit__(None, None, None)
