"""The touched journeys' events are read from the log once per batch for the refreshes that
read them (the journey index, the derived views and the kept conditions), a refresh of
another batch reads afresh, and what the refreshes keep equals a rebuild from the log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.journeys.logs import T0, ev, load, small_log

from klantreis.analytics import touched_events as te
from klantreis.analytics.derived_views import VIEWS, DerivedViews
from klantreis.analytics.journey_index import JourneyIndex
from klantreis.app import App
from klantreis.settings import Settings

_READ = f"CREATE TEMP TABLE {te.TABLE}"


@pytest.fixture()
def app() -> Any:
    with App(Settings.load(env={}, db_path=":memory:")) as a:
        load(a, small_log())
        yield a


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements that copy touched events from the log, as they run."""
    seen: list[str] = []
    orig = te._rows

    def counted(con: Any, sql: str, params: Any = None) -> Any:
        if sql.startswith(_READ):
            seen.append(sql)
        return orig(con, sql, params)

    monkeypatch.setattr(te, "_rows", counted)
    return seen


def _temp_tables(app: App) -> set[str]:
    rows = app.store.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary"
    ).fetchall()
    return {r[0] for r in rows}


def _snapshot(app: App) -> dict[str, list[tuple[Any, ...]]]:
    tables = ["journey_steps", "journey_paths", *(f"dv_{v}" for v in VIEWS)]
    con = app.store.con
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}


def _batch(tag: str) -> list[dict[str, Any]]:
    return [
        ev(
            f"{tag}-1",
            "o1",
            "contact.inbound",
            T0 + timedelta(days=20),
            attrs={"segment": "b\u00e9"},
        ),
        ev(f"{tag}-2", "o3", "delivery.failed", T0 + timedelta(days=21), owner="carrier:x"),
        ev(f"{tag}-3", "n1", "order.placed", T0 + timedelta(days=22)),
        ev(f"{tag}-4", None, "social.mention", T0 + timedelta(days=22), channel="social"),
    ]


def test_both_refreshes_share_one_read_and_equal_a_rebuild(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, views = JourneyIndex(app.store), DerivedViews(app.store, app.journey)
    index.ensure(), views.ensure()
    reads = _reads(monkeypatch)
    load(app, _batch("b1"))
    assert index.ensure().mode == "incremental"
    assert te.TABLE in _temp_tables(app), "kept for the views' refresh"
    result = views.ensure()
    assert result.mode == "incremental" and result.journeys == 3
    assert len(reads) == 1, "one read of the log for both refreshes"
    assert not {te.TABLE, te.IDS} & _temp_tables(app), "dropped once both used it"
    refreshed = _snapshot(app)
    index.rebuild(), views.rebuild()
    assert _snapshot(app) == refreshed


def test_the_checks_count_the_journey_events_once_per_batch(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index's and the views' out-of-step checks share one count of the events with a
    journey, and a refresh after the next batch counts again (it grew by that batch)."""
    index, views = JourneyIndex(app.store), DerivedViews(app.store, app.journey)
    index.ensure(), views.ensure()
    counts: list[int] = []
    orig = te._rows

    def counted(con: Any, sql: str, params: Any = None) -> Any:
        rows = orig(con, sql, params)
        if "count(journey_id)" in sql:
            counts.append(rows[0][0])
        return rows

    monkeypatch.setattr(te, "_rows", counted)
    load(app, _batch("b1"))
    index.ensure(), views.ensure()
    load(app, _batch("b2"))
    index.ensure(), views.ensure()
    assert counts == [counts[0], counts[0] + 3], "one count per batch (3 journey events each)"
    want = app.store.con.execute("SELECT count(*) FROM events WHERE journey_id IS NOT NULL")
    assert counts[-1] == want.fetchall()[0][0]


def _kept_conditions(app: App) -> dict[str, list[tuple[Any, ...]]]:
    con = app.store.con
    return {
        t: con.execute(f"FROM {t} ORDER BY ALL").fetchall() for t in ("dk_kinds", "dk_promised")
    }


@pytest.mark.parametrize("first", ["index", "conditions"])
def test_the_kept_conditions_share_the_read_and_equal_a_rebuild(
    app: App, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    """With kept conditions in the store, the copy waits for their refresh too (whichever
    refresh comes first makes it): one read for the three, dropped after the last; the
    conditions' rows equal a rebuild's."""
    from klantreis.contacts.conditions import ConditionViews

    index, views = JourneyIndex(app.store), DerivedViews(app.store, app.journey)
    conditions = ConditionViews(app.store, app.journey)
    index.ensure(), views.ensure(), conditions.ensure()
    reads = _reads(monkeypatch)
    load(app, _batch("b1"))
    refreshes = [index.ensure, views.ensure, conditions.ensure]
    if first == "conditions":
        refreshes = refreshes[::-1]
    assert refreshes[0]().mode == "incremental"
    assert te.TABLE in _temp_tables(app), "kept for the other refreshes"
    refreshes[1]()
    assert te.TABLE in _temp_tables(app), "kept for the last refresh"
    assert refreshes[2]().mode == "incremental"
    assert len(reads) == 1, "one read of the log for the three refreshes"
    assert not {te.TABLE, te.IDS} & _temp_tables(app), "dropped once all three used it"
    refreshed = _kept_conditions(app)
    assert refreshed["dk_kinds"], "the batch's journeys have kept rows"
    conditions.rebuild()
    assert _kept_conditions(app) == refreshed


def test_another_batch_reads_afresh(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index refreshed after one batch, the views after two: the views' refresh covers
    both batches, so it does not take the index's copy of the first."""
    index, views = JourneyIndex(app.store), DerivedViews(app.store, app.journey)
    index.ensure(), views.ensure()
    reads = _reads(monkeypatch)
    load(app, _batch("b1"))
    index.ensure()
    load(app, [ev("b2-1", "o2", "contact.inbound", T0 + timedelta(days=30))])
    assert views.ensure().journeys == 4  # o1, o3, n1 of the first batch, o2 of the second
    assert len(reads) == 2
    index.ensure()
    assert len(reads) == 3
    refreshed = _snapshot(app)
    index.rebuild(), views.rebuild()
    assert _snapshot(app) == refreshed


def test_a_large_copy_is_not_kept(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(te, "KEEP_MAX_ROWS", 0)
    index, views = JourneyIndex(app.store), DerivedViews(app.store, app.journey)
    index.ensure(), views.ensure()
    reads = _reads(monkeypatch)
    load(app, _batch("b1"))
    index.ensure()
    assert te.TABLE not in _temp_tables(app)
    views.ensure()
    assert len(reads) == 2


def test_a_batch_without_journeys_touches_none(app: App) -> None:
    index, views = JourneyIndex(app.store), DerivedViews(app.store, app.journey)
    index.ensure(), views.ensure()
    load(app, [ev("m9", None, "social.mention", T0 + timedelta(days=9), channel="social")])
    assert index.ensure().journeys == 0
    assert views.ensure().journeys == 0


@pytest.mark.parametrize(
    "attrs",
    [
        '{"segment": "business"}',
        '{"\\u0073egment": "escaped key"}',
        '{"a": {"segment": "nested"}, "b": 1}',
        '{"segments": "other key"}',
        '{"deadline": "2025-03-04T10:00:00Z"}',
        "not json, segment",
        None,
    ],
)
def test_the_segment_shortcut_equals_parsing_every_event(attrs: str | None) -> None:
    """The views parse ``attrs`` only where it can hold the key: the same value as parsing."""
    import duckdb

    from klantreis.analytics.derived_views import _SEGMENT

    con = duckdb.connect()
    sql = (
        f"SELECT {_SEGMENT}, try(json_extract_string(attrs, '$.segment')) FROM (SELECT ? AS attrs)"
    )
    fast, parsed = con.execute(sql, [attrs]).fetchall()[0]
    assert fast == parsed


def test_rows_of_reads_the_touched_journeys_rows_by_row_id() -> None:
    """The two-pass read (key column, then the rows by row id) gives the rows a semi-join on
    the key gives, with rows deleted before it (row ids with holes), journeys outside the
    range and a NULL key among them; ``rowid`` is the row's own."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT 'j' || lpad((i % 97)::VARCHAR, 3, '0') AS journey_id, i,"
        " repeat('x', i % 7) AS payload FROM range(5000) r(i)"
    )
    con.execute("INSERT INTO t VALUES (NULL, -1, 'none')")
    con.execute("DELETE FROM t WHERE i % 5 = 0")
    con.execute(
        "CREATE TABLE ids AS SELECT * FROM (VALUES ('j003'), ('j050'), ('j096')) v(journey_id)"
    )
    bounds = ["j003", "j050"]  # j096 lies outside: left out
    sql = te.rows_of("t", "rowid AS rid, *", "ids")
    got = con.execute(f"SELECT * FROM ({sql}) ORDER BY i", bounds).fetchall()
    want = con.execute(
        "SELECT rowid, * FROM t WHERE journey_id IN ('j003', 'j050') ORDER BY i"
    ).fetchall()
    assert got == want and len(got) > 50
    assert {r[1] for r in got} == {"j003", "j050"}


@pytest.mark.parametrize("layout", ["view over event_log", "events table"])
def test_the_copy_reads_the_table_behind_events(layout: str) -> None:
    """The copy reads by row id from ``event_log`` behind the DuckDB store's ``events``
    view, or from ``events`` where that is a table (row ids exist on tables only)."""
    import duckdb

    con = duckdb.connect()
    cols = te.COLUMNS
    select = (
        "SELECT 'e' || i AS event_id, TIMESTAMPTZ '2026-01-01' + i * INTERVAL 1 MINUTE AS"
        " occurred_at, 'c' AS customer_id, 'j' || (i % 4) AS journey_id, 'order.placed' AS kind,"
        " NULL AS touchpoint, NULL AS channel, NULL AS owner, NULL AS metric, NULL::DOUBLE AS"
        " score, NULL AS attrs, i AS source_order, TIMESTAMPTZ '2026-01-01' + i * INTERVAL 1"
        " HOUR AS ingested_at FROM range(20) r(i)"
    )
    if layout == "events table":
        con.execute(f"CREATE TABLE events AS {select}")
    else:
        con.execute(f"CREATE TABLE event_log AS {select}")
        con.execute(f"CREATE VIEW events AS SELECT {cols} FROM event_log")
    # events ingested after hour 17 touch journeys j2, j3 (i = 18, 19)
    table, _, bounds = te.touched_events(con, "2026-01-01 17:30:00+00", "index")
    assert bounds == ["j2", "j3"]
    got = con.execute(f"SELECT event_id FROM {table} ORDER BY source_order").fetchall()
    assert [r[0] for r in got] == [f"e{i}" for i in range(20) if i % 4 in (2, 3)]
