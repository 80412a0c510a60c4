"""The key cache lets new batches skip the duplicate probe without ever letting one in."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import klantreis.store.duckdb_store as ds
from klantreis.model.events import events_from_records
from klantreis.store import EventStore
from klantreis.store.keys import KeyCache


def _events(start: int, n: int) -> pa.Table:
    return events_from_records(
        [
            {"event_id": f"k{i}", "occurred_at": "2024-03-01T10:00:00Z", "kind": "web.visit"}
            for i in range(start, start + n)
        ]
    )


def test_cache_runs_find_every_added_key() -> None:
    rng = np.random.default_rng(7)
    cache = KeyCache(np.empty(0, np.uint64), 0)
    added = []
    for size in (5, 300, 17, 1000, 1, 64):
        keys = rng.integers(0, 2**63, size, dtype=np.uint64)
        cache.add(keys, size)
        added.append(keys)
        assert len(cache.runs) <= 1 + int(np.log2(max(cache.rows, 1)))
    for keys in added:
        assert all(cache.contains_any(keys[i : i + 1]) for i in range(len(keys)))
    fresh = rng.integers(2**63, 2**64 - 1, 500, dtype=np.uint64)
    assert not cache.contains_any(fresh)


def test_new_batches_skip_the_probe_and_resent_ones_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache is kept from the first append on (decision 90): even a small store's new
    batches go in without the anti-join, and a re-sent one is still probed."""
    answers: list[bool] = []
    original = KeyCache.contains_any
    statements: list[str] = []
    run_insert = ds._run_insert

    def spy(self: KeyCache, keys: np.ndarray) -> bool:
        answers.append(original(self, keys))
        return answers[-1]

    def spy_insert(con: object, sql: str, batch: pa.Table) -> int:
        statements.append("probed" if "ANTI JOIN" in sql else "new")
        return run_insert(con, sql, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(KeyCache, "contains_any", spy)
    monkeypatch.setattr(ds, "_run_insert", spy_insert)
    with EventStore() as store:
        assert store.append(_events(0, 20)).stored == 20  # the cache is loaded (empty)
        assert store.append(_events(20, 10)).stored == 10  # all new: no probe
        resent = store.append(_events(25, 10))  # k25-k29 stored already
        assert (resent.stored, resent.duplicates) == (5, 5)
        assert answers == [False, False, True]
        assert statements == ["new", "new", "probed"]
        assert store.count() == 35
        assert store._keys is not None and store._keys.rows == 35


def test_writes_from_another_connection_reload_the_cache(tmp_path: object) -> None:
    with EventStore() as store:
        store.append(_events(0, 30))
        store.append(_events(30, 5))
        assert store._keys is not None
        other = store.con.cursor()
        other.register("_x", _events(100, 3))
        other.execute(
            "INSERT INTO event_log BY NAME SELECT md5_number(event_id) AS event_key, *,"
            " current_timestamp AS ingested_at FROM _x"
        ).fetchall()
        again = store.append(_events(99, 3))  # k100, k101 stored elsewhere
        assert (again.stored, again.duplicates) == (1, 2)
        assert store.count() == 39


def test_python_keys_equal_duckdb_keys() -> None:
    from klantreis.store.keys import batch_keys, event_keys

    ids = pa.array(["a", "", "ë-ü-ß", "order/123#4", "x" * 5000, "😀 emoji", "k1"])
    with EventStore() as store:
        got_py = event_keys(ids)
        store.con.register("_ids", pa.table({"event_id": ids}))
        got_db = batch_keys(store.con, "_ids")
    assert got_py.dtype == np.uint64
    assert got_py.tolist() == got_db.tolist()


def test_new_ids_written_elsewhere_do_not_fool_the_unprobed_insert() -> None:
    with EventStore() as store:
        store.append(_events(0, 30))
        store.append(_events(30, 5))
        assert store._keys is not None
        other = store.con.cursor()
        other.register("_x", _events(200, 4))  # new ids: the count moves, the cache does not know
        other.execute(
            "INSERT INTO event_log BY NAME SELECT md5_number(event_id) AS event_key, *,"
            " current_timestamp AS ingested_at FROM _x"
        ).fetchall()
        again = store.append(_events(199, 3))  # k200, k201 were stored by the other connection
        assert (again.stored, again.duplicates) == (1, 2)
        assert store.count() == 40
        assert store._keys is not None and store._keys.rows == 40


def test_keys_given_by_the_caller_follow_the_first_of_each_id() -> None:
    """The HTTP writer passes keys it hashed itself: with an id repeated in the batch, the
    cache must still learn the key of every stored row (else a re-sent id would slip past
    the unprobed insert)."""
    from klantreis.store.keys import event_keys

    with EventStore() as store:
        store.append(_events(0, 20))  # the cache is loaded from here on
        batch = pa.concat_tables([_events(20, 3), _events(20, 1), _events(23, 2)])
        result = store.append(batch, keys=event_keys(batch.column("event_id")))
        assert (result.stored, result.duplicates) == (5, 1)
        again = store.append(_events(24, 1))
        assert (again.stored, again.duplicates) == (0, 1)
        assert store.count() == 25
        with pytest.raises(ValueError, match="2 keys for 5 events"):
            store.append(_events(30, 5), keys=event_keys(_events(30, 2).column("event_id")))
        assert store.count() == 25
