"""Browser test of the contact-models page: Playwright drives the system Chromium against
uvicorn. Upload a labelled CSV with the form, the page refreshes itself while the model
trains and then shows the metrics and the confusion table; classification uses the model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, chromium, log_in, serving

from klantreis.app import App
from klantreis.settings import Settings

from .helpers import contact, event, load
from .small_models import linear_only_training
from .test_web_models import PROBE, labelled, labels_csv

PASSWORD = "analyst-pass-1"

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from klantreis.access import accounts

    folder = tmp_path_factory.mktemp("models-browser")  # the models go next to the store
    app = App(
        Settings.load(
            env={},
            db_path=str(folder / "s.duckdb"),
            secret_key="test-secret-key-0123456789abcdef",
        )
    )
    load(app, [event("order.placed", "J0", 0), contact("J0", 1, None, text="hallo")])
    accounts.add_user(app.store, "analyst", "analyst", PASSWORD)
    with linear_only_training(), serving(app) as base:  # the page, not the model
        yield base


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    with chromium() as browser:
        page = browser.new_context().new_page()
        log_in(page, server, "analyst", PASSWORD)
        yield page


def test_train_with_an_upload_and_see_the_evaluation(page: Any, server: str) -> None:
    page.goto(f"{server}/contacts?lang=en")
    page.click("[data-testid=models-link]")
    page.wait_for_url(f"{server}/contacts/models")
    assert page.locator("[data-testid=version-row]").count() == 0
    assert page.locator("[data-testid=train-status]").get_attribute("data-state") == "idle"

    page.check("input[name=source][value=csv]")
    page.set_input_files(
        "[data-testid=train-file]",
        {
            "name": "labels.csv",
            "mimeType": "text/csv",
            "buffer": labels_csv(labelled(60)).encode("utf-8"),
        },
    )
    page.click("[data-testid=train-submit]")
    page.wait_for_url(f"{server}/contacts/models")
    # While it trains the page reloads itself every 3 s; then the evaluation appears.
    page.locator("[data-testid=confusion]").wait_for(timeout=90_000)

    status = page.locator("[data-testid=train-status]")
    assert status.get_attribute("data-state") == "done"
    assert page.locator("[data-testid=version-row]").count() == 1
    assert "upload: labels.csv" in page.locator("[data-testid=version-row]").inner_text()
    f1 = float(page.locator("[data-testid=macro-f1]").inner_text())
    assert 0.8 < f1 <= 1.0
    assert page.locator("[data-testid=per-class-row]").count() == 3
    rows = page.locator("[data-testid=confusion-row]")
    assert rows.count() == 3
    table = page.locator("[data-testid=confusion]").inner_text()
    assert "Invoice incorrect" in table and "Where is my parcel?" in table

    page.goto(f"{server}/contacts/classify?lang=en")
    page.fill("[data-testid=classify-text]", PROBE)
    page.click("form.card button[type=submit]")
    result = page.locator("[data-testid=classify-result]")
    result.first.wait_for()
    assert "Invoice incorrect" in result.first.inner_text()


def test_a_bad_upload_shows_the_reason(page: Any, server: str) -> None:
    page.goto(f"{server}/contacts/models?lang=en")
    page.check("input[name=source][value=csv]")
    page.set_input_files(
        "[data-testid=train-file]",
        {"name": "<b>bad</b>.csv", "mimeType": "text/csv", "buffer": b"a,b\n1,2\n"},
    )
    page.click("[data-testid=train-submit]")
    error = page.locator("[data-testid=train-error]")
    error.wait_for()
    assert "needs the columns text,label" in error.inner_text()
    assert page.locator("[data-testid=train-error] b").count() == 0  # text, not markup


def test_the_cross_style_check_fits_a_phone_and_a_desktop_in_both_languages(
    page: Any, server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The check saved with the trained version: its table per reason in Dutch and English,
    no wider than the window at 390 and 1366 px (screenshots in the test's temporary
    folder, to look at)."""
    page.goto(f"{server}/contacts/models?lang=en")
    if page.locator("[data-testid=version-row]").count() == 0:  # run alone: train first
        test_train_with_an_upload_and_see_the_evaluation(page, server)
    shots = tmp_path_factory.mktemp("style-check-shots")
    titles = {"nl": "Als klanten anders schrijven", "en": "When customers write differently"}
    for width in (390, 1366):
        page.set_viewport_size({"width": width, "height": 900})
        for lang, title in titles.items():
            page.goto(f"{server}/contacts/models?lang={lang}")
            table = page.locator("[data-testid=styles]")
            table.scroll_into_view_if_needed()
            assert page.locator("#styles").inner_text() == title
            assert page.locator("[data-testid=styles-row]").count() == 3  # one per reason
            scroll, inner = page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert scroll <= inner, (lang, width)
            page.screenshot(path=str(shots / f"models-{lang}-{width}.png"), full_page=True)
