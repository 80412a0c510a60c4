"""A viewer crawls every page and every JSON GET endpoint: no answer contains a value the
store holds as personal data (the comment's e-mail address, phone number, IBAN), a customer
id or a journey id."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conftest import PII_COMMENT
from klantreis.app import App
from klantreis.web.state import web_state

SECRETS = ("jan.jansen@example.nl", "12345678", "NL91ABNA0417164300", "0417164300")
#: Extra query strings, so the search is crawled too (the timeline: below, by its handle).
EXTRA = (
    "/verbatims?period=all&q=terugstorten",
    "/api/v1/verbatims?period=all&q=terugstorten&limit=500",
    "/api/v1/verbatims?period=all&limit=500",
)


def _urls(client: Any) -> list[str]:
    """Every GET without path parameters, every menu page, and the timeline of the journey
    with the personal comment, opened by the handle a viewer is given (as a link would)."""
    found = client.get("/api/v1/journeys?period=all&journey=O-pii").json()["data"]["timeline"]
    handle = found["journey"]
    assert handle.startswith("h_") and found["events"]
    timelines = [f"/journeys?period=all&journey={handle}", f"/api/v1/journeys?journey={handle}"]
    spec = client.get("/api/v1/openapi.json").json()
    urls = [
        path + ("?period=all" if "period" in str(ops["get"].get("parameters", "")) else "")
        for path, ops in spec["paths"].items()
        if "get" in ops and "{" not in path
    ]
    pages = [n.path for n in web_state(client.app).nav]
    return sorted(set(urls + pages + ["/", "/contacts/queue", *EXTRA, *timelines]))


def _ids(web_app: App) -> tuple[set[str], set[str]]:
    rows = web_app.store.query("SELECT DISTINCT customer_id, journey_id FROM events").to_pylist()
    customers = {r["customer_id"] for r in rows if r["customer_id"]}
    journeys = {r["journey_id"] for r in rows if r["journey_id"]}
    return customers, journeys


def test_a_viewer_crawl_finds_no_personal_value(web_app: App, as_user: Any) -> None:
    assert all(s in PII_COMMENT for s in SECRETS[:3])
    viewer = as_user("viewer")
    customers, journeys = _ids(web_app)
    token = re.compile(r"[A-Za-z0-9-]+")
    crawled = 0
    for url in _urls(viewer):
        resp = viewer.get(url)
        if resp.status_code != 200:
            assert resp.status_code in (403, 404, 405), (url, resp.status_code)
            continue
        crawled += 1
        body = resp.text
        for secret in SECRETS:
            assert secret not in body, (url, secret)
        words = set(token.findall(body))
        assert not words & customers, (url, sorted(words & customers)[:5])
        assert not words & journeys, (url, sorted(words & journeys)[:5])
    assert crawled >= 10


@pytest.mark.parametrize("user", ["analyst"])
def test_the_crawl_would_notice_personal_values(web_app: App, as_user: Any, user: str) -> None:
    """The same checks on an analyst's answers do find the values (the crawl can fail)."""
    analyst = as_user(user)
    body = analyst.get("/api/v1/journeys?period=all&journey=O-pii").text
    customers, journeys = _ids(web_app)
    words = set(re.findall(r"[A-Za-z0-9-]+", body))
    assert words & customers and words & journeys
    assert "NL91ABNA0417164300" in analyst.get("/api/v1/verbatims?period=all&q=terugstorten").text
