"""Browser tests: Playwright drives the system Chromium against a real uvicorn server.

Marked ``browser`` and ``slow``; skipped with a reason when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, chromium, serving

from conftest import PASSWORDS, SCRIPT_COMMENT, SECRET, fill_store
from klantreis.app import App
from klantreis.settings import Settings

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = App(Settings.load(env={}, db_path=":memory:", secret_key=SECRET))
    fill_store(app)
    with serving(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    """Closed before the server stops (it needs the server): no page still asks it then."""
    with chromium() as b:
        yield b


def logged_in(browser: Any, server: str, user: str, **context: Any) -> Any:
    page = browser.new_context(**context).new_page()
    page.goto(f"{server}/")
    assert "/login" in page.url, "an anonymous visitor is sent to the login page"
    page.fill("#username", user)
    page.fill("#password", PASSWORDS[user])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")
    return page


def chart_marks(page: Any, chart_id: str) -> int:
    page.wait_for_selector(f"#{chart_id}[data-rendered=true] svg", timeout=15_000)
    return int(
        page.locator(
            f"#{chart_id} svg .mark-line path, #{chart_id} svg .mark-symbol "
            f"path, #{chart_id} svg .mark-rect path, #{chart_id} svg "
            f".mark-area path"
        ).count()
    )


def test_login_and_index_chart_has_marks(browser: Any, server: str) -> None:
    page = logged_in(browser, server, "viewer")
    assert page.locator("[data-testid=index-value]").inner_text().strip() not in ("", "–")
    assert chart_marks(page, "chart-index") > 0
    assert page.locator("[data-testid=movers] li").count() > 0


def test_index_on_a_phone(browser: Any, server: str) -> None:
    page = logged_in(
        browser, server, "viewer", viewport={"width": 390, "height": 844}, is_mobile=True
    )
    assert chart_marks(page, "chart-index") > 0
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, "no horizontal scrolling on a phone"


def test_scores_charts_and_filter_changes_numbers(browser: Any, server: str) -> None:
    page = logged_in(browser, server, "analyst")
    page.goto(f"{server}/scores?period=30d")
    for chart in ("chart-series-nps", "chart-series-ces", "chart-series-csat", "chart-matrix"):
        assert chart_marks(page, chart) > 0, chart
    before = page.locator("[data-testid=overall-nps-n]").inner_text()
    page.select_option("select[name=channel]", "email")
    page.wait_for_url("**channel=email**")
    after = page.locator("[data-testid=overall-nps-n]").inner_text()
    assert before != after
    assert int(after.replace(".", "").replace(",", "")) < int(
        before.replace(".", "").replace(",", "")
    )


#: Vega's own English, which a screen reader would read on a Dutch page.
VEGA_ENGLISH = re.compile(r"axis|mark|legend|titled|Title text|visualization|scale|ci_low")


def test_a_chart_is_read_out_in_dutch(browser: Any, server: str) -> None:
    """Vega labels axes "X-axis titled 'Datum' for a time scale ..." and names every part's
    role in English ("line mark", "axis"); app.js puts the spec's worded texts there."""
    page = logged_in(browser, server, "analyst")
    page.goto(f"{server}/scores?period=all&lang=nl")
    page.wait_for_function(
        "[...document.querySelectorAll('.chart')].every(c => c.dataset.rendered === 'true')",
        timeout=15_000,
    )
    read = page.evaluate(
        """() => [...document.querySelectorAll('.chart, .chart [aria-label],'
                    + ' .chart [aria-roledescription]')]
           .filter(e => !e.closest('[aria-hidden=true]'))  // what a screen reader reads
           .flatMap(e => [e.getAttribute('aria-label'), e.getAttribute('aria-roledescription')])
           .filter(Boolean)"""
    )
    assert any(text.startswith("Horizontale as, Datum: van ") for text in read), read[:5]
    assert any(text.startswith("Verticale as, CSAT") for text in read), read[:5]
    assert "punt" in read and "as" in read
    assert [text for text in read if VEGA_ENGLISH.search(text)] == []


def test_language_switch(browser: Any, server: str) -> None:
    page = logged_in(browser, server, "viewer")
    assert page.locator("html").get_attribute("lang") == "nl"
    assert "Wat de index beweegt" in page.content()
    page.click("#lang-switch")
    page.wait_for_url("**lang=en**")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "What moves the index" in page.content()
    page.goto(f"{server}/scores")
    assert page.locator("html").get_attribute("lang") == "en", "the choice is remembered"


def test_viewer_sees_no_personal_data_and_script_is_text(browser: Any, server: str) -> None:
    page = logged_in(browser, server, "viewer")
    page.goto(f"{server}/verbatims?period=all")
    text = page.locator("main").inner_text()
    assert "[telefoon]" in text and "[e-mail]" in text and "[IBAN]" in text
    for secret in ("06-12345678", "jan.jansen@example.nl", "NL91ABNA0417164300", "C99999"):
        assert secret not in page.content()
    assert SCRIPT_COMMENT.split(" pakket")[0] in text, "the comment shows as text"
    assert page.evaluate("window.__pwned === undefined")


def test_analyst_sees_personal_data_and_search_works(browser: Any, server: str) -> None:
    page = logged_in(browser, server, "analyst")
    page.goto(f"{server}/verbatims?period=all")
    page.fill("[data-testid=search]", "terugstorten")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**q=terugstorten**")
    assert page.locator("[data-testid=verbatim]").count() == 1
    assert "NL91ABNA0417164300" in page.locator("main").inner_text()


def test_installable_manifest_and_service_worker(browser: Any, server: str) -> None:
    page = logged_in(browser, server, "viewer", viewport={"width": 390, "height": 844})
    assert page.locator("link[rel=manifest]").get_attribute("href") == "/manifest.webmanifest"
    scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == f"{server}/"
    manifest = page.evaluate("fetch('/manifest.webmanifest').then(r => r.json())")
    assert manifest["display"] == "standalone" and manifest["start_url"].startswith("/")


def test_api_docs_render_offline(browser: Any, server: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda r: (
            outside.append(r.url)
            if r.url.startswith("http") and not r.url.startswith(server)
            else None
        ),
    )
    page.goto(f"{server}/api/v1/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() >= 4
    assert outside == [], "the docs load nothing from other hosts"
