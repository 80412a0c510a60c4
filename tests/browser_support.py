"""What every browser test shares: the system Chromium, a real uvicorn server on a free
loopback port, Playwright, and logging in through the login form.

Import as ``from tests.browser_support import ...`` (the repository root is on the path).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from klantreis.app import App

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs the system Chromium at /usr/bin/chromium (make system-deps)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: App) -> Iterator[str]:
    """The app's web server on a free loopback port; yields its base URL, closes the app."""
    import uvicorn

    from klantreis.web import create_app

    port = free_port()
    config = uvicorn.Config(create_app(app), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright browser on the system Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def log_in(page: Any, base: str, user: str, password: str) -> None:
    """Log in through the form and wait for the landing page."""
    page.goto(f"{base}/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


# -- axe-core (vendored in tests/vendor, MPL-2.0) ----------------------------------------------
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
#: WCAG 2.2 AA: the rules axe-core runs on every scanned page.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
#: axe-core's violations of the page (or of the part ``within`` selects): rule, help and the
#: first three elements of each. ``resultTypes``: the other results (passes, inapplicable,
#: incomplete) keep one element each, so axe does not build a selector for every element that
#: passed; every rule still runs on every element and every violation keeps all its elements.
AXE_RUN = (
    "([within, tags]) => axe.run(within ? {include: [[within]]} : document,"
    " {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})"
    ".then(r => r.violations.map(v => v.id + ': ' + v.help + ' -> '"
    " + v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + n.html.slice(0, 90))"
    ".join(' | ')))"
)


def scanned_context(browser: Any, **options: Any) -> Any:
    """A new browser context whose pages carry axe-core: sent once, as the context's init
    script (it runs in every page before the page's own scripts and only defines ``axe``),
    not with every page. axe compiles its messages with ``new Function``, so the pages'
    Content-Security-Policy is bypassed in this context."""
    context = browser.new_context(bypass_csp=True, **options)
    context.add_init_script(path=AXE)
    return context


def axe_violations(page: Any, within: str | None = None) -> list[str]:
    """axe-core's WCAG 2.2 AA violations of ``page`` (a page of :func:`scanned_context`), or
    of the element ``within`` selects; ``[]`` when there is none."""
    found: list[str] = page.evaluate(AXE_RUN, [within, AXE_TAGS])
    return found


def charts_drawn(page: Any) -> None:
    """Wait until each chart of the loaded page says it has rendered (or gave up). After
    ``goto``'s load event no page fetches anything more (a live page only on new events), so
    this is all there is to wait for -- not Playwright's ``networkidle``, which waits for
    500 ms of silence on every visit."""
    page.wait_for_function(
        "[...document.querySelectorAll('.chart')].every(c => c.dataset.rendered)",
        timeout=15_000,
    )
