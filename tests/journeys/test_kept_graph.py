"""The journey index's kept graph (a wait histogram per edge, merged per refresh) stays equal
to the graph recomputed from the log: the same edges and counts, means equal, median and p90
within ``derived_totals.ALPHA``; variants unchanged; ties kept in the log's order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.journeys.logs import NOW, T0, assert_kept_graph, ev, load

from klantreis.analytics import derived_scope, discovery
from klantreis.analytics.journey_index import NAMED_PATHS_SQL, NAMED_STEPS_SQL, JourneyIndex
from klantreis.analytics.scope import Scope
from klantreis.app import App
from klantreis.settings import Settings

KINDS = ["order.placed", "payment.completed", "delivery.completed", "contact.inbound"]


@st.composite
def batches(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Two to four append batches of events on a few journeys; equal times (ties) are
    common (minutes 0-3), waits span seconds to weeks."""
    out, i = [], 0
    for _ in range(draw(st.integers(2, 4))):
        batch = []
        for _ in range(draw(st.integers(1, 15))):
            at = T0 + timedelta(
                minutes=draw(st.integers(0, 3)),
                seconds=draw(st.sampled_from([0, 0, 1, 7, 3_600, 90_000, 1_300_000])),
            )
            batch.append(
                ev(
                    f"e{i}",
                    draw(st.sampled_from(["j1", "j2", "j3", "j4", None])),
                    draw(st.sampled_from(KINDS)),
                    at,
                    touchpoint=draw(st.sampled_from(["web", "bezorging", None])),
                )
            )
            i += 1
        out.append(batch)
    return out


def _check(app: App, index: JourneyIndex) -> None:
    t = app.events_table()
    for activity in ("kind", "touchpoint"):
        kept = index.discover(activity, top=None)
        exact = discovery.discover(t, app.journey, activity=activity, top=None)  # type: ignore[arg-type]
        assert_kept_graph(kept.dfg.to_pylist(), exact.dfg.to_pylist())
        assert kept.variants.to_pylist() == exact.variants.to_pylist()
        assert (kept.start.to_pylist(), kept.end.to_pylist()) == (
            exact.start.to_pylist(),
            exact.end.to_pylist(),
        )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_the_kept_graph_merged_per_batch_equals_the_recomputed_one(
    parts: list[list[dict[str, Any]]],
) -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        index = JourneyIndex(app.store)
        load(app, parts[0])
        _check(app, index)  # fills the kept graphs of both activities
        kept = "SELECT count(DISTINCT activity) FROM journey_dfg"
        for batch in parts[1:]:
            before = app.store.con.execute(kept).fetchall()[0][0]
            load(app, batch)
            result = index.ensure()
            assert result.mode == "incremental"
            assert app.store.con.execute(kept).fetchall()[0][0] == before, "merged, not dropped"
            _check(app, index)


def test_a_refresh_merges_the_graph_instead_of_recomputing_it(small_app: App) -> None:
    """After a batch the kept rows are the merged ones: equal to a histogram built afresh."""
    index = JourneyIndex(small_app.store)
    index.ensure()
    index.dfg("kind")
    load(small_app, [ev("o1-late", "o1", "contact.inbound", T0 + timedelta(days=20))])
    assert index.ensure().mode == "incremental"
    con = small_app.store.con
    sql = "SELECT * FROM journey_dfg ORDER BY ALL"
    merged = con.execute(sql).fetchall()
    con.execute("DELETE FROM journey_dfg").fetchall()
    index.dfg("kind")
    assert merged == con.execute(sql).fetchall()
    assert any(r[2] == "contact.inbound" for r in merged)


def test_kept_quantiles_are_within_the_stated_error_on_spread_waits(small_app: App) -> None:
    """Many waits on one edge (seconds to months): median and p90 within 1%."""
    recs = []
    for j in range(60):
        wait = timedelta(seconds=int(1.37 ** (j % 40)))
        recs += [
            ev(f"s{j}-a", f"s{j}", "order.placed", T0),
            ev(f"s{j}-b", f"s{j}", "payment.completed", T0 + wait),
        ]
    load(small_app, recs)
    index = JourneyIndex(small_app.store)
    index.ensure()
    kept = index.dfg("kind").to_pylist()
    exact = discovery.dfg(small_app.events_table(), small_app.journey).to_pylist()
    assert_kept_graph(kept, exact)


@pytest.mark.parametrize(
    "flt",
    [
        Scope(channels=("chat",)),
        Scope(segments=("business",)),
        Scope(start=NOW - timedelta(days=2)),
        Scope(end=T0 + timedelta(minutes=30), channels=("web", "chat")),
        Scope(start=T0 + timedelta(days=400)),  # no journey
    ],
)
def test_a_selection_from_the_views_equals_the_one_from_the_log(small_app: App, flt: Scope) -> None:
    """The page selects a scope's journeys from ``dv_journey``: the same graph, variants and
    ends as the portable selection over the event log."""
    views = small_app.derived_views()
    index = JourneyIndex(small_app.store)
    t, j = small_app.events_table(), small_app.journey
    for activity in ("kind", "touchpoint"):
        fast = index.discover(activity, None, derived_scope.journey_sql(views, j, flt))
        plain = discovery.discover(t, j, flt, activity, None, index=index)  # type: ignore[arg-type]
        assert fast.as_dict() == plain.as_dict()
    assert derived_scope.journey_sql(views, j, Scope()) is None


def _index_rows(app: App) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    con = app.store.con
    steps = con.execute(f"SELECT * FROM ({NAMED_STEPS_SQL}) ORDER BY journey_id, seq").fetchall()
    paths = con.execute(f"SELECT * FROM ({NAMED_PATHS_SQL}) ORDER BY 1").fetchall()
    return steps, paths


def _refreshed_equal_a_rebuild(parts: list[list[dict[str, Any]]]) -> None:
    """After every batch the refreshed steps and paths (steps replaced from each journey's
    first changed one on, decision 97) equal a rebuild's; the kept graph too."""
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        index = JourneyIndex(app.store)
        load(app, parts[0])
        _check(app, index)  # keeps the graphs, so the refreshes merge them
        for batch in parts[1:]:
            load(app, batch)
            assert index.ensure().mode == "incremental"
            refreshed = _index_rows(app)
            _check(app, index)
            JourneyIndex(app.store).rebuild()
            assert _index_rows(app) == refreshed


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_steps_replaced_from_the_first_changed_one_equal_a_rebuild(
    parts: list[list[dict[str, Any]]],
) -> None:
    """Random appends: after, before and between kept events, tied time stamps."""
    _refreshed_equal_a_rebuild(parts)


def _e(eid: str, jid: str, kind: str, minutes: int, order: int | None = None) -> dict[str, Any]:
    return ev(eid, jid, kind, T0 + timedelta(minutes=minutes), source_order=order)


_KEPT_J = [
    _e("k1", "j1", "order.placed", 0),
    _e("k2", "j1", "payment.completed", 5),
    _e("k3", "j1", "delivery.completed", 9, 1),
    _e("k4", "j2", "order.placed", 3),
]


@pytest.mark.parametrize(
    "later",
    [
        # after every kept event: one old step per journey changes
        [[_e("n1", "j1", "contact.inbound", 20), _e("n2", "j1", "order.placed", 21)]],
        # tied with the last kept event on time and source order: the event id decides
        [[_e("k30", "j1", "contact.inbound", 9, 1), _e("k2b", "j1", "order.placed", 9, 1)]],
        # before the first kept event, and between two kept ones
        [[_e("n3", "j1", "contact.inbound", -4)], [_e("n4", "j2", "payment.completed", 1)]],
        # a repeated id (not stored again) beside a new journey's events
        [[_e("k2", "j1", "contact.inbound", 30), _e("n5", "j3", "order.placed", 2)]],
    ],
    ids=["appended", "tied", "before-and-between", "repeated-id-and-new-journey"],
)
def test_steps_after_named_appends_equal_a_rebuild(later: list[list[dict[str, Any]]]) -> None:
    _refreshed_equal_a_rebuild([_KEPT_J, *later])
