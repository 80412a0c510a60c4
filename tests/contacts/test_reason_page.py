"""One reason's contacts are read a page at a time from the kept contacts (issue 17: read
whole with their texts they took >9 GB at 100M events): the pages, in order, are the newest
first list of that reason's contacts (ties in time included), each once, with the total."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from klantreis.app import App
from klantreis.contacts.derived import ContactViews
from klantreis.settings import Settings

from .helpers import at, contact, event, load

fastapi_testclient = pytest.importorskip("fastapi.testclient")
web = pytest.importorskip("klantreis.web")
accounts = pytest.importorskip("klantreis.access.accounts")

PASSWORD = "analyst-pass-1"
REASON = "productvraag"


def _records() -> list[dict[str, Any]]:
    """13 contacts of REASON (ties in time: 6 days, two or three a day; phone and chat), 4 of
    another reason, and orders."""
    out = [event("order.placed", f"J{i}", i % 6) for i in range(13)]
    for i in range(13):
        channel = "chat" if i % 3 == 0 else "phone"
        out.append(contact(f"J{i}", i % 6 + 0.5, REASON, channel, text=f"vraag {i}"))
    out += [contact(f"J{i}", i + 0.25, "factuur_onjuist", n=1) for i in range(4)]
    return out


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    settings = Settings.load(
        env={},
        db_path=str(tmp_path / "s.duckdb"),
        secret_key="test-secret-key-0123456789abcdef",
        contacts_page_size=5,
    )
    with App(settings) as app:
        load(app, _records())
        yield app


def _reference(views: ContactViews, channels: tuple[str | None, ...] = ()) -> list[Any]:
    frame = views.frame(channels=channels)
    frame = frame[frame["reason"] == REASON]
    return sorted(zip(frame["occurred_at"], frame["contact_id"], strict=True), reverse=True)


def test_the_pages_in_order_are_the_newest_first_list_each_once(app: App) -> None:
    views = ContactViews(app.store, app.journey, app.contacts)
    for channels in [(), ("chat",), ("phone", None)]:
        seen: list[dict[str, Any]] = []
        for offset in range(0, 20, 4):
            rows, total = views.reason_page(REASON, channels=channels, limit=4, offset=offset)
            assert len(rows) <= 4
            seen += rows
        reference = _reference(views, channels)
        assert total == len(reference) and total > 4
        assert len({r["contact_id"] for r in seen}) == len(seen) == total
        times = [r["occurred_at"] for r in seen]
        assert times == sorted(times, reverse=True)
        assert sorted((r["occurred_at"], r["contact_id"]) for r in seen) == sorted(reference)
    rows, total = views.reason_page(REASON, since=at(2), until=at(4), limit=100)
    assert all(at(2) <= r["occurred_at"] < at(4) for r in rows)
    assert total == len(rows) and {r["text"] for r in rows} == {f"vraag {i}" for i in (2, 3, 8, 9)}
    assert views.reason_page("no_such_reason") == ([], 0)


def test_the_page_and_the_api_list_one_page_with_the_total(app: App) -> None:
    accounts.add_user(app.store, "analyst", "analyst", PASSWORD)
    with fastapi_testclient.TestClient(web.create_app(app), follow_redirects=False) as client:
        client.get("/login")
        form = {"username": "analyst", "password": PASSWORD, "next": "/"}
        form["csrf_token"] = client.cookies.get("kr_csrf")
        assert client.post("/login", data=form).status_code == 303
        pages = []
        for offset in (0, 5, 10, 15):
            params = {"period": "all", "reason": REASON, "offset": str(offset)}
            data = client.get("/api/v1/contacts", params=params).json()["data"]
            assert data["reason_total"] == 13
            pages.append([c["contact_id"] for c in data["reason_contacts"]])
        assert [len(p) for p in pages] == [5, 5, 3, 0]
        assert len({c for p in pages for c in p}) == 13
        html = client.get("/contacts", params={"period": "all", "reason": REASON}).text
        assert html.count('data-testid="reason-contact"') == 5
        bad = client.get("/api/v1/contacts", params={"reason": REASON, "offset": "-1"})
        assert bad.status_code == 422
        plain = client.get("/api/v1/contacts", params={"period": "all"}).json()["data"]
        assert plain["reason_contacts"] == [] and plain["reason_total"] is None
