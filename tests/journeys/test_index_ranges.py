"""The journey index built in many small journey-key ranges equals the one-range build and
the single-statement queries it replaced, ties included (issue 17)."""

from __future__ import annotations

import random
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.journeys.logs import T0, ev, load

from klantreis.analytics import discovery
from klantreis.analytics import journey_index as ji
from klantreis.app import App
from klantreis.settings import Settings
from klantreis.store.memory import bytes_of

KINDS = ["order.placed", "payment.completed", "delivery.completed", "contact.inbound"]
TOUCHPOINTS = [None, "bezorging", "factuur"]


def _random_log(seed: int, journeys: int = 120) -> list[dict[str, Any]]:
    """Journeys of 1-9 events with equal time stamps, equal source orders (the event id
    decides) and ids whose string order differs from their numeric order; missing
    touchpoints; events without a journey; ids of every length (range boundaries fall
    between 'j10' and 'j9')."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    for j in range(journeys):
        jid = f"j{rng.randrange(10 ** rng.randrange(1, 5))}-{j}"
        for e in range(rng.randrange(1, 10)):
            records.append(
                ev(
                    f"{jid}-e{rng.randrange(100)}-{e}",
                    jid,
                    rng.choice(KINDS),
                    T0 + timedelta(minutes=rng.choice([0, 0, 1, 5])),  # many equal stamps
                    source_order=rng.choice([0, 0, 1, 2]),  # ties left to the event id
                    touchpoint=rng.choice(TOUCHPOINTS),
                )
            )
    records += [ev(f"loose-{i}", None, "contact.inbound", T0) for i in range(5)]
    return records


def _tables(app: App) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    con = app.store.con
    steps = con.execute("SELECT * FROM journey_steps ORDER BY journey_id, seq").fetchall()
    paths = con.execute(f"SELECT * FROM ({ji.NAMED_PATHS_SQL}) ORDER BY 1").fetchall()
    return steps, paths


def _single_statement(app: App) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The tables as the incremental refresh's single statements compute them over all
    events (the paths with six ordered aggregates over the event log)."""
    con = app.store.con
    for ddl in ji._DDL:  # the activities' codes, as a build gives them (none before)
        con.execute(ddl)
    ji.add_codes(con, "events")
    steps = con.execute(
        f"SELECT * FROM ({ji._STEPS_SELECT.format(where='')}) ORDER BY 1, 2"
    ).fetchall()
    paths_sql = ji._PATHS_SQL.format(where="").replace("INSERT INTO journey_paths", "")
    paths = con.execute(f"SELECT * FROM ({paths_sql}) ORDER BY 1").fetchall()
    return steps, paths


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_small_ranges_equal_one_range(app: App, seed: int) -> None:
    load(app, _random_log(seed))
    n = app.store.count()
    assert len(ji._key_ranges(app.store.con, n, 7)) > 20  # really many ranges
    one = ji.JourneyIndex(app.store, range_events=10**9)
    assert one.rebuild().mode == "full"
    whole = _tables(app)
    assert whole == _single_statement(app)
    assert len(whole[0]) == n - 5 and len(whole[1]) == 120
    whole_discovery = one.discover(top=None)

    many = ji.JourneyIndex(app.store, range_events=7)
    assert many.rebuild().journeys == 120
    assert _tables(app) == whole
    got = many.discover(top=None)
    assert got.variants.to_pylist() == whole_discovery.variants.to_pylist()
    assert got.dfg.to_pylist() == whole_discovery.dfg.to_pylist()
    plain = discovery.discover(app.events_table(), app.journey, top=None)
    assert got.variants.to_pylist() == plain.variants.to_pylist()
    assert got.start.to_pylist() == plain.start.to_pylist()
    assert got.end.to_pylist() == plain.end.to_pylist()


def test_waits_equal_date_diff_across_summer_time(app: App) -> None:
    at = [T0, T0.replace(month=3, day=29, hour=0, minute=59, microsecond=999_999)]
    at += [at[1] + timedelta(hours=5, microseconds=2), T0.replace(month=10, day=26, hour=3)]
    load(app, [ev(f"d-{i}", "dst", KINDS[i % 4], t) for i, t in enumerate(sorted(at))])
    app.store.con.execute("SET TimeZone = 'Europe/Amsterdam'").fetchall()
    ji.JourneyIndex(app.store, range_events=2).rebuild()
    rows = app.store.con.execute(
        "SELECT s.wait_s, date_diff('microsecond', e.occurred_at, n.occurred_at) / 1e6"
        " FROM journey_steps s"
        " JOIN (SELECT *, row_number() OVER (ORDER BY occurred_at) - 1 AS seq FROM events) e"
        " USING (seq) LEFT JOIN (SELECT *, row_number() OVER (ORDER BY occurred_at) - 2 AS seq"
        " FROM events) n USING (seq) ORDER BY s.seq"
    ).fetchall()
    assert len(rows) == 4 and rows[-1] == (None, None)
    assert all(wait == expected for wait, expected in rows[:-1])
    assert rows[1][0] == 5 * 3600 + 2e-6


def test_a_range_per_event_and_a_single_journey(app: App) -> None:
    load(app, [ev(f"x-{i}", "only", KINDS[i % 4], T0) for i in range(6)])
    index = ji.JourneyIndex(app.store, range_events=1)
    assert index.rebuild().journeys == 1
    steps, paths = _tables(app)
    assert [s[1] for s in steps] == list(range(6))
    assert (steps, paths) == _single_statement(app)


def test_a_build_that_fails_half_way_keeps_the_old_index(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(app, _random_log(4))
    index = ji.JourneyIndex(app.store, range_events=20)
    index.ensure()
    before = _tables(app)
    monkeypatch.setattr(ji, "_RANGE_PATHS_SQL", "SELECT no_such_column FROM events")
    with pytest.raises(duckdb.Error):
        index.rebuild()
    assert _tables(app) == before
    assert index.ensure().mode == "current"  # its state was not touched either
    monkeypatch.undo()
    assert index.rebuild().mode == "full"  # the next build clears the half-built tables
    assert _tables(app) == before
    leftovers = app.store.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '%_build'"
    ).fetchall()
    assert leftovers == []


def test_range_events_must_be_positive(app: App) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ji.JourneyIndex(app.store, range_events=0)


def test_a_build_under_a_small_memory_limit_puts_the_limit_back(tmp_path: Path) -> None:
    with App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"))) as app:
        load(app, _random_log(5, journeys=300))
        con = app.store.con
        before = con.execute("SELECT current_setting('memory_limit')").fetchall()
        seen: list[str] = []
        original = ji._RANGE_PATHS_SQL

        class Spy(str):
            def format(self, *args: Any, **kw: Any) -> str:
                seen.append(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
                return original.format(*args, **kw)

        index = ji.JourneyIndex(app.store, range_events=50, memory_mb=64)
        ji._RANGE_PATHS_SQL = Spy(original)
        try:
            assert index.rebuild().journeys == 300
        finally:
            ji._RANGE_PATHS_SQL = original
        assert seen and set(seen) == {"64.0 MiB"}
        assert con.execute("SELECT current_setting('memory_limit')").fetchall() == before
        assert _tables(app) == _single_statement(app)


def test_sizes_as_duckdb_prints_them() -> None:
    assert bytes_of("18.8 GiB") == 18.8 * 2**30
    assert bytes_of("512.0 MiB") == 512 * 2**20
    assert bytes_of("1000 bytes") == 1000
    assert bytes_of("lots") == float("inf")


def test_ties_on_time_and_source_order_are_redone_by_event_id(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A range is ordered by time and source order only; journeys with a tie on both are
    redone in the full order (the event id decides). Without that second pass the steps
    differ, so the test sees it."""
    ids = ["t-9", "t-10", "t-1", "t-05", "t-x", "t-0"]  # string order differs from list order
    load(app, [ev(i, "tie", KINDS[n % 4], T0, source_order=3) for n, i in enumerate(ids)])
    load(app, [ev(f"u-{n}", "plain", KINDS[n % 4], T0 + timedelta(minutes=n)) for n in range(4)])
    expected = _single_statement(app)
    ji.JourneyIndex(app.store, range_events=10**9).rebuild()
    assert _tables(app) == expected
    monkeypatch.setattr(ji, "_RANGE_TIES_SQL", ji._RANGE_TIES_SQL.replace("seq < 0", "false"))
    ji.JourneyIndex(app.store, range_events=10**9).rebuild()
    assert _tables(app) != expected


def _in_journey_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as a file written journey by journey stores them: journey ids ascending,
    each journey's events by time and source order (ties left as they come)."""
    return sorted(
        (r for r in records if r["journey_id"] is not None),
        key=lambda r: (r["journey_id"], r["occurred_at"], r["source_order"]),
    )


@pytest.mark.parametrize(
    ("seed", "range_events", "parts"),
    [(1, 10**9, 1), (2, 7, 1), (3, 40, 2), (6, 7, None), (7, 10**9, 3), (8, 25, 4)],
)
def test_a_log_stored_in_journey_order_is_built_without_the_window(
    app: App, monkeypatch: pytest.MonkeyPatch, seed: int, range_events: int, parts: int | None
) -> None:
    """Every range is read in the stored order (the window statement is broken here, so a
    range built by it would fail), whole or cut in parts read side by side, ties still
    redone by event id: the tables equal the single statements'."""
    monkeypatch.setattr(ji, "_STORED_PARTS", parts)
    monkeypatch.setattr(ji, "_STORED_MIN_PART", 1)  # cut even these small ranges
    log = _random_log(seed)
    load(app, _in_journey_order(log) + [r for r in log if r["journey_id"] is None])
    expected = _single_statement(app)
    monkeypatch.setattr(ji, "_RANGE_STEPS_SQL", "SELECT no_such_column FROM events")
    assert ji.JourneyIndex(app.store, range_events=range_events).rebuild().journeys == 120
    assert _tables(app) == expected
    ordered = _in_journey_order(log)
    ties = [
        a
        for a, b in pairwise(ordered)
        if (a["journey_id"], a["occurred_at"], a["source_order"])
        == (b["journey_id"], b["occurred_at"], b["source_order"])
    ]
    assert ties  # the log has journeys that needed the event id


@pytest.mark.parametrize(("late", "parts"), [(0, 1), (60, 1), (119, 1), (60, 2), (119, 3)])
def test_events_out_of_journey_order_fall_back_to_the_window(
    app: App,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    late: int,
    parts: int,
) -> None:
    """A journey's event stored after the others' (a later append, a file not written
    journey by journey): the ranges from there on are built by the window, the ranges
    already built stay, and the tables equal the single statements'."""
    monkeypatch.setattr(ji, "_STORED_PARTS", parts)
    monkeypatch.setattr(ji, "_STORED_MIN_PART", 1)
    ordered = _in_journey_order(_random_log(4))
    journeys = sorted({r["journey_id"] for r in ordered})
    moved = next(r for r in ordered if r["journey_id"] == journeys[late])
    ordered.remove(moved)
    load(app, [*ordered, moved])
    expected = _single_statement(app)
    with caplog.at_level("INFO", logger=ji.__name__):
        assert ji.JourneyIndex(app.store, range_events=40).rebuild().journeys == 120
    assert _tables(app) == expected
    assert "built by the window" in caplog.text


def test_paths_in_seq_order_when_the_lists_come_out_of_order(app: App) -> None:
    """The paths' fast case (lists already in seq order, no NULL) and the graded case give
    the same strings as ordered aggregates, whatever order the grouping lists them in."""
    load(app, _random_log(5))
    ji.JourneyIndex(app.store, range_events=10**9).rebuild()
    con = app.store.con
    con.execute("CREATE TABLE shuffled AS SELECT * FROM journey_steps ORDER BY random()")
    con.execute(f"CREATE TABLE p2 {ji._PATHS_COLUMNS}")
    con.execute(ji._RANGE_PATHS_SQL.format(paths="p2", steps="shuffled", where=""))
    named = ji.NAMED_PATHS_SQL.replace("FROM journey_paths", "FROM p2")
    got = con.execute(f"SELECT * FROM ({named}) ORDER BY 1").fetchall()
    assert got == _single_statement(app)[1]
