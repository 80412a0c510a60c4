"""The property tests' memos (tests/compile_once.py) give the same SQL and expressions only
where nothing can differ: never another store's expression, never a clock read once."""

from __future__ import annotations

from tests.compile_once import build_once, shape
from tests.journeys.logs import NOW, T0, ev, load

from klantreis.analytics import journeys, promises
from klantreis.app import App
from klantreis.settings import Settings


def _app(n: int) -> App:
    app = App(Settings.load(env={}, db_path=":memory:"))
    load(app, [ev(f"e{i}", f"j{i}", "order.placed", T0) for i in range(n)])
    return app


def test_an_expression_is_built_once_per_store_and_runs_on_its_own() -> None:
    memo = build_once(journeys.journey_events, promises.promise_outcomes_expr)()
    next(memo)
    try:
        with _app(2) as a, _app(3) as b:
            ea, eb = a.events_table(), b.events_table()
            first = journeys.journey_events(ea)
            assert journeys.journey_events(ea) is first
            other = journeys.journey_events(eb)
            assert other.op() == first.op()  # Ibis calls them equal: the memo's key names the store
            assert other is not first
            assert other.count().to_pyarrow().as_py() == 3
            assert journeys.journey_events(ea).count().to_pyarrow().as_py() == 2
            dated = promises.promise_outcomes_expr(ea, a.journey, now=NOW)
            assert promises.promise_outcomes_expr(ea, a.journey, now=NOW) is dated
            clock = promises.promise_outcomes_expr(ea, a.journey)  # reads the clock: not kept
            assert promises.promise_outcomes_expr(ea, a.journey) is not clock
    finally:
        next(memo, None)
    assert journeys.journey_events.__module__ == "klantreis.analytics.journeys"
    assert not hasattr(journeys.journey_events, "__wrapped__")


def test_a_shape_leaves_out_the_store_and_nothing_else() -> None:
    shapes: dict[tuple[object, ...], int] = {}
    with _app(1) as a, _app(1) as b:
        ea, eb = a.events_table(), b.events_table()
        one = shape(journeys.journey_events(ea).op(), shapes)
        assert shape(journeys.journey_events(eb).op(), shapes) == one
        assert shape(ea.filter(ea.kind == "x").op(), shapes) != one
        assert shape(ea.limit(3).op(), shapes) != shape(ea.limit(4).op(), shapes)
