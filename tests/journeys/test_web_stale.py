"""With the ``stale_pages`` setting, the journeys page serves its previous results at once
after new events (``as_of`` says since when) while one background refresh runs; then the
refreshed page equals a page computed from scratch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient
from tests.journeys.logs import NOW, ev, load, small_log

from klantreis.access import accounts
from klantreis.app import App
from klantreis.caches import StaleResults
from klantreis.settings import Settings

web = pytest.importorskip("klantreis.web")
URL = "/api/v1/journeys?period=all"


def _app(path: Path, stale: bool) -> App:
    return App(
        Settings.load(
            env={},
            db_path=str(path),
            secret_key="test-secret-key-0123456789abcdef",
            stale_pages=stale,
        )
    )


@pytest.fixture
def stale_client(tmp_path: Path) -> Iterator[tuple[App, TestClient, dict[str, str]]]:
    with _app(tmp_path / "s.duckdb", True) as app:
        load(app, small_log())
        accounts.add_user(app.store, "ana", "analyst", "analyst-pass-1")
        token, _ = accounts.create_token(app.store, ["read"], user="ana")
        with TestClient(web.create_app(app, cache_pages=False)) as client:
            yield app, client, {"Authorization": f"Bearer {token}"}


def _data(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(URL, headers=headers)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()["data"]
    return data


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("journeys", "dfg", "variants", "handovers", "promises", "impact")}


def test_new_events_serve_the_previous_page_then_the_refreshed_one(
    stale_client: tuple[App, TestClient, dict[str, str]], tmp_path: Path
) -> None:
    app, client, headers = stale_client
    before = _data(client, headers)
    assert before["as_of"] is None and before["journeys"] == 6
    load(app, [ev("late-1", "o9", "order.placed", NOW + timedelta(hours=1))])
    served = _data(client, headers)
    assert served["as_of"] is not None  # the previous results, marked
    assert _comparable(served) == _comparable(before)
    cache = app.caches.get("journeys_page_stale", lambda: StaleResults(app.caches))
    for _ in range(5):  # one refresh at a time: each request starts the next stale part
        assert cache.wait(60)
        refreshed = _data(client, headers)
        if refreshed["as_of"] is None:
            break
    assert refreshed["as_of"] is None and refreshed["journeys"] == 7

    reference = tmp_path / "reference.duckdb"  # the same events, computed from scratch
    with _app(reference, False) as plain:
        load(plain, [*small_log(), ev("late-1", "o9", "order.placed", NOW + timedelta(hours=1))])
        accounts.add_user(plain.store, "ana", "analyst", "analyst-pass-1")
        token, _ = accounts.create_token(plain.store, ["read"], user="ana")
        with TestClient(web.create_app(plain, cache_pages=False)) as other:
            expected = _data(other, {"Authorization": f"Bearer {token}"})
    assert _comparable(refreshed) == _comparable(expected)
