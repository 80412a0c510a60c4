"""A person whose role may not see a page gets the translated 403 page, programs get JSON."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def test_a_viewer_opening_an_analyst_page_sees_the_forbidden_page(as_user: Any) -> None:
    viewer: TestClient = as_user("viewer")
    page = viewer.get("/contacts/models?lang=en", headers={"accept": "text/html"})
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-testid="forbidden"' in page.text
    api = viewer.get("/api/v1/contacts/models", headers={"accept": "text/html"})
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "forbidden"
    plain = viewer.get("/contacts/models")  # no text/html in Accept: a program
    assert plain.status_code == 403 and plain.json()["error"]["code"] == "forbidden"


def test_an_analyst_gets_the_page(as_user: Any) -> None:
    page = as_user("analyst").get("/contacts/models", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert 'data-testid="forbidden"' not in page.text
