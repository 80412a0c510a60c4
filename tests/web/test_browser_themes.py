"""The "what customers write" pages in a real browser: they fit a 390 px phone and a 1366 px
laptop, axe-core finds no WCAG 2.2 AA violation, and an analyst judges a suggested theme and
trains the sentiment model from the page (a progress bar while it runs, the new version in
use after). (The full crawl of every page is in test_layout_a11y.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, chromium, log_in, serving

from conftest import PASSWORDS, demo1500_copy
from klantreis.access import accounts

pytestmark = BROWSER_MARKS

AXE = Path(__file__).parent.parent / "vendor" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SIZES = {"laptop": (1366, 768), "phone": (390, 844)}
PAGES = [
    "/comments/themes",
    "/comments/themes?owner=carrier:vlotbezorgd&group=low&period=30d",
    "/comments/themes/queue",
]


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


def _page(browser: Any, server: str, role: str, lang: str, size: str, bypass: bool = False) -> Any:
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=bypass)
    page = context.new_page()
    log_in(page, server, role, PASSWORDS[role])
    page.goto(f"{server}/?lang={lang}")
    return page


def _visit(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "[...document.querySelectorAll('.chart')].every(c => c.dataset.rendered)",
        timeout=15_000,
    )


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize(("role", "lang"), [("viewer", "nl"), ("analyst", "en")])
def test_fits_the_viewport(browser: Any, server: str, role: str, lang: str, size: str) -> None:
    page = _page(browser, server, role, lang, size)
    too_wide = {}
    for path in PAGES:
        _visit(page, server + path)
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll > inner:
            too_wide[path] = scroll
    assert too_wide == {}


@pytest.mark.parametrize(("role", "lang"), [("viewer", "nl"), ("analyst", "en")])
def test_no_wcag_aa_violation(browser: Any, server: str, role: str, lang: str) -> None:
    page = _page(browser, server, role, lang, "laptop", bypass=True)
    script = AXE.read_text("utf-8")
    found = {}
    for path in PAGES:
        _visit(page, server + path)
        page.add_script_tag(content=script)
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
            ".then(r => r.violations.map(v => v.id + ': ' + v.nodes.slice(0, 2)"
            ".map(n => n.html.slice(0, 90)).join(' | ')))",
            AXE_TAGS,
        )
        if result:
            found[path] = result
    assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)


def test_analyst_judges_a_theme_and_trains_sentiment(browser: Any, server: str) -> None:
    page = _page(browser, server, "analyst", "nl", "phone")
    _visit(page, server + "/comments/themes/queue")
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
