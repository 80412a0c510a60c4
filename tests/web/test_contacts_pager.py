"""The /contacts page lists one reason's contacts a page at a time: a pager of links
(previous, "page x of y", next, "first–last of total contacts") reaches every page, in
Dutch and English, and keeps the page's other filters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.contacts.helpers import contact, event, load

from klantreis.access import accounts
from klantreis.app import App
from klantreis.settings import Settings
from klantreis.web import create_app

PASSWORD = "analyst-pass-1"
REASON = "productvraag"
SIZE = 5


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """13 contacts of REASON (3 pages of 5), 4 of another reason; page size 5."""
    settings = Settings.load(
        env={},
        db_path=str(tmp_path / "s.duckdb"),
        secret_key="test-secret-key-0123456789abcdef",
        contacts_page_size=SIZE,
    )
    records: list[dict[str, Any]] = [event("order.placed", f"J{i}", i % 6) for i in range(13)]
    records += [contact(f"J{i}", i % 6 + 0.5, REASON, text=f"vraag {i}") for i in range(13)]
    records += [contact(f"J{i}", i + 0.25, "factuur_onjuist", n=1) for i in range(4)]
    with App(settings) as app:
        load(app, records)
        accounts.add_user(app.store, "analyst", "analyst", PASSWORD)
        with TestClient(create_app(app), follow_redirects=False) as c:
            c.get("/login")
            form = {"username": "analyst", "password": PASSWORD, "next": "/"}
            form["csrf_token"] = c.cookies.get("kr_csrf") or ""
            assert c.post("/login", data=form).status_code == 303
            yield c


def _pager(html: str) -> str:
    found = re.search(r'<nav class="pager"[^>]*data-testid="reason-pager">(.*?)</nav>', html, re.S)
    assert found, "no pager under the reason's contacts"
    return unescape(found.group(1))


def _link(pager: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', pager)
    return found.group(1) if found else None


def test_the_pager_reaches_every_contact_once_and_keeps_the_filters(
    client: TestClient,
) -> None:
    url: str | None = f"/contacts?period=all&reason={REASON}&channel=phone&lang=nl"
    seen: list[str] = []
    pagers = []
    while url:
        html = client.get(url).text
        seen += re.findall(r"vraag \d+", html)
        pager = _pager(html)
        pagers.append(pager)
        url = _link(pager, "next")
        if url:
            assert "channel=phone" in url and f"reason={REASON}" in url and url.endswith("#reason")
            url = "/contacts" + url.split("#")[0]
    assert sorted(seen) == sorted(f"vraag {i}" for i in range(13))
    assert len(pagers) == 3
    assert "1–5 van 13 contacten" in pagers[0] and "Pagina 1 van 3" in pagers[0]
    assert _link(pagers[0], "prev") is None and 'aria-disabled="true"' in pagers[0]
    assert "11–13 van 13 contacten" in pagers[2] and _link(pagers[2], "next") is None
    assert "offset=5" in (_link(pagers[2], "prev") or "")


def test_the_pager_in_english_and_not_for_one_page(client: TestClient) -> None:
    html = client.get(f"/contacts?period=all&reason={REASON}&offset=5&lang=en").text
    pager = _pager(html)
    assert "6–10 of 13 contacts" in pager and "Page 2 of 3" in pager
    assert "offset=0" in (_link(pager, "prev") or "") and "offset=10" in (
        _link(pager, "next") or ""
    )
    few = _pager(client.get("/contacts?period=all&reason=factuur_onjuist").text)
    assert "1–4 of 4 contacts" in few and "<ul>" not in few  # one page: no links
