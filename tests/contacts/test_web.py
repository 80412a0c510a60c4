"""The contacts pages: HTML and JSON from one function, escaping, labelling via the form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
