"""Account hardening: token list/revoke/expiry, password change and disabling ending sessions,
login throttling, the /admin page, and the ``user``/``token`` commands."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from conftest import PASSWORDS, bearer
from klantreis.access import accounts
from klantreis.app import App
from klantreis.cli.main import cli
from klantreis.settings import Settings
from klantreis.web.security import LoginThrottle
from klantreis.web.state import web_state


def error_code(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["ok"] is False
    return str(body["error"]["code"])


def post_login(client: TestClient, user: str, password: str) -> Any:
    client.get("/login")
    return client.post(
        "/login",
        data={
            "username": user,
            "password": password,
            "csrf_token": client.cookies.get("kr_csrf") or "",
            "next": "/",
        },
    )


@pytest.fixture
def admin_token(web_app: App) -> str:
    secret, _ = accounts.create_token(web_app.store, ["read"], name="admin-read", user="admin")
    return secret


# -- tokens: list, revoke, expiry ---------------------------------------------------------
def test_token_list_shows_no_secrets(
    client: TestClient, tokens: dict[str, str], admin_token: str
) -> None:
    resp = client.get("/api/v1/tokens", headers=bearer(admin_token))
    assert resp.status_code == 200, resp.text
    listed = resp.json()["data"]
    assert {t["name"] for t in listed} >= {"ingest-test", "read-test", "admin-read"}
    assert all(t["state"] == "active" and t["revoked_at"] is None for t in listed)
    by_name = {t["name"]: t for t in listed}
    assert by_name["ingest-test"]["scopes"] == ["ingest"]
    assert by_name["admin-read"]["user"] == "admin"
    digests = [
        r["digest"]
        for r in web_state(client.app).app.store.query("SELECT digest FROM api_tokens").to_pylist()
    ]
    for secret in [*tokens.values(), admin_token]:
        assert secret not in resp.text
        # the random part after "kr_<id>_" (it may itself contain "_")
        assert secret.split("_", 2)[2] not in resp.text
    for digest in digests:
        assert digest not in resp.text


def test_revoked_token_is_refused_at_once_even_when_cached(
    client: TestClient, web_app: App, admin_token: str
) -> None:
    victim, tok = accounts.create_token(web_app.store, ["read"], name="victim", user="admin")
    assert client.get("/api/v1/users", headers=bearer(victim)).status_code == 200  # now cached
    assert accounts.revoke_token(web_app.store, tok.token_id) is not None
    assert error_code(client.get("/api/v1/users", headers=bearer(victim)), 401) == "unauthorized"
    assert client.get("/api/v1/users", headers=bearer(admin_token)).status_code == 200


def test_delete_token_over_the_api(client: TestClient, web_app: App, admin_token: str) -> None:
    ingest, tok = accounts.create_token(web_app.store, ["ingest"], name="shop")
    event = {"occurred_at": "2026-03-01T10:00:00Z", "kind": "order.placed", "journey_id": "X1"}
    assert client.post("/api/v1/events", json=event, headers=bearer(ingest)).status_code == 200
    resp = client.delete(f"/api/v1/tokens/{tok.token_id}", headers=bearer(admin_token))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["state"] == "revoked" and resp.json()["data"]["revoked_at"]
    after = client.post("/api/v1/events", json=event, headers=bearer(ingest))
    assert error_code(after, 401) == "unauthorized"
    again = client.delete(f"/api/v1/tokens/{tok.token_id}", headers=bearer(admin_token))
    assert again.status_code == 200, "revoking twice is harmless"
    assert error_code(client.delete("/api/v1/tokens/nope", headers=bearer(admin_token)), 404)
    listed = client.get("/api/v1/tokens?include_revoked=false", headers=bearer(admin_token))
    assert tok.token_id not in {t["id"] for t in listed.json()["data"]}


def test_token_api_is_for_admins_only(
    client: TestClient, as_user: Any, tokens: dict[str, str], web_app: App
) -> None:
    _, tok = accounts.create_token(web_app.store, ["read"], name="keep")
    assert error_code(client.get("/api/v1/tokens"), 401) == "unauthorized"
    analyst = bearer(tokens["read_analyst"])
    assert error_code(client.get("/api/v1/tokens", headers=analyst), 403) == "forbidden"
    assert error_code(client.delete(f"/api/v1/tokens/{tok.token_id}", headers=analyst), 403)
    assert error_code(as_user("viewer").get("/api/v1/tokens"), 403) == "forbidden"
    admin_session = as_user("admin")
    assert admin_session.get("/api/v1/tokens").status_code == 200
    # A session may list but not DELETE: forms post to /admin with a CSRF token instead.
    assert error_code(admin_session.delete(f"/api/v1/tokens/{tok.token_id}"), 403)
    assert accounts.get_token(web_app.store, tok.token_id).state == "active"  # type: ignore[union-attr]


def test_token_expiry(web_app: App) -> None:
    secret, tok = accounts.create_token(web_app.store, ["read"], expires_days=7)
    assert tok.expires_at is not None
    assert accounts.verify_token(web_app.store, secret) == tok
    with web_app.store.transaction() as con:
        con.execute(
            "UPDATE api_tokens SET expires_at = current_timestamp - INTERVAL 1 MINUTE"
            " WHERE token_id = ?",
            [tok.token_id],
        ).fetchall()
    assert accounts.verify_token(web_app.store, secret) is None
    assert accounts.get_token(web_app.store, tok.token_id).state == "expired"  # type: ignore[union-attr]
    for days in (0, -1, 3651):
        with pytest.raises(accounts.AccountError):
            accounts.create_token(web_app.store, ["read"], expires_days=days)


def test_expired_token_is_refused_from_the_cache(client: TestClient, web_app: App) -> None:
    from datetime import UTC, datetime, timedelta

    secret, tok = accounts.create_token(web_app.store, ["read"], user="admin", expires_days=1)
    security = web_state(client.app).security
    assert security.token(secret) == tok
    cached_at, cached = security._tokens[secret]
    past = datetime.now(UTC) - timedelta(seconds=1)
    security._tokens[secret] = (cached_at, dataclasses.replace(cached, expires_at=past))
    assert security.token(secret) is None


def test_last_use_is_recorded(client: TestClient, tokens: dict[str, str], admin_token: str) -> None:
    assert client.get("/api/v1/users", headers=bearer(admin_token)).status_code == 200
    listed = client.get("/api/v1/tokens", headers=bearer(admin_token)).json()["data"]
    by_name = {t["name"]: t for t in listed}
    assert by_name["admin-read"]["last_used_at"] is not None
    assert by_name["ingest-test"]["last_used_at"] is None


# -- users: disable, password change, sessions ---------------------------------------------
def test_password_change_ends_existing_sessions(as_user: Any, web_app: App) -> None:
    viewer = as_user("viewer")
    assert error_code(viewer.get("/api/v1/tokens"), 403) == "forbidden", "logged in"
    accounts.set_password(web_app.store, "viewer", "een-nieuw-wachtwoord")
    assert error_code(viewer.get("/api/v1/tokens"), 401) == "unauthorized", "session ended"
    assert post_login(viewer, "viewer", PASSWORDS["viewer"]).status_code == 401
    assert post_login(viewer, "viewer", "een-nieuw-wachtwoord").status_code == 303
    assert error_code(viewer.get("/api/v1/tokens"), 403) == "forbidden", "logged in again"


def test_add_user_again_also_ends_sessions(as_user: Any, web_app: App) -> None:
    admin = as_user("admin")
    assert admin.get("/api/v1/users").status_code == 200
    accounts.add_user(web_app.store, "admin", "admin", PASSWORDS["admin"])
    assert error_code(admin.get("/api/v1/users"), 401) == "unauthorized"


def test_disabled_user_cannot_log_in_and_loses_sessions(
    as_user: Any, client: TestClient, web_app: App
) -> None:
    admin = as_user("admin")
    assert admin.get("/api/v1/users").status_code == 200
    secret, _ = accounts.create_token(web_app.store, ["read"], user="admin")
    assert client.get("/api/v1/users", headers=bearer(secret)).status_code == 200
    accounts.set_disabled(web_app.store, "admin")
    assert error_code(admin.get("/api/v1/users"), 401) == "unauthorized"
    assert error_code(client.get("/api/v1/users", headers=bearer(secret)), 401)
    failed = post_login(client, "admin", PASSWORDS["admin"])
    assert failed.status_code == 401 and "kr_session" not in failed.cookies
    with pytest.raises(accounts.AccountError):
        accounts.create_token(web_app.store, ["read"], user="admin")
    accounts.set_disabled(web_app.store, "admin", False)
    assert error_code(admin.get("/api/v1/users"), 401), "enabling does not revive sessions"
    assert post_login(client, "admin", PASSWORDS["admin"]).status_code == 303
    users = {u["name"]: u for u in client.get("/api/v1/users").json()["data"]}
    assert users["admin"]["disabled"] is False and users["viewer"]["disabled"] is False


def test_unknown_users_cost_one_scrypt_like_known_users(
    web_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts.authenticate(web_app.store, "niemand", "x" * 10)  # builds the dummy hash once
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    counts = []
    for name in ("niemand", "viewer", "viewer"):
        calls.clear()
        password = PASSWORDS["viewer"] if counts == [1, 1] else "fout-wachtwoord"
        accounts.authenticate(web_app.store, name, password)
        counts.append(len(calls))
    assert counts == [1, 1, 1]


def test_schema_upgrade_keeps_old_users_and_tokens(app: App) -> None:
    """A store made before these columns existed: ensure_schema adds them, nothing is lost."""
    with app.store.transaction() as con:
        con.execute(
            "CREATE TABLE users (name VARCHAR PRIMARY KEY, role VARCHAR NOT NULL,"
            " password_hash VARCHAR NOT NULL, created_at TIMESTAMPTZ DEFAULT current_timestamp)"
        ).fetchall()
        con.execute(
            "CREATE TABLE api_tokens (token_id VARCHAR PRIMARY KEY, digest VARCHAR NOT NULL"
            " UNIQUE, name VARCHAR, scopes VARCHAR NOT NULL, user_name VARCHAR,"
            " created_at TIMESTAMPTZ DEFAULT current_timestamp)"
        ).fetchall()
        con.execute(
            "INSERT INTO users (name, role, password_hash) VALUES ('oud', 'analyst', ?)",
            [accounts.hash_password("oud-wachtwoord")],
        ).fetchall()
        con.execute(
            "INSERT INTO api_tokens (token_id, digest, name, scopes) VALUES ('t1', ?, 'oud', 'read')",
            [hashlib.sha256(b"kr_t1_geheim").hexdigest()],
        ).fetchall()
    accounts.ensure_schema(app.store)
    accounts.ensure_schema(app.store)
    user = accounts.authenticate(app.store, "oud", "oud-wachtwoord")
    assert user is not None and not user.disabled
    assert accounts.verify_token(app.store, "kr_t1_geheim") is not None
    assert [t.state for t in accounts.list_tokens(app.store)] == ["active"]


# -- login throttling ----------------------------------------------------------------------
def test_login_is_throttled_per_user_name(client: TestClient) -> None:
    now = [1000.0]
    throttle = web_state(client.app).security.throttle
    throttle.clock = lambda: now[0]
    for _ in range(5):
        assert post_login(client, "analyst", "fout-wachtwoord").status_code == 401
    blocked = post_login(client, "analyst", PASSWORDS["analyst"])
    assert blocked.status_code == 429, "even the right password waits"
    assert "Te veel mislukte inlogpogingen" in blocked.text and "over 15 min." in blocked.text
    assert int(blocked.headers["retry-after"]) == 900
    assert "kr_session" not in blocked.cookies
    client.cookies.set("kr_lang", "en")
    english = post_login(client, "Analyst ", "fout-wachtwoord")
    assert english.status_code == 429, "names are compared case-blind"
    assert "Too many failed login attempts" in english.text
    assert post_login(client, "viewer", PASSWORDS["viewer"]).status_code == 303, "other names"
    now[0] += 14 * 60
    assert post_login(client, "analyst", PASSWORDS["analyst"]).status_code == 429
    now[0] += 60
    assert post_login(client, "analyst", PASSWORDS["analyst"]).status_code == 303


def test_login_is_throttled_per_address(client: TestClient) -> None:
    throttle = web_state(client.app).security.throttle
    for i in range(throttle.per_address):
        assert post_login(client, f"gok{i}", "fout-wachtwoord").status_code == 401
    assert post_login(client, "viewer", PASSWORDS["viewer"]).status_code == 429


def test_throttle_window_slides_and_success_forgets_the_name() -> None:
    now = [0.0]
    t = LoginThrottle(per_name=3, per_address=100, window=60, clock=lambda: now[0])
    for step in (0, 10, 20):
        now[0] = step
        t.failed("els", "1.2.3.4")
    assert t.retry_after("els", "5.6.7.8") == pytest.approx(40)
    now[0] = 60  # the first failure is out of the window
    assert t.retry_after("els", "1.2.3.4") == 0
    t.failed("els", "1.2.3.4")
    assert t.retry_after("els", None) == pytest.approx(10)
    t.succeeded("els")
    assert t.retry_after("els", None) == 0
    small = LoginThrottle(max_keys=10)
    for i in range(50):
        small.failed(f"n{i}", None)
    assert len(small._failures) <= 10, "memory stays bounded"


# -- the /admin page -----------------------------------------------------------------------
def test_admin_page_needs_login_and_the_admin_role(client: TestClient, as_user: Any) -> None:
    anonymous = client.get("/admin", headers={"accept": "text/html"})
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith(
        "/login?next=/admin"
    )
    for role in ("viewer", "analyst"):
        resp = as_user(role).get("/admin")
        assert resp.status_code == 403 and 'data-testid="forbidden"' in resp.text
        assert 'href="/admin"' not in resp.text, "no menu entry for non-admins"


def test_admin_page_lists_users_and_tokens_escaped(as_user: Any, web_app: App) -> None:
    secret, tok = accounts.create_token(
        web_app.store, ["read"], name="<script>x()</script>", user="analyst"
    )
    accounts.set_disabled(web_app.store, "viewer")
    resp = as_user("admin").get("/admin?lang=en")
    assert resp.status_code == 200
    html = resp.text
    assert 'href="/admin"' in html, "admins get the menu entry"
    for name in ("admin", "analyst", "viewer"):
        assert f'data-user="{name}"' in html
    assert "disabled" in html
    assert f'data-token-id="{tok.token_id}"' in html
    assert "<script>x()" not in html and "&lt;script&gt;x()" in html
    assert secret not in html and secret.split("_", 2)[-1] not in html


def test_revoke_from_the_page_needs_csrf(as_user: Any, web_app: App, client: TestClient) -> None:
    secret, tok = accounts.create_token(web_app.store, ["read"], name="page", user="admin")
    assert client.get("/api/v1/users", headers=bearer(secret)).status_code == 200
    admin = as_user("admin")
    admin.get("/admin")
    url = f"/admin/tokens/{tok.token_id}/revoke"
    assert error_code(admin.post(url, data={"csrf_token": "forged"}), 403) == "csrf_failed"
    assert client.get("/api/v1/users", headers=bearer(secret)).status_code == 200
    viewer = as_user("viewer")
    viewer.get("/")
    forbidden = viewer.post(url, data={"csrf_token": viewer.cookies.get("kr_csrf")})
    assert error_code(forbidden, 403) == "forbidden"
    done = admin.post(url, data={"csrf_token": admin.cookies.get("kr_csrf")})
    assert done.status_code == 303 and done.headers["location"] == f"/admin?revoked={tok.token_id}"
    assert error_code(client.get("/api/v1/users", headers=bearer(secret)), 401)
    page = admin.get(done.headers["location"])
    assert f'data-token-id="{tok.token_id}" data-state="revoked"' in page.text
    assert 'data-testid="revoked-message"' in page.text
    missing = admin.post(
        "/admin/tokens/nope/revoke", data={"csrf_token": admin.cookies.get("kr_csrf")}
    )
    assert error_code(missing, 404) == "not_found"


# -- the commands --------------------------------------------------------------------------
def run(args: list[str], db: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, [*args, "--db", db], input=input)


def test_user_passwd_disable_enable_and_list(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    assert run(["user", "add", "els", "--password-stdin"], db, "eerste-wachtwoord\n").exit_code == 0
    assert "els\tviewer\tactive" in run(["user", "list"], db).output
    prompted = run(["user", "passwd", "els"], db, "tweede-wachtwoord\ntweede-wachtwoord\n")
    assert prompted.exit_code == 0, prompted.output
    assert "tweede-wachtwoord" not in prompted.output
    piped = run(["user", "passwd", "els", "--password-stdin"], db, "derde-wachtwoord\n")
    assert piped.exit_code == 0, piped.output
    assert run(["user", "passwd", "els", "--password-stdin"], db, "kort\n").exit_code != 0
    assert run(["user", "passwd", "niemand", "--password-stdin"], db, "x" * 9).exit_code != 0
    with App(Settings.load(env={}, db_path=db)) as app:
        assert accounts.authenticate(app.store, "els", "tweede-wachtwoord") is None
        assert accounts.authenticate(app.store, "els", "derde-wachtwoord") is not None
    assert run(["user", "disable", "els"], db).exit_code == 0
    assert "els\tviewer\tdisabled" in run(["user", "list"], db).output
    with App(Settings.load(env={}, db_path=db)) as app:
        assert accounts.authenticate(app.store, "els", "derde-wachtwoord") is None
    assert run(["user", "enable", "els"], db).exit_code == 0
    with App(Settings.load(env={}, db_path=db)) as app:
        assert accounts.authenticate(app.store, "els", "derde-wachtwoord") is not None
    assert run(["user", "disable", "niemand"], db).exit_code != 0


def test_token_create_list_and_revoke(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    created = run(["token", "create", "--scope", "read", "--name", "bi", "--expires-days", "7"], db)
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert "expires" in created.output
    listed = run(["token", "list"], db)
    assert listed.exit_code == 0 and secret not in listed.output
    rows = [line.split("\t") for line in listed.output.strip().splitlines()]
    assert rows[0][:5] == ["id", "name", "scopes", "user", "state"]
    (token_id, name, scopes, user, state, _created, expires, last_used) = rows[1]
    assert (name, scopes, user, state, last_used) == ("bi", "read", "-", "active", "-")
    assert expires != "-"
    assert run(["token", "revoke", token_id], db).exit_code == 0
    assert "\trevoked\t" in run(["token", "list"], db).output
    assert token_id not in run(["token", "list", "--active"], db).output
    with App(Settings.load(env={}, db_path=db)) as app:
        assert accounts.verify_token(app.store, secret) is None
    assert run(["token", "revoke", "nope"], db).exit_code != 0
    bad = run(["token", "create", "--scope", "read", "--expires-days", "0"], db)
    assert bad.exit_code != 0


def test_new_commands_have_help() -> None:
    for args in (["user", "passwd"], ["user", "disable"], ["token", "list"], ["token", "revoke"]):
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0 and len(result.output) > 80, args


def test_revoked_message_is_escaped(as_user: Any) -> None:
    html = as_user("admin").get("/admin", params={"revoked": "<b>x</b>"}).text
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


# -- adding users and creating tokens from the page ------------------------------------------
def test_admin_adds_disables_and_enables_a_user_from_the_page(
    as_user: Any, web_app: App, client: TestClient
) -> None:
    admin = as_user("admin")
    admin.get("/admin")
    csrf = admin.cookies.get("kr_csrf")
    form = {"name": "nieuw", "role": "analyst", "password": "nieuw-pass-1", "csrf_token": csrf}
    assert error_code(admin.post("/admin/users", data={**form, "csrf_token": "x"}), 403)
    done = admin.post("/admin/users", data=form)
    assert done.status_code == 303 and "done=user_added" in done.headers["location"]
    user = accounts.get_user(web_app.store, "nieuw")
    assert user is not None and user.role == "analyst" and not user.disabled
    assert accounts.authenticate(web_app.store, "nieuw", "nieuw-pass-1") is not None
    again = admin.post("/admin/users", data={**form, "password": "other-pass-1"})
    assert again.status_code == 409 and 'data-testid="admin-error"' in again.text
    assert accounts.authenticate(web_app.store, "nieuw", "nieuw-pass-1") is not None
    bad = admin.post("/admin/users", data={**form, "name": "x2", "role": "god"})
    assert bad.status_code == 422 and accounts.get_user(web_app.store, "x2") is None
    off = admin.post("/admin/users/nieuw/disable", data={"csrf_token": csrf})
    assert off.status_code == 303
    assert accounts.get_user(web_app.store, "nieuw").disabled  # type: ignore[union-attr]
    assert 'data-testid="enable-user"' in admin.get("/admin").text
    on = admin.post("/admin/users/nieuw/enable", data={"csrf_token": csrf})
    assert on.status_code == 303
    assert not accounts.get_user(web_app.store, "nieuw").disabled  # type: ignore[union-attr]
    self_off = admin.post("/admin/users/admin/disable", data={"csrf_token": csrf})
    assert self_off.status_code == 409
    viewer = as_user("viewer")
    viewer.get("/")
    denied = viewer.post("/admin/users", data={**form, "csrf_token": viewer.cookies.get("kr_csrf")})
    assert error_code(denied, 403) == "forbidden"


def test_admin_creates_a_token_and_sees_its_secret_once(
    as_user: Any, web_app: App, client: TestClient
) -> None:
    admin = as_user("admin")
    admin.get("/admin")
    csrf = admin.cookies.get("kr_csrf")
    form = {"name": "bi-export", "scopes": ["read"], "user": "analyst", "expires_days": "30"}
    resp = admin.post("/admin/tokens", data={**form, "csrf_token": csrf})
    assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
    secret = resp.text.split('data-testid="token-secret"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert len(secret) > 20
    assert client.get("/api/v1/users", headers=bearer(secret)).status_code == 403  # analyst
    assert client.get("/api/v1/journeys", headers=bearer(secret)).status_code == 200
    tok = next(t for t in accounts.list_tokens(web_app.store) if t.name == "bi-export")
    assert tuple(tok.scopes) == ("read",) and tok.user == "analyst" and tok.expires_at is not None
    assert secret not in admin.get("/admin").text, "shown once"
    bad = admin.post("/admin/tokens", data={**form, "scopes": [], "csrf_token": csrf})
    assert bad.status_code == 422 and 'data-testid="admin-error"' in bad.text
    odd = admin.post("/admin/tokens", data={**form, "expires_days": "soon", "csrf_token": csrf})
    assert odd.status_code == 422
