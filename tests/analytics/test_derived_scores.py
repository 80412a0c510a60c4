"""The kept score cells equal their portable references after every append: random batches
with tied time stamps, answers older than what is stored, repeated event ids, rows the
pipeline quarantines (scores off their scale), answers without a journey or a segment; the
summaries per group, period and scope, the CX index's cells, the newest day and the filter
menus."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests.compile_once import build_once, compile_once
from tests.journeys.logs import T0, ev

from klantreis.analytics import derived_scores, index_cache, metrics
from klantreis.analytics.derived_scores import ScoreCells
from klantreis.analytics.scope import Scope, newest_answer_day
from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.settings import Settings

METRICS = ["nps", "ces", "csat"]
SCOPES = [
    None,
    Scope(channels=("chat",)),
    Scope(channels=("web", None), owners=("webshop",)),
    Scope(stages=("levering",)),
    Scope(since=(T0 + timedelta(days=2)).date(), until=(T0 + timedelta(days=6)).date()),
]
GROUPS: list[tuple[list[str], str | None]] = [
    ([], None),
    (["touchpoint"], None),
    (["owner", "channel"], None),
    (["stage"], None),
    (["attrs.segment"], None),
    ([], "day"),
    (["touchpoint"], "week"),
    ([], "month"),
]

_event = st.tuples(
    st.integers(0, 5),  # journey (5: none)
    st.sampled_from(["survey.response", "survey.response", "order.placed", "review.posted"]),
    st.integers(0, 24 * 12),  # hours after T0: out of order across batches, ties inside
    st.sampled_from([None, "webshop", "carrier:snelpost"]),
    st.sampled_from([None, "web", "chat"]),
    st.sampled_from(["consumer", "business", None]),
    st.integers(-1, 11),  # score (-1: no score; off-scale ones are quarantined)
    st.sampled_from(["nps", "csat", "ces", None]),
    st.sampled_from([None, "bezorging", "klantenservice"]),
    st.integers(0, 40),  # a repeated id: reuse an earlier event's id when < 4
)

#: The references' Ibis expressions compiled once for the module (tests/compile_once.py).
compiled_once = pytest.fixture(scope="module", autouse=True)(compile_once)
#: ... and built once per store: the same arguments give the same expression object.
built_once = pytest.fixture(scope="module", autouse=True)(
    build_once(metrics.select_events, metrics.answers)
)


def _records(batch: list[tuple[Any, ...]], n: int, seen: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, (j, kind, h, owner, channel, segment, score, metric, tp, again) in enumerate(batch):
        eid = seen[again] if again < 4 and again < len(seen) else f"b{n}-{i}"
        fields: dict[str, Any] = {"owner": owner, "channel": channel, "touchpoint": tp}
        if segment:
            fields["attrs"] = {"segment": segment}
        if kind != "order.placed" and metric is not None:
            fields["metric"] = metric
            if score >= 0:
                fields["score"] = float(score)
        out.append(ev(eid, f"j{j}" if j < 5 else None, kind, T0 + timedelta(hours=h), **fields))
        seen.append(eid)
    return out


def _load(app: App, records: list[dict[str, Any]]) -> None:
    table = events_from_records(records, source="test")
    ingest_table(app.store, table, app.journey, source="test")  # some rows are quarantined


def _same_frames(mine: pd.DataFrame, ref: pd.DataFrame, what: str) -> None:
    assert list(mine.columns) == list(ref.columns), what
    assert len(mine) == len(ref), f"{what}:\n{mine}\n!=\n{ref}"
    for col in mine.columns:
        for a, b in zip(mine[col].tolist(), ref[col].tolist(), strict=True):
            if isinstance(a, float) and isinstance(b, float):
                ok = (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, abs_tol=1e-9)
            else:
                ok = a == b or (pd.isna(a) and pd.isna(b))
            assert ok, f"{what} {col}:\n{mine}\n!=\n{ref}"


def _check(app: App, cells: ScoreCells, events: Any) -> None:
    """``events``: the log as an Ibis table (one per store: it reads every append)."""
    journey, zone = app.journey, app.journey.timezone
    table, frame = cells.table(), cells.frame()
    for flt in SCOPES:
        for by, period in GROUPS:
            kw: dict[str, Any] = {"by": by, "period": period, "filters": flt, "journey": journey}
            ref = metrics.summarize(events, METRICS, **kw)
            _same_frames(
                metrics.summarize(table, METRICS, weight="w", **kw), ref, f"cells {by} {flt}"
            )
            _same_frames(metrics.summarize(frame, METRICS, **kw), ref, f"frame {by} {flt}")
    # windows of whole local days (the pages' windows; the cells hold days)
    days = Scope(since=(T0 + timedelta(days=1)).date(), until=(T0 + timedelta(days=5)).date())
    since, until = days.bounds(zone)
    ref = metrics.nps_ces_matrix(events, journey, since=since, until=until)
    _same_frames(
        metrics.nps_ces_matrix(table, journey, since=since, until=until, weight="w"), ref, "m"
    )
    _same_frames(
        metrics.nps_ces_matrix(cells.frame(since), journey, since=since, until=until), ref, "m2"
    )
    for answers_only in (True, False):
        assert cells.newest_day(answers_only) == newest_answer_day(events, zone, answers_only)
    rows = app.store.con.execute(
        "SELECT channel, try(json_extract_string(attrs, '$.segment')) FROM events"
        " WHERE metric IS NOT NULL"
    ).fetchall()
    assert cells.options() == {
        "channels": sorted({str(c) for c, _ in rows if c}),
        "segments": sorted({str(s) for _, s in rows if s}),
    }
    seeded = cells.index_cells(zone)
    assert seeded is not None and seeded[0] == app.store.count()
    ref = index_cache.raw_cells(app.store.con, "events", zone)
    keys = list(index_cache.CELL_KEYS)
    _same_frames(
        seeded[1].sort_values(keys).reset_index(drop=True)[ref.columns],
        ref.sort_values(keys).reset_index(drop=True),
        "index cells",
    )


#: Answers added after the first check: one older than the kept ones, one at the same hour as
#: a kept one, one without a journey, one id sent again and one score off its scale (the
#: pipeline quarantines it). Run in every run, so a kept table or frame that misses an append
#: fails every time, not only when a random example happens to append answers.
ANSWERS_APPENDED = [
    [
        (0, "survey.response", 30, "webshop", "web", "consumer", 9, "nps", "bezorging", 40),
        (1, "survey.response", 50, None, "chat", None, 4, "csat", None, 40),
    ],
    [
        (0, "survey.response", 10, "carrier:snelpost", "chat", "business", 2, "nps", None, 40),
        (3, "survey.response", 50, "webshop", "web", None, 6, "ces", "klantenservice", 40),
        (5, "review.posted", 70, None, None, "consumer", 3, "csat", None, 40),
        (2, "review.posted", 60, None, None, None, 5, "ces", "klantenservice", 0),
        (1, "survey.response", 80, None, "chat", None, 9, "csat", None, 40),
    ],
]


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(_event, min_size=1, max_size=15), min_size=1, max_size=4))
@example(batches=ANSWERS_APPENDED)
def test_cells_equal_the_portable_references_after_every_append(
    batches: list[list[tuple[Any, ...]]],
) -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        cells = ScoreCells(app.store, app.journey.timezone, app.store.version)
        seen: list[str] = []
        _load(app, _records(batches[0], 0, seen))
        assert cells.ensure().mode == "full"
        events = app.events_table()
        _check(app, cells, events)
        for n, batch in enumerate(batches[1:], start=1):
            _load(app, _records(batch, n, seen))
            assert cells.ensure().mode in ("incremental", "current")
            _check(app, cells, events)
        before = cells.stamp()[0]
        assert cells.rebuild().mode == "full"
        assert cells.stamp()[0] == before + 1


def test_the_counter_moves_only_when_answers_arrive() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        cells = ScoreCells(app.store, app.journey.timezone, app.store.version)
        _load(app, [ev("a", "j1", "survey.response", T0, metric="nps", score=9.0)])
        first = cells.stamp()
        _load(app, [ev("b", "j1", "order.placed", T0 + timedelta(days=1))])
        after = cells.stamp()
        assert after[0] == first[0] and after[1] == T0 + timedelta(days=1)
        _load(app, [ev("c", "j1", "survey.response", T0, metric="csat", score=4.0)])
        assert cells.stamp()[0] == first[0] + 1


def test_cells_out_of_step_are_rebuilt_and_compacted() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        cells = ScoreCells(app.store, app.journey.timezone, app.store.version)
        _load(app, [ev("a", "j1", "survey.response", T0, metric="nps", score=9.0)])
        cells.ensure()
        with app.store.transaction() as con:
            con.execute("DELETE FROM ds_cells").fetchall()
        _load(app, [ev("b", "j1", "survey.response", T0, metric="nps", score=3.0)])
        assert cells.ensure().mode == "full"
        summary = metrics.summarize(cells.table(), "nps", weight="w")
        assert summary["n"].tolist() == [2] and summary["promoters"].tolist() == [1]


def test_scopes_the_cells_cannot_answer_are_refused() -> None:
    assert derived_scores.supports(Scope(channels=("chat",), period="30d"))
    assert derived_scores.supports(Scope(stages=("levering",)))
    assert not derived_scores.supports(Scope(segments=("business",)))
    assert not derived_scores.supports(Scope(kinds=("survey.response",)))


def test_points_match_the_index_cache() -> None:
    assert derived_scores.POINTS_SQL == index_cache._POINTS_SQL
