"""In-process API tests: envelope, auth per role and scope, CSRF, ingest."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import PASSWORDS, bearer, do_login
from klantreis.app import App
from klantreis.model.events import events_from_records

PAGES = ["index", "scores", "verbatims"]


def assert_ok(resp: Any) -> dict[str, Any]:
    body = resp.json()
    assert resp.status_code == 200, body
    assert set(body) == {"ok", "data", "meta"} and body["ok"] is True
    assert isinstance(body["meta"], dict)
    return body


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    body = resp.json()
    assert resp.status_code == status, body
    assert set(body) == {"ok", "error"} and body["ok"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body


# -- envelope and pages ------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_page_api_needs_login(client: TestClient, page: str) -> None:
    assert_error(client.get(f"/api/v1/{page}"), 401, "unauthorized")


@pytest.mark.parametrize("page", PAGES)
def test_page_api_answers_in_the_envelope(as_user: Any, page: str) -> None:
    body = assert_ok(as_user("viewer").get(f"/api/v1/{page}"))
    assert body["meta"]["lang"] == "nl" and body["meta"]["masked"] is True
    assert body["data"]


@pytest.mark.parametrize("path", ["/", "/scores", "/verbatims"])
def test_pages_redirect_browsers_to_login(client: TestClient, path: str) -> None:
    resp = client.get(path, headers={"accept": "text/html"})
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")


@pytest.mark.parametrize("path", ["/", "/scores", "/verbatims", "/scores?period=7d&channel=web"])
def test_pages_render_for_a_viewer(as_user: Any, path: str) -> None:
    resp = as_user("viewer").get(path)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    assert "data-chart-for=" in resp.text or "verbatim" in resp.text


def test_index_data_has_value_series_and_movers(as_user: Any) -> None:
    data = assert_ok(as_user("viewer").get("/api/v1/index"))["data"]
    assert data["empty"] is False and data["current"] is not None
    assert len(data["series"]) > 30
    assert data["movers"]["top"], "the synthetic store has a falling touchpoint"
    worst = min(data["movers"]["top"], key=lambda m: m["delta_points"])
    assert worst["key"] == "bezorging" and worst["sentence"]


def test_filters_change_the_numbers(as_user: Any) -> None:
    c = as_user("analyst")
    everything = assert_ok(c.get("/api/v1/scores?period=all"))["data"]
    email = assert_ok(c.get("/api/v1/scores?period=all&channel=email"))["data"]
    assert 0 < email["overall"]["nps"]["n"] < everything["overall"]["nps"]["n"]
    idx_all = assert_ok(c.get("/api/v1/index?period=all"))["data"]
    idx_zak = assert_ok(c.get("/api/v1/index?period=all&segment=zakelijk"))["data"]
    assert 0 < idx_zak["n_answers"] < idx_all["n_answers"]


def test_scores_mark_significant_changes_with_test(as_user: Any) -> None:
    data = assert_ok(as_user("analyst").get("/api/v1/scores?period=7d"))["data"]
    rows = {g["key"]: g for g in data["breakdowns"]["touchpoint"]}
    delivery = rows["bezorging"]["nps"]
    assert delivery["significant"] is True and delivery["diff"] < 0
    assert delivery["p_value"] < 0.05 and "z-test" in delivery["test"]


def test_bad_query_parameters_are_422_in_the_envelope(as_user: Any) -> None:
    body = assert_error(
        as_user("viewer").get("/api/v1/scores?period=forever"), 422, "invalid_input"
    )
    assert body["error"]["details"][0]["loc"][-1] == "period"


def test_unknown_path_is_404_in_the_envelope(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_health_and_openapi_without_login(client: TestClient) -> None:
    assert assert_ok(client.get("/api/v1/health"))["data"]["events"] > 0
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/events" in spec["paths"] and "/api/v1/index" in spec["paths"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and "/api/v1/openapi.json" in docs.text
    assert "cdn" not in docs.text.lower()
    assert client.get("/docs").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/static/app.js",
        "/static/app.css",
        "/sw.js",
        "/manifest.webmanifest",
        "/static/vendor/vega-bundle.js",
        "/static/icon-192.png",
    ],
)
def test_assets_are_served_from_the_package(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200 and len(resp.content) > 100


def test_static_path_traversal_is_refused(client: TestClient) -> None:
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/%2e%2e/pagekit.py").status_code == 404


# -- masking -----------------------------------------------------------------------------
def _pii_comment(c: TestClient) -> dict[str, Any]:
    data = assert_ok(c.get("/api/v1/verbatims?period=all&q=terugstorten"))["data"]
    assert data["total"] == 1
    return data["comments"][0]


def test_viewer_gets_masked_comments(as_user: Any) -> None:
    row = _pii_comment(as_user("viewer"))
    assert "06-12345678" not in row["text"] and "NL91ABNA0417164300" not in row["text"]
    assert "jan.jansen@example.nl" not in row["text"]
    assert row["customer_id"] != "C99999" and row["journey_id"] is None


@pytest.mark.parametrize("user", ["analyst", "admin"])
def test_analysts_see_personal_data(as_user: Any, user: str) -> None:
    row = _pii_comment(as_user(user))
    assert "NL91ABNA0417164300" in row["text"] and row["customer_id"] == "C99999"


def test_read_token_masks_unless_it_belongs_to_an_analyst(
    client: TestClient, tokens: dict[str, str]
) -> None:
    url = "/api/v1/verbatims?period=all&q=terugstorten"
    masked = assert_ok(client.get(url, headers=bearer(tokens["read"])))["data"]["comments"][0]
    plain = assert_ok(client.get(url, headers=bearer(tokens["read_analyst"])))["data"]["comments"][
        0
    ]
    assert "[IBAN]" in masked["text"] and "NL91ABNA0417164300" in plain["text"]


# -- roles and scopes --------------------------------------------------------------------
@pytest.mark.parametrize(("user", "status"), [("viewer", 403), ("analyst", 403), ("admin", 200)])
def test_users_api_is_for_admins(as_user: Any, user: str, status: int) -> None:
    resp = as_user(user).get("/api/v1/users")
    assert resp.status_code == status
    if status == 200:
        assert {u["name"] for u in resp.json()["data"]} == set(PASSWORDS)


def test_ingest_token_cannot_read_and_read_token_cannot_ingest(
    client: TestClient, tokens: dict[str, str]
) -> None:
    assert_error(client.get("/api/v1/index", headers=bearer(tokens["ingest"])), 403)
    assert_error(
        client.post("/api/v1/events", json=_event("x"), headers=bearer(tokens["read"])), 403
    )
    assert_ok(client.get("/api/v1/index", headers=bearer(tokens["read"])))


@pytest.mark.parametrize("header", ["Bearer kr_nope", "Bearer ", "Basic abc", "Bearer x y"])
def test_bad_tokens_are_401(client: TestClient, header: str) -> None:
    resp = client.get("/api/v1/index", headers={"Authorization": header})
    assert_error(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"] == "Bearer"


def test_session_cannot_ingest(as_user: Any) -> None:
    body = assert_error(as_user("admin").post("/api/v1/events", json=_event("s")), 401)
    assert "token" in body["error"]["message"]


# -- login and CSRF ----------------------------------------------------------------------
def test_login_sets_a_safe_session_cookie(client: TestClient) -> None:
    client.get("/login")
    resp = client.post(
        "/login",
        data={
            "username": "viewer",
            "password": PASSWORDS["viewer"],
            "csrf_token": client.cookies["kr_csrf"],
            "next": "/",
        },
    )
    cookie = resp.headers["set-cookie"].lower()
    assert "kr_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_login_without_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/login")
    resp = client.post("/login", data={"username": "viewer", "password": PASSWORDS["viewer"]})
    assert_error(resp, 403, "csrf_failed")
    assert "kr_session" not in resp.headers.get("set-cookie", "")


def test_login_with_forged_csrf_token_is_refused(client: TestClient) -> None:
    client.cookies.set("kr_csrf", "forged")
    resp = client.post(
        "/login",
        data={"username": "viewer", "password": PASSWORDS["viewer"], "csrf_token": "forged"},
    )
    assert_error(resp, 403, "csrf_failed")


def test_wrong_password_is_401_and_no_session(client: TestClient) -> None:
    client.get("/login")
    resp = client.post(
        "/login",
        data={
            "username": "viewer",
            "password": "wrong-password",
            "csrf_token": client.cookies["kr_csrf"],
        },
    )
    assert resp.status_code == 401 and "kr_session" not in resp.headers.get("set-cookie", "")


def test_login_never_redirects_off_site(client: TestClient) -> None:
    client.get("/login")
    resp = client.post(
        "/login",
        data={
            "username": "viewer",
            "password": PASSWORDS["viewer"],
            "csrf_token": client.cookies["kr_csrf"],
            "next": "//evil.example/x",
        },
    )
    assert resp.headers["location"] == "/"


def test_logout_needs_csrf_and_ends_the_session(as_user: Any) -> None:
    c = as_user("viewer")
    assert_error(c.post("/logout", data={}), 403, "csrf_failed")
    resp = c.post("/logout", data={"csrf_token": c.cookies["kr_csrf"]})
    assert resp.status_code == 303
    c.cookies.delete("kr_session")
    assert c.get("/api/v1/index").status_code == 401


def test_tampered_session_cookie_is_ignored(client: TestClient) -> None:
    from itsdangerous import URLSafeTimedSerializer

    do_login(client, "viewer")
    assert client.get("/api/v1/index").status_code == 200
    value = client.cookies["kr_session"]
    forged = URLSafeTimedSerializer("another-secret-key-123456", salt="klantreis-session")
    for bad in (forged.dumps({"u": "admin"}), value[:-2] + ("AA" if value[-2:] != "AA" else "BB")):
        client.cookies.clear()
        client.cookies.set("kr_session", bad)
        assert client.get("/api/v1/index").status_code == 401


# -- ingest ------------------------------------------------------------------------------
def _event(event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "occurred_at": "2026-03-30T10:00:00Z",
        "kind": "survey.response",
        "touchpoint": "bezorging",
        "metric": "nps",
        "score": 9,
        "channel": "email",
        **extra,
    }


def test_ingest_single_and_batch_then_idempotent(
    client: TestClient, web_app: App, tokens: dict[str, str]
) -> None:
    before = web_app.store.count()
    h = bearer(tokens["ingest"])
    one = assert_ok(client.post("/api/v1/events", json=_event("new-1"), headers=h))["data"]
    assert one == {"received": 1, "stored": 1, "duplicates": 0}
    batch = [_event(f"new-{i}") for i in range(1, 6)]
    many = assert_ok(client.post("/api/v1/events", json=batch, headers=h))["data"]
    assert many == {"received": 5, "stored": 4, "duplicates": 1}
    again = assert_ok(client.post("/api/v1/events", json=batch, headers=h))["data"]
    assert again == {"received": 5, "stored": 0, "duplicates": 5}
    assert web_app.store.count() == before + 5


def test_ingest_is_durable_when_acknowledged(
    client: TestClient, web_app: App, tokens: dict[str, str]
) -> None:
    event = {"event_id": "durable-1", "occurred_at": "2026-03-30T10:00:00Z", "kind": "invoice.sent"}
    assert_ok(client.post("/api/v1/events", json=event, headers=bearer(tokens["ingest"])))
    rows = web_app.store.query(
        "SELECT owner, touchpoint FROM events WHERE event_id = 'durable-1'"
    ).to_pylist()
    touchpoint = web_app.journey.touchpoint_for_kind()["invoice.sent"]
    owner = next(tp.owner for tp in web_app.journey.touchpoints if tp.id == touchpoint)
    assert owner and rows == [{"owner": owner, "touchpoint": touchpoint}], (
        "stored, and enriched from the journey config, before the answer"
    )


def test_ingest_derives_ids_so_resending_is_idempotent(
    client: TestClient, tokens: dict[str, str]
) -> None:
    event = {"occurred_at": "2026-03-30T11:00:00+01:00", "kind": "web.visit", "customer_id": "C1"}
    first = assert_ok(client.post("/api/v1/events", json=event, headers=bearer(tokens["ingest"])))
    second = assert_ok(client.post("/api/v1/events", json=event, headers=bearer(tokens["ingest"])))
    assert first["data"]["stored"] == 1 and second["data"]["duplicates"] == 1


def test_ingest_rejects_bad_rows_with_reasons_and_stores_nothing(
    client: TestClient, web_app: App, tokens: dict[str, str]
) -> None:
    before = web_app.store.count()
    batch = [_event("ok-1"), _event("bad-1", score=11), {"kind": "x.y"}, "not an object"]
    body = assert_error(
        client.post("/api/v1/events", json=batch, headers=bearer(tokens["ingest"])),
        422,
        "invalid_events",
    )
    assert [d["index"] for d in body["error"]["details"]] == [3]
    batch = batch[:3]
    body = assert_error(
        client.post("/api/v1/events", json=batch, headers=bearer(tokens["ingest"])),
        422,
        "invalid_events",
    )
    reasons = {d["index"]: d["reason"] for d in body["error"]["details"]}
    assert set(reasons) == {1, 2} and "nps score outside" in reasons[1]
    assert "occurred_at" in reasons[2]
    assert web_app.store.count() == before


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"42", b'"text"'])
def test_ingest_rejects_unusable_bodies(
    client: TestClient, tokens: dict[str, str], body: bytes
) -> None:
    resp = client.post(
        "/api/v1/events",
        content=body,
        headers={**bearer(tokens["ingest"]), "content-type": "application/json"},
    )
    assert_error(resp, 422)


def test_ingest_too_many_events_is_413(client: TestClient, tokens: dict[str, str]) -> None:
    batch = [{"occurred_at": "2026-03-30T10:00:00Z", "kind": "web.visit"}] * 101
    body = assert_error(
        client.post("/api/v1/events", json=batch, headers=bearer(tokens["ingest"])),
        413,
        "too_many_events",
    )
    assert body["error"]["details"] == {"events": 101, "max": 100}


def test_ingest_too_many_bytes_is_413(client: TestClient, tokens: dict[str, str]) -> None:
    big = _event("big", text="x" * 70_000)
    assert_error(
        client.post("/api/v1/events", json=big, headers=bearer(tokens["ingest"])),
        413,
        "payload_too_large",
    )


def test_ingest_needs_a_token(client: TestClient) -> None:
    assert_error(client.post("/api/v1/events", json=_event("anon")), 401)


def test_page_cache_reuses_data_until_the_store_changes(web_app: App) -> None:
    from klantreis.web.pagekit import PageCache, PageSpec

    calls: list[int] = []

    def data(ctx: Any, params: Any) -> dict[str, Any]:
        calls.append(1)
        return {"n": web_app.store.count()}

    class Ctx:
        app, lang, sees_personal_data = web_app, "nl", False

    cache, spec = PageCache(fresh_age=0.0), PageSpec("t", "/t", "t.html", data)
    first = cache.get(Ctx(), spec, "p")  # type: ignore[arg-type]
    assert cache.get(Ctx(), spec, "p") == first and len(calls) == 1  # type: ignore[arg-type]
    cache.get(Ctx(), spec, "other")  # type: ignore[arg-type]
    assert len(calls) == 2, "other parameters, other entry"
    web_app.store.append(
        events_from_records(
            [{"event_id": "cache-1", "occurred_at": "2026-03-30T10:00:00Z", "kind": "web.visit"}]
        )
    )
    assert cache.get(Ctx(), spec, "p")["n"] == first["n"] + 1  # type: ignore[arg-type]


def test_viewer_cannot_probe_masked_texts_by_searching(as_user: Any) -> None:
    for q in ("NL91ABNA0417164300", "06-12345678", "jan.jansen@example.nl"):
        viewer = assert_ok(as_user("viewer").get(f"/api/v1/verbatims?period=all&q={q}"))
        analyst = assert_ok(as_user("analyst").get(f"/api/v1/verbatims?period=all&q={q}"))
        assert viewer["data"]["total"] == 0 and analyst["data"]["total"] == 1, q


def test_login_redirect_keeps_the_query(client: TestClient) -> None:
    resp = client.get("/scores?period=7d&channel=web", headers={"accept": "text/html"})
    assert resp.status_code == 303
    assert resp.headers["location"] == "/login?next=/scores%3Fperiod%3D7d%26channel%3Dweb"


def test_builtin_docs_page_without_swagger_bundle(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from klantreis.web.routes import assets

    monkeypatch.setattr(assets, "_swagger_dir", lambda: None)
    resp = client.get("/api/v1/docs")
    assert resp.status_code == 200 and "/api/v1/openapi.json" in resp.text
    assert client.get("/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 404


@pytest.mark.parametrize(
    "q", ["nl91abna0417164300", "0417164300", "12345678", "6-1234", "jansen", "n.jansen@ex"]
)
def test_viewer_search_runs_on_the_masked_text(as_user: Any, q: str) -> None:
    viewer = assert_ok(as_user("viewer").get(f"/api/v1/verbatims?period=all&q={q}"))["data"]
    analyst = assert_ok(as_user("analyst").get(f"/api/v1/verbatims?period=all&q={q}"))["data"]
    assert viewer["total"] == 0 and viewer["comments"] == [], q
    assert analyst["total"] == 1, q


def test_viewer_search_counts_what_the_viewer_sees(as_user: Any) -> None:
    viewer = as_user("viewer")
    for q in ("terugstorten op [iban]", "[e-mail]", "Bel me op"):
        data = assert_ok(viewer.get("/api/v1/verbatims", params={"period": "all", "q": q}))
        assert data["data"]["total"] == 1, q
        assert "[IBAN]" in data["data"]["comments"][0]["text"]
    paged = assert_ok(viewer.get("/api/v1/verbatims?period=all&q=opmerking&limit=5&offset=5"))
    everything = assert_ok(viewer.get("/api/v1/verbatims?period=all&q=opmerking&limit=500"))
    assert paged["data"]["total"] == everything["data"]["total"] > 10
    assert paged["data"]["comments"] == everything["data"]["comments"][5:10]


def test_viewer_sees_event_handles_not_event_ids(as_user: Any) -> None:
    viewer = assert_ok(as_user("viewer").get("/api/v1/verbatims?period=all&limit=100"))
    analyst = assert_ok(as_user("analyst").get("/api/v1/verbatims?period=all&limit=100"))
    raw = {c["event_id"] for c in analyst["data"]["comments"]}
    shown = [c["event_id"] for c in viewer["data"]["comments"]]
    assert "pii-1" in raw and all(e.startswith("h_") for e in shown)
    assert raw.isdisjoint(shown)
    page = as_user("viewer").get("/verbatims?period=all&limit=100").text
    assert "pii-1" not in page and "C99999" not in page


def test_viewer_search_scan_is_capped(as_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from klantreis.web.pages import verbatims

    monkeypatch.setattr(verbatims, "MAX_VIEWER_SCAN", 5)
    data = assert_ok(as_user("viewer").get("/api/v1/verbatims?period=all&q=opmerking"))["data"]
    assert data["total"] == 5 and data["total_capped"] is True
    analyst = assert_ok(as_user("analyst").get("/api/v1/verbatims?period=all&q=opmerking"))
    assert analyst["data"]["total"] > 5 and analyst["data"]["total_capped"] is False


@pytest.mark.parametrize(
    ("lang", "phone", "other"), [("en", "[phone]", "[telefoon]"), ("nl", "[telefoon]", "[phone]")]
)
def test_a_viewer_reads_placeholders_in_the_page_language(
    as_user: Any, lang: str, phone: str, other: str
) -> None:
    viewer = as_user("viewer")
    page = viewer.get(f"/verbatims?period=all&q=terugstorten&lang={lang}")
    assert page.status_code == 200
    assert phone in page.text and other not in page.text
    assert "06-12345678" not in page.text


@pytest.mark.parametrize(
    ("lang", "phone", "other"), [("en", "[phone]", "[telefoon]"), ("nl", "[telefoon]", "[phone]")]
)
def test_a_viewer_reads_timeline_placeholders_in_the_page_language(
    as_user: Any, lang: str, phone: str, other: str
) -> None:
    """The journey timeline masks a viewer's texts with the page language's words too."""
    viewer = as_user("viewer")
    found = assert_ok(viewer.get(f"/api/v1/journeys?period=all&journey=O-pii&lang={lang}"))
    texts = " ".join(e.get("text") or "" for e in found["data"]["timeline"]["events"])
    assert phone in texts and other not in texts
    assert "06-12345678" not in texts
