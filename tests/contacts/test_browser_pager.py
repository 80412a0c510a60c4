"""Browser check of the pager under one reason's contacts on a 390 px phone: it fits, it is a
named navigation landmark, its links walk the pages, and axe-core (vendored in tests/vendor)
finds no WCAG 2.2 AA violation in the reason's section (the whole page is scanned on the demo
store by tests/web/test_layout_a11y.py; on this tiny store an empty Vega chart has a mark
container without a name, which is the charts' business, not the pager's)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.browser_support import (
    BROWSER_MARKS,
    axe_violations,
    charts_drawn,
    chromium,
    log_in,
    scanned_context,
    serving,
)

from klantreis.access import accounts
from klantreis.app import App
from klantreis.settings import Settings

from .helpers import load
from .test_reason_page import PASSWORD, REASON, _segmented_records

pytestmark = BROWSER_MARKS


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
        context = scanned_context(browser, viewport={"width": 390, "height": 844})
        page = context.new_page()
        log_in(page, server, "analyst", PASSWORD)
        yield page


@pytest.mark.parametrize("segment", ["", "consumer"])
def test_the_pager_fits_a_phone_walks_the_pages_and_is_axe_clean(
    page: Any, server: str, segment: str
) -> None:
    page.goto(f"{server}/contacts?period=all&reason={REASON}&segment={segment}&offset=5")
    charts_drawn(page)
    nav = page.get_by_role("navigation", name="Pagina's met contacten", exact=False)
    assert nav.count() == 1
    assert page.locator("[data-testid=reason-range]").inner_text().startswith("Contacten 6–10 van")
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner == 390
    violations = axe_violations(page, within="#reason")
    assert violations == [], json.dumps(violations, indent=1, ensure_ascii=False)
    nav.get_by_role("link", name="Volgende").click()
    page.wait_for_url(re.compile("offset=10"))  # and its load event
    assert page.locator("[data-testid=reason-range]").inner_text().startswith("Contacten 11–")
    assert f"segment={segment}" in page.url and "offset=10" in page.url
    nav = page.get_by_role("navigation", name="Pagina's met contacten", exact=False)
    nav.get_by_role("link", name="Vorige").click()
    page.wait_for_url(re.compile("offset=5"))
    assert "offset=5" in page.url
