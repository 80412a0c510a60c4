"""Server-side sessions (logout, ending and disabling while the server runs, idle limit),
session-bound CSRF, the scrypt cost with re-hash on login, and the security headers."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import PASSWORDS, SECRET, bearer, do_login
from klantreis.access import accounts
from klantreis.app import App
from klantreis.settings import Settings
from klantreis.web import create_app
from klantreis.web.security import CSRF_COOKIE, SESSION_COOKIE


def _fresh(web_app: App, cookie: str) -> TestClient:
    """A new client that only carries a (captured) session cookie."""
    c = TestClient(create_app(web_app), follow_redirects=False)
    c.cookies.set(SESSION_COOKIE, cookie)
    return c


def _logout(c: TestClient) -> Any:
    return c.post("/logout", data={"csrf_token": c.cookies.get(CSRF_COOKIE)})


def test_logout_ends_the_session_for_a_captured_cookie(web_app: App, as_user: Any) -> None:
    viewer = as_user("viewer")
    captured = viewer.cookies.get(SESSION_COOKIE)
    assert viewer.get("/api/v1/index").status_code == 200
    with _fresh(web_app, captured) as thief:
        assert thief.get("/api/v1/index").status_code == 200
        assert _logout(viewer).status_code == 303
        assert thief.get("/api/v1/index").status_code == 401
        assert thief.get("/", headers={"accept": "text/html"}).status_code == 303


def test_other_sessions_of_the_user_survive_a_logout(as_user: Any) -> None:
    phone, laptop = as_user("viewer"), as_user("viewer")
    assert _logout(phone).status_code == 303
    assert laptop.get("/api/v1/index").status_code == 200


def test_admin_ends_a_users_sessions_on_the_page(as_user: Any) -> None:
    viewer, admin = as_user("viewer"), as_user("admin")
    page = admin.get("/admin")
    assert page.status_code == 200 and 'data-testid="end-sessions"' in page.text
    resp = admin.post(
        "/admin/users/viewer/sessions/end", data={"csrf_token": admin.cookies.get(CSRF_COOKIE)}
    )
    assert resp.status_code == 303
    assert viewer.get("/api/v1/index").status_code == 401
    assert admin.get("/api/v1/index").status_code == 200
    assert do_login(viewer, "viewer").get("/api/v1/index").status_code == 200


def test_admin_disables_and_enables_a_user_on_the_page(as_user: Any, client: TestClient) -> None:
    viewer, admin = as_user("viewer"), as_user("admin")
    csrf = {"csrf_token": admin.cookies.get(CSRF_COOKIE)}
    assert admin.post("/admin/users/viewer/disable", data=csrf).status_code == 303
    assert viewer.get("/api/v1/index").status_code == 401
    client.get("/login")
    refused = client.post(
        "/login",
        data={
            "username": "viewer",
            "password": PASSWORDS["viewer"],
            "csrf_token": client.cookies.get(CSRF_COOKIE),
        },
    )
    assert refused.status_code == 401
    assert admin.post("/admin/users/admin/disable", data=csrf).status_code == 409
    assert admin.post("/admin/users/viewer/enable", data=csrf).status_code == 303
    assert do_login(client, "viewer").get("/api/v1/index").status_code == 200


def test_admin_api_ends_sessions_and_disables(web_app: App, as_user: Any) -> None:
    viewer = as_user("viewer")
    token, _ = accounts.create_token(web_app.store, ["read"], user="admin")
    with TestClient(create_app(web_app)) as api:
        ended = api.delete("/api/v1/users/viewer/sessions", headers=bearer(token))
        assert ended.status_code == 200 and ended.json()["data"]["ended"] == 1
        assert viewer.get("/api/v1/index").status_code == 401
        assert api.delete("/api/v1/users/nobody/sessions", headers=bearer(token)).status_code == 404
        resp = api.put(
            "/api/v1/users/viewer/disabled", json={"disabled": True}, headers=bearer(token)
        )
        assert resp.status_code == 200 and resp.json()["data"]["disabled"] is True
        assert accounts.get_user(web_app.store, "viewer").disabled  # type: ignore[union-attr]
    admin = as_user("admin")  # a session is not enough: the API wants a token
    assert admin.delete("/api/v1/users/analyst/sessions").status_code == 403


def test_a_new_password_ends_the_stored_sessions(web_app: App, as_user: Any) -> None:
    viewer = as_user("viewer")
    accounts.set_password(web_app.store, "viewer", "another-pass-1")
    assert viewer.get("/api/v1/index").status_code == 401
    assert accounts.list_sessions(web_app.store, "viewer") == []


def test_an_idle_session_ends(web_app: App, as_user: Any) -> None:
    viewer = as_user("viewer")
    assert viewer.get("/api/v1/index").status_code == 200
    idle = timedelta(minutes=web_app.settings.session_idle_minutes)
    with web_app.store.transaction() as con:
        con.execute(
            "UPDATE sessions SET last_seen_at = ? WHERE user_name = 'viewer'",
            [datetime.now(UTC) - idle - timedelta(minutes=1)],
        ).fetchall()
    assert viewer.get("/api/v1/index").status_code == 401


def test_session_user_idle_limit_with_an_explicit_clock(web_app: App) -> None:
    user = accounts.get_user(web_app.store, "viewer")
    assert user is not None
    secret = accounts.start_session(web_app.store, user)
    now = datetime.now(UTC)
    limit = timedelta(minutes=30)
    assert accounts.session_user(web_app.store, secret, limit, now + timedelta(minutes=29))
    assert accounts.session_user(web_app.store, secret, limit, now + timedelta(minutes=31)) is None
    assert accounts.session_user(web_app.store, secret, None, now + timedelta(days=5))
    accounts.touch_session(web_app.store, secret, now + timedelta(minutes=31))
    assert accounts.session_user(web_app.store, secret, limit, now + timedelta(minutes=60))


def test_csrf_token_is_bound_to_the_session(as_user: Any, client: TestClient) -> None:
    viewer, analyst = as_user("viewer"), as_user("analyst")
    foreign = analyst.cookies.get(CSRF_COOKIE)
    viewer.cookies.set(CSRF_COOKIE, foreign)
    assert viewer.post("/logout", data={"csrf_token": foreign}).status_code == 403
    # the token of the login page (no session) does not serve a logged-in session either
    client.get("/login")
    anonymous = client.cookies.get(CSRF_COOKIE)
    do_login(client, "viewer")
    assert client.cookies.get(CSRF_COOKIE) != anonymous
    client.cookies.set(CSRF_COOKIE, anonymous)
    assert client.post("/logout", data={"csrf_token": anonymous}).status_code == 403


def test_secure_cookies_setting(template_store: Path, tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    shutil.copyfile(template_store, path)
    settings = Settings.load(env={}, db_path=str(path), secret_key=SECRET, secure_cookies=True)
    with App(settings) as app, TestClient(create_app(app), follow_redirects=False) as c:
        page = c.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()
        token = page.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        c.cookies.clear()
        resp = c.post(
            "/login",
            data={"username": "viewer", "password": PASSWORDS["viewer"], "csrf_token": token},
            headers={"cookie": f"{CSRF_COOKIE}={token}"},
        )
        assert resp.status_code == 303
        cookies = resp.headers.get_list("set-cookie")
        assert len(cookies) == 2 and all("secure" in v.lower() for v in cookies)


# -- passwords -------------------------------------------------------------------------------
def test_owasp_scrypt_cost_hashes_and_verifies() -> None:
    assert accounts.OWASP_SCRYPT_COST == {"n": 2**17, "r": 8, "p": 1}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(accounts, "SCRYPT_COST", dict(accounts.OWASP_SCRYPT_COST))
        stored = accounts.hash_password("lang-genoeg-1")
        assert stored.startswith("scrypt$131072$8$1$")
        assert accounts.verify_password("lang-genoeg-1", stored)
        assert not accounts.needs_rehash(stored)


def test_an_old_hash_is_replaced_at_login(app: App) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(accounts.SCRYPT_COST, "n", 2**9)  # an "old" cost
        accounts.add_user(app.store, "els", "analyst", "lang-genoeg-1")

    def stored() -> str:
        return str(
            app.store.query("SELECT password_hash FROM users").to_pylist()[0]["password_hash"]
        )

    old = stored()
    assert old.startswith("scrypt$512$") and accounts.needs_rehash(old)
    assert accounts.authenticate(app.store, "els", "wrong-password") is None
    assert stored() == old, "a failed login changes nothing"
    assert accounts.authenticate(app.store, "els", "lang-genoeg-1") is not None
    new = stored()
    assert new != old and not accounts.needs_rehash(new)
    assert accounts.authenticate(app.store, "els", "lang-genoeg-1") is not None


# -- headers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/", "/verbatims", "/api/v1/verbatims?period=all", "/api/v1/index", "/nothing"]
)
def test_security_headers_and_no_store(as_user: Any, path: str) -> None:
    resp = as_user("viewer").get(path)
    csp = resp.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe" not in csp
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "same-origin"
    assert resp.headers["cache-control"] == "no-store"


def test_login_page_and_static_assets_have_headers(client: TestClient) -> None:
    login = client.get("/login")
    assert login.headers["x-frame-options"] == "DENY"
    asset = client.get("/static/app.js")
    assert asset.status_code == 200 and asset.headers["x-content-type-options"] == "nosniff"
    assert asset.headers.get("cache-control") != "no-store"
