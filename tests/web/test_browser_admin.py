"""Browser check of ``/admin``: an admin sees users and tokens and revokes a token with the
button (the token is refused at once); a viewer gets 403 and no menu entry.

Playwright drives the system Chromium against a real uvicorn server, as in test_browser.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, chromium, serving

from conftest import PASSWORDS, SECRET, fill_store
from klantreis.access import accounts
from klantreis.app import App
from klantreis.settings import Settings

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, App]]:
    app = App(Settings.load(env={}, db_path=":memory:", secret_key=SECRET))
    fill_store(app)
    with serving(app) as base:
        yield base, app


@pytest.fixture(scope="module")
def browser(served: tuple[str, App]) -> Iterator[Any]:
    """Closed before the server stops (it needs the server): no page still asks it then."""
    with chromium() as b:
        yield b


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
