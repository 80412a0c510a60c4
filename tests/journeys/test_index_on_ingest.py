"""A file ingest keeps the journey index up to date (``index_on_ingest``, issue 17): the
tables after ingesting a log split at random into files, in one or in several ingests,
equal a full build of the same store (ties, repeated ids, quarantined rows and journeys
whose events lie in several files included)."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from tests.journeys.logs import T0, ev

import klantreis.ingest.runner as runner
from klantreis.analytics import journey_index_ingest as jii
from klantreis.analytics.journey_index import NAMED_PATHS_SQL, NAMED_STEPS_SQL, JourneyIndex
from klantreis.app import App
from klantreis.model.events import events_from_records
from klantreis.settings import Settings

KINDS = ["order.placed", "payment.completed", "delivery.completed", "contact.inbound"]


def _log(seed: int, journeys: int = 60) -> list[dict[str, Any]]:
    """Journeys of 1-8 events, many equal time stamps and source orders (the event id
    decides), events without a journey, rows the validation rejects (no kind)."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    for j in range(journeys):
        jid = f"j{rng.randrange(10 ** rng.randrange(1, 4))}-{j}"
        for e in range(rng.randrange(1, 9)):
            records.append(
                ev(
                    f"{jid}-e{rng.randrange(50)}-{e}",
                    jid,
                    rng.choice(KINDS),
                    T0 + timedelta(minutes=rng.choice([0, 0, 1, 7])),
                    source_order=rng.choice([0, 0, 1]),
                    touchpoint=rng.choice([None, "bezorging", "factuur"]),
                )
            )
    records += [ev(f"loose-{i}", None, "contact.inbound", T0) for i in range(3)]
    records += [ev(f"bad-{i}", f"j1-{i}", "", T0) for i in range(3)]  # quarantined
    return records


def _files(
    tmp: Path, records: list[dict[str, Any]], parts: int, seed: int, even: bool = False
) -> list[Path]:
    """The records shuffled into ``parts`` Parquet files (cut at random, or ``even``ly),
    some ids repeated in the last file (with another kind: the first stored wins)."""
    rng = random.Random(seed)
    shuffled = records[:]
    rng.shuffle(shuffled)
    repeats = [dict(r, kind="contact.inbound") for r in rng.sample(shuffled, 8)]
    cuts = sorted(rng.sample(range(1, len(shuffled)), parts - 1))
    if even:
        cuts = [len(shuffled) * i // parts for i in range(1, parts)]
    chunks = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    chunks[-1] += repeats
    paths = []
    for i, chunk in enumerate(chunks):
        path = tmp / f"part{i}.parquet"
        pq.write_table(events_from_records(chunk), path)
        paths.append(path)
    return paths


def _tables(app: App) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    con = app.store.con
    steps = con.execute(f"SELECT * FROM ({NAMED_STEPS_SQL}) ORDER BY journey_id, seq").fetchall()
    paths = con.execute(f"SELECT * FROM ({NAMED_PATHS_SQL}) ORDER BY 1").fetchall()
    return steps, paths


def _state(app: App) -> tuple[int, int]:
    indexed = app.store.con.execute("SELECT events FROM journey_index_state").fetchall()
    return int(indexed[0][0]), app.store.count()


def _reference(app: App) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    JourneyIndex(app.store, range_events=10**9).rebuild()
    return _tables(app)


@pytest.fixture(params=[True, False], ids=["sql-path", "batch-path"])
def parquet_sql(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(runner, "PARQUET_SQL", request.param)
    return bool(request.param)


def _app(tmp_path: Path, **settings: Any) -> App:
    return App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"), **settings))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_files_ingested_one_by_one_give_the_full_build(
    tmp_path: Path, parquet_sql: bool, seed: int
) -> None:
    files = _files(tmp_path, _log(seed), parts=4, seed=seed)
    with _app(tmp_path, index_range_events=7) as app:  # many key ranges per extension
        quarantined = 0
        for path in files[:2]:  # the first into an empty store: the full build
            summary = app.ingest_paths([path], progress=False)
            quarantined += summary.files[0].quarantined
            assert _state(app)[0] == _state(app)[1]  # current after every ingest
        summary = app.ingest_paths(files[2:], progress=False)  # two files in one ingest
        quarantined += sum(f.quarantined for f in summary.files)
        assert quarantined == 3 and sum(f.duplicates for f in summary.files) == 8
        assert _state(app)[0] == _state(app)[1]
        kept = _tables(app)
        assert kept[0] and kept[1]
        assert kept == _reference(app)


def test_a_journey_in_two_files_is_recomputed_from_all_its_events(tmp_path: Path) -> None:
    first = [ev("a1", "j", "order.placed", T0), ev("a3", "j", "delivery.completed", T0)]
    later = [ev("a2", "j", "payment.completed", T0 + timedelta(minutes=-1))]
    files = []
    for name, records in (("a.parquet", first), ("b.parquet", later)):
        pq.write_table(events_from_records(records), tmp_path / name)
        files.append(tmp_path / name)
    with _app(tmp_path) as app:
        app.ingest_paths(files[:1], progress=False)
        app.ingest_paths(files[1:], progress=False)
        paths = app.store.con.execute(f"SELECT #2 FROM ({NAMED_PATHS_SQL})").fetchall()
        assert paths == [("payment.completed\x1forder.placed\x1fdelivery.completed",)]
        assert app.journey_index().ensure().mode == "current"


def test_nothing_is_built_when_the_index_was_not_current(tmp_path: Path) -> None:
    files = _files(tmp_path, _log(4), parts=2, seed=4)
    with _app(tmp_path, index_on_ingest=False) as app:
        app.ingest_paths(files[:1], progress=False)
        assert jii.index_mark(app.store) is None  # events, no index
    with _app(tmp_path) as app:  # now on, but the index was not current: left to the read
        app.ingest_paths(files[1:], progress=False)
        tables = app.store.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'journey_%'"
        ).fetchall()
        assert tables == [(0,)]
        assert app.journey_index().ensure().mode == "current"  # the first read built it
        assert _state(app)[0] == _state(app)[1]


def test_an_extension_that_stops_half_way_is_put_right_by_the_next_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _files(tmp_path, _log(5), parts=2, seed=5, even=True)
    with _app(tmp_path, index_range_events=5) as app:
        app.ingest_paths(files[:1], progress=False)
        calls = []
        original = jii._index_range

        def fail_after_one(*args: Any) -> None:
            if calls:
                raise duckdb.IOException("disk full (test)")
            calls.append(1)
            original(*args)

        monkeypatch.setattr(jii, "_index_range", fail_after_one)
        summary = app.ingest_paths(files[1:], progress=False)
        assert summary.files[0].events_stored > 0 and not summary.files[0].error
        indexed, events = _state(app)
        assert indexed < events  # the state still says: behind
        monkeypatch.setattr(jii, "_index_range", original)
        assert app.journey_index() is not None  # the first read's refresh
        assert _state(app)[0] == _state(app)[1]
        kept = _tables(app)
        assert kept == _reference(app)
