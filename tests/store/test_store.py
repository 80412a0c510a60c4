"""EventStore: idempotent appends on the hashed key, transactions, migrations."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from klantreis.ingest.quarantine import quarantine_rows
from klantreis.model.events import EVENT_COLUMNS, events_from_records
from klantreis.store import EventStore
from klantreis.store.duckdb_store import MIGRATIONS, SCHEMA_VERSION, _migration_1


def _events(ids: list[str], text: str = "") -> pa.Table:
    return events_from_records(
        [
            {
                "event_id": i,
                "occurred_at": "2024-03-01T10:00:00Z",
                "kind": "web.visit",
                "text": text or i,
            }
            for i in ids
        ]
    )


def test_append_skips_repeats_in_batch_and_stored_ids() -> None:
    with EventStore() as store:
        first = store.append(_events(["a", "b", "a", "c"]))
        assert (first.stored, first.duplicates) == (3, 1)
        second = store.append(_events(["c", "d", "d"]))
        assert (second.stored, second.duplicates) == (1, 2)
        assert store.count() == 4
        texts = store.query("SELECT event_id, text FROM events ORDER BY 1").to_pylist()
        assert [t["event_id"] for t in texts] == ["a", "b", "c", "d"]
        assert texts[0]["text"] == "a"


def test_events_view_has_the_canonical_columns_and_no_key() -> None:
    with EventStore() as store:
        store.append(_events(["a"]))
        cols = store.query("SELECT * FROM events").column_names
        assert cols == [*EVENT_COLUMNS, "ingested_at"]
        keys = store.query("SELECT event_key = md5_number(event_id) AS ok FROM event_log")
        assert keys.to_pylist() == [{"ok": True}]


def test_a_failing_batch_stores_neither_events_nor_quarantine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with EventStore() as store:
        q = quarantine_rows("f.csv", [3], ["bad"], ["raw"])
        broken = q.set_column(0, "quarantine_id", pa.array([None], pa.string()))
        with pytest.raises(duckdb.Error):
            store.append(_events(["a", "b"]), broken)  # NULL primary key in quarantine
        assert store.count() == 0 and store.count("quarantine") == 0
        store.append(_events(["a", "b"]), q)
        assert store.count() == 2 and store.count("quarantine") == 1


def test_quarantine_is_idempotent_too() -> None:
    with EventStore() as store:
        q = quarantine_rows("f.csv", [3, 4], ["bad", "worse"], ["x", "y"])
        store.append(_events([]), q)
        store.append(_events([]), q)
        assert store.count("quarantine") == 2


def test_a_version_1_store_with_events_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE klantreis_meta (key VARCHAR PRIMARY KEY, value VARCHAR)").fetchall()
    _migration_1(con)
    con.execute("INSERT INTO klantreis_meta VALUES ('schema_version', '1')").fetchall()
    v1_columns = [c for c in EVENT_COLUMNS if c != "source_order"]  # added in version 3
    con.register("_old", _events(["old1", "old2"]).select(v1_columns))
    con.execute(f"INSERT INTO events ({', '.join(v1_columns)}) SELECT * FROM _old").fetchall()
    con.close()
    with EventStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS) == 3
        assert store.count() == 2
        result = store.append(_events(["old1", "new"]))
        assert (result.stored, result.duplicates) == (1, 1)
        # Events stored before version 3 have no source order: 0, so ties fall to event_id;
        # a direct append keeps the batch's row order.
        orders = store.query("SELECT event_id, source_order FROM events ORDER BY event_id")
        assert orders.to_pylist() == [
            {"event_id": "new", "source_order": 2},
            {"event_id": "old1", "source_order": 0},
            {"event_id": "old2", "source_order": 0},
        ]


def test_reopening_a_file_store_keeps_idempotency(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with EventStore(path) as store:
        store.append(_events(["a", "b"]))
    with EventStore(path) as store:
        assert store.append(_events(["a", "b", "c"])).stored == 1
        assert store.migrate() == 0


def test_checkpoint_threshold_follows_the_setting(tmp_path: Path) -> None:
    from klantreis.app import App
    from klantreis.settings import Settings

    def threshold(store: EventStore) -> str:
        sql = "SELECT current_setting('checkpoint_threshold')"
        return str(store.con.execute(sql).fetchall()[0][0])

    with App(Settings.load(env={}, db_path=str(tmp_path / "a.db"))) as app:
        assert threshold(app.store) == "256.0 MiB"  # wal_limit_mb's default
    for limit, expected in (("0", "48.0 MiB"), ("16", "48.0 MiB"), ("100", "100.0 MiB")):
        env = {"KLANTREIS_CHECKPOINT_MB": "48", "KLANTREIS_WAL_LIMIT_MB": limit}
        with App(Settings.load(env=env, db_path=str(tmp_path / "a.db"))) as app:
            assert threshold(app.store) == expected, limit  # at least checkpoint_mb
    with EventStore(tmp_path / "b.db", checkpoint_mb=0) as store:
        assert threshold(store) == "16.0 MiB"  # DuckDB's own default


def test_the_write_ahead_log_grows_to_the_limit_and_no_further(tmp_path: Path) -> None:
    """Writes under ``wal_limit_mb`` do not checkpoint at ``checkpoint_mb`` (the server
    does that in its own time), and the commit that crosses the limit checkpoints in
    DuckDB: the log never holds more than the limit plus one commit."""
    path = tmp_path / "w.db"
    wal = Path(str(path) + ".wal")
    sizes, commits = [], []
    with EventStore(path, checkpoint_mb=1, wal_limit_mb=4) as store:
        for n in range(30):
            before = wal.stat().st_size if wal.exists() else 0
            store.append(_events([f"e{n}-{i}" for i in range(1_000)], text="x" * 300))
            after = wal.stat().st_size if wal.exists() else 0
            sizes.append(after)
            commits.append(after - before if after >= before else after)
        assert store.count() == 30_000
    assert max(sizes) > 2 * 2**20  # past checkpoint_mb (1 MiB) without a checkpoint
    assert min(sizes[sizes.index(max(sizes)) :]) < 2**20  # then the crossing commit checkpointed
    assert max(sizes) <= 4 * 2**20 + max(commits)  # never past the limit plus one commit
    with EventStore(path) as again:  # and nothing is lost across the checkpoints
        assert again.count() == 30_000
