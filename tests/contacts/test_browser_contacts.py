"""Browser test of the contacts pages: Playwright drives the system Chromium against uvicorn.
War room, labelling a contact in the queue, classifying a text; customer text stays text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, chromium, log_in, serving

from klantreis.app import App
from klantreis.settings import Settings

from .helpers import contact, event, load

PASSWORD = "analyst-pass-1"
EVIL = "<script>window.__pwned = 1</script> waar blijft mijn pakket"

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    from klantreis.access import accounts

    app = App(
        Settings.load(env={}, db_path=":memory:", secret_key="test-secret-key-0123456789abcdef")
    )
    load(
        app,
        [event("order.placed", f"J{i}", i) for i in range(4)]
        + [contact("J0", 2, None, text=EVIL), contact("J1", 3, "productvraag", text="maat?")],
    )
    accounts.add_user(app.store, "analyst", "analyst", PASSWORD)
    with serving(app) as base:
        yield base


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    with chromium() as browser:
        page = browser.new_context().new_page()
        log_in(page, server, "analyst", PASSWORD)
        yield page


def test_war_room_page(page: Any, server: str) -> None:
    page.goto(f"{server}/contacts?lang=en")
    assert page.locator("[data-testid=warroom]").is_visible()
    assert "50" in page.locator("[data-testid=per100]").inner_text()  # 2 contacts, 4 orders
    rows = page.locator("[data-testid=warroom-row]")
    assert rows.count() == 1  # the product question is not avoidable
    assert "Where is my parcel?" in rows.first.inner_text()


def test_war_room_saving_column_is_in_view_on_a_laptop(page: Any, server: str) -> None:
    """The saving, the war room's key column, is inside its card at 1366 px without
    scrolling the card sideways; the likely fix reads on its own line under the row."""
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{server}/contacts?lang=nl")
    card = page.locator("[data-testid=warroom]")
    saving = card.locator("[data-testid=saving]").first
    box, card_box = saving.bounding_box(), card.bounding_box()
    assert box is not None and card_box is not None
    assert box["x"] + box["width"] <= card_box["x"] + card_box["width"]
    assert card.evaluate("el => el.scrollWidth <= el.clientWidth")
    fix = card.locator("[data-testid=warroom-fix]").first
    assert fix.inner_text().strip().startswith("Waarschijnlijke oplossing:")


def test_chart_titles_fit_a_phone(page: Any, server: str) -> None:
    """A chart title longer than the chart is broken into lines, not cut at both ends."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server}/contacts?lang=nl")
    page.wait_for_selector("#chart-trend[data-rendered=true] svg", timeout=15_000)
    inside = page.eval_on_selector(
        "#chart-trend svg",
        """svg => { const box = svg.getBoundingClientRect();
            const titles = [...svg.querySelectorAll('.role-title-text text')];
            return titles.length > 0 && titles.every(t => { const b = t.getBoundingClientRect();
                return b.left >= box.left - 1 && b.right <= box.right + 1; }); }""",
    )
    assert inside
    page.set_viewport_size({"width": 1366, "height": 768})


def test_label_a_contact_in_the_queue(page: Any, server: str) -> None:
    page.goto(f"{server}/contacts/queue")
    rows = page.locator("[data-testid=queue-item]")
    assert rows.count() == 2
    assert page.evaluate("window.__pwned") is None
    assert "<script>" in rows.filter(has_text="waar blijft").first.inner_text()
    row = rows.filter(has_text="waar blijft").first
    row.locator("select[name=reason]").select_option("waar_is_mijn_pakket")
    row.locator("button[type=submit]").click()
    page.wait_for_url(f"{server}/contacts/queue")
    assert page.locator("[data-testid=queue-item]").count() == 1


def test_classify_a_text(page: Any, server: str) -> None:
    page.goto(f"{server}/contacts/classify")
    page.fill("[data-testid=classify-text]", "ik kan niet inloggen, wachtwoord vergeten")
    page.click("form.card button[type=submit]")
    result = page.locator("[data-testid=classify-result]")
    result.first.wait_for()
    assert "inloggen" in result.first.inner_text().lower()
