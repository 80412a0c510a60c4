"""Browser check of the pager under one reason's contacts on a 390 px phone: it fits, it is a
named navigation landmark, its links walk the pages, and axe-core (vendored in tests/vendor)
finds no WCAG 2.2 AA violation in the reason's section (the whole page is scanned on the demo
store by tests/web/test_layout_a11y.py; on this tiny store an empty Vega chart has a mark
container without a name, which is the charts' business, not the pager's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, chromium, log_in, serving

from klantreis.access import accounts
from klantreis.app import App
from klantreis.settings import Settings

from .helpers import load
from .test_reason_page import PASSWORD, REASON, _segmented_records

pytestmark = BROWSER_MARKS

AXE = Path(__file__).parent.parent / "vendor" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    settings = Settings.load(
        env={},
        db_path=":memory:",
        secret_key="test-secret-key-0123456789abcdef",
        contacts_page_size=5,
    )
    app = App(settings)
    load(app, _segmented_records())
    accounts.add_user(app.store, "analyst", "analyst", PASSWORD)
    with serving(app) as base:
        yield base


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
        page = context.new_page()  # bypass_csp: axe is injected as an inline script
        log_in(page, server, "analyst", PASSWORD)
        yield page


@pytest.mark.parametrize("segment", ["", "consumer"])
def test_the_pager_fits_a_phone_walks_the_pages_and_is_axe_clean(
    page: Any, server: str, segment: str
) -> None:
    page.goto(f"{server}/contacts?period=all&reason={REASON}&segment={segment}&offset=5")
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "[...document.querySelectorAll('.chart')].every(c => c.dataset.rendered)",
        timeout=15_000,
    )
    nav = page.get_by_role("navigation", name="Pagina's met contacten", exact=False)
    assert nav.count() == 1
    assert page.locator("[data-testid=reason-range]").inner_text().startswith("Contacten 6–10 van")
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner == 390
    page.add_script_tag(content=AXE.read_text("utf-8"))
    violations = page.evaluate(
        "tags => axe.run({include: [['#reason']]}, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.html).join(' | ')))",
        AXE_TAGS,
    )
    assert violations == [], json.dumps(violations, indent=1, ensure_ascii=False)
    nav.get_by_role("link", name="Volgende").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=reason-range]").inner_text().startswith("Contacten 11–")
    assert f"segment={segment}" in page.url and "offset=10" in page.url
    nav = page.get_by_role("navigation", name="Pagina's met contacten", exact=False)
    nav.get_by_role("link", name="Vorige").click()
    page.wait_for_load_state("networkidle")
    assert "offset=5" in page.url
