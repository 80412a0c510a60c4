"""Property-based test against the OpenAPI spec (schemathesis): no input gives a 5xx, and
every JSON answer uses the envelope."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from klantreis.access import accounts
from klantreis.app import App
from klantreis.web import PAGE_MODULES, create_app

#: Examples per operation: the page endpoints run real analytics, so few; ingest is cheap.
MAX_EXAMPLES = {"GET": 6, "POST": 30}

pytestmark = pytest.mark.slow


def _check_operation(operation: Any, headers: dict[str, str]) -> int:
    calls = []

    @settings(
        max_examples=MAX_EXAMPLES.get(operation.method.upper(), 6),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        calls.append(response.status_code)
        assert response.status_code < 500, (case.path, case.query, response.text[:500])
        if "application/json" in str(response.headers.get("content-type", "")):
            body = response.json()
            assert body.get("ok") in (True, False) and ("data" in body or "error" in body)

    check()
    return len(calls)


@pytest.mark.parametrize("page_module", PAGE_MODULES)
def test_api_never_answers_5xx(web_app: App, page_module: str) -> None:
    """The core API (ingest, health, users) plus one page module at a time, so that a
    failure names the module it comes from."""
    secret, _ = accounts.create_token(web_app.store, ["ingest", "read"], user="analyst")
    api = create_app(web_app, page_modules=[page_module], cache_pages=False)
    with TestClient(api):
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api)
        operations = [r.ok() for r in schema.get_all_operations()]
        assert len(operations) >= 4
        calls = sum(
            _check_operation(op, {"Authorization": f"Bearer {secret}"}) for op in operations
        )
    assert calls >= len(operations) * 3
