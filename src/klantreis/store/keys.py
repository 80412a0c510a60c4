"""A session cache of the stored event keys, so that most appends skip the duplicate probe.

Checking a batch for already-stored ids with a hash anti-join scans every stored key: about
1.2 s per batch at 10M events, so a long ingest grew quadratically. ``KeyCache`` keeps the
upper 64 bits of every stored ``event_key`` (md5 of the event id) in sorted numpy runs
(8 bytes per event: 80 MB at 10M). A batch none of whose keys is in the cache cannot hold a
stored id and is inserted without the probe; otherwise (a re-sent file, or a 64-bit
collision) the store runs the exact 128-bit anti-join as before. So correctness never rests
on the cache alone being exact: only on it missing no stored key, which ``EventStore``
guarantees by adding keys after each commit and by reloading when the stored row count is
not what the cache expects (another connection wrote).
"""

from __future__ import annotations

import hashlib

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["KeyCache", "batch_keys", "event_keys"]

Keys = npt.NDArray[np.uint64]

#: Upper 64 bits of the 128-bit md5 key, as DuckDB computes them.
KEY64_OF_ID = "CAST(md5_number(event_id) >> 64 AS UBIGINT)"
KEY64_OF_KEY = "CAST(event_key >> 64 AS UBIGINT)"


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> Keys:
    column = con.sql(sql).to_arrow_table().column(0)
    return np.asarray(column.to_numpy(), dtype=np.uint64)


def batch_keys(con: duckdb.DuckDBPyConnection, relation: str) -> Keys:
    """The 64-bit keys of the events in a registered relation."""
    return _fetch(con, f"SELECT {KEY64_OF_ID} FROM {relation}")


def event_keys(event_ids: pa.ChunkedArray | pa.Array) -> Keys:
    """The 64-bit keys of event ids computed in Python, equal to ``KEY64_OF_ID`` in DuckDB:
    ``md5_number`` reads the md5 digest of the UTF-8 bytes as a little-endian 128-bit number,
    so its upper 64 bits are digest bytes 8-16 (little-endian). Cheaper than a query
    (about 30 us for 64 ids and 0.45 ms for 1,000, against 0.8 ms for the statement)."""
    digests = b"".join(
        hashlib.md5(i.encode(), usedforsecurity=False).digest() for i in event_ids.to_pylist()
    )
    return np.frombuffer(digests, dtype="<u8")[1::2].astype(np.uint64)


class KeyCache:
    """Sorted runs of 64-bit keys; runs merge like a binary counter (O(log n) runs)."""

    def __init__(self, keys: Keys, rows: int) -> None:
        self.runs: list[Keys] = [np.sort(keys)] if len(keys) else []
        self.rows = rows

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> KeyCache:
        keys = _fetch(con, f"SELECT {KEY64_OF_KEY} FROM event_log")
        return cls(keys, len(keys))

    def contains_any(self, keys: Keys) -> bool:
        keys = np.sort(keys)  # sorted needles: searchsorted walks memory in order
        for run in self.runs:
            at = np.minimum(np.searchsorted(run, keys), len(run) - 1)
            if np.any(run[at] == keys):
                return True
        return False

    def add(self, keys: Keys, inserted: int) -> None:
        self.rows += inserted
        if not len(keys):
            return
        self.runs.append(np.sort(keys))
        while len(self.runs) > 1 and len(self.runs[-1]) * 2 >= len(self.runs[-2]):
            last = self.runs.pop()
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], last]), kind="stable")
