"""Layout and accessibility of every page, in a real browser, on a small demo store.

Each page is visited once per role, language (Dutch, English) and width (a 1366 px laptop, a
390 px phone), and every check runs on that visit:

- Layout: no page is wider than the viewport (``scrollWidth <= innerWidth``). Wide tables
  scroll inside their card; the journey map fits.
- Accessibility (laptop): axe-core (vendored in ``tests/vendor``, MPL-2.0) finds no WCAG 2.2 AA
  violation (tags wcag2a, wcag2aa, wcag21a, wcag21aa, wcag22aa). axe-core comes in as the
  laptop context's init script (sent to the browser once, not with every page) and compiles
  its messages with ``new Function``: the laptop's browser bypasses the pages'
  Content-Security-Policy (a CDP toggle does not reach a loaded page).
- Content-Security-Policy (phone, where it is enforced): no page breaks it -- so what the
  laptop shows with the policy bypassed is what a user sees.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
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
from tests.listen.kit import listen_on

from conftest import DEMO_END, PASSWORDS, demo1500_copy
from klantreis.access import accounts
from klantreis.act.fixes import mark_fix
from klantreis.act.rules import default_case_rules

pytestmark = BROWSER_MARKS

SIZES = {"laptop": (1366, 768), "phone": (390, 844)}
PAGES = [
    "/",
    "/scores",
    "/verbatims",
    "/journeys",
    "/contacts",
    "/contacts?period=all&reason=waar_is_mijn_pakket&offset=20#reason",  # a pager both ways
    "/contacts/queue",
    "/contacts/classify?text=waar+blijft+mijn+pakket",
    "/proactive",
    "/alerts",
    "/cases",
    "/cases/team",
    "/cases/team?owner=carrier:vlotbezorgd&status=all",
    "/cases/team?owner=carrier:vlotbezorgd&status=all&page=2",  # a pager both ways
    "/surveys/invitations",
    "/comments/themes",
    "/comments/themes?owner=carrier:vlotbezorgd&group=low&period=30d",
    "/comments/themes/queue",
]
SURVEY_PAGES = ["/surveys", "/surveys/edit", "/surveys/na_bezorging/preview"]
ROLE_PAGES = {
    "analyst": ["/contacts/models", "/surveys/invitations?customer={asked}", *SURVEY_PAGES],
    "admin": ["/contacts/models", "/admin", *SURVEY_PAGES, "/surveys/webhooks"],
}


@pytest.fixture(scope="module")
def server(demo1500_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = demo1500_copy(demo1500_store, tmp_path_factory, "layout")
    # a root cause marked fixed: /cases shows its before/after sentences
    mark_fix(
        app.store,
        default_case_rules(app.journey),
        "te_laat_bezorgd",
        date(2026, 10, 20),
        "admin",
        at=DEMO_END,
    )
    global ASKED
    ASKED = listen_on(app, DEMO_END, days=20) or "nobody"
    for role, password in PASSWORDS.items():
        accounts.add_user(app.store, role, role, password)
    with serving(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    """Closed before the server stops (it needs the server): no page still asks it then."""
    with chromium() as b:
        yield b


ASKED = "nobody"  # a customer with an invitation not sent (set by the server fixture)


def _pages(role: str, at_risk: str | None = None, case: str | None = None) -> list[str]:
    pages = PAGES + [p.format(asked=ASKED) for p in ROLE_PAGES.get(role, [])]
    if case and role != "viewer":  # a case is for analysts and admins
        pages = [*pages, f"/cases/{case}"]
    return pages + ([f"/journeys?journey={at_risk}"] if at_risk else [])


def _first_case(page: Any) -> str | None:
    """An open case of VlotBezorgd (the one with the forms), for analysts and admins."""
    data = page.evaluate(
        "fetch('/api/v1/cases/team?owner=carrier:vlotbezorgd').then(r => r.json())"
    )
    rows = data["data"]["cases"]
    return rows[0]["case_id"] if rows else None


def _visit(page: Any, url: str) -> None:
    """Open ``url`` and wait until it is drawn: ``goto`` waits for the load event (styles,
    scripts, images; app.js's load handlers have run), then each chart says it has rendered
    (or gave up). No page fetches anything after that (a live page only on new events;
    models and themes refresh only while training, which this store never does). Not
    Playwright's ``networkidle``: 500 ms of silence on every visit, a third of a visit."""
    page.goto(url)
    charts_drawn(page)


def _session(browser: Any, server: str, role: str, lang: str, size: str) -> Any:
    """A logged-in page; on the laptop with the pages' CSP bypassed (for axe-core), on the
    phone with it enforced and its violations recorded in ``window.__csp``."""
    width, height = SIZES[size]
    scan = size in AXE_SIZES
    viewport = {"width": width, "height": height}
    if scan:  # axe-core in every page (tests/browser_support.py), the CSP bypassed
        context = scanned_context(browser, viewport=viewport)
    else:
        context = browser.new_context(viewport=viewport)
        context.add_init_script(CSP_RECORDER)
    # a page's first view computes its kept tables: on the shared 2-core machine at load 20+
    # that took more than Playwright's 30 s (its speed is the benchmarks' business)
    context.set_default_navigation_timeout(120_000)
    page = context.new_page()
    log_in(page, server, role, PASSWORDS[role])
    page.goto(f"{server}/?lang={lang}")
    assert page.locator("html").get_attribute("lang") == lang
    return page


def _first_at_risk(page: Any, server: str) -> str | None:
    data = page.evaluate("fetch('/api/v1/journeys').then(r => r.json())")
    risk = data["data"]["at_risk"]["rows"]
    return risk[0]["journey_id"] if risk else None


#: The widths whose visits run axe-core (with the CSP bypassed); the others check the CSP.
AXE_SIZES = {"laptop"}
#: Runs before the page's own scripts (an init script is not subject to the CSP).
CSP_RECORDER = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation', e =>"
    " window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' at '"
    " + e.sourceFile + ':' + e.lineNumber + ' ' + (e.sample || '').slice(0, 60)))"
)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_every_page_fits_its_width_and_passes_its_checks(
    browser: Any, server: str, role: str, lang: str, size: str
) -> None:
    """One visit per page runs every check of its width: no page wider than the viewport;
    on the laptop no WCAG 2.2 AA violation (axe-core); on the phone no CSP violation."""
    page = _session(browser, server, role, lang, size)
    scan = size in AXE_SIZES
    failed: dict[str, dict[str, Any]] = {"wider than the viewport": {}}
    failed["WCAG 2.2 AA violations (axe-core)" if scan else "CSP violations"] = {}
    for path in _pages(role, _first_at_risk(page, server), _first_case(page)):
        _visit(page, server + path)
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll > inner:
            failed["wider than the viewport"][path] = f"scrollWidth {scroll} > {inner} px"
        if not scan:
            if blocked := page.evaluate("window.__csp"):
                failed["CSP violations"][path] = blocked
        else:
            if found := axe_violations(page):
                failed["WCAG 2.2 AA violations (axe-core)"][path] = found
    failed = {check: pages for check, pages in failed.items() if pages}
    where = f"{role}, {lang}, {size} ({SIZES[size][0]} px)"
    assert failed == {}, where + "\n" + json.dumps(failed, indent=1, ensure_ascii=False)
