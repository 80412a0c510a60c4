"""The journey index stays equal to the plain queries as events arrive."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.journeys.logs import T0, edge_counts, ev, load, small_log

from klantreis.analytics import discovery
from klantreis.analytics.journey_index import JourneyIndex, open_index
from klantreis.app import App
from klantreis.settings import Settings


def test_first_use_builds_then_stays_current(small_app: App) -> None:
    index = JourneyIndex(small_app.store)
    first = index.ensure()
    assert (first.mode, first.journeys) == ("full", 6)
    assert index.ensure().mode == "current"


def test_new_events_refresh_only_their_journeys(small_app: App) -> None:
    index = JourneyIndex(small_app.store)
    before = index.discover(top=None)  # fills the cached graph of all journeys
    assert ("invoice.sent", "invoice.paid") not in edge_counts(before.dfg)
    load(
        small_app,
        [
            ev("o6-z", "o6", "invoice.paid", T0 + timedelta(days=9)),
            ev("n1-1", "n1", "order.placed", T0 + timedelta(days=9)),
        ],
    )
    result = index.ensure()
    assert (result.mode, result.journeys) == ("incremental", 2)
    t, j = small_app.events_table(), small_app.journey
    fast = index.discover(top=None)
    plain = discovery.discover(t, j, top=None)
    assert edge_counts(fast.dfg) == edge_counts(plain.dfg)
    assert edge_counts(fast.dfg)[("invoice.sent", "invoice.paid")] == 1
    assert fast.variants.to_pylist() == plain.variants.to_pylist()
    assert fast.journeys == 7


def test_an_out_of_step_index_is_rebuilt(small_app: App) -> None:
    index = JourneyIndex(small_app.store)
    index.ensure()
    small_app.store.con.execute("DELETE FROM journey_steps WHERE journey_id = 'o1'").fetchall()
    load(small_app, [ev("n1-1", "n1", "order.placed", T0)])
    assert index.ensure().mode == "full"
    assert index.discover().journeys == 7


def test_read_only_store_has_no_index(tmp_path: Path) -> None:
    path = str(tmp_path / "ro.duckdb")
    with App(Settings.load(env={}, db_path=path)) as app:
        load(app, small_log())
    with App(Settings.load(env={}, db_path=path), read_only=True) as app:
        assert open_index(app.store) is None
        assert discovery.discover(app.events_table(), app.journey).journeys == 6


def test_an_index_of_another_version_is_rebuilt(small_app: App) -> None:
    con = small_app.store.con
    con.execute(
        "CREATE TABLE journey_index_state (events BIGINT, watermark TIMESTAMPTZ)"
    ).fetchall()
    con.execute("INSERT INTO journey_index_state VALUES (33, now())").fetchall()
    con.execute("CREATE TABLE journey_paths (journey_id VARCHAR, kind_path VARCHAR)").fetchall()
    index = JourneyIndex(small_app.store)
    assert index.ensure().mode == "full"
    assert index.discover().start.to_pylist() == [{"activity": "order.placed", "count": 6}]


def test_the_apps_index_checks_the_store_version_first(small_app: App) -> None:
    """The App's index skips its write transaction while the store is unchanged."""
    index = small_app.journey_index()
    assert index is not None and small_app.journey_index() is index  # one per App
    transactions: list[int] = []
    opened = small_app.store.transaction

    def counting() -> object:
        transactions.append(1)
        return opened()

    small_app.store.transaction = counting  # type: ignore[method-assign]
    assert index.ensure().mode == "current" and not transactions
    load(small_app, [ev("n1-1", "n1", "order.placed", T0 + timedelta(days=9))])
    assert index.ensure().mode == "incremental" and transactions
    assert index.discover().journeys == 7


def test_a_read_only_app_has_no_index(tmp_path: Path) -> None:
    path = str(tmp_path / "ro.duckdb")
    with App(Settings.load(env={}, db_path=path)) as app:
        load(app, small_log())
    with App(Settings.load(env={}, db_path=path), read_only=True) as app:
        assert app.journey_index() is None


def test_new_activities_get_new_codes_and_old_codes_keep_their_meaning(small_app: App) -> None:
    """Activities are kept as codes (positions in ``journey_codes``): a refresh appends the
    names it has not seen, so every code already written means what it meant, and a
    rebuild keeps them too."""
    con = small_app.store.con
    index = JourneyIndex(small_app.store)
    index.discover(top=None)
    codes = dict(con.execute("SELECT activity, names FROM journey_codes").fetchall())
    assert "kind.never.seen" not in codes["kind"]
    load(small_app, [ev("o1-new", "o1", "kind.never.seen", T0 + timedelta(days=9))])
    assert index.ensure().mode == "incremental"
    after = dict(con.execute("SELECT activity, names FROM journey_codes").fetchall())
    assert after["kind"] == [*codes["kind"], "kind.never.seen"]
    assert after["touchpoint"][: len(codes["touchpoint"])] == codes["touchpoint"]
    fast = index.discover(top=None)
    plain = discovery.discover(small_app.events_table(), small_app.journey, top=None)
    assert edge_counts(fast.dfg) == edge_counts(plain.dfg)
    assert any(
        "kind.never.seen" in variant for variant in fast.variants.column("variant").to_pylist()
    )
    assert fast.variants.to_pylist() == plain.variants.to_pylist()
    assert fast.end.to_pylist() == plain.end.to_pylist()
    index.rebuild()
    assert dict(con.execute("SELECT activity, names FROM journey_codes").fetchall()) == after
    assert index.discover(top=None).variants.to_pylist() == plain.variants.to_pylist()
