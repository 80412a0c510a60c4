"""Browser tests of the honest headlines: the index draws its interval band and says how old
the data is, filters follow a person across pages, and a wrong address is a page, not JSON.

Marked ``browser`` and ``slow``; skipped with a reason when /usr/bin/chromium is missing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, chromium, serving

from conftest import PASSWORDS, SECRET, fill_store
from klantreis.app import App
from klantreis.settings import Settings

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = App(Settings.load(env={}, db_path=":memory:", secret_key=SECRET))
    fill_store(app)  # ends 31 March 2026: old data
    with serving(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    """Closed before the server stops (it needs the server): no page still asks it then."""
    with chromium() as b:
        yield b


def logged_in(browser: Any, server: str, user: str) -> Any:
    page = browser.new_context().new_page()
    page.goto(f"{server}/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORDS[user])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")
    return page


def test_index_draws_its_band_and_says_the_data_is_old(browser: Any, server: str) -> None:
    page = logged_in(browser, server, "viewer")
    page.wait_for_selector("#chart-index[data-rendered=true] svg", timeout=15_000)
    assert page.locator("#chart-index svg .mark-area path").count() > 0, "the interval band"
    assert page.locator("#chart-index svg .mark-line path").count() > 0
    notice = page.locator("[data-testid=stale]")
    assert notice.is_visible() and "31 mrt 2026" in notice.inner_text()
    today = page.locator("[data-testid=change-today]").inner_text()
    assert "vandaag" not in today and "31 mrt" in today
    assert "100 = gemiddelde van" in page.locator("[data-testid=index-explain]").inner_text()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_time_axes_read_day_month(browser: Any, server: str, lang: str) -> None:
    """Every label of the index chart's time axis is "13 sep" (Dutch months on Dutch pages),
    not Vega's mix of "sep 13", "ma 31" and "december"."""
    page = logged_in(browser, server, "viewer")
    page.goto(f"{server}/?lang={lang}")
    page.wait_for_selector("#chart-index[data-rendered=true] svg", timeout=15_000)
    labels = page.eval_on_selector_all(
        "#chart-index svg .role-axis-label text", "nodes => nodes.map(n => n.textContent)"
    )
    dates = [x for x in labels if not x.replace(",", "").replace(".", "").isdigit()]
    assert dates, labels
    months = "jan feb mrt apr mei jun jul aug sep okt nov dec"
    if lang == "en":
        months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"
    for label in dates:
        day, _, month = label.partition(" ")
        assert day.isdigit() and month in months.split(), labels


def test_filters_follow_across_pages(browser: Any, server: str) -> None:
    page = logged_in(browser, server, "analyst")
    page.goto(f"{server}/scores?period=30d&channel=email")
    page.click("nav.main a[href^='/verbatims']")
    page.wait_for_url("**/verbatims?**")
    assert "period=30d" in page.url and "channel=email" in page.url
    assert page.locator("select[name=channel]").input_value() == "email"
    assert page.locator("select[name=period]").input_value() == "30d"


def test_a_wrong_address_is_a_page(browser: Any, server: str) -> None:
    page = logged_in(browser, server, "viewer")
    response = page.goto(f"{server}/bestaat-niet")
    assert response is not None and response.status == 404
    assert page.locator("[data-testid=error-404] h1").inner_text() == "Pagina niet gevonden"
    page.goto(f"{server}/scores?period=13d")
    assert page.locator("[data-testid=error-422]").is_visible()
    assert page.locator("nav.main a").count() >= 3, "the nav is there to go on from"
