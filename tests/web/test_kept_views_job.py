"""The server's kept-views job: after new events it brings the kept tables and the four
pages' default views up to date (the pages then equal a rebuild's), without new events it
only reads the store's version, a failing part does not stop the others, a view during the
job is current, and like every job it waits for a pause in ingest."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from conftest import bearer, make_settings, survey_records
from klantreis.access import accounts
from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.ingest.writer import EventWriter
from klantreis.model.events import events_from_records
from klantreis.scheduler import Job, OnChange
from klantreis.web import create_app
from klantreis.web.app import FRESH_PAGES, IngestFirstScheduler, default_views
from klantreis.web.pagekit import PageCache

PAGES = [f"/api/v1/{name}" for name in FRESH_PAGES]


def _new_events(app: App, tag: str = "new") -> None:
    """Three more days of answers (new ids), after the store's newest."""
    rows = survey_records(days=3, per_day=15, seed=11, end=datetime(2026, 4, 3, 12, tzinfo=UTC))
    for r in rows:
        r["event_id"] = f"{tag}-{r['event_id']}"
    table = events_from_records(list(rows), source="test")
    ingest_table(app.store, table, app.journey, source="test")


def _data(client: TestClient, token: str) -> dict[str, Any]:
    out = {}
    for page in PAGES:
        resp = client.get(page, headers=bearer(token))
        assert resp.status_code == 200, resp.text
        out[page] = resp.json()["data"]
    return out


def _job(app: App, api: Any) -> Job:
    job = app.kept_views_job(default_views(api))
    assert job is not None
    return job


@pytest.fixture
def store_copy(template_store: Path, tmp_path: Path) -> Iterator[Callable[[str], App]]:
    """``store_copy(name)``: an App on a new copy of the synthetic store."""
    opened: list[App] = []

    def make(name: str) -> App:
        path = tmp_path / f"{name}.duckdb"
        shutil.copyfile(template_store, path)
        opened.append(App(make_settings(str(path))))
        return opened[-1]

    yield make
    for a in opened:
        a.close()


@pytest.fixture
def served(store_copy: Callable[[str], App]) -> Iterator[tuple[App, Any, TestClient, str]]:
    """An App whose pages were viewed once (its kept tables built), its web app, a client
    and an analyst's read token."""
    app = store_copy("served")
    token, _ = accounts.create_token(app.store, ["read"], user="analyst")
    api = create_app(app)
    with TestClient(api) as client:
        _data(client, token)
        yield app, api, client, token


def _cached_pages(app: App) -> dict[tuple[str, bool], Any]:
    """(page, sees personal data) -> the version the page cache holds it at (what the page
    reads, ``PageSpec.reads``, else the store's version)."""
    cache = app.caches.get("pages", PageCache)
    return {(k[0], k[3]): v[1] for k, v in cache._entries.items() if k[2] == "nl"}


def test_after_new_events_the_job_makes_every_page_current_as_a_rebuild(
    served: tuple[App, Any, TestClient, str], store_copy: Callable[[str], App]
) -> None:
    app, api, client, token = served
    # a visitor's view within fresh_age reuses the page at any version; the job's may not
    app.caches.get("pages", PageCache).fresh_age = 3600
    job = _job(app, api)
    job.run()  # the first turn: everything current already
    before = _cached_pages(app)
    _new_events(app)  # answers on new journeys: every page reads something they change
    assert job.run() is True
    body = cast(OnChange, job.run)
    assert body.turns == 2 and body.errors == {}
    cached = _cached_pages(app)
    for name in FRESH_PAGES:  # the default view, as an analyst and as a viewer sees it
        for personal in (True, False):
            assert (name, personal) in cached
            assert cached[(name, personal)] != before[(name, personal)], name
    after_job = _data(client, token)

    rebuilt = store_copy("rebuilt")  # the same events, every kept table built afresh
    _new_events(rebuilt)
    rebuilt_token, _ = accounts.create_token(rebuilt.store, ["read"], user="analyst")
    with TestClient(create_app(rebuilt)) as other:
        expected = _data(other, rebuilt_token)
    assert after_job["/api/v1/index"]["n_answers"] > 0
    for page in PAGES:
        assert after_job[page] == expected[page], page


def _counted(method: Callable[[], Any], name: str, calls: list[str]) -> Callable[[], Any]:
    def counted() -> Any:
        calls.append(name)
        return method()

    return counted


def test_without_new_events_a_turn_only_reads_the_version(
    served: tuple[App, Any, TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, api, _, _ = served
    calls: list[str] = []
    for name in App.KEPT_TABLES:
        method = getattr(app, name)
        monkeypatch.setattr(app, name, _counted(method, name, calls))
    job = _job(app, api)
    kept = list(App.KEPT_TABLES)
    assert job.run() is True and calls[: len(kept)] == kept  # then the pages read them too
    done = len(calls)
    assert job.run() is False and job.run() is False
    assert len(calls) == done  # no refresh ran, no page was viewed
    _new_events(app)
    assert job.run() is True and calls[done : done + len(kept)] == kept


def test_a_failing_part_is_logged_and_the_others_still_run(
    served: tuple[App, Any, TestClient, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, api, _, _ = served

    def broken() -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(app, "score_cells", broken)
    job = _job(app, api)
    before = _cached_pages(app)[("journeys", True)]
    _new_events(app)
    with pytest.raises(RuntimeError, match="score_cells"):
        job.run()
    assert "score_cells failed" in caplog.text
    assert app.derived_views().versions() is not None
    # the parts after it ran: the journeys page (it does not read the score cells) is cached
    # anew, at what it reads now
    assert _cached_pages(app)[("journeys", True)] not in (before, None)


def test_a_view_during_the_job_sees_the_new_events(
    served: tuple[App, Any, TestClient, str],
) -> None:
    app, api, client, token = served
    # a visitor's view within the page cache's fresh_age (2 s) reuses the page it computed,
    # with or without the job: out of this test (a quick refresh came within it in CI)
    app.caches.get("pages", PageCache).fresh_age = 0
    started, go = threading.Event(), threading.Event()
    before = _data(client, token)["/api/v1/index"]["n_answers"]

    def slow_first_part() -> None:
        started.set()
        assert go.wait(30)

    job = app.kept_views_job([("hold", slow_first_part), *default_views(api)])
    assert job is not None
    _new_events(app)
    runner = threading.Thread(target=job.run)
    runner.start()
    try:
        assert started.wait(30)  # the job has begun (the kept tables refreshed) and waits
        during = _data(client, token)
    finally:
        go.set()
        runner.join(60)
    assert during["/api/v1/index"]["n_answers"] > before
    assert _data(client, token) == during  # the job's own views agree with it


def test_the_job_waits_for_a_pause_in_ingest(web_app: App) -> None:
    class Writer:
        idle = 0.0

        def idle_seconds(self) -> float:
            return self.idle

    api = create_app(web_app)
    job = _job(web_app, api)
    writer = Writer()
    s = IngestFirstScheduler([job], cast(EventWriter, writer), quiet=1.0, at_most=60)
    job._due = time.monotonic() - 0.01
    assert s.run_due() == [] and job.runs == 0  # ingest streams: it waits
    writer.idle = 1.5
    assert s.run_due() == ["kept views"] and job.last_error is None


def test_the_server_runs_the_job_first_unless_it_is_off(
    template_store: Path, tmp_path: Path
) -> None:
    path = tmp_path / "s.duckdb"
    shutil.copyfile(template_store, path)
    with App(make_settings(str(path))) as app:
        names = [j.name for j in app.jobs(default_views(create_app(app)))]
        assert names[0] == "kept views" and "alerts" in names
    with App(replace(make_settings(str(path)), kept_views_seconds=0)) as app:
        assert "kept views" not in [j.name for j in app.jobs()]


def test_the_job_checkpoints_a_large_write_ahead_log(file_app: App) -> None:
    wal = Path(file_app.store.path + ".wal")
    file_app.settings = replace(file_app.settings, checkpoint_mb=1)  # the store keeps 256
    assert file_app.checkpoint_if_large() is False  # no log yet, or a small one
    rows = [
        {"event_id": f"w{i}", "occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit",
         "text": "x" * 200, "journey_id": f"J{i}"}
        for i in range(8_000)
    ]  # fmt: skip
    file_app.store.append(events_from_records(list(rows)))
    assert wal.stat().st_size > 2**19  # over half of 1 MiB
    assert file_app.checkpoint_if_large() is True
    assert not wal.exists() or wal.stat().st_size < 2**19
    assert file_app.checkpoint_if_large() is False


def test_a_route_that_is_not_a_page_is_refused_with_a_clear_error(web_app: App) -> None:
    from fastapi.routing import APIRoute

    from klantreis.web.app import _default_view
    from klantreis.web.security import Principal

    api = create_app(web_app)
    route = api.state.routes["health"]
    assert isinstance(route, APIRoute)
    with pytest.raises(RuntimeError, match="not a page route"):
        _default_view(api, route, cast(Principal, None))
