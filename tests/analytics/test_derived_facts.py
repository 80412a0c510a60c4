"""The kept driver counts of the CX index movers (analytics.derived_facts, maintained by
ScoreCells) give the same counts and the same movers as the portable reference
(``movers.collect_facts``, ``cx_index(fast=False)``) after every append: random batches with
tied time stamps, events older than what is stored, repeated event ids, promises made before
the look-back range, re-promises, fulfilments without a promise, events without an owner or
a journey. Tied events of one journey and kind carry the same deadline and owner: on such
ties the reference may pick either (``argmin``), so the test does not ask which."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.analytics.test_cx_index_fast import same
from tests.compile_once import compile_once
from tests.journeys.logs import T0, ev

from klantreis.analytics.cx_index import cx_index
from klantreis.analytics.derived_scores import ScoreCells
from klantreis.analytics.index_cache import StoreCache
from klantreis.analytics.index_facts import FactState
from klantreis.analytics.movers import collect_facts, windows
from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.settings import Settings

KINDS = [
    "delivery.promised",
    "delivery.promised",
    "delivery.completed",
    "delivery.failed",
    "contact.inbound",
    "payment.failed",
    "invoice.bounced",
    "return.received",
    "refund.paid",
    "order.placed",
    "survey.response",
    "survey.response",
]
OWNERS = [None, "carrier:snelpost", "carrier:vlotbezorgd", "finance"]
TOUCHPOINTS = ["bezorging", "betalen", "klantenservice", "retour"]
DAYS = 20

_event = st.tuples(
    st.integers(0, 7),  # journey (7: none)
    st.sampled_from(KINDS),
    st.integers(0, DAYS * 24),  # hours after T0: out of order across batches, ties inside
    st.integers(0, 10),  # score of an answer
    st.integers(0, 40),  # a repeated id: reuse an earlier event's id when < 4
)

#: The references' Ibis expressions compiled once for the module (tests/compile_once.py).
compiled_once = pytest.fixture(scope="module", autouse=True)(compile_once)


def _records(batch: list[tuple[Any, ...]], n: int, seen: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, (j, kind, h, score, again) in enumerate(batch):
        eid = seen[again] if again < 4 and again < len(seen) else f"b{n}-{i}"
        at = T0 + timedelta(hours=h)
        # owner and deadline follow (journey, time): tied events agree on them
        fields: dict[str, Any] = {"owner": OWNERS[(j + h) % len(OWNERS)]}
        if kind == "delivery.promised" and (j + h) % 5:
            deadline = "not a date" if (j + h) % 7 == 0 else (at + timedelta(hours=(h % 60)))
            fields["attrs"] = {
                "deadline": str(deadline) if isinstance(deadline, str) else deadline.isoformat()
            }
        if kind == "return.received":
            fields["attrs"] = {"refund_deadline": (at + timedelta(days=3)).isoformat()}
        if kind == "survey.response":
            fields.update(metric="nps", score=float(score), touchpoint=TOUCHPOINTS[(j + h) % 4])
        out.append(ev(eid, f"j{j}" if j < 7 else None, kind, at, **fields))
        seen.append(eid)
    return out


def _load(app: App, records: list[dict[str, Any]]) -> None:
    ingest_table(app.store, events_from_records(records, source="test"), app.journey, source="test")


def _fresh_cache(app: App) -> StoreCache:
    """The App's index cache as a restarted server builds it (nothing in memory)."""
    return StoreCache("events", app.store.version, seed=app._index_seed, facts_seed=app._facts_seed)


def _check(app: App, cells: ScoreCells, kept_cache: StoreCache) -> None:
    events, journey = app.events_table(), app.journey
    last = (T0 + timedelta(days=DAYS)).date()
    for back in (0, 1, 3, 6):  # windows whose edges fall on other days
        prev, cur = windows(last - timedelta(days=back), 7)
        for owners in (None, ["carrier:snelpost", "finance"]):
            state = FactState(journey, prev, cur, owners)
            assert cells.load_facts(state) == app.store.count()
            assert state.facts() == collect_facts(events, journey, prev, cur, owners), (
                back,
                owners,
            )
    for until in (last, date(2025, 3, 16)):
        ref = cx_index(events, journey, until=until, fast=False).to_dict()
        restarted = cx_index(events, journey, until=until, cache=_fresh_cache(app))
        same(restarted.to_dict(), ref, f"restart {until}")
        same(cx_index(events, journey, until=until, cache=kept_cache).to_dict(), ref, "kept")


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(_event, min_size=1, max_size=25), min_size=1, max_size=4))
def test_kept_driver_counts_equal_the_reference_after_every_append(
    batches: list[list[tuple[Any, ...]]],
) -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        cells = app.score_cells()
        kept_cache = _fresh_cache(app)  # one running server: refreshed per batch
        seen: list[str] = []
        for n, batch in enumerate(batches):
            _load(app, _records(batch, n, seen))
            cells.ensure()
            _check(app, cells, kept_cache)


def test_driver_counts_are_rebuilt_when_out_of_step_or_configured_otherwise() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        cells = app.score_cells()
        _load(
            app,
            _records([(1, "contact.inbound", 5, 0, 9), (1, "delivery.promised", 3, 0, 9)], 0, []),
        )
        cells.ensure()
        with app.store.transaction() as con:
            con.execute("DELETE FROM df_kinds").fetchall()
            assert not cells.facts.check_and_compact(con)  # the drift check rebuilds
            assert con.execute("SELECT sum(n) FROM df_kinds").fetchall() == [(1,)]
            con.execute("UPDATE df_state SET promises = '[]'").fetchall()
        _load(app, _records([(2, "delivery.completed", 9, 0, 9)], 1, []))
        cells.ensure()  # another configuration: rebuilt from the log, batch included once
        with app.store.transaction() as con:
            assert con.execute(
                "SELECT role, count(*) FROM df_promises GROUP BY 1 ORDER BY 1"
            ).fetchall() == [
                ("f", 1),
                ("p", 1),
            ]


def test_a_kept_state_of_another_time_zone_is_not_used() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        cells = ScoreCells(app.store, "UTC", app.store.version, app.journey.promises)
        _load(app, _records([(1, "contact.inbound", 5, 0, 9)], 0, []))
        prev, cur = windows((T0 + timedelta(days=1)).date(), 7)
        assert cells.load_facts(FactState(app.journey, prev, cur, None)) is None


def test_a_missing_owner_counts_as_no_owner_however_pandas_holds_it() -> None:
    """Found by the property test: batches with and without owners concatenated held a
    missing owner as NaN, which the reference (None) counts under ''."""
    import numpy as np
    import pandas as pd

    from klantreis.model.journey import JourneyConfig

    day = date(2026, 3, 9)
    state = FactState(JourneyConfig(promises=[]), (day, day), (day, day), None)
    for owner in (None, np.nan, "finance"):
        state.add(
            pd.DataFrame(
                {"kind": ["delivery.failed"], "owner": [owner], "is_current": [False], "count": [1]}
            ),
            {},
        )
    assert dict(state.facts().previous) == {
        ("delivery.failed", ""): 2,
        ("delivery.failed", "finance"): 1,
    }


def test_the_driver_counts_are_first_counted_under_the_memory_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counting every journey's firsts held 3.8 GiB at 100M events: the kept tables' read
    and the log's first count run under ``index_memory_mb``, which is put back after."""
    from klantreis.analytics import derived_facts, index_facts

    env = {"KLANTREIS_INDEX_MEMORY_MB": "64"}
    with App(Settings.load(env=env, db_path=":memory:")) as app:
        batch = [(j, k, 3 + j, 7, 9) for j in range(7) for k in KINDS[:5]]
        _load(app, _records(batch, 0, []))
        app.score_cells().ensure()
        limits: list[str] = []
        counted = index_facts.broken_counts

        def spy(con: Any, *args: Any, **kw: Any) -> Any:
            sql = "SELECT current_setting('memory_limit')"
            limits.append(str(app.store.con.execute(sql).fetchall()[0][0]))
            return counted(con, *args, **kw)

        monkeypatch.setattr(derived_facts, "broken_counts", spy)
        monkeypatch.setattr(index_facts, "broken_counts", spy)
        prev, cur = windows((T0 + timedelta(days=1)).date(), 7)
        events, journey = app.events_table(), app.journey
        ref = collect_facts(events, journey, prev, cur, None)
        kept = FactState(journey, prev, cur, None)
        assert app.score_cells().load_facts(kept) == app.store.count()
        log_cache = StoreCache("events", app.store.version, memory_mb=64)  # no kept tables
        hit = (app.store.con, log_cache)
        from klantreis.analytics import index_cache

        from_log = index_cache.facts(events, journey, prev, cur, None, hit)
        after = app.store.con.execute("SELECT current_setting('memory_limit')").fetchall()
    assert kept.facts() == ref == from_log and ref.current
    n = len(journey.promises)
    assert limits == ["64.0 MiB"] * (2 * n) and n > 0  # each promise, kept then log
    assert after[0][0] != "64.0 MiB"
