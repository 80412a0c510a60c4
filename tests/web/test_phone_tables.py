"""Tables a phone user meets first stack on a 390 px screen (``table.data.stack``: one block
per row, each cell with its column's name) instead of scrolling sideways inside their card:
the case lists, counts, outcomes and backlog on /cases, the themes, drivers and the owner and
touchpoint tables on /comments/themes, the invitation lists and rates on /surveys/invitations,
and on /contacts one reason's contacts (whose text column was off screen), the contacts per reason
and the Pareto. Every stacked cell but the row's title names its column."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
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


class _Stacked(HTMLParser):
    """The cells of each stacked table's body rows: (attributes, position in the row)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[dict[str, str | None]]]] = []
        self._depth = 0  # inside a stacked table's tbody

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "stack" in (a.get("class") or "").split():
            self.tables.append([])
            self._depth = 1
        elif self._depth and tag == "tr":
            self.tables[-1].append([])
        elif self._depth and tag == "td" and self.tables[-1]:
            self.tables[-1][-1].append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._depth = 0


def _stacked(html: str) -> list[list[list[dict[str, str | None]]]]:
    parser = _Stacked()
    parser.feed(html)
    return parser.tables


def _every_cell_named(tables: list[list[list[dict[str, str | None]]]]) -> None:
    for rows in tables:
        for cells in rows:
            for a in cells[1:]:  # the first cell is the row's title
                shown_alone = {"note", "title", "rank"} & set((a.get("class") or "").split())
                assert a.get("data-label") or shown_alone or a.get("colspan"), (a, cells)


def test_the_reason_contacts_and_the_tables_of_contacts_stack(client: Any) -> None:
    html = client.get(f"/contacts?period=all&reason={REASON}").text
    section = re.search(r'data-testid="reason-contacts".*?</section>', html, re.S)
    assert section and 'class="data stack"' in section.group(0)
    tables = _stacked(html)
    assert len(tables) >= 4  # war room, reason's contacts, per reason, service, Pareto
    assert sum(len(rows) for rows in tables) > 13
    _every_cell_named(tables)


def test_the_case_lists_and_counts_stack(as_user: Any) -> None:
    html = as_user("analyst").get("/cases").text
    section = re.search(r'data-testid="case-counts".*?</section>', html, re.S)
    assert section and 'class="data stack"' in section.group(0)
    mine = re.search(r"<table class=\"data stack\">\s*<thead><tr><th>[^<]*</th><th>", html)
    assert mine, "the case table (my cases) stacks"
    _every_cell_named(_stacked(html))


def test_the_theme_table_stacks(as_user: Any) -> None:
    html = as_user("analyst").get("/comments/themes?period=all").text
    section = re.search(r'data-testid="theme-table".*?</section>', html, re.S)
    assert section and 'class="data stack"' in section.group(0)
    _every_cell_named(_stacked(html))


def test_the_case_outcomes_and_backlog_stack(as_user: Any) -> None:
    """The outcome tables (by owner, by rule; seven columns) and the root-cause backlog."""
    html = as_user("analyst").get("/cases").text
    for testid in ("case-outcomes", "root-cause-backlog"):
        section = re.search(rf'data-testid="{testid}".*?</section>', html, re.S)
        assert section and 'class="data stack"' in section.group(0), testid
        _every_cell_named(_stacked(section.group(0)))
    outcomes = re.search(r'data-testid="case-outcomes".*?</section>', html, re.S)
    assert outcomes and outcomes.group(0).count('class="data stack"') == 2


def test_the_owner_and_touchpoint_theme_tables_stack(as_user: Any) -> None:
    html = as_user("analyst").get("/comments/themes?period=all").text
    section = re.search(r'data-testid="by-owner".*?</section>', html, re.S)
    assert section and section.group(0).count('class="data stack"') == 2
    tables = _stacked(section.group(0))
    assert sum(len(rows) for rows in tables) > 1, "rows to check"
    _every_cell_named(tables)


def test_the_invitation_tables_stack(web_app: App, as_user: Any) -> None:
    from tests.web.test_survey_invitations import _listen

    _listen(web_app)
    html = as_user("analyst").get("/surveys/invitations", params={"customer": "c2"}).text
    for testid in ("why-not", "recent", "rates"):
        assert re.search(rf'<table class="data stack" data-testid="{testid}"', html), testid
    tables = _stacked(html)
    assert sum(len(rows) for rows in tables) > 3
    _every_cell_named(tables)


def test_the_survey_list_stacks(as_user: Any) -> None:
    html = as_user("analyst").get("/surveys").text
    assert '<table class="data stack" data-testid="surveys">' in html
    tables = _stacked(html)
    assert sum(len(rows) for rows in tables) >= 1
    _every_cell_named(tables)
