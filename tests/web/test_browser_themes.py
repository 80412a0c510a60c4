"""The "what customers write" pages in a real browser: an analyst judges a suggested theme and
trains the sentiment model from the page (a progress bar while it runs, the new version in
use after). That the three pages fit a 390 px phone and a 1366 px laptop and that axe-core
finds no WCAG 2.2 AA violation on them is checked in test_layout_a11y.py (its crawl visits
/comments/themes, the low group of VlotBezorgd and the queue as every role, in both
languages, at both widths), on the same demo store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, charts_drawn, chromium, log_in, serving

from conftest import PASSWORDS, demo1500_copy
from klantreis.access import accounts

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(demo1500_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = demo1500_copy(demo1500_store, tmp_path_factory, "browser-themes")
    for role, password in PASSWORDS.items():
        accounts.add_user(app.store, role, role, password)
    with serving(app) as base:
        yield base
    app.close()


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    """Closed before the server stops (it needs the server): no page still asks it then."""
    with chromium() as b:
        yield b


def test_analyst_judges_a_theme_and_trains_sentiment(browser: Any, server: str) -> None:
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()  # a phone
    log_in(page, server, "analyst", PASSWORDS["analyst"])
    page.goto(f"{server}/comments/themes/queue?lang=nl")
    charts_drawn(page)
    items = page.locator("[data-testid=theme-queue-item]")
    pairs = (
        "[...document.querySelectorAll('[data-testid=theme-queue-item] form:first-of-type')]"
        ".map(f => f.comment_id.value + '/' + f.theme.value)"
    )
    shown = [
        " ".join(t.split()).casefold() for t in page.locator("[data-user-text]").all_inner_texts()
    ]
    assert shown and len(shown) == len(set(shown))  # each text once, with its number of comments
    counts = [
        int(c)
        for c in page.locator("[data-testid=theme-queue-count]").evaluate_all(
            "cs => cs.map(c => c.dataset.count)"
        )
    ]
    assert len(counts) == len(shown) and max(counts) > 1  # the demo repeats its texts
    assert page.locator("[data-testid=theme-queue-count]").first.is_visible()
    form = items.first.locator("form").first
    judged = form.locator("input[name=comment_id]").get_attribute("value")
    judged += "/" + (form.locator("input[name=theme]").get_attribute("value") or "")
    assert judged in page.evaluate(pairs)
    items.first.locator("[data-testid=verdict-yes]").click()
    page.wait_for_url(f"{server}/comments/themes/queue")
    assert judged not in page.evaluate(pairs)  # the comment may come back with its next theme
    page.locator("[data-testid=train-sentiment]").click()
    page.wait_for_url(f"{server}/comments/themes/queue")
    status = page.locator("[data-testid=text-train-status]")
    if status.get_attribute("data-state") == "running":
        assert page.locator("progress").count() == 1
    for _ in range(120):  # the page refreshes itself while training; a CSP forbids eval
        if status.get_attribute("data-state") != "running":
            break
        page.wait_for_timeout(1000)
    assert status.get_attribute("data-state") == "done"
    assert page.locator("[data-testid=versions-sentiment] [data-testid=text-version]").count() == 1
    assert "v0001" in page.locator("[data-testid=in-use-sentiment]").inner_text()
