"""Nothing on a page scrolls sideways inside its card, in a real browser on the small demo:

- on a 390 px phone, the label queues (/contacts/queue, /comments/themes/queue), the model
  versions and their evaluation (/contacts/models) and the classify form stack or wrap;
- on a 1366 px laptop, the /scores breakdown tables (NPS, CES and CSAT with n and a change
  each) fit their card.

The layout suite (test_layout_a11y) checks that no *page* is wider than the screen; a table
that scrolls inside its card passes that test, which is why these pages were missed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, charts_drawn, chromium, log_in, serving

from conftest import PASSWORDS, demo1500_copy
from klantreis.access import accounts

pytestmark = BROWSER_MARKS

PHONE_PAGES = [
    "/contacts/queue",
    "/contacts/classify?text=waar+blijft+mijn+pakket",
    "/comments/themes/queue",
    "/contacts/models",
]
# every element of the page's content that scrolls sideways (a card, a .scroll box)
SCROLLED = """[...document.querySelectorAll('main *')]
  .filter(e => e.scrollWidth > e.clientWidth + 1
               && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
  .map(e => (e.dataset.testid || e.closest('[data-testid]')?.dataset.testid || e.tagName)
            + ' ' + e.scrollWidth + '>' + e.clientWidth)"""


@pytest.fixture(scope="module")
def server(demo1500_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = demo1500_copy(demo1500_store, tmp_path_factory, "tables_fit")
    accounts.add_user(app.store, "analyst", "analyst", PASSWORDS["analyst"])
    with serving(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    with chromium() as b:
        yield b


def _page(browser: Any, server: str, width: int, lang: str) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 844})
    page = context.new_page()
    log_in(page, server, "analyst", PASSWORDS["analyst"])
    page.goto(f"{server}/?lang={lang}")
    return page


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_no_table_scrolls_sideways_on_a_phone(browser: Any, server: str, lang: str) -> None:
    page = _page(browser, server, 390, lang)
    scrolled, rows = {}, {}
    for path in PHONE_PAGES:
        page.goto(server + path, timeout=180_000)
        charts_drawn(page)
        rows[path] = page.locator("main table tbody tr").count()
        found = page.evaluate(SCROLLED)
        if found:
            scrolled[path] = found
    assert all(rows.values()), rows  # every page has table rows to lay out
    assert scrolled == {}, f"scrolls sideways at 390 px ({lang})"


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_scores_breakdowns_fit_a_laptop(browser: Any, server: str, lang: str) -> None:
    """On the tests' demo the last 30 and 7 days have significant changes (a p-value badge
    next to the change) and groups with too few answers: the breakdowns were up to 185 px
    wider than their card."""
    page = _page(browser, server, 1366, lang)
    widths = []
    for period in ("30d", "7d"):
        page.goto(f"{server}/scores?period={period}", timeout=180_000)
        charts_drawn(page)
        assert page.locator("table[data-testid^=breakdown-] [data-testid=significant]").count()
        widths += page.evaluate(
            "[...document.querySelectorAll('table[data-testid^=breakdown-]')]"
            ".map(t => [t.dataset.testid, t.scrollWidth, t.parentElement.clientWidth])"
        )
    assert len(widths) >= 6
    too_wide = [w for w in widths if w[1] > w[2]]
    assert too_wide == [], widths
