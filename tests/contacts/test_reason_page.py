"""One reason's contacts are read a page at a time from the kept contacts (issue 17: read
whole with their texts they took >9 GB at 100M events): the pages, in order, are the newest
first list of that reason's contacts (ties in time included), each once, with the total."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

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


# -- the pager of the page (both paths: kept contacts, and the log under a segment) ----------

OUTSIDER = "J99-C0"  # the one REASON contact of a b2b journey, older than every other


def _segmented_records() -> list[dict[str, Any]]:
    """The records above with every journey in the segment "consumer", plus one b2b journey
    with the oldest REASON contact (so it is the last in the newest-first list)."""
    out = []
    for rec in _records():
        if rec["kind"] == "order.placed":
            rec = event("order.placed", rec["journey_id"], 0, attrs={"segment": "consumer"})
        out.append(rec)
    out.append(event("order.placed", "J99", -2, attrs={"segment": "b2b"}))
    out.append(contact("J99", -1, REASON, "chat", text="oudste vraag"))
    return out


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    settings = Settings.load(
        env={},
        db_path=str(tmp_path / "s.duckdb"),
        secret_key="test-secret-key-0123456789abcdef",
        contacts_page_size=5,
    )
    with App(settings) as app:
        load(app, _segmented_records())
        accounts.add_user(app.store, "analyst", "analyst", PASSWORD)
        with fastapi_testclient.TestClient(web.create_app(app), follow_redirects=False) as c:
            c.get("/login")
            form = {"username": "analyst", "password": PASSWORD, "next": "/"}
            form["csrf_token"] = c.cookies.get("kr_csrf")
            assert c.post("/login", data=form).status_code == 303
            yield c


def _link(html: str, testid: str) -> dict[str, str] | None:
    """The query of the link with ``data-testid=testid`` (None when there is none)."""
    found = re.search(rf'<a [^>]*href="\?([^"#]*)(?:#\w+)?"[^>]*data-testid="{testid}"', html)
    if found is None:
        return None
    return dict(parse_qsl(unescape(found.group(1)), keep_blank_values=True))


def _text(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</p>', html, re.S)
    assert found is not None, testid
    return " ".join(re.sub(r"<[^>]+>", " ", unescape(found.group(1))).split())


def _page_ids(client: Any, **params: str) -> tuple[list[str], int]:
    data = client.get("/api/v1/contacts", params=params).json()["data"]
    return [c["contact_id"] for c in data["reason_contacts"]], data["reason_total"]


def test_the_pager_walks_the_pages_and_keeps_every_filter(client: Any) -> None:
    params = {"period": "all", "channel": "phone", "reason": REASON, "top": "3", "lang": "nl"}
    ids, total = _page_ids(client, **params, offset="0")
    assert total == 8 and len(ids) == 5  # 13 REASON contacts, 8 on the phone
    html = client.get("/contacts", params=params).text
    assert _link(html, "reason-previous") is None
    following = _link(html, "reason-next")
    assert following == {**params, "offset": "5"}
    assert _text(html, "reason-range") == "Contacten 1–5 van 8"
    label = re.search(r'<nav class="pager" aria-label="([^"]+)" data-testid="reason-pager"', html)
    assert label is not None and unescape(label.group(1)).startswith("Pagina's met contacten: ")
    middle = client.get("/contacts", params={**params, "offset": "2"}).text
    assert _link(middle, "reason-previous") == {**params, "offset": "0"}
    assert _link(middle, "reason-next") == {**params, "offset": "7"}
    assert _text(middle, "reason-range") == "Contacten 3–7 van 8"
    last = client.get("/contacts", params=following).text
    assert _link(last, "reason-next") is None
    assert _link(last, "reason-previous") == {**params, "offset": "0"}
    assert _text(last, "reason-range") == "Contacten 6–8 van 8"
    assert last.count('data-testid="reason-contact"') == 3
    # another reason starts at its first page, the other filters kept
    other = _link(last, "reason-link")
    assert other is not None and "offset" not in other and other["channel"] == "phone"


def test_english_words_and_locale_numbers(client: Any) -> None:
    params = {"period": "all", "reason": REASON, "lang": "en", "offset": "10"}
    html = client.get("/contacts", params=params).text
    assert _text(html, "reason-range") == "Contacts 11–14 of 14"
    assert ">Previous</a>" in html and ">Next</a>" not in html
    one = client.get("/contacts", params={**params, "segment": "b2b", "offset": "0"}).text
    assert _text(one, "reason-range") == "Contact 1 of 1"
    assert 'data-testid="reason-pager"' not in one  # one page: nothing to go to
    nl = client.get("/contacts", params={**params, "lang": "nl", "offset": "0"}).text
    assert ">Volgende</a>" in nl and ">Vorige</a>" not in nl


def test_kept_and_segment_paths_list_the_same_contacts_per_page(client: Any) -> None:
    base = {"period": "all", "reason": REASON}
    kept, in_segment = [], []
    for offset in ("0", "5", "10"):
        ids, kept_total = _page_ids(client, **base, offset=offset)
        kept.append(ids)
        ids, segment_total = _page_ids(client, **base, segment="consumer", offset=offset)
        in_segment.append(ids)
        assert (kept_total, segment_total) == (14, 13)
    assert kept[:2] == in_segment[:2]  # the outsider is the oldest: only the last page differs
    assert kept[2] == [*in_segment[2], OUTSIDER]
    assert _page_ids(client, **base, segment="b2b", offset="0") == ([OUTSIDER], 1)
    assert _page_ids(client, **base, segment="consumer", offset="13") == ([], 13)
    # same with a channel on both paths (the kept one and the log's)
    for offset in ("0", "5"):
        phone = {**base, "channel": "phone", "offset": offset}
        assert _page_ids(client, **phone) == _page_ids(client, **phone, segment="consumer")


@pytest.mark.parametrize("segment", [None, "consumer"])
def test_an_offset_past_the_end_is_an_empty_page_with_a_way_back(
    client: Any, segment: str | None
) -> None:
    params = {"period": "all", "reason": REASON, "channel": "chat", "offset": "500"}
    if segment:
        params["segment"] = segment
    response = client.get("/contacts", params=params)
    assert response.status_code == 200
    html = response.text
    assert html.count('data-testid="reason-contact"') == 0
    total = 5 if segment else 6  # chat: i % 3 == 0 of 13, and the outsider
    assert _text(html, "reason-past-end") == (
        f"Deze pagina is leeg: er zijn maar {total} contacten met deze reden. Naar de eerste pagina"
    )
    back = _link(html, "reason-first-page")
    assert back == {k: v for k, v in params.items() if k != "offset"}
    english = client.get("/contacts", params={**params, "lang": "en"}).text
    assert "This page is empty: there are only" in english
    assert client.get("/api/v1/contacts", params=params).status_code == 200
