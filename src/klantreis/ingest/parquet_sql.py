"""The Parquet fast path: a file in the canonical layout goes into the store in SQL.

For a Parquet file whose columns are canonical event columns with canonical types (our own
exports, the benchmark), the batch pipeline (read into Arrow, validate, enrich, append)
costs more than DuckDB's own ``INSERT ... SELECT FROM read_parquet``. Here the whole file
is one transaction of set-based statements:

1. insert the valid rows (``validation_reason_sql`` IS NULL: the rules of
   ``validate_events``, same order and texts), enriched from the journey configuration, whose
   ``event_key`` is not stored yet (anti-join);
2. check the inserted keys are distinct (``event_key`` of the rows with ``rowid`` past the
   old end of the append-only log); if the file repeats an id, roll back and insert again
   with the later repeats left out (first occurrence in file order wins, as in the batch path);
3. when fewer rows were stored than read, fetch the rejected rows with their reason and file
   row number (line = row number + 1) and quarantine them with the same entries the batch path
   makes (``klantreis.ingest.quarantine.rejected_rows``).

So the guarantees are those of the batch path: rows in = stored + duplicates + quarantined,
re-sending adds nothing, and a killed ingest leaves nothing of the file (re-running it
completes it). Any other Parquet layout takes the batch path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from klantreis.ingest.pipeline import Destination, enrich_sql
from klantreis.ingest.quarantine import rejected_rows
from klantreis.ingest.summary import FileSummary, reason_class
from klantreis.model.events import EVENT_COLUMNS
from klantreis.model.validation import validation_reason_sql
from klantreis.store.duckdb_store import insert_quarantine

__all__ = ["ingest_parquet_sql", "sql_compatible"]

log = logging.getLogger(__name__)

_CANONICAL = ", ".join(EVENT_COLUMNS)

#: Rejected rows are fetched and quarantined this many at a time.
QUARANTINE_CHUNK_ROWS = 50_000


class _RepeatedIds(Exception):
    """The file repeats an event id: redo the insert leaving later repeats out."""


def sql_compatible(schema: pa.Schema) -> bool:
    """Canonical column names with canonical (or equivalent) types, ids and kinds present,
    and a time zone on ``occurred_at``: what the SQL path reads without conversion."""
    names = set(schema.names)
    if not {"event_id", "occurred_at", "kind"} <= names or not names <= set(EVENT_COLUMNS):
        return False
    for field in schema:
        typ = field.type
        if field.name == "occurred_at":
            # ns would be truncated here but refused by the batch path's cast: keep them alike
            ok = pa.types.is_timestamp(typ) and typ.tz is not None and typ.unit != "ns"
        elif field.name == "score":
            ok = pa.types.is_floating(typ) or pa.types.is_integer(typ)
        elif field.name == "source_order":
            ok = pa.types.is_integer(typ)
        else:
            ok = pa.types.is_string(typ) or pa.types.is_large_string(typ)
        if not ok:
            return False
    return True


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source_sql(
    path: Path, names: set[str], kinds: Iterable[str], rows: bool, now: datetime
) -> str:
    """The file as canonical rows plus ``__reason`` and, with ``rows``, ``__row`` (the file
    row number). A missing ``source_order`` is the file row number + 1 (ties keep the file's
    order), so the row number is always read (it costs a little)."""
    cols = []
    for name in EVENT_COLUMNS:
        duck = {"occurred_at": "TIMESTAMPTZ", "score": "DOUBLE", "source_order": "BIGINT"}.get(
            name, "VARCHAR"
        )
        expr = f"CAST({name} AS {duck})" if name in names else f"CAST(NULL AS {duck})"
        if name == "source":
            expr = f"coalesce({expr}, {_lit(str(path))})"
        elif name == "source_order":
            expr = f"coalesce({expr}, file_row_number + 1)"
        cols.append(f"{expr} AS {name}")
    if rows:
        cols.append("file_row_number AS __row")
    read = f"read_parquet({_lit(str(path))}, file_row_number = true)"
    reason = validation_reason_sql(now, known_kinds=kinds)
    return f"(SELECT *, {reason} AS __reason FROM (SELECT {', '.join(cols)} FROM {read}))"


def _insert_sql(source: str, tp: str, owner: str, probe: bool, skip_later: bool) -> str:
    out = [
        f"{tp} AS touchpoint" if c == "touchpoint" else f"{owner} AS owner" if c == "owner" else c
        for c in EVENT_COLUMNS
    ]
    rows = f"SELECT md5_number(event_id) AS event_key, * FROM {source} WHERE __reason IS NULL"
    if skip_later:
        rows += " AND __row NOT IN (SELECT __row FROM _later_repeats)"
    if probe:
        rows = (
            f"SELECT * FROM ({rows}) AS b"
            " ANTI JOIN (SELECT event_key FROM event_log) AS s USING (event_key)"
        )
    return (
        f"INSERT INTO event_log (event_key, {_CANONICAL})"
        f" SELECT event_key, {', '.join(out)} FROM ({rows})"
    )


def _later_repeats_sql(source: str) -> str:
    return (
        "CREATE OR REPLACE TEMP TABLE _later_repeats AS SELECT __row FROM ("
        " SELECT __row, row_number() OVER (PARTITION BY event_id ORDER BY __row) AS n"
        f" FROM {source} WHERE __reason IS NULL) WHERE n > 1"
    )


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])


def _repeats_among_new(con: duckdb.DuckDBPyConnection, first_rowid: int, inserted: int) -> bool:
    """Whether the rows just appended (rowid >= first_rowid in the append-only log) hold a
    key twice. Falls back to the whole log if the rowids are not the expected range."""
    where = f"WHERE rowid >= {first_rowid}"
    if _scalar(con, f"SELECT count(*) FROM event_log {where}") != inserted:
        where = ""
    # The upper 64 bits: cheaper, and a false alarm only means taking the exact way.
    sql = (
        f"SELECT count(*) - count(DISTINCT CAST(event_key >> 64 AS UBIGINT)) FROM event_log {where}"
    )
    return _scalar(con, sql) > 0


def _quarantine(con: duckdb.DuckDBPyConnection, source: str, path: Path) -> list[str]:
    """Quarantine the rejected rows, streamed in chunks (a file of bad rows stays in bounded
    memory); their reasons. The rows are read by a connection of their own, as ``con`` is
    busy inserting; it reads only the file, not the store."""
    reasons: list[str] = []
    reader = duckdb.connect()
    try:
        rel = reader.sql(
            f"SELECT {_CANONICAL}, __row, __reason FROM {source} WHERE __reason IS NOT NULL"
        )
        for batch in rel.to_arrow_reader(QUARANTINE_CHUNK_ROWS):
            if not batch.num_rows:
                continue
            chunk = pa.Table.from_batches([batch])
            found = chunk["__reason"].to_pylist()
            lines = (np.asarray(chunk["__row"].to_numpy()) + 1).tolist()
            rows = chunk.select(list(EVENT_COLUMNS))
            insert_quarantine(con, rejected_rows(rows, lines, found, str(path)))
            reasons += found
    finally:
        reader.close()
    return reasons


def _ingest(
    dest: Destination, path: Path, names: set[str], skip_later: bool
) -> tuple[int, list[str]]:
    """One transaction: (events stored, reasons of the quarantined rows)."""
    kinds, now = dest.journey.touchpoint_for_kind(), datetime.now(UTC)
    source = _source_sql(path, names, kinds, rows=skip_later, now=now)
    tp, owner = enrich_sql(dest.journey)
    with dest.store.sql_transaction() as con:
        first_rowid = _scalar(con, "SELECT count(*) FROM event_log")
        if skip_later:
            con.execute(_later_repeats_sql(source)).fetchall()
        insert = _insert_sql(source, tp, owner, probe=first_rowid > 0, skip_later=skip_later)
        inserted = _scalar(con, insert)
        if not skip_later and inserted > 1 and _repeats_among_new(con, first_rowid, inserted):
            raise _RepeatedIds
        total = pq.ParquetFile(path).metadata.num_rows
        numbered = _source_sql(path, names, kinds, rows=True, now=now)
        reasons = _quarantine(con, numbered, path) if inserted < total else []
        if inserted + len(reasons) > total:  # duplicates are what is left: never negative
            raise RuntimeError(f"{path}: {inserted} stored + {len(reasons)} rejected > {total}")
        if skip_later:
            con.execute("DROP TABLE IF EXISTS _later_repeats").fetchall()
    return inserted, reasons


def ingest_parquet_sql(
    dest: Destination, path: Path, fs: FileSummary, advance: Callable[[int, int], None]
) -> None:
    """Ingest one canonical Parquet file (see ``sql_compatible``) and count it into ``fs``."""
    names = set(pq.read_schema(path).names)
    total = pq.ParquetFile(path).metadata.num_rows
    try:
        try:
            stored, reasons = _ingest(dest, path, names, skip_later=False)
        except _RepeatedIds:
            log.info("%s repeats event ids; inserting first occurrences only", path)
            stored, reasons = _ingest(dest, path, names, skip_later=True)
    except duckdb.InvalidInputException as exc:  # a corrupt file: this file fails, not the run
        raise ValueError(f"{path}: {exc}") from exc
    fs.rows_read += total
    fs.events_produced += total
    fs.events_stored += stored
    fs.events_rejected += len(reasons)
    fs.duplicates += total - stored - len(reasons)
    fs.reasons.update(reason_class(r) for r in reasons)
    advance(total, 0)
