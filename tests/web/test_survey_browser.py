"""The respondent form in a real browser (system Chromium, real uvicorn server).

Done means: on a 390 px phone with JavaScript disabled a personal link is answered and the
answer shows in the scores of the right carrier; the same link a second time is refused with
its reason; the form is axe-clean (WCAG 2.2 AA) and fully usable with the keyboard (Tab to the
scale, arrow keys to choose, Enter to send)."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.browser_support import (
    BROWSER_MARKS,
    axe_violations,
    chromium,
    log_in,
    scanned_context,
    serving,
)

from conftest import PASSWORDS, make_settings
from klantreis.app import App
from klantreis.listen import ledger
from klantreis.listen.ledger import Invitation
from klantreis.web.pages.survey_form import runtime

pytestmark = BROWSER_MARKS

WIDGET_SECRET = "f1b3d9c7a5e2f4b89c1e07b5d4c2a8e6"
CARRIER = "carrier:vlotbezorgd"  # a carrier with no answers in the synthetic store yet


def _link(app: App, event: str, expires_in_days: float = 6) -> str:
    now = datetime.now(UTC)
    inv = Invitation(
        invitation_id=ledger.invitation_id("na_bezorging", event),
        survey_id="na_bezorging",
        customer_id="C-browser",
        journey_id=f"O-{event}",
        trigger_event_id=event,
        touchpoint="bezorging",
        owner=CARRIER,
        channel="email",
        send_at=now,
        status="sent",
        lang="nl",
        sent_at=now,
        expires_at=now + timedelta(days=expires_in_days),
    )
    rt = runtime(app)  # makes the survey tables
    ledger.insert_new(app.store, [inv])
    return "/" + rt.links.sign(inv, "http://x").split("/", 3)[3]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, template_store: Path) -> Iterator[Any]:
    path = tmp_path_factory.mktemp("survey-browser") / "store.duckdb"
    shutil.copyfile(template_store, path)
    app = App(replace(make_settings(str(path)), widget_secret=WIDGET_SECRET))
    links = {name: _link(app, name) for name in ("phone", "keys", "axe", "errors")}
    links["expired"] = _link(app, "expired", -0.01)
    with serving(app) as base:
        yield base, links


@pytest.fixture(scope="module")
def browser(site: Any) -> Iterator[Any]:
    """Closed before the server stops (it needs the server): no page still asks it then."""
    with chromium() as b:
        yield b


def _fits(page: Any) -> bool:
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return bool(scroll <= inner)


def test_phone_without_javascript_answers_and_the_carrier_scores_show_it(
    browser: Any, site: Any
) -> None:
    base, links = site
    phone = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = phone.new_page()
    response = page.goto(base + links["phone"])
    assert response.status == 200 and _fits(page)
    assert page.locator("legend").first.inner_text().startswith("Hoe waarschijnlijk")
    page.get_by_label("9", exact=True).check()
    page.get_by_role("button", name="Volgende").click()
    assert "Vraag 2 van 2" in page.content() and _fits(page)
    page.get_by_label("Wat is de belangrijkste reden").fill("Netjes en op tijd.")
    page.get_by_role("button", name="Versturen").click()
    assert page.url.endswith("/thanks")
    assert "Dank je wel" in page.locator("main").inner_text() and _fits(page)
    assert phone.cookies() == []  # the respondent's browser got no cookie at all
    again = page.goto(base + links["phone"])
    assert again.status == 409
    assert "al ingevuld" in page.locator("main").inner_text()
    expired = page.goto(base + links["expired"])
    assert expired.status == 410 and "verlopen" in page.locator("main").inner_text()
    phone.close()

    desk = browser.new_context()
    staff = desk.new_page()
    log_in(staff, base, "analyst", PASSWORDS["analyst"])
    data = json.loads(staff.evaluate("fetch('/api/v1/scores?period=all').then(r => r.text())"))
    owners = {r["key"]: r for r in data["data"]["breakdowns"]["owner"]}
    assert owners[CARRIER]["nps"]["n"] == 1
    staff.goto(base + "/scores?period=all")
    assert "VlotBezorgd" in staff.locator("main").inner_text()  # the carrier, by name
    desk.close()


def test_keyboard_only(browser: Any, site: Any) -> None:
    base, links = site
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(base + links["keys"])
    page.keyboard.press("Tab")  # into the scale: the first radio
    focused = page.evaluate("document.activeElement.id")
    assert focused == "q-nps-0"
    outline = page.evaluate(
        "getComputedStyle(document.activeElement.nextElementSibling).outlineStyle"
    )
    assert outline != "none"  # focus is visible
    page.keyboard.press("Space")
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    assert page.evaluate("document.querySelector('input[name=nps]:checked').value") == "7"
    with page.expect_navigation():
        page.keyboard.press("Enter")  # sends the form
    assert "Vraag 2 van 2" in page.content()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"
    page.keyboard.type("Alles goed")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "BUTTON"
    with page.expect_navigation(url=base + links["keys"] + "/thanks"):
        page.keyboard.press("Enter")
    context.close()


@pytest.mark.parametrize("size", [(390, 844), (1366, 768)])
def test_form_error_thanks_and_refusal_pages_are_axe_clean(
    browser: Any, site: Any, size: tuple[int, int]
) -> None:
    base, links = site
    context = scanned_context(browser, viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    found: dict[str, list[str]] = {}
    page.goto(base + links["axe"] + "?lang=en")
    found["form"] = axe_violations(page)
    page.goto(base + links["errors"])
    page.get_by_role("button", name="Volgende").click()  # nothing chosen: a required question
    assert page.locator(".error-summary").is_visible()
    assert page.evaluate("document.activeElement.className") == "error-summary"
    found["error"] = axe_violations(page)
    assert _fits(page)
    page.goto(base + "/s/not-a-token")
    found["refused"] = axe_violations(page)
    page.goto(base + links["expired"] + "?lang=en")
    found["expired"] = axe_violations(page)
    assert {k: v for k, v in found.items() if v} == {}
    context.close()


def test_the_widget_on_a_shop_page_of_another_origin(browser: Any, site: Any) -> None:
    """A shop page (its own server and origin) embeds the widget; the server says yes once,
    the customer answers, and asking again is refused by the server's fatigue decision."""
    base, _ = site
    expires = int(time.time()) + 3600  # the shop signs its customer id (docs/surveys.md)
    sig = hmac.new(WIDGET_SECRET.encode(), f"SHOP-1.{expires}".encode(), hashlib.sha256)
    shop_html = (
        "<!doctype html><html lang='en'><head><title>Shop</title></head><body><main>"
        "<h1>Order confirmed</h1><div id='klantreis-survey'></div></main>"
        f"<script src='{base}/static/survey-widget.js' defer data-survey='na_bezorging'"
        f" data-customer='SHOP-1' data-expires='{expires}' data-signature='{sig.hexdigest()}'"
        " data-journey='O-shop' data-lang='en'></script></body></html>"
    ).encode()

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(shop_html)

        def log_message(self, *args: Any) -> None:
            return

    shop = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    threading.Thread(target=shop.serve_forever, daemon=True).start()
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{shop.server_address[1]}/")
        legend = page.locator("#klantreis-survey legend").first
        legend.wait_for()
        assert legend.inner_text().startswith("How likely")
        page.locator("#klantreis-survey input[name=nps][value='9']").check()
        page.get_by_role("button", name="Send").click()
        page.get_by_text("Thank you").wait_for()
        assert context.cookies() == []
        page.reload()
        page.wait_for_load_state("networkidle")
        assert page.locator("#klantreis-survey form").count() == 0  # not asked again
    finally:
        context.close()
        shop.shutdown()
        shop.server_close()
