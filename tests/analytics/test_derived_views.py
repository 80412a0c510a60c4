"""The derived views of the journeys page equal their portable references after every append:
random batches with tied time stamps, events older than what is stored, repeated event ids,
promises that arrive after their fulfilment, journey-less events; whole store and scopes."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.compile_once import build_once, compile_once
from tests.journeys.logs import NOW, T0, ev, load

from klantreis.analytics import derived_promises as dp
from klantreis.analytics import derived_reads as dr
from klantreis.analytics import derived_views, discovery, impact, journeys, promises
from klantreis.analytics.backend import json_text
from klantreis.analytics.derived_totals import ALPHA, BUCKET_SQL, hist_quantile
from klantreis.analytics.derived_views import VIEWS, DerivedViews
from klantreis.analytics.scope import Scope
from klantreis.app import App
from klantreis.settings import Settings

KINDS = [
    "order.placed",
    "payment.completed",
    "shipment.handed_over",
    "delivery.promised",
    "delivery.completed",
    "delivery.failed",
    "contact.inbound",
    "survey.response",
    "return.received",
    "refund.paid",
    "invoice.sent",
]
OWNERS = [None, "webshop", "carrier:snelpost", "carrier:vlotbezorgd", "finance"]
#: Kinds whose first event per journey the promise rules pick (time stamps kept unique, since
#: the portable reference breaks ties of ``argmin`` arbitrarily).
UNIQUE_TIME = {"delivery.promised", "delivery.completed", "return.received", "refund.paid"}
SCOPES = [
    None,
    Scope(channels=("chat",)),
    Scope(segments=("business",)),
    Scope(since=(T0 + timedelta(days=2)).date(), until=(T0 + timedelta(days=6)).date()),
    Scope(since=(T0 + timedelta(days=3)).date()),  # whole days: the per-day totals
    Scope(start=T0 + timedelta(hours=30)),  # not at midnight: the per-journey rows
]

_event = st.tuples(
    st.integers(0, 7),  # journey (7: none)
    st.sampled_from(KINDS),
    st.integers(0, 240),  # hours after T0: out of order across batches, ties inside
    st.sampled_from(OWNERS),
    st.sampled_from(["web", "chat", "email"]),
    st.sampled_from(["consumer", "business", None]),
    st.integers(0, 10),  # score
    st.sampled_from(["nps", "csat", "ces"]),
    st.integers(-30, 60),  # deadline hours after the event
    st.integers(0, 40),  # a repeated id: reuse an earlier event's id when < 4
)

#: The references' Ibis expressions compiled once for the module (tests/compile_once.py).
compiled_once = pytest.fixture(scope="module", autouse=True)(compile_once)
#: ... and built once per store: the same arguments give the same expression object.
built_once = pytest.fixture(scope="module", autouse=True)(
    build_once(
        journeys.journey_events,
        journeys.selected_journeys,
        journeys.apply_filter,
        promises.promise_outcomes_expr,
        discovery.owner_handovers_expr,
        impact._flags,
    )
)


def _records(batch: list[tuple[Any, ...]], n: int, seen: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, (j, kind, h, owner, channel, segment, score, metric, dl, again) in enumerate(batch):
        at = T0 + timedelta(hours=h)
        if kind in UNIQUE_TIME:
            at += timedelta(seconds=1000 * n + i + 1)
        eid = seen[again] if again < 4 and again < len(seen) else f"b{n}-{i}"
        attrs: dict[str, Any] = {"deadline": (at + timedelta(hours=dl)).isoformat()}
        attrs["refund_deadline"] = attrs["deadline"] if dl % 3 else "not a date"
        if segment:
            attrs["segment"] = segment
        fields: dict[str, Any] = {"owner": owner, "channel": channel, "attrs": attrs}
        if kind == "survey.response":
            # a valid score for its scale (nps 0-10, the others 1-5)
            valid = score % 11 if metric == "nps" else 1 + score % 5
            fields.update(metric=metric, score=float(valid))
        out.append(ev(eid, f"j{j}" if j < 7 else None, kind, at, **fields))
        seen.append(eid)
    return out


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _same(mine: Any, reference: Any, what: str) -> None:
    if isinstance(mine, pa.Table):
        assert mine.schema == reference.schema, what
        mine, reference = mine.to_pylist(), reference.to_pylist()
    assert _close(mine, reference), f"{what}:\n{mine}\n!=\n{reference}"


def _same_handovers(mine: pa.Table, reference: pa.Table, approximate: bool) -> None:
    """Equal; unscoped (the kept wait histogram) median and p90 within ``ALPHA``."""
    if not approximate:
        _same(mine, reference, "owner_handovers")
        return
    assert mine.schema == reference.schema
    quantiles = ("median_s", "p90_s")
    exact = [c for c in mine.column_names if c not in quantiles]
    _same(mine.select(exact), reference.select(exact), "owner_handovers")
    for q in quantiles:
        for a, b in zip(mine[q].to_pylist(), reference[q].to_pylist(), strict=True):
            assert math.isclose(a, b, rel_tol=ALPHA, abs_tol=1e-9), (q, a, b)


def _check(app: App, views: DerivedViews, events: Any = None) -> None:
    """``events``: the log as an Ibis table (one per store: it reads every append)."""
    events = app.events_table() if events is None else events
    journey = app.journey
    for flt in SCOPES:
        for activity in ("kind", "touchpoint"):
            _same(
                dr.step_stats(views, journey, flt, activity, "csat"),
                discovery.step_stats(events, journey, flt, activity, "csat"),
                f"step_stats {activity} {flt}",
            )
            _same(
                dr.step_owners(views, journey, flt, activity, "nps"),
                discovery.step_owners(events, journey, flt, activity, "nps"),
                f"step_owners {activity} {flt}",
            )
        _same_handovers(
            dr.owner_handovers(views, journey, flt),
            discovery.owner_handovers(events, journey, flt),
            approximate=flt is None,
        )
        _same(
            [i.as_dict() for i in dp.impact_ranking(views, journey, flt=flt, now=NOW)],
            [i.as_dict() for i in impact.impact_ranking(events, journey, flt=flt, now=NOW)],
            f"impact_ranking {flt}",
        )
    for by in ("owner", "touchpoint", "promise"):
        _same(
            dp.promise_rates(views, journey, by, now=NOW),
            promises.promise_rates(events, journey, by, now=NOW),  # type: ignore[arg-type]
            f"promise_rates {by}",
        )
    _same(dp.at_risk(views, journey, NOW), promises.at_risk(events, journey, NOW), "at_risk")
    answers = events.filter(events.metric.notnull())
    assert views.options() == {
        "channels": _distinct(answers.channel),
        "segments": _distinct(json_text(answers, "segment")),
    }
    newest = (events.occurred_at.max(), answers.occurred_at.max())
    assert views.newest() == tuple(x.to_pyarrow().as_py() for x in newest)
    _same_pending(app)


def _same_pending(app: App) -> None:
    """The kept pending rows are the views' rows of the journeys with an unfulfilled promise."""
    pending = "journey_id IN (SELECT journey_id FROM dv_promise WHERE fulfilled_at IS NULL)"
    for view, table in derived_views.PENDING.items():
        kept = app.store.query(f"FROM {table} ORDER BY ALL").to_pylist()
        assert kept == app.store.query(f"FROM dv_{view} WHERE {pending} ORDER BY ALL").to_pylist()


def _distinct(column: Any) -> list[str]:
    values = column.name("v").as_table().distinct().to_pyarrow()["v"].to_pylist()
    return sorted(str(v) for v in values if v)


def _view_rows(app: App) -> dict[str, list[tuple[Any, ...]]]:
    """Every per-journey view's rows, sorted."""
    return {
        v: [tuple(r.values()) for r in app.store.query(f"FROM dv_{v} ORDER BY ALL").to_pylist()]
        for v in VIEWS
    }


def _totals(app: App, views: DerivedViews) -> dict[str, list[tuple[Any, ...]]]:
    """Every kept total, sorted (rows whose counts reached zero are gone)."""
    return {
        t.table: [
            tuple(r.values()) for r in app.store.query(f"FROM {t.table} ORDER BY ALL").to_pylist()
        ]
        for t in views.totals
    }


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(_event, min_size=1, max_size=12), min_size=1, max_size=4))
def test_views_equal_the_portable_references_after_every_append(
    batches: list[list[tuple[Any, ...]]],
) -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = DerivedViews(app.store, app.journey, app.store.version)
        seen: list[str] = []
        load(app, _records(batches[0], 0, seen))
        assert views.ensure().mode == "full"
        events = app.events_table()
        _check(app, views, events)
        for n, batch in enumerate(batches[1:], start=1):
            load(app, _records(batch, n, seen))
            result = views.ensure()
            assert result.mode in ("incremental", "current")
            _check(app, views, events)
        rebuilt = DerivedViews(app.store, app.journey)
        before = views.versions()
        merged = _totals(app, views)
        kept = _view_rows(app)
        assert rebuilt.rebuild().mode == "full"
        assert _close(_totals(app, rebuilt), merged)  # merged per batch == summed afresh
        # the per-journey rows refreshed per batch (added or recomputed) == built afresh
        assert _close(_view_rows(app), kept)
        assert all(rebuilt.versions()[v] == before[v] + 1 for v in VIEWS)


def test_versions_move_only_for_the_views_a_batch_changed() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = DerivedViews(app.store, app.journey, app.store.version)
        base = [
            ev("a1", "j1", "order.placed", T0, owner="webshop"),
            ev("a2", "j1", "shipment.handed_over", T0 + timedelta(hours=5), owner="carrier:x"),
        ]
        load(app, base)
        first = views.versions()
        load(app, [ev("n1", None, "web.visit", T0)])  # no journey: no view changes
        assert views.versions() == first
        load(app, [ev("s1", "j1", "survey.response", T0, metric="csat", score=4.0)])
        after = views.versions()
        changed = {v for v in VIEWS if after[v] != first[v]}
        assert changed == {"answers", "steps", "journey"}  # not the hand-overs or promises


def test_pending_journeys_follow_their_promises() -> None:
    """A journey leaves the kept pending rows when its promise is fulfilled, its rows move
    with a new contact while pending, and the impact and promise reads equal the references."""
    d = timedelta

    def promised(eid: str, jid: str, at: Any) -> dict[str, Any]:
        deadline = (at + d(days=1)).isoformat()
        return ev(
            eid, jid, "delivery.promised", at, owner="carrier:x", attrs={"deadline": deadline}
        )

    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = DerivedViews(app.store, app.journey, app.store.version)
        load(app, [promised("p1", "j1", T0), promised("p2", "j2", T0)])
        views.ensure()
        assert _pending_ids(app) == ["j1", "j2"]
        load(app, [ev("f1", "j1", "delivery.completed", T0 + d(hours=2), owner="carrier:x")])
        load(app, [ev("c1", "j2", "contact.inbound", T0 + d(hours=3), channel="chat")])
        assert views.ensure().mode == "incremental"
        assert _pending_ids(app) == ["j2"]
        rows = app.store.query("SELECT contacts FROM dv_pending_journey").to_pylist()
        assert rows == [{"contacts": 1}]
        _check(app, views)


def _pending_ids(app: App) -> list[str]:
    rows = app.store.query("SELECT journey_id FROM dv_pending_journey ORDER BY 1").to_pylist()
    return [r["journey_id"] for r in rows]


def test_scopes_the_views_cannot_answer_are_refused() -> None:
    assert dr.supports(Scope(channels=("chat",), period="30d"))
    assert not dr.supports(Scope(stages=("levering",)))
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = DerivedViews(app.store, app.journey)
        with pytest.raises(ValueError, match="cannot answer"):
            dr.step_stats(views, app.journey, Scope(owners=("webshop",)))


def test_the_kind_lists_match_the_portable_modules() -> None:
    assert derived_views.FEEDBACK_KINDS == journeys.FEEDBACK_KINDS
    assert derived_views.TROUBLE_KINDS == impact.TROUBLE_KINDS
    assert derived_views.SCORE_METRICS == impact.SCORE_METRICS


def test_views_out_of_step_are_rebuilt() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = DerivedViews(app.store, app.journey, app.store.version)
        load(app, [ev("a1", "j1", "order.placed", T0), ev("a2", "j2", "order.placed", T0)])
        views.ensure()
        with app.store.transaction() as con:  # an event the watermark does not see
            con.execute(
                "INSERT INTO event_log SELECT * REPLACE ('a9' AS event_id, 'payment.completed'"
                " AS kind) FROM event_log WHERE event_id = 'a2'"
            ).fetchall()
        load(app, [ev("a3", "j1", "payment.completed", T0)])
        assert views.ensure().mode == "full"
        stats = dr.step_stats(views, app.journey, None, "kind")
        assert dict(
            zip(*stats.select(["activity", "events"]).to_pydict().values(), strict=True)
        ) == {
            "order.placed": 2,
            "payment.completed": 2,
        }


def test_a_window_holding_every_journey_is_trimmed() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = DerivedViews(app.store, app.journey)
        load(app, [ev("a1", "j1", "order.placed", T0), ev("a2", "j2", "order.placed", NOW)])
        whole = Scope(period="all", as_of=NOW.date(), channels=("web",))
        assert dr.trim_scope(views, app.journey, whole) == Scope(channels=("web",))
        cut = Scope(since=NOW.date(), until=NOW.date())
        assert dr.trim_scope(views, app.journey, cut) == cut


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_wait_quantiles_from_the_histogram_are_within_alpha(seed: int) -> None:
    import random

    import duckdb

    rng = random.Random(seed)
    waits = [0.0] * 3 + [rng.lognormvariate(9, 2) for _ in range(rng.randint(1, 400))]
    con = duckdb.connect()
    con.execute("CREATE TABLE w (wait_s DOUBLE)")
    con.executemany("INSERT INTO w VALUES (?)", [[w] for w in waits])
    hist = con.execute(f"SELECT {BUCKET_SQL} AS b, count(*) FROM w GROUP BY b").fetchall()
    for q in (0.0, 0.5, 0.9, 1.0):
        exact = con.execute(f"SELECT quantile_cont(wait_s, {q}) FROM w").fetchall()[0][0]
        estimate = hist_quantile(hist, q)
        assert estimate is not None
        assert math.isclose(estimate, exact, rel_tol=ALPHA, abs_tol=1e-9), (q, estimate, exact)


def test_totals_of_another_layout_are_summed_again_from_the_views() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = DerivedViews(app.store, app.journey, app.store.version)
        load(app, [ev("a1", "j1", "order.placed", T0), ev("a2", "j2", "order.placed", T0)])
        views.ensure()
        kept = _totals(app, views)
        with app.store.transaction() as con:
            con.execute("DELETE FROM dv_step_totals").fetchall()
            con.execute("UPDATE dv_totals_state SET layout = -1").fetchall()
        load(app, [ev("a3", "j1", "payment.completed", T0)])
        assert views.ensure().mode == "incremental"  # the views stay; the totals are summed
        load(app, [])
        fresh = DerivedViews(app.store, app.journey)
        assert fresh.rebuild().mode == "full"
        assert _totals(app, fresh) == _totals(app, views) != kept


def test_whole_day_windows_read_the_per_day_totals() -> None:
    """A window of whole local days (and nothing else) is a condition on the day totals;
    a channel, a segment or a window end inside a day is not."""
    from klantreis.analytics.derived_scope import day_condition
    from klantreis.model.journey import JourneyConfig

    journey = JourneyConfig()
    day = T0.date()
    assert day_condition(Scope(since=day, until=day + timedelta(days=2)), journey) == (
        f" AND day >= DATE '{day}' AND day < DATE '{day + timedelta(days=3)}'"
    )
    assert day_condition(Scope(since=day), journey) == f" AND day >= DATE '{day}'"
    assert day_condition(None, journey) is None
    assert day_condition(Scope(), journey) is None
    assert day_condition(Scope(since=day, channels=("web",)), journey) is None
    assert day_condition(Scope(start=T0 + timedelta(hours=5)), journey) is None


def test_a_full_build_runs_under_its_memory_limit_and_puts_it_back(tmp_path: Path) -> None:
    """Every view built afresh under ``memory_mb`` (at 100M events DuckDB's own limit, 80% of
    the machine, was filled), the limit put back after; the views equal an unlimited build."""
    with App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"))) as app:
        load(
            app,
            _records(
                [
                    (j % 7, KINDS[j % 11], j, OWNERS[j % 5], "web", None, j % 11, "nps", 5, 40)
                    for j in range(60)
                ],
                0,
                [],
            ),
        )
        con = app.store.con
        before = con.execute("SELECT current_setting('memory_limit')").fetchall()
        seen: list[str] = []
        views = DerivedViews(app.store, app.journey, memory_mb=64)
        fill = views._fill

        def spy(c: Any, src: str, prefix: str, ordered: bool = False) -> None:
            seen.append(c.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
            fill(c, src, prefix, ordered)

        views._fill = spy  # type: ignore[method-assign]
        assert views.rebuild().mode == "full"
        assert seen == ["64.0 MiB"]
        assert con.execute("SELECT current_setting('memory_limit')").fetchall() == before
        tables = [f"dv_{v}" for v in VIEWS]
        limited = (
            _totals(app, views),
            [app.store.query(f"FROM {t} ORDER BY ALL").to_pylist() for t in tables],
        )
        assert DerivedViews(app.store, app.journey).rebuild().mode == "full"
        unlimited = (
            _totals(app, views),
            [app.store.query(f"FROM {t} ORDER BY ALL").to_pylist() for t in tables],
        )
        assert limited[1][0] and _close(limited, unlimited)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(_event, min_size=1, max_size=12), min_size=2, max_size=5))
def test_view_rows_refreshed_per_batch_equal_a_rebuild(
    batches: list[list[tuple[Any, ...]]],
) -> None:
    """The order-dependent views recompute only the journeys whose new events can move them
    (the others keep their rows): after random appends (out of order, tied, repeated ids)
    every view, the pending rows and the totals equal a rebuild's. Cheaper than the portable
    comparison above, so it runs more examples."""
    _refreshes_equal_a_rebuild(batches)


def _refreshes_equal_a_rebuild(batches: list[list[tuple[Any, ...]]]) -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = DerivedViews(app.store, app.journey, app.store.version)
        seen: list[str] = []
        for n, batch in enumerate(batches):
            load(app, _records(batch, n, seen))
            assert views.ensure().mode in (("full",) if n == 0 else ("incremental", "current"))
        kept, merged = _view_rows(app), _totals(app, views)
        _same_pending(app)
        assert DerivedViews(app.store, app.journey).rebuild().mode == "full"
        assert _close(_view_rows(app), kept)
        assert _close(_totals(app, views), merged)


def _at(j: int, kind: str, hour: int, owner: str | None) -> tuple[Any, ...]:
    """An event of the property tests' shape: journey ``j`` (7: none), ``hour`` after T0."""
    return (j, kind, hour, owner, "web", None, 8, "nps", 10, 40)


#: Two kept journeys (j1 with an inbound contact), spread over two days.
_KEPT = [
    _at(0, "order.placed", 24, "webshop"),
    _at(0, "shipment.handed_over", 30, "carrier:snelpost"),
    _at(0, "delivery.promised", 31, "carrier:snelpost"),
    _at(1, "order.placed", 48, "webshop"),
    _at(1, "contact.inbound", 50, None),
]


@pytest.mark.parametrize(
    "batches",
    [
        # after every kept event: only the groups the batch reaches are taken out
        [[_at(0, "delivery.completed", 60, "carrier:snelpost"), _at(1, "refund.paid", 70, None)]],
        # tied with kept events; an owner that ranks first in its activity (the first flag)
        [
            [
                _at(0, "shipment.handed_over", 30, "carrier:vlotbezorgd"),
                _at(1, "order.placed", 48, None),
            ]
        ],
        # before the journey's first event, on an earlier day: every row moves day
        [[_at(0, "order.placed", 2, "webshop")], [_at(0, "invoice.sent", 1, "finance")]],
        # an inbound contact in between: every row of the journey holds the new count
        [[_at(0, "contact.inbound", 26, None), _at(1, "contact.inbound", 80, None)]],
        # a new journey and a journey-less event beside an appended one
        [
            [
                _at(2, "order.placed", 5, "webshop"),
                _at(7, "delivery.failed", 6, None),
                _at(1, "survey.response", 90, None),
            ]
        ],
    ],
    ids=["appended", "tied", "before-the-first", "contacts", "new-journey"],
)
def test_step_rows_merged_from_the_batch_equal_a_rebuild(
    batches: list[list[tuple[Any, ...]]],
) -> None:
    """``dv_steps`` merges a batch into the kept rows of the groups it reaches (decision 82);
    journeys whose contacts or first event moved take out all their rows."""
    _refreshes_equal_a_rebuild([_KEPT, *batches])


@pytest.mark.parametrize(
    "batches",
    [
        # after the journey's last kept event, owners it had: its hand-overs stay
        [
            [
                _at(0, "delivery.completed", 60, "carrier:snelpost"),
                _at(0, "refund.paid", 61, "webshop"),
            ]
        ],
        # after it, a new owner: a hand-over is added
        [[_at(0, "delivery.completed", 60, "finance")]],
        # on the last kept event's time stamp, and between kept events: recomputed
        [[_at(0, "invoice.sent", 31, "webshop")], [_at(0, "invoice.sent", 27, "finance")]],
        # before the first kept event: every owner's order moves
        [[_at(0, "order.placed", 2, "carrier:vlotbezorgd")]],
        # a journey with no kept hand-over event gets its first two
        [[_at(1, "refund.paid", 60, "finance"), _at(1, "invoice.sent", 61, "webshop")]],
    ],
    ids=["appended-known-owners", "appended-new-owner", "tied-and-between", "before", "first"],
)
def test_hand_overs_a_batch_cannot_move_are_kept_and_equal_a_rebuild(
    batches: list[list[tuple[Any, ...]]],
) -> None:
    """Decision 98: a journey whose new process events come after its last kept one, of
    owners it had, keeps its hand-over rows; every other case is recomputed."""
    _refreshes_equal_a_rebuild([_KEPT, *batches])
