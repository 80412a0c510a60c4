"""The notice of a kept page ("Cijfers van 14:02, zonder de 200 nieuwste gebeurtenissen ...")
in a real browser: it shows on the page, fits a 390 px phone and a 1366 px laptop in Dutch
and English, passes axe (WCAG 2.2 AA), and its "wait for the newest figures" link gives the
new figures without the notice. ``KLANTREIS_SHOTS=<folder>`` saves a screenshot of each."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

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

from conftest import PASSWORDS, demo1500_copy
from klantreis.access import accounts
from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.web.pagekit import PageCache, Revalidation

pytestmark = BROWSER_MARKS

SIZES = {"phone": (390, 844), "laptop": (1366, 768)}
NEW = 200  # events in the batch; the kept pages lack them


@pytest.fixture(scope="module")
def served(
    demo1500_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, App]]:
    app = demo1500_copy(demo1500_store, tmp_path_factory, "stale")
    accounts.add_user(app.store, "analyst", "analyst", PASSWORDS["analyst"])
    cache = app.caches.get("pages", PageCache)
    cache.fresh_age = 0  # the kept page is shown right after the batch
    # as a server with a kept-views job does, without the job (its turn never comes here)
    cache.revalidation = Revalidation(10, lambda: None, lambda: None)
    with serving(app) as base:
        yield base, app


def _add_events(app: App, tag: str) -> None:
    """``NEW`` events copied from existing journeys with new ids, one day later."""
    rows = app.store.query(
        "SELECT * EXCLUDE (event_id, occurred_at, ingested_at),"
        f" '{tag}-' || event_id AS event_id, occurred_at + INTERVAL 1 DAY AS occurred_at"
        f" FROM events WHERE journey_id IS NOT NULL ORDER BY event_id LIMIT {NEW}"
    ).to_pylist()
    ingest_table(app.store, events_from_records(rows, source="test"), app.journey)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_kept_page_notice_fits_and_passes_axe(served: tuple[str, App], lang: str) -> None:
    base, app = served
    shots = os.environ.get("KLANTREIS_SHOTS")
    with chromium() as browser:
        pages = {}
        for size, (width, height) in SIZES.items():
            context = scanned_context(browser, viewport={"width": width, "height": height})
            pages[size] = context.new_page()
            log_in(pages[size], base, "analyst", PASSWORDS["analyst"])
            pages[size].goto(f"{base}/journeys?lang={lang}")  # computed now: kept
        _add_events(app, f"new-{lang}")
        for size, page in pages.items():
            page.goto(f"{base}/journeys?lang={lang}")
            charts_drawn(page)
            notice = page.get_by_test_id("page-behind")
            assert notice.get_attribute("role") == "status"
            words = {"nl": f"zonder de {NEW} nieuwste", "en": f"without the {NEW} newest"}
            assert words[lang] in notice.inner_text()
            scroll, inner = page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert scroll <= inner, f"{size}: {scroll} > {inner}"
            box = notice.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= inner
            if shots:
                notice.scroll_into_view_if_needed()
                page.screenshot(path=f"{shots}/notice-{lang}-{size}.png")
            found = axe_violations(page)
            assert found == [], json.dumps(found, ensure_ascii=False)
        page = pages["phone"]
        page.get_by_test_id("page-behind").get_by_role("link").last.click()
        page.wait_for_url(re.compile("fresh=1"))  # and its load event
        assert page.get_by_test_id("page-behind").count() == 0
