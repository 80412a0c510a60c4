"""A logged-in browser gets translated HTML error pages (404, 422, 500); programs keep the
JSON envelope (``/api/``, tokens, no ``text/html`` in Accept). Filters follow you across
pages: the nav links keep the current period, channel and segment."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import SECRET, do_login
from klantreis.app import App
from klantreis.web import create_app

HTML = {"accept": "text/html,application/xhtml+xml"}


@pytest.mark.parametrize(
    ("url", "status", "nl"),
    [
        ("/no-such-page", 404, "Pagina niet gevonden"),
        ("/scores?period=13d", 422, "Ongeldige keuze"),
    ],
)
def test_a_person_sees_an_html_error_page(as_user: Any, url: str, status: int, nl: str) -> None:
    browser: TestClient = as_user("viewer")
    page = browser.get(url, headers=HTML)
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert f'data-testid="error-{status}"' in page.text and nl in page.text
    assert '"ok":false' not in page.text
    english = browser.get(url + ("&" if "?" in url else "?") + "lang=en", headers=HTML)
    assert english.status_code == status and 'lang="en"' in english.text


@pytest.mark.parametrize("url", ["/no-such-page", "/scores?period=13d"])
def test_programs_keep_json_errors(as_user: Any, url: str) -> None:
    browser: TestClient = as_user("viewer")
    plain = browser.get(url, headers={"accept": "application/json"})
    assert plain.headers["content-type"].startswith("application/json")
    assert plain.json()["ok"] is False
    api = browser.get("/api/v1/scores?period=13d", headers=HTML)
    assert api.status_code == 422 and api.json()["error"]["code"] == "invalid_input"


def test_anonymous_visitors_get_json_for_unknown_paths(client: TestClient) -> None:
    resp = client.get("/no-such-page", headers=HTML)
    assert resp.status_code == 404 and resp.json()["ok"] is False


def test_an_unexpected_error_is_an_html_page_for_a_person(web_app: App) -> None:
    api = create_app(web_app, secret_key=SECRET)

    @api.get("/boom")
    def boom() -> None:
        raise RuntimeError("kaboom")

    with TestClient(api, follow_redirects=False, raise_server_exceptions=False) as c:
        do_login(c, "analyst")
        page = c.get("/boom", headers=HTML)
        assert page.status_code == 500
        assert 'data-testid="error-500"' in page.text and "kaboom" not in page.text
        plain = c.get("/boom")
        assert plain.status_code == 500 and plain.json()["error"]["code"] == "internal_error"


def test_nav_links_keep_the_filters(as_user: Any) -> None:
    page = as_user("analyst").get("/scores?period=30d&channel=email&segment=zakelijk&lang=en")
    nav = re.search(r'<nav class="main".*?</nav>', page.text, re.S)
    assert nav is not None
    links = re.findall(r'href="([^"]+)"', nav.group(0))
    assert "/verbatims?period=30d&amp;channel=email&amp;segment=zakelijk" in links
    assert all("period=30d" in link for link in links)
    assert not any("lang=" in link for link in links)
    bare = as_user("viewer").get("/scores")
    assert 'href="/verbatims"' in bare.text


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("/comments", "/verbatims"),
        ("/comments?q=pakket&period=30d", "/verbatims?q=pakket&period=30d"),
        ("/journeys/map", "/journeys#journey-map"),
        ("/journeys/map?period=30d", "/journeys?period=30d#journey-map"),
    ],
)
def test_a_guessed_address_leads_to_its_page(as_user: Any, url: str, target: str) -> None:
    """``/comments`` and ``/journeys/map`` are a newcomer's guesses: they redirect to
    ``/verbatims`` and to the map on ``/journeys``, query kept."""
    browser: TestClient = as_user("viewer")
    moved = browser.get(url, headers=HTML, follow_redirects=False)
    assert moved.status_code in (303, 307, 308)
    assert moved.headers["location"] == target
    page = browser.get(url, headers=HTML, follow_redirects=True)
    assert page.status_code == 200 and 'data-testid="error-404"' not in page.text
