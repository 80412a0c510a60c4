"""Stale while revalidate: after a batch of more than ``stale_page_events`` events, a page
with a kept result answers at once with it, says so (nl and en; the JSON's ``meta`` says not
fresh) and wakes the kept-views job; a caller who asks for fresh figures waits for them; the
job's turn makes the next view fresh; below the threshold, or without a kept result, the
view computes as before; each role has its own kept result."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import bearer, make_settings, survey_records
from klantreis.access import accounts
from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.scheduler import Job
from klantreis.web import create_app
from klantreis.web.app import default_views, serve_kept_pages
from klantreis.web.pagekit import PageCache

#: More new events than this: a page with a kept result is served from it.
THRESHOLD = 10
INDEX = "/api/v1/index"
BIG = 45


def _new_events(app: App, count: int, tag: str) -> int:
    """``count`` more events (answers and what comes with them) in the three days after the
    store's newest, with new ids; how many."""
    end = datetime(2026, 4, 3, 12, tzinfo=UTC)  # the template store ends on 31 March
    answers = survey_records(days=3, per_day=15, seed=11, end=end)[:count]
    rows: list[Mapping[str, Any]] = [{**r, "event_id": f"{tag}-{r['event_id']}"} for r in answers]
    ingest_table(app.store, events_from_records(rows, source="test"), app.journey, source="test")
    return len(rows)


def _open(template_store: Path, tmp_path: Path, **settings: Any) -> App:
    path = tmp_path / "store.duckdb"
    shutil.copyfile(template_store, path)
    return App(replace(make_settings(str(path)), **settings))


@dataclass
class Served:
    app: App
    client: TestClient
    job: Job
    woken: list[float]
    analyst: dict[str, str]
    viewer: dict[str, str]

    def get(self, url: str, who: str = "analyst", **headers: str) -> Any:
        resp = self.client.get(url, headers={**getattr(self, who), **headers})
        assert resp.status_code == 200, resp.text
        return resp

    def json(self, url: str, who: str = "analyst", **headers: str) -> dict[str, Any]:
        body: dict[str, Any] = self.get(url, who, **headers).json()
        return body


@pytest.fixture
def served(template_store: Path, tmp_path: Path) -> Iterator[Served]:
    """A web app whose page cache serves kept pages, with the kept-views job driven by the
    test (its wake-up only recorded), after one turn of it (kept tables and default views
    current)."""
    app = _open(template_store, tmp_path, stale_page_events=THRESHOLD)
    api = create_app(app)
    job = app.kept_views_job(default_views(api))
    assert job is not None
    woken: list[float] = []
    serve_kept_pages(api, job, lambda: woken.append(time.monotonic()))
    # a view within fresh_age (2 s) reuses the page at any version: not what is tested here
    app.caches.get("pages", PageCache).fresh_age = 0
    analyst, _ = accounts.create_token(app.store, ["read"], user="analyst")
    viewer, _ = accounts.create_token(app.store, ["read"], user="viewer")
    with TestClient(api) as client:
        job.run()
        yield Served(app, client, job, woken, bearer(analyst), bearer(viewer))
    app.close()


def test_after_a_large_batch_the_page_answers_with_its_kept_figures_and_says_so(
    served: Served,
) -> None:
    before = served.json(INDEX)
    assert before["meta"]["fresh"] is True and before["meta"]["behind_events"] == 0
    served.get("/?lang=en")  # the job views in the server's language: English is kept here
    served.client.cookies.clear()  # (?lang= is remembered in a cookie)
    added = _new_events(served.app, BIG, "big")
    assert added > THRESHOLD

    kept = served.json(INDEX)
    assert kept["data"] == before["data"]  # the kept figures, at once
    assert kept["meta"]["fresh"] is False
    assert kept["meta"]["behind_events"] == added
    assert kept["meta"]["as_of"] == before["meta"]["as_of"]
    assert served.woken, "the kept-views job is woken"

    nl = served.get("/?lang=nl").text
    assert 'role="status" data-testid="page-behind"' in nl
    assert f"zonder de {added} nieuwste gebeurtenissen: die worden nu verwerkt" in nl
    assert "fresh=1" in nl  # a way to wait for the newest figures
    en = served.get("/?lang=en").text
    served.client.cookies.clear()
    assert f"without the {added} newest events: they are being processed now" in en

    fresh = served.json(INDEX + "?fresh=1")
    assert fresh["meta"]["fresh"] is True
    assert fresh["data"]["n_answers"] > before["data"]["n_answers"]
    after = served.json(INDEX)  # the fresh result is now the kept one
    assert after["meta"]["fresh"] is True and after["data"] == fresh["data"]


def test_the_jobs_turn_makes_the_next_view_fresh_and_without_notice(served: Served) -> None:
    before = served.json(INDEX)
    _new_events(served.app, BIG, "big")
    assert served.json(INDEX)["meta"]["fresh"] is False
    assert "page-behind" in served.get("/").text

    assert served.job.run() is True  # the turn the view woke it for
    after = served.json(INDEX)
    assert after["meta"]["fresh"] is True and after["meta"]["behind_events"] == 0
    assert after["data"]["n_answers"] > before["data"]["n_answers"]
    assert "page-behind" not in served.get("/").text


def test_below_the_threshold_the_view_computes_new_figures(served: Served) -> None:
    before = served.json(INDEX)
    added = _new_events(served.app, THRESHOLD, "small")
    assert added <= THRESHOLD
    after = served.json(INDEX)
    assert after["meta"]["fresh"] is True
    assert after["data"]["n_answers"] > before["data"]["n_answers"]
    assert served.woken == []


def test_a_caller_may_ask_for_fresh_figures_with_a_header(served: Served) -> None:
    before = served.json(INDEX)
    _new_events(served.app, BIG, "big")
    fresh = served.json(INDEX, **{"Cache-Control": "no-cache"})
    assert fresh["meta"]["fresh"] is True
    assert fresh["data"]["n_answers"] > before["data"]["n_answers"]


def test_a_kept_page_is_only_served_to_the_role_it_was_computed_for(served: Served) -> None:
    page = "/api/v1/journeys?period=30d"  # not a default view: only the analyst has it
    analyst = served.json(page)
    assert analyst["data"]["masked"] is False
    _new_events(served.app, BIG, "big")
    viewer = served.json(page, "viewer")
    assert viewer["meta"]["fresh"] is True  # no kept result of its own: computed
    assert viewer["data"]["masked"] is True and viewer["meta"]["masked"] is True
    kept = served.json(page)
    assert kept["meta"]["fresh"] is False and kept["data"]["masked"] is False
    # the viewer's own kept default view (from the job's turn) is masked
    default = served.json("/api/v1/journeys", "viewer")
    assert default["meta"]["fresh"] is False and default["data"]["masked"] is True


def test_after_the_kept_tables_caught_up_an_older_page_computes(served: Served) -> None:
    """A page the job does not view (here: a non-default period) is not kept stale once the
    job's turn brought the kept tables up to date: a fresh view is cheap again."""
    page = INDEX + "?period=30d"
    before = served.json(page)
    _new_events(served.app, BIG, "big")
    assert served.json(page)["meta"]["fresh"] is False
    served.job.run()
    after = served.json(page)
    assert after["meta"]["fresh"] is True
    assert after["data"] != before["data"]  # the 30 days now end on the new events' day


def test_a_page_is_answered_kept_for_at_most_stale_age_seconds(served: Served) -> None:
    before = served.json(INDEX)
    _new_events(served.app, BIG, "big")
    assert served.json(INDEX)["meta"]["fresh"] is False  # the first kept answer
    served.app.caches.get("pages", PageCache).stale_age = 0.2
    time.sleep(0.3)
    after = served.json(INDEX)
    assert after["meta"]["fresh"] is True
    assert after["data"]["n_answers"] > before["data"]["n_answers"]


def test_without_a_kept_views_job_or_with_the_setting_at_0_every_view_computes(
    template_store: Path, tmp_path: Path
) -> None:
    for name, settings in {
        "no job": {"kept_views_seconds": 0},
        "setting 0": {"stale_page_events": 0},
    }.items():
        (tmp_path / name).mkdir()
        app = _open(template_store, tmp_path / name, **settings)
        create_app(app, run_jobs=True)
        assert app.caches.get("pages", PageCache).revalidation is None, name
        app.close()


def test_a_server_wakes_its_kept_views_job_and_its_turn_makes_the_page_fresh(
    template_store: Path, tmp_path: Path
) -> None:
    """The real scheduler thread: the kept-views job is due only in an hour, the kept view
    wakes it, and the next view after its turn is fresh."""
    app = _open(template_store, tmp_path, stale_page_events=THRESHOLD, kept_views_seconds=3600)
    api = create_app(app, run_jobs=True)
    app.caches.get("pages", PageCache).fresh_age = 0
    kept = next(j for j in api.state.scheduler.jobs if j.name == App.KEPT_VIEWS_JOB)
    token, _ = accounts.create_token(app.store, ["read"], user="analyst")
    with TestClient(api) as client:
        api.state.scheduler.wake(kept.name)
        _wait_for(lambda: kept.runs >= 1)
        before = client.get(INDEX, headers=bearer(token)).json()
        assert before["meta"]["fresh"] is True
        _new_events(app, BIG, "big")
        runs = kept.runs
        stale = client.get(INDEX, headers=bearer(token)).json()
        assert stale["meta"]["fresh"] is False and stale["data"] == before["data"]
        _wait_for(lambda: kept.runs > runs)
        after = client.get(INDEX, headers=bearer(token)).json()
        assert after["meta"]["fresh"] is True
        assert after["data"]["n_answers"] > before["data"]["n_answers"]
    app.close()


def _wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the kept-views job did not run"
        time.sleep(0.05)
