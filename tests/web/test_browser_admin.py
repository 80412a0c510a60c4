"""Browser check of ``/admin``: an admin sees users and tokens and revokes a token with the
button (the token is refused at once); a viewer gets 403 and no menu entry.

Playwright drives the system Chromium against a real uvicorn server, as in test_browser.py.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PASSWORDS, SECRET, fill_store
from klantreis.app import App
from klantreis.services import accounts
from klantreis.settings import Settings
from klantreis.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs the system Chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, App]]:
    import uvicorn

    app = App(Settings.load(env={}, db_path=":memory:", secret_key=SECRET))
    fill_store(app)
    port = free_port()
    config = uvicorn.Config(create_app(app), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(timeout=10)
    app.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def log_in(browser: Any, server: str, user: str, target: str) -> Any:
    page = browser.new_context().new_page()
    page.goto(f"{server}{target}")
    assert "/login" in page.url, "an anonymous visitor is sent to the login page"
    page.fill("#username", user)
    page.fill("#password", PASSWORDS[user])
    page.click("form.login button[type=submit]")
    page.wait_for_load_state()
    return page


def test_admin_sees_the_page_and_revokes_a_token(browser: Any, served: tuple[str, App]) -> None:
    server, app = served
    secret, tok = accounts.create_token(app.store, ["read"], name="bi-export", user="admin")
    keep, kept = accounts.create_token(app.store, ["ingest"], name="webshop")
    auth = {"Authorization": f"Bearer {secret}"}

    page = log_in(browser, server, "admin", "/admin")
    assert page.url == f"{server}/admin"
    assert page.request.get(f"{server}/api/v1/users", headers=auth).status == 200
    assert page.locator("nav.main a[href='/admin']").count() == 1, "menu entry for admins"
    assert page.locator("[data-testid=user-row]").count() == 3
    assert secret not in page.content() and keep not in page.content()

    row = page.locator(f"[data-testid=token-row][data-token-id='{tok.token_id}']")
    assert row.get_attribute("data-state") == "active"
    assert "bi-export" in row.inner_text()
    row.locator("[data-testid=revoke]").click()
    page.wait_for_url(f"**/admin?revoked={tok.token_id}")
    row = page.locator(f"[data-testid=token-row][data-token-id='{tok.token_id}']")
    assert row.get_attribute("data-state") == "revoked"
    assert row.locator("[data-testid=revoke]").count() == 0
    assert page.locator("[data-testid=revoked-message]").is_visible()
    assert page.request.get(f"{server}/api/v1/users", headers=auth).status == 401, "at once"
    other = page.locator(f"[data-testid=token-row][data-token-id='{kept.token_id}']")
    assert other.get_attribute("data-state") == "active", "only that token"


def test_viewer_gets_403_and_no_menu_entry(browser: Any, served: tuple[str, App]) -> None:
    server, _ = served
    page = log_in(browser, server, "viewer", "/")
    page.wait_for_url(f"{server}/")
    assert page.locator("nav.main a").count() > 0
    assert page.locator("nav.main a[href='/admin']").count() == 0
    response = page.goto(f"{server}/admin")
    assert response is not None and response.status == 403
    assert page.locator("[data-testid=forbidden]").is_visible()
    assert page.locator("[data-testid=token-row]").count() == 0
