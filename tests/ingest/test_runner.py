"""ingest_paths end to end: shared event logs, idempotency, interruption safety, runs."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from ingest_helpers import HEADER, assert_counts_add_up

from klantreis.app import App
from klantreis.ingest import load_mapping
from klantreis.settings import Settings
from klantreis.store import EventStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _events_csv(path: Path, n: int, start: int = 0, bad_every: int = 0) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER)
        for i in range(start, start + n):
            when = (
                "2024-13-01 10:00"
                if bad_every and i % bad_every == 0
                else f"2024-03-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}"
            )
            fh.write(f"ev{i},{when},web.visit,web,,,\n")
    return path


def _small_batches(tmp_path: Path, rows: int = 50) -> App:
    return App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"), ingest_batch_rows=rows))


def test_xes_event_log(app: App, shared_data: Path) -> None:
    path = shared_data / "eventlogs" / "bpic2013_closed_problems.xes.gz"
    f = app.ingest_paths([path], progress=False).files[0]
    assert_counts_add_up(f)
    assert (f.format, f.rows_read, f.events_stored) == ("xes", 6660, 6660)
    cases = app.store.query("SELECT count(DISTINCT journey_id) AS n FROM events").to_pylist()
    assert cases == [{"n": 1487}]
    one = app.store.query("SELECT kind, attrs->>'resource' AS r FROM events LIMIT 1").to_pylist()
    assert one[0]["kind"].isidentifier() and one[0]["r"]
    assert app.ingest_paths([path], progress=False).files[0].duplicates == 6660


def test_xes_matches_pm4py(app: App, shared_data: Path) -> None:
    pm4py = pytest.importorskip("pm4py")
    path = shared_data / "eventlogs" / "bpic2013_closed_problems.xes.gz"
    log = pm4py.read_xes(str(path))
    app.ingest_paths([path], progress=False)
    per_case = app.store.query("SELECT journey_id, count(*) AS n FROM events GROUP BY ALL")
    ours = {r["journey_id"]: r["n"] for r in per_case.to_pylist()}
    theirs = log.groupby("case:concept:name").size().to_dict()
    assert ours == theirs


@pytest.mark.parametrize("with_mapping", [False, True])
def test_pm4py_receipt_csv(app: App, shared_data: Path, with_mapping: bool) -> None:
    path = shared_data / "eventlogs" / "receipt_wabo.csv"
    mapping = load_mapping(EXAMPLES / "mappings" / "pm4py_csv.toml") if with_mapping else None
    f = app.ingest_paths([path], mapping=mapping, progress=False).files[0]
    assert_counts_add_up(f)
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert f.rows_read == len(rows) == 8577
    distinct = {tuple(r.values()) for r in rows}
    assert f.events_stored + f.duplicates == len(rows)
    assert f.events_stored <= len(distinct)
    cases = app.store.query("SELECT count(DISTINCT journey_id) AS n FROM events").to_pylist()
    assert cases == [{"n": 1434}]
    if with_mapping:
        kinds = app.store.query("SELECT DISTINCT kind FROM events").column(0).to_pylist()
        assert all(k.startswith("wabo.") for k in kinds)


def test_duplicates_in_file_across_files_and_across_runs(tmp_path: Path) -> None:
    a = _events_csv(tmp_path / "a.csv", 120)
    b = _events_csv(tmp_path / "b.csv", 100, start=60)  # overlaps a by 60
    with (tmp_path / "a.csv").open("a", encoding="utf-8") as fh:
        fh.write("ev0,2024-03-01 00:00,web.visit,web,,,\n")  # repeat inside a
    with _small_batches(tmp_path) as app:
        first = app.ingest_paths([a, b], progress=False)
        for f in first.files:
            assert_counts_add_up(f)
        assert [f.events_stored for f in first.files] == [120, 40]
        assert [f.duplicates for f in first.files] == [1, 60]
        assert app.store.count() == 160
        again = app.ingest_paths([a, b], progress=False)
        assert again.events_stored == 0 and again.duplicates == 221
        assert app.store.count() == 160


def test_ingest_runs_are_recorded(tmp_path: Path) -> None:
    a = _events_csv(tmp_path / "a.csv", 30, bad_every=10)
    with _small_batches(tmp_path) as app:
        app.ingest_paths([a, tmp_path / "missing.csv"], progress=False)
        runs = app.store.query(
            "SELECT source, rows_read, events_stored, quarantined, status"
            " FROM ingest_runs ORDER BY source"
        ).to_pylist()
    assert runs[0] == {
        "source": str(a),
        "rows_read": 30,
        "events_stored": 27,
        "quarantined": 3,
        "status": "completed",
    }
    assert runs[1]["status"] == "failed"


class Boom(RuntimeError):
    pass


def test_failure_in_batch_k_leaves_whole_batches_and_rerun_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _events_csv(tmp_path / "a.csv", 500, bad_every=7)
    with App(
        Settings.load(env={}, db_path=str(tmp_path / "clean.duckdb"), ingest_batch_rows=50)
    ) as clean:
        expected = clean.ingest_paths([data], progress=False).files[0]
        clean_events = clean.store.count()
        clean_quarantine = clean.store.count("quarantine")
    calls = {"n": 0}
    original = EventStore.append

    def failing_append(self: EventStore, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 4:
            raise Boom("disk on fire in batch 4")
        return original(self, *args, **kwargs)

    with _small_batches(tmp_path) as app:
        monkeypatch.setattr(EventStore, "append", failing_append)
        with pytest.raises(Boom):
            app.ingest_paths([data], progress=False)
        monkeypatch.setattr(EventStore, "append", original)
        assert app.store.count() > 0 and app.store.count() % 1 == 0
        partial = app.store.count()
        assert partial < clean_events
        rerun = app.ingest_paths([data], progress=False).files[0]
        assert app.store.count() == clean_events
        assert app.store.count("quarantine") == clean_quarantine
        assert rerun.events_stored == clean_events - partial
        assert rerun.events_stored + rerun.duplicates == expected.events_stored


_CHILD = """
import sys, time
import klantreis.store.duckdb_store as ds
from klantreis.app import App
from klantreis.settings import Settings
original = ds.EventStore.append
def slow_append(self, *a, **k):
    result = original(self, *a, **k)
    print("batch", flush=True)
    time.sleep(0.3)
    return result
ds.EventStore.append = slow_append
app = App(Settings.load(env={}, db_path=sys.argv[1], ingest_batch_rows=100))
app.ingest_paths([sys.argv[2]], progress=False)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_killed_ingest_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    data = _events_csv(tmp_path / "a.csv", 2000, bad_every=13)
    db = tmp_path / "killed.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db), str(data)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    seen = 0
    deadline = time.monotonic() + 60
    while seen < 3 and time.monotonic() < deadline:
        if proc.stdout.readline().strip() == "batch":
            seen += 1
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert seen == 3
    with App(Settings.load(env={}, db_path=str(db))) as app:
        partial = app.store.count()
        assert 0 < partial < 2000 and partial % 1 == 0
        f = app.ingest_paths([data], progress=False).files[0]
        assert_counts_add_up(f)
        with App(Settings.load(env={}, db_path=":memory:")) as clean:
            clean.ingest_paths([data], progress=False)
            assert app.store.count() == clean.store.count()
            assert app.store.count("quarantine") == clean.store.count("quarantine")
        ids = app.store.query("SELECT count(*) - count(DISTINCT event_id) AS d FROM events")
        assert ids.to_pylist() == [{"d": 0}]


def test_a_file_ingest_runs_under_its_memory_limit_and_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch-path ingest lowers DuckDB's memory limit (``ingest_memory_mb``), ends with
    the store's checkpoint under it (nothing left in the write-ahead log for the close) and puts the
    limit back (issue 17: the checkpoint on close added ~0.85 GiB at 10M events)."""
    import klantreis.ingest.runner as runner

    settings = Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"), ingest_memory_mb=96)
    with App(settings) as app:
        con = app.store.con
        before = con.execute("SELECT current_setting('memory_limit')").fetchall()
        seen: list[str] = []
        original = runner._run_batches

        def spy(*args: Any) -> None:
            seen.append(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
            original(*args)

        monkeypatch.setattr(runner, "_run_batches", spy)
        summary = app.ingest_paths([_events_csv(tmp_path / "e.csv", 500)], progress=False)
        assert summary.files[0].events_stored == 500
        assert seen == ["96.0 MiB"]
        assert con.execute("SELECT current_setting('memory_limit')").fetchall() == before
        wal = Path(str(tmp_path / "s.duckdb") + ".wal")
        assert not wal.exists() or wal.stat().st_size == 0


def test_memory_limit_lets_the_blocks_own_error_through_an_aborted_transaction(
    tmp_path: Path,
) -> None:
    """An error inside a lowered limit in a transaction (e.g. DuckDB's out-of-memory) reaches
    the caller as itself, not as the aborted transaction's refusal of the reset, and the
    limit is put back."""
    import duckdb

    from klantreis.store.memory import memory_limit

    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    before = con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
    con.execute("BEGIN")
    with (
        pytest.raises(duckdb.InvalidInputException, match="the block's own error"),
        memory_limit(con, 64),
    ):
        con.execute("SELECT error('the block''s own error')").fetchall()
    con.execute("ROLLBACK")
    assert con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0] == before
    con.close()
