"""The journeys page and its JSON endpoint (same data function), escaping and masking."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient
from tests.journeys.logs import NOW, T0, ev, load, small_log

from klantreis.access import accounts
from klantreis.app import App
from klantreis.settings import Settings
from klantreis.web.state import web_state

web = pytest.importorskip("klantreis.web")
EVIL = "<script>window.__pwned=1</script> jan@example.nl"


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = Settings.load(
        env={}, db_path=str(tmp_path / "s.duckdb"), secret_key="test-secret-key-0123456789abcdef"
    )
    with App(settings) as app:
        load(
            app,
            [
                *small_log(),
                ev(
                    "o2-x",
                    "o2",
                    "contact.inbound",
                    T0,
                    text=EVIL,
                    channel="email",
                    customer_id="C-secret",
                    attrs={"segment": "zakelijk", "email": "piet@example.nl", "naam": "Piet"},
                ),
            ],
        )
        accounts.add_user(app.store, "ana", "analyst", "analyst-pass-1")
        accounts.add_user(app.store, "vic", "viewer", "viewer-pass-1")
        analyst, _ = accounts.create_token(app.store, ["read"], user="ana")
        viewer, _ = accounts.create_token(app.store, ["read"], user="vic")
        with TestClient(web.create_app(app), follow_redirects=False) as client:
            yield {
                "client": client,
                "analyst": {"Authorization": f"Bearer {analyst}"},
                "viewer": {"Authorization": f"Bearer {viewer}"},
            }


def _get(c: dict[str, Any], url: str, who: str = "analyst") -> Any:
    resp = c["client"].get(url, headers=c[who])
    assert resp.status_code == 200, resp.text[:500]
    return resp


def test_json_endpoint_has_map_promises_and_impact(clients: dict[str, Any]) -> None:
    body = _get(clients, "/api/v1/journeys?period=all&activity=kind").json()
    data = body["data"]
    assert body["ok"] and data["journeys"] == 6
    nodes = {n["id"]: n for n in data["map"]["nodes"]}
    assert (
        "delivery.completed" in nodes
        and nodes["order.placed"]["x"] < nodes["delivery.completed"]["x"]
    )
    assert any(e["handover"] for e in data["map"]["edges"])
    rates = {r["group"]: r for r in data["promises"]["rates"]}
    assert rates["carrier:vlotbezorgd"]["broken"] == 2
    assert data["impact"][0]["condition"].startswith("broken:op_tijd_bezorgd")


def test_html_page_draws_the_map_and_escapes_text(clients: dict[str, Any]) -> None:
    html = _get(clients, "/journeys?period=all&journey=o2").text
    assert html.count('data-testid="map-node"') >= 5 and "<svg" in html
    assert 'data-testid="timeline-event"' in html
    assert "<script>window.__pwned" not in html
    assert "&lt;script&gt;window.__pwned" in html and "jan@example.nl" in html


def test_viewer_sees_the_timeline_masked(clients: dict[str, Any]) -> None:
    data = _get(clients, "/api/v1/journeys?period=all&journey=o2", "viewer").json()["data"]
    texts = [e["text"] for e in data["timeline"]["events"] if e["text"]]
    assert texts and not any("jan@example.nl" in t for t in texts)
    assert all(e["customer_id"] != "C-secret" for e in data["timeline"]["events"])
    html = _get(clients, "/journeys?period=all&journey=o2", "viewer").text
    assert "jan@example.nl" not in html and not re.search(r"C-secret", html)


def test_empty_journey_parameter_falls_back_to_the_customer(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``?journey=&customer=X`` (an empty journey field from a form) is the customer's timeline,
    not a server error (found by the OpenAPI fuzz test)."""
    from types import SimpleNamespace

    from klantreis.web.pages import journeys as page

    calls: list[tuple[object, object]] = []

    def fake_timeline(
        events: object, journey_id: object, customer_id: object, limit: int = 0
    ) -> object:
        calls.append((journey_id, customer_id))
        return SimpleNamespace(to_pylist=lambda: [])

    monkeypatch.setattr(page, "timeline", fake_timeline)
    ctx = SimpleNamespace(app=SimpleNamespace(events_table=lambda: None))
    page._timeline(ctx, SimpleNamespace(journey="", customer="K0000001"), masked=False)
    assert calls == [(None, "K0000001")]


def test_viewer_timeline_withholds_attrs_and_shows_handles(clients: dict[str, Any]) -> None:
    data = _get(clients, "/api/v1/journeys?period=all&journey=o2", "viewer").json()["data"]
    events = data["timeline"]["events"]
    secret = next(e for e in events if e["attrs"] and "zakelijk" in e["attrs"])
    assert json.loads(secret["attrs"]) == {"segment": "zakelijk", "email": "•••", "naam": "•••"}
    assert all(e["journey_id"].startswith("h_") and e["journey_id"] != "o2" for e in events)
    assert all(e["event_id"].startswith("h_") for e in events)
    assert data["timeline"]["journey"] == events[0]["journey_id"]
    body = json.dumps(data)
    assert "piet@example.nl" not in body and '"o2-x"' not in body
    html = _get(clients, "/journeys?period=all&journey=o2", "viewer").text
    assert "piet@example.nl" not in html and "o2-x" not in html
    analyst = _get(clients, "/api/v1/journeys?period=all&journey=o2").json()["data"]
    assert any("piet@example.nl" in (e["attrs"] or "") for e in analyst["timeline"]["events"])


def test_viewer_follows_a_handle_to_the_timeline(clients: dict[str, Any]) -> None:
    first = _get(clients, "/api/v1/journeys?period=all&journey=o2", "viewer").json()["data"]
    handle = first["timeline"]["journey"]
    assert handle.startswith("h_")
    web_state(clients["client"].app).security.handles._memo.clear()  # resolve from the store
    again = _get(clients, f"/api/v1/journeys?period=all&journey={handle}", "viewer").json()
    events = again["data"]["timeline"]["events"]
    assert events == first["timeline"]["events"]
    analyst = _get(clients, f"/api/v1/journeys?period=all&journey={handle}").json()["data"]
    assert {e["journey_id"] for e in analyst["timeline"]["events"]} == {"o2"}
    unknown = "h_" + "0" * 24
    none = _get(clients, f"/api/v1/journeys?period=all&journey={unknown}", "viewer").json()
    assert none["data"]["timeline"]["events"] == []


def test_viewer_at_risk_list_shows_handles(clients: dict[str, Any]) -> None:
    # o5's deadline is after the newest event once a later event arrives: open and at risk
    app = web_state(clients["client"].app).app
    load(app, [ev("late-1", "o9", "order.placed", NOW + timedelta(hours=1))])
    raw = _get(clients, "/api/v1/journeys?period=all").json()["data"]["at_risk"]["rows"]
    data = _get(clients, "/api/v1/journeys?period=all", "viewer").json()["data"]
    at_risk = data["at_risk"]["rows"]
    assert [r["journey_id"] for r in raw] == ["o5"] and len(at_risk) == 1
    handle = at_risk[0]["journey_id"]
    assert handle.startswith("h_") and '"o5"' not in json.dumps(data)
    html = _get(clients, "/journeys?period=all", "viewer").text
    assert ">o5<" not in html and f"journey={handle}" in html


def test_customer_lookups_are_for_analysts(clients: dict[str, Any]) -> None:
    url = "/api/v1/journeys?period=all&customer=C-secret"
    refused = clients["client"].get(url, headers=clients["viewer"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    page = clients["client"].get("/journeys?customer=C-secret", headers=clients["viewer"])
    assert page.status_code == 403 and "C-secret" not in page.text
    events = _get(clients, url).json()["data"]["timeline"]["events"]
    assert events and {e["customer_id"] for e in events} == {"C-secret"}


def test_at_risk_list_is_paged_completely_and_opens_the_timeline(tmp_path: Path) -> None:
    from datetime import timedelta

    from tests.journeys.logs import NOW

    settings = Settings.load(
        env={}, db_path=str(tmp_path / "r.duckdb"), secret_key="test-secret-key-0123456789abcdef"
    )
    risky = []
    for i in range(45):
        j = f"r{i:02d}"
        risky += [
            ev(f"{j}-1", j, "order.placed", NOW - timedelta(days=1)),
            ev(
                f"{j}-2",
                j,
                "delivery.promised",
                NOW - timedelta(hours=1),
                owner="carrier:vlotbezorgd",
                attrs={"deadline": (NOW + timedelta(minutes=60 + i)).isoformat()},
            ),
        ]
    with App(settings) as app:
        load(app, [*small_log(), *risky])
        accounts.add_user(app.store, "ana", "analyst", "analyst-pass-1")
        token, _ = accounts.create_token(app.store, ["read"], user="ana")
        c = {"analyst": {"Authorization": f"Bearer {token}"}}
        with TestClient(web.create_app(app), follow_redirects=False) as client:
            c["client"] = client
            data = _get(c, "/api/v1/journeys?period=all").json()["data"]
            first = data["at_risk"]
            assert (first["total"], first["pages"], len(first["rows"])) == (46, 3, 20)
            assert first["next_offset"] == 20 and first["prev_offset"] is None
            assert first["next"] == "/api/v1/journeys?offset=20", "period=all is the default"
            viewed = _get(c, "/journeys?period=all&color=contacts")  # the same data, via the page
            assert viewed.status_code == 200
            again = _get(c, "/api/v1/journeys?period=all&color=contacts").json()["data"]
            assert again["at_risk"]["next"] == "/api/v1/journeys?color=contacts&offset=20", (
                "the JSON links to the JSON even when the page computed the data first"
            )
            assert "at_risk" not in data["promises"], "the whole list is not in the JSON"
            whole = _get(c, "/api/v1/journeys?period=all&limit=1000").json()["data"]["at_risk"]
            assert whole["total"] == len(whole["rows"]) == 46 and whole["next"] is None
            paged, url = [], "/api/v1/journeys?period=all&limit=7"
            while url:
                page = _get(c, url).json()["data"]["at_risk"]
                assert page["total"] == 46 and len(page["rows"]) <= 7
                paged += page["rows"]
                url = page["next"]
            assert paged == whole["rows"], "the pages cover the list exactly once, in order"
            keys = [(r["journey_id"], r["promise_id"]) for r in paged]
            assert len(set(keys)) == 46 and {j for j, _ in keys} >= {f"r{i:02d}" for i in range(45)}
            html = _get(c, "/journeys?period=all").text
            assert "(46)" in html and html.count('data-testid="at-risk-row"') == 20
            assert 'href="?period=all&amp;journey=r00#timeline"' in html
            assert 'data-testid="at-risk-pager"' in html and "offset=20#at-risk" in html
            last = _get(c, "/journeys?period=all&offset=40").text
            assert last.count('data-testid="at-risk-row"') == 6 and "r44" in last
            assert "offset=20#at-risk" in last and 'rel="next"' not in last
            for bad in ("limit=0", "limit=1001", "offset=-1", "limit=x"):
                refused = c["client"].get(f"/api/v1/journeys?{bad}", headers=c["analyst"])
                assert refused.status_code in (400, 422) and not refused.json()["ok"], bad
            assert "VlotBezorgd" in last, "owners by their configured name"
            one = _get(c, "/journeys?period=all&journey=o2&lang=en").text
            assert 'id="timeline"' in one and 'data-testid="timeline-promises"' in one
            assert 'data-status="broken"' in one and "Delivered on time" in one
            promised = _get(c, "/api/v1/journeys?period=all&journey=r03").json()["data"]
            (p,) = promised["timeline"]["promises"]
            assert p["status"] == "open" and p["at_risk"] and p["deadline"] is not None


def test_handovers_follow_the_owner_sequence_on_the_page(clients: dict[str, Any]) -> None:
    data = _get(clients, "/api/v1/journeys?period=all").json()["data"]
    pairs = {(h["from_owner"], h["to_owner"]) for h in data["handovers"]}
    assert ("finance", "carrier:vlotbezorgd") in pairs  # small log: payment, then the carrier
    names = {h["to_name"] for h in data["handovers"]}
    assert "VlotBezorgd" in names
    bezorging = [o for o in data["step_owners"] if o["activity"] == "bezorging"]
    assert {o["owner"] for o in bezorging} == {"carrier:snelpost", "carrier:vlotbezorgd"}
    node = next(n for n in data["map"]["nodes"] if n["id"] == "bezorging")
    assert [o["name"] for o in node["owners"]][:2] in (
        ["SnelPost", "VlotBezorgd"],
        ["VlotBezorgd", "SnelPost"],
    )
    phone = data["map_phone"]
    assert phone["width"] < 480 and all(n["x"] == phone["nodes"][0]["x"] for n in phone["nodes"])


def test_promise_table_tells_late_from_not_delivered(clients: dict[str, Any]) -> None:
    data = _get(clients, "/api/v1/journeys?period=all&activity=kind").json()["data"]
    rates = {r["group"]: r for r in data["promises"]["rates"]}
    late = rates["carrier:vlotbezorgd"]
    assert (late["late"], late["undelivered"]) == (2, 0)
    html = _get(clients, "/journeys?period=all").text
    assert "Niet bezorgd" in html or "Not delivered" in html
