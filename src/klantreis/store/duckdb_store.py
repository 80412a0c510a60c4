"""DuckDB event store: append-only events, idempotent on ``event_id``, a quarantine table,
ingest runs, and schema migrations.

Every ``append`` is one transaction: the batch's events and its quarantined rows are stored
together or not at all, so a killed ingest leaves no half batch, and running it again stores
only what is missing.

Idempotency without a primary-key index (schema version 2): the events live in
``event_log`` with a 128-bit key ``event_key = md5_number(event_id)``; an append inserts
only the batch rows whose key is not stored yet (a hash anti-join that builds on the batch
and scans the stored keys). A DuckDB ART index on the key made appends 3-4x slower (about
270k/s against 1M/s on 1M rows). Uniqueness rests on the single writer: DuckDB allows one
writing process per file and ``append`` holds the store's write lock. ``events`` is a view
of the canonical columns, so readers never see the key. The anti-join scans every stored
key, so a session cache of the keys (``store.keys``), kept from the first append, lets
batches with only new ids skip it. Canonical Parquet files bypass ``append``: they are
inserted in SQL inside ``sql_transaction`` (``klantreis.ingest.parquet_sql``), with the same
key and the same anti-join.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from klantreis.model.events import EVENT_COLUMNS, conform
from klantreis.store.keys import KeyCache, Keys, event_keys

__all__ = [
    "QUARANTINE_SCHEMA",
    "SCHEMA_VERSION",
    "AppendResult",
    "EventStore",
    "StoreError",
    "StoreLockedError",
    "insert_quarantine",
]

log = logging.getLogger(__name__)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("quarantine_id", pa.string()),
        ("source", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("raw", pa.string()),
        ("record", pa.int64()),
    ]
)

_DUCK_TYPES = {
    pa.string(): "VARCHAR",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.float64(): "DOUBLE",
    pa.int64(): "BIGINT",
}

#: The event columns as schema versions 1 and 2 knew them (migrations stay as they were).
_V2_COLUMNS = {k: v for k, v in EVENT_COLUMNS.items() if k != "source_order"}


def _events_ddl() -> str:
    cols = []
    for name, (typ, _) in _V2_COLUMNS.items():
        null = " NOT NULL" if name in ("event_id", "occurred_at", "kind") else ""
        pk = " PRIMARY KEY" if name == "event_id" else ""
        cols.append(f"{name} {_DUCK_TYPES[typ]}{null}{pk}")
    cols.append("ingested_at TIMESTAMPTZ DEFAULT current_timestamp")
    return "CREATE TABLE events (" + ", ".join(cols) + ")"


def _migration_1(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_events_ddl()).fetchall()
    con.execute("""
        CREATE TABLE quarantine (
            quarantine_id VARCHAR PRIMARY KEY,
            source VARCHAR, line BIGINT, reason VARCHAR NOT NULL, raw VARCHAR,
            quarantined_at TIMESTAMPTZ DEFAULT current_timestamp)""").fetchall()
    con.execute("""
        CREATE TABLE ingest_runs (
            run_id VARCHAR PRIMARY KEY, source VARCHAR, started_at TIMESTAMPTZ,
            finished_at TIMESTAMPTZ, rows_read BIGINT, events_stored BIGINT,
            duplicates BIGINT, quarantined BIGINT, status VARCHAR)""").fetchall()


_CANONICAL = ", ".join(EVENT_COLUMNS)
_V2_CANONICAL = ", ".join(_V2_COLUMNS)


def _migration_2(con: duckdb.DuckDBPyConnection) -> None:
    """Move events into ``event_log`` keyed by a hashed 128-bit key without an index."""
    cols = ", ".join(
        f"{name} {_DUCK_TYPES[typ]}{' NOT NULL' if name in ('event_id', 'occurred_at', 'kind') else ''}"
        for name, (typ, _) in _V2_COLUMNS.items()
    )
    con.execute(
        f"CREATE TABLE event_log (event_key UHUGEINT NOT NULL, {cols},"
        " ingested_at TIMESTAMPTZ DEFAULT current_timestamp)"
    ).fetchall()
    con.execute(
        f"INSERT INTO event_log SELECT md5_number(event_id), {_V2_CANONICAL}, ingested_at"
        " FROM events"
    ).fetchall()
    con.execute("DROP TABLE events").fetchall()
    con.execute(
        f"CREATE VIEW events AS SELECT {_V2_CANONICAL}, ingested_at FROM event_log"
    ).fetchall()


def _migration_3(con: duckdb.DuckDBPyConnection) -> None:
    """``source_order``: the tie-breaker for equal time stamps (events stored before have 0,
    so their ties stay ordered by event id as before); the quarantine's ``record`` number
    next to its physical ``line``."""
    con.execute("DROP VIEW events").fetchall()
    con.execute("ALTER TABLE event_log ADD COLUMN source_order BIGINT DEFAULT 0").fetchall()
    con.execute("ALTER TABLE event_log ALTER COLUMN source_order DROP DEFAULT").fetchall()
    con.execute(f"CREATE VIEW events AS SELECT {_CANONICAL}, ingested_at FROM event_log").fetchall()
    con.execute("ALTER TABLE quarantine ADD COLUMN record BIGINT").fetchall()
    con.execute("UPDATE quarantine SET record = line").fetchall()


#: Ordered migrations; index + 1 is the schema version they lead to.
MIGRATIONS: list[Callable[[duckdb.DuckDBPyConnection], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(RuntimeError):
    """The store cannot be opened or written."""


class StoreLockedError(StoreError):
    """Another process holds the store's file lock (DuckDB allows one writing process per
    file, and a read-only open is refused while it writes). ``pid`` is that process, when
    DuckDB names it."""

    def __init__(self, path: str, pid: int | None) -> None:
        holder = f" (PID {pid})" if pid else ""
        super().__init__(f"store {path} is in use by another process{holder}")
        self.path = path
        self.pid = pid


def _lock_conflict(exc: duckdb.Error, path: str) -> StoreLockedError | None:
    """The lock conflict on ``path`` that ``exc`` reports (with the PID DuckDB names), else
    None."""
    text = str(exc)
    if "Could not set lock" not in text and "Conflicting lock" not in text:
        return None
    found = re.search(r"\(PID (\d+)\)", text)
    return StoreLockedError(path, int(found.group(1)) if found else None)


@dataclass(frozen=True)
class AppendResult:
    received: int
    stored: int
    duplicates: int
    quarantined: int

    def __add__(self, other: AppendResult) -> AppendResult:
        return AppendResult(
            self.received + other.received,
            self.stored + other.stored,
            self.duplicates + other.duplicates,
            self.quarantined + other.quarantined,
        )


EMPTY_RESULT = AppendResult(0, 0, 0, 0)


class EventStore:
    """The event log in one DuckDB file (or in memory with ``":memory:"``).

    One connection is owned by the store; writes are serialised by a lock, readers take
    ``cursor()``s. Close with ``close()`` or use as a context manager.
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        read_only: bool = False,
        checkpoint_mb: int = 64,
        wal_limit_mb: int = 0,
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as exc:
            locked = _lock_conflict(exc, self.path)
            if locked is not None:
                raise locked from None
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self._keys: KeyCache | None = None
        self._event_writes = 0  # event appends committed through this object (see version())
        # DuckDB would draw its own progress bar on stdout during long statements.
        self.con.execute("SET enable_progress_bar = false").fetchall()
        #: The write-ahead log size (MiB) past which any commit checkpoints in DuckDB (0:
        #: DuckDB's own 16 MiB): ``wal_limit_mb``, at least ``checkpoint_mb`` (decision 70).
        self.wal_limit_mb = max(int(checkpoint_mb), int(wal_limit_mb))
        # DuckDB's default (16 MiB) checkpoints often while events stream in, and each
        # checkpoint stops writes; 64 MiB made HTTP batch ingest 5-20% faster (bench_web).
        # Above the server's own checkpoint (the kept-views job's), a request's refresh after
        # a batch does not pay the checkpoint of the batch's and other pages' writes.
        if self.wal_limit_mb > 0 and not read_only:
            self.con.execute(f"SET checkpoint_threshold = '{self.wal_limit_mb}MiB'").fetchall()
        if not read_only:
            self.migrate()

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for reading in another thread (DuckDB cursors share the database)."""
        return self.con.cursor()

    def schema_version(self) -> int:
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS klantreis_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"
        ).fetchall()
        row = self.con.execute(
            "SELECT value FROM klantreis_meta WHERE key = 'schema_version'"
        ).fetchall()
        return int(row[0][0]) if row else 0

    def migrate(self) -> int:
        """Bring the schema to SCHEMA_VERSION; returns the number of migrations applied."""
        with self._lock:
            current = self.schema_version()
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"store schema version {current} is newer than this klantreis"
                    f" ({SCHEMA_VERSION}); upgrade klantreis"
                )
            for version in range(current, SCHEMA_VERSION):
                with self.transaction() as con:
                    MIGRATIONS[version](con)
                    con.execute(
                        "INSERT OR REPLACE INTO klantreis_meta VALUES ('schema_version', ?)",
                        [str(version + 1)],
                    ).fetchall()
                log.info("migrated store %s to schema version %d", self.path, version + 1)
            return SCHEMA_VERSION - current

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            self.con.execute("BEGIN TRANSACTION").fetchall()
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK").fetchall()
                raise
            self.con.execute("COMMIT").fetchall()

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold the write lock across several transactions (re-entrant): no append of this
        object runs in between, e.g. while a derived table is rebuilt in committed steps."""
        with self._lock:
            yield

    # -- writing -------------------------------------------------------------------------
    def append(
        self, events: pa.Table, quarantine: pa.Table | None = None, keys: Keys | None = None
    ) -> AppendResult:
        """Store valid events and quarantined rows in one transaction.

        Events whose ``event_id`` is already stored (or repeats inside the batch) are skipped
        and counted as duplicates. ``events`` must already be validated. Without quarantine
        rows the events go in with one INSERT, which is its own transaction. ``keys`` are
        the rows' ``event_keys`` when the caller has them already (the HTTP writer computes
        them as requests arrive)."""
        events = _in_batch_order(conform(events))
        received = events.num_rows
        events, first = _first_of_each_id(events)
        if keys is None:
            keys = event_keys(events.column("event_id"))
        elif len(keys) != received:
            raise ValueError(f"{len(keys)} keys for {received} events")
        elif first is not None:
            keys = keys[first]
        q = quarantine if quarantine is not None else QUARANTINE_SCHEMA.empty_table()
        with self._lock:
            if q.num_rows:
                with self.transaction() as con:
                    stored = self._insert_new_events(con, events, keys)
                    insert_quarantine(con, q)
            else:
                stored = self._insert_new_events(self.con, events, keys)
            self._after_commit(keys, stored)
        return AppendResult(received + q.num_rows, stored, received - stored, q.num_rows)

    def _after_commit(self, keys: Keys, stored: int) -> None:
        self._event_writes += 1
        if self._keys is not None:
            self._keys.add(keys, stored)

    @contextmanager
    def sql_transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write transaction for appends done in SQL by the caller (the Parquet fast path,
        ``klantreis.ingest.parquet_sql``). The caller must keep ``event_log``'s contract
        (``event_key = md5_number(event_id)``, no stored key twice); the session key cache
        is dropped afterwards, as those rows do not pass through it."""
        try:
            with self.transaction() as con:
                yield con
        finally:
            self._event_writes += 1
            self._keys = None

    def _insert_new_events(
        self, con: duckdb.DuckDBPyConnection, events: pa.Table, keys: Keys
    ) -> int:
        """Insert the events whose id is not stored yet (``keys``: their 64-bit keys); the
        number inserted.

        One statement in the common case. A batch with a key the cache holds runs the exact
        128-bit anti-join (see ``klantreis.store.keys``); one without goes in unprobed, on
        condition that the stored row count is still the cache's (else another connection
        wrote: nothing is inserted, the cache is reloaded and the batch checked again). The
        cache is kept at every size: a guarded insert costs about 0.5 ms CPU less than the
        anti-join already at 15,000 stored events (decision 90)."""
        if not events.num_rows:
            return 0
        if self._keys is not None:
            if self._keys.contains_any(keys):  # exact probe; a stale count shows next time
                return _run_insert(con, _INSERT_PROBED, events)
            guard = f" WHERE (SELECT count(*) FROM event_log) = {int(self._keys.rows)}"
            inserted = _run_insert(con, _INSERT_NEW + guard, events)
            if inserted:
                return inserted
        cache = self._key_cache(con)
        return _run_insert(con, _INSERT_PROBED if cache.contains_any(keys) else _INSERT_NEW, events)

    def _key_cache(self, con: duckdb.DuckDBPyConnection) -> KeyCache:
        """The key cache, (re)loaded when the stored count is not what it expects (the
        first append, or another connection wrote)."""
        stored = _count(con, "event_log")
        if self._keys is None or self._keys.rows != stored:
            self._keys = KeyCache.load(con)
        return self._keys

    def record_run(
        self,
        source: str,
        started_at: datetime,
        result: AppendResult,
        rows_read: int,
        status: str = "completed",
    ) -> str:
        run_id = uuid.uuid4().hex
        with self.transaction() as con:
            con.execute(
                "INSERT INTO ingest_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    source,
                    started_at,
                    datetime.now(UTC),
                    rows_read,
                    result.stored,
                    result.duplicates,
                    result.quarantined,
                    status,
                ],
            ).fetchall()
        return run_id

    # -- reading -------------------------------------------------------------------------
    def version(self) -> tuple[int, int]:
        """A cheap fingerprint of the event log, the one "has the store changed?" check of
        every cache (``klantreis.caches``): the event writes committed through this object
        and the number of events (a ``count(*)``, about 2 ms on 10M events; it also sees
        rows written through another handle on the same file). Equal fingerprints mean the
        same events; writes to other tables (accounts, the journey index) do not change it."""
        writes = self._event_writes  # read first: a write after it changes the next answer
        cur = self.cursor()  # not the shared connection: no wait for a running append
        try:
            return writes, _count(cur, "events")
        finally:
            cur.close()

    def count(self, table: str = "events") -> int:
        with self._lock:
            return _count(self.con, table)

    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """Run a read query on a fresh cursor and return an Arrow table."""
        cur = self.cursor()
        try:
            rel = cur.sql(sql, params=params) if params else cur.sql(sql)
            return rel.to_arrow_table() if rel is not None else pa.table({})
        finally:
            cur.close()

    def events(self) -> pa.Table:
        return self.query("SELECT " + ", ".join(EVENT_COLUMNS) + " FROM events")

    def snapshot(self, target: str | Path) -> Path:
        """Copy the whole store (every table and view, one consistent transaction) into a
        new DuckDB file ``target`` that other processes can open read-only while this one
        keeps writing (``klantreis.live``). Written next to ``target`` and renamed over it
        when complete, so a reader never sees half a copy and readers of an older copy keep
        theirs. About 1.8 s per million events on two cores."""
        target = Path(target)
        partial = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.partial")
        alias = f"snapshot_{uuid.uuid4().hex[:8]}"
        source = self.con.execute("SELECT current_database()").fetchall()[0][0]
        cur = self.cursor()
        try:
            cur.execute(f"ATTACH '{_sql_text(str(partial))}' AS {alias}").fetchall()
            try:
                cur.execute(f'COPY FROM DATABASE "{source}" TO {alias}').fetchall()
            finally:
                cur.execute(f"DETACH {alias}").fetchall()
            partial.replace(target)
        finally:
            cur.close()
            for leftover in (partial, partial.with_name(partial.name + ".wal")):
                leftover.unlink(missing_ok=True)
        return target


def _in_batch_order(events: pa.Table) -> pa.Table:
    """A missing ``source_order`` is the row's position in the batch (from 1): the order
    the caller gave the rows in. The ingest paths set it from the source (file rows, XES
    trace positions, HTTP arrival)."""
    column = events.column("source_order")
    if column.null_count == 0:
        return events
    import pyarrow.compute as pc  # the write path only: keeps read-only start-up light

    position = pa.array(np.arange(1, events.num_rows + 1, dtype=np.int64))
    filled = pc.coalesce(column, position)
    return events.set_column(events.schema.get_field_index("source_order"), "source_order", filled)


def _first_of_each_id(events: pa.Table) -> tuple[pa.Table, npt.NDArray[np.int64] | None]:
    """The batch without repeated event ids (first occurrence kept, order kept), and the
    rows kept (None when every id is distinct: the batch as it is)."""
    import pyarrow.compute as pc  # 0.1 s to import: only a write needs it

    ids = events.column("event_id")
    if pc.count_distinct(ids).as_py() == len(ids):
        return events, None
    index = pa.table({"id": ids, "i": pa.array(range(len(ids)), pa.int64())})
    first = index.group_by("id", use_threads=False).aggregate([("i", "min")])["i_min"]
    rows = pc.take(first, pc.sort_indices(first))
    return events.take(rows), rows.to_numpy()


_INSERT_NEW = (
    f"INSERT INTO event_log (event_key, {_CANONICAL})"
    f" SELECT md5_number(event_id), {_CANONICAL} FROM _batch"
)
_INSERT_PROBED = (
    f"INSERT INTO event_log (event_key, {_CANONICAL})"
    f" SELECT * FROM (SELECT md5_number(event_id) AS event_key, {_CANONICAL}"
    f" FROM _batch) AS b ANTI JOIN event_log USING (event_key)"
)


def _run_insert(con: duckdb.DuckDBPyConnection, sql: str, _batch: pa.Table) -> int:
    """Run an INSERT reading ``_batch`` (found by DuckDB's replacement scan of this frame's
    locals: cheaper than register + unregister); the number of rows inserted."""
    rows = con.execute(sql).fetchall()
    return int(rows[0][0]) if rows else 0


def insert_quarantine(con: duckdb.DuckDBPyConnection, quarantine: pa.Table) -> None:
    """Insert quarantine rows (QUARANTINE_SCHEMA) inside the caller's transaction; an entry
    already stored (same id) is left as it is."""
    if not quarantine.num_rows:
        return
    _quarantine = quarantine  # read by the replacement scan below
    con.execute(
        "INSERT OR IGNORE INTO quarantine (quarantine_id, source, line,"
        " reason, raw, record) SELECT * FROM _quarantine"
    ).fetchall()


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()
    return int(rows[0][0])
