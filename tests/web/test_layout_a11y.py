"""Layout and accessibility of every page, in a real browser, on a small demo store.

- Layout: no page is wider than the viewport (``scrollWidth <= innerWidth``) on a 1366 px
  laptop and a 390 px phone, in Dutch and English, for every role. Wide tables scroll inside
  their card; the journey map fits.
- Accessibility: axe-core (vendored in ``tests/vendor``, MPL-2.0) finds no WCAG 2.2 AA
  violation (tags wcag2a, wcag2aa, wcag21a, wcag21aa, wcag22aa) on any page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, chromium, log_in, serving
from tests.listen.kit import listen_on

from conftest import DEMO_END, PASSWORDS, demo1500_copy
from klantreis.access import accounts
from klantreis.act.fixes import mark_fix
from klantreis.act.rules import default_case_rules

pytestmark = BROWSER_MARKS

AXE = Path(__file__).parent.parent / "vendor" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
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
    page.goto(url)
    page.wait_for_load_state("networkidle")
    # charts draw after load; wait until each says it has rendered (or gave up)
    page.wait_for_function(
        "[...document.querySelectorAll('.chart')].every(c => c.dataset.rendered)",
        timeout=15_000,
    )


def _session(
    browser: Any, server: str, role: str, lang: str, size: str, bypass_csp: bool = False
) -> Any:
    """A logged-in page. ``bypass_csp`` only for the accessibility scan, which injects
    axe-core as an inline script (the pages' own CSP rightly refuses inline scripts)."""
    width, height = SIZES[size]
    context = browser.new_context(
        viewport={"width": width, "height": height}, bypass_csp=bypass_csp
    )
    page = context.new_page()
    log_in(page, server, role, PASSWORDS[role])
    page.goto(f"{server}/?lang={lang}")
    assert page.locator("html").get_attribute("lang") == lang
    return page


def _first_at_risk(page: Any, server: str) -> str | None:
    data = page.evaluate("fetch('/api/v1/journeys').then(r => r.json())")
    risk = data["data"]["at_risk"]["rows"]
    return risk[0]["journey_id"] if risk else None


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_no_page_is_wider_than_the_viewport(
    browser: Any, server: str, role: str, lang: str, size: str
) -> None:
    page = _session(browser, server, role, lang, size)
    too_wide = {}
    for path in _pages(role, _first_at_risk(page, server), _first_case(page)):
        _visit(page, server + path)
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll > inner:
            too_wide[path] = scroll
    assert too_wide == {}, f"pages wider than {SIZES[size][0]} px ({role}, {lang})"


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_no_wcag_aa_violation(browser: Any, server: str, role: str, lang: str) -> None:
    page = _session(browser, server, role, lang, "laptop", bypass_csp=True)
    script = AXE.read_text("utf-8")
    found: dict[str, list[str]] = {}
    for path in _pages(role, _first_at_risk(page, server), _first_case(page)):
        _visit(page, server + path)
        page.add_script_tag(content=script)
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
            ".then(r => r.violations.map(v => v.id + ': ' + v.help + ' -> '"
            " + v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + n.html.slice(0, 90))"
            ".join(' | ')))",
            AXE_TAGS,
        )
        if result:
            found[path] = result
    assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)
