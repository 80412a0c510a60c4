"""``ingest_paths``: files, folders and globs into the event store, batch by batch, through
the stages of ``klantreis.ingest.pipeline``.

Each batch is one transaction (its events and its quarantine entries together), so an
interrupted run leaves whole batches only and running it again stores just what is
missing. Every file gets an ``ingest_runs`` row. Parquet files in the canonical layout
(without a mapping) take the SQL fast path instead (``klantreis.ingest.parquet_sql``: one
transaction per file, the same validation, counts and quarantine entries).
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import queue
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from klantreis.ingest.atomic import held_rows
from klantreis.ingest.compile import compile_mapping, row_column, where_sql
from klantreis.ingest.deadlines import end_of_day_deadlines
from klantreis.ingest.mapping import (
    Mapping,
    MappingError,
    identity_mapping,
    load_mapping,
    parse_mapping,
)
from klantreis.ingest.parquet_sql import ingest_parquet_sql, sql_compatible
from klantreis.ingest.pipeline import Destination, PreparedBatch, prepare_events
from klantreis.ingest.quarantine import mapping_rejects, reader_rejects
from klantreis.ingest.readers import RawBatch, SourceFile, file_format
from klantreis.ingest.summary import FileSummary, IngestSummary, reason_class
from klantreis.model.events import EVENT_COLUMNS
from klantreis.store import AppendResult
from klantreis.store.memory import memory_limit

__all__ = ["PARQUET_SQL", "PM4PY_MAPPING", "expand_paths", "ingest_paths"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Used automatically for CSV exports of process-mining tools (pm4py, Disco, ...).
PM4PY_MAPPING = """
[fields]
journey_id = "case:concept:name"
kind = { column = "concept:name", transform = "slug" }
occurred_at = "time:timestamp"

[attrs]
resource = "org:resource"
"""
_PM4PY_COLUMNS = {"case:concept:name", "concept:name", "time:timestamp"}


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files named, files under folders (known types, sorted) and glob matches."""
    out: list[Path] = []
    for raw in paths:
        text = str(raw)
        if any(ch in text for ch in "*?["):
            out += sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        elif Path(text).is_dir():
            out += sorted(
                p for p in Path(text).rglob("*") if p.is_file() and file_format(p) is not None
            )
        else:
            out.append(Path(text))
    return list(dict.fromkeys(out))


def ingest_paths(
    dest: Destination,
    paths: Sequence[str | Path],
    mapping: Mapping | str | Path | None = None,
    progress: bool = True,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> IngestSummary:
    """Ingest every file into ``dest`` (``App.ingest_paths`` passes the App's); returns
    per-file counts (see ``klantreis.ingest.summary``).

    A file that cannot be read at all (unknown type, missing column for the mapping, not
    valid JSON) is reported in its ``error`` and the other files go on.
    """
    started = time.perf_counter()
    if isinstance(mapping, str | Path):
        mapping = load_mapping(mapping)
    summary = IngestSummary()
    files = expand_paths(paths)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'").fetchall()
    con.execute("SET enable_progress_bar = false").fetchall()
    try:
        mark = _index_mark(dest)
        with _progress(progress, len(files)) as advance:
            for path in files:
                fs = _ingest_file(dest, con, path, mapping, delimiter, encoding, advance)
                summary.files.append(fs)
        _update_index(dest, mark)
        _checkpoint(dest)
    finally:
        con.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _index_mark(dest: Destination) -> Any:
    """The journey index's state before the files, when the ingest is to keep it current
    (``index_on_ingest`` and the index current or the store empty); else None."""
    if not dest.index_on_ingest:
        return None
    from klantreis.analytics.journey_index_ingest import index_mark

    return index_mark(dest.store)


def _update_index(dest: Destination, mark: Any) -> None:
    """The journey index brought up to date after the files (see ``_index_mark``). A
    failure here does not fail the ingest: the first read refreshes the index as before."""
    if mark is None:
        return
    from klantreis.analytics.journey_index_ingest import update_after_ingest

    try:
        update_after_ingest(dest.store, mark, dest.index_range_events, dest.index_memory_mb)
    except duckdb.Error as exc:
        log.warning("journey index not updated by the ingest (%s); the first read will", exc)


def _checkpoint(dest: Destination) -> None:
    """The store's checkpoint, under the ingest's memory limit: DuckDB would otherwise do it
    when the store closes, with its own limit (it added ~0.85 GiB to a 10M-event CSV
    ingest). Skipped, not failed, when DuckDB cannot (another transaction, or too little
    memory: then the close does it as before)."""
    if dest.memory_mb <= 0 or dest.store.path == ":memory:" or dest.store.read_only:
        return
    with dest.store.write_lock(), memory_limit(dest.store.con, dest.memory_mb):
        try:
            dest.store.con.execute("CHECKPOINT").fetchall()
        except duckdb.Error as exc:
            log.info("no checkpoint after the ingest (%s)", exc)


def _ingest_file(
    dest: Destination,
    con: duckdb.DuckDBPyConnection,
    path: Path,
    mapping: Mapping | None,
    delimiter: str | None,
    encoding: str | None,
    advance: Any,
) -> FileSummary:
    fs = FileSummary(str(path))
    started_at, t0 = datetime.now(UTC), time.perf_counter()
    try:
        opts = mapping.source if mapping else None
        src = SourceFile(
            path,
            delimiter or (opts.delimiter if opts else None),
            encoding or (opts.encoding if opts else None),
            dest.limits,
        )
        fs.format = src.format
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        if _sql_path(src, mapping):
            ingest_parquet_sql(dest, path, fs, advance)
        else:  # batches under the ingest's memory limit (the SQL path is one transaction:
            # a 100M-event file ran out of memory under 512 MiB, so it keeps DuckDB's own)
            with memory_limit(dest.store.con, dest.memory_mb):
                _run_batches(dest, con, src, mapping, fs, advance)
    except (MappingError, ValueError, OSError, pa.ArrowException) as exc:
        fs.error = one_line(exc)
        log.warning("ingest of %s failed: %s", path, fs.error)
        log.debug("ingest of %s failed", path, exc_info=True)
    fs.seconds = time.perf_counter() - t0
    dest.store.record_run(
        str(path),
        started_at,
        AppendResult(fs.rows_read, fs.events_stored, fs.duplicates, fs.quarantined),
        fs.rows_read,
        fs.status,
    )
    advance(0, 1)
    return fs


class ReadFailed(ValueError):
    """Reading, mapping or checking a file failed (whatever the error: this file fails with
    a one-line reason, the other files go on). Errors of the store are not wrapped: they
    end the run."""


def _guarded(items: Iterator[_T]) -> Iterator[_T]:
    """``items``, with any error raised while producing one turned into :class:`ReadFailed`."""
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except ReadFailed:
            raise
        except Exception as exc:
            plain = isinstance(exc, ValueError | OSError | pa.ArrowException | duckdb.Error)
            raise ReadFailed(one_line(exc, with_type=not plain)) from exc
        yield item


def one_line(exc: BaseException, with_type: bool = False, most: int = 300) -> str:
    """An exception as a one-line reason for the summary (its first line, cut)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if with_type or isinstance(exc, EOFError | RecursionError | SyntaxError | LookupError):
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= most else text[: most - 3] + "..."


#: Canonical Parquet files go through ``klantreis.ingest.parquet_sql`` (tests turn it off
#: to compare with the batch path).
PARQUET_SQL = True


def _sql_path(src: SourceFile, mapping: Mapping | None) -> bool:
    if not (PARQUET_SQL and src.format == "parquet" and mapping is None):
        return False
    if any(ch in str(src.path) for ch in "*?[{"):  # DuckDB would read the name as a glob
        return False
    return sql_compatible(pq.read_schema(src.path))


@dataclass
class _Work:
    """One prepared batch and what the summary needs to count it."""

    rows_read: int
    rows_rejected: int
    rows_without_events: int
    produced: int
    prepared: PreparedBatch
    rows_skipped: int = 0
    deadline_dates: int = 0


def _run_batches(
    dest: Destination,
    con: duckdb.DuckDBPyConnection,
    src: SourceFile,
    mapping: Mapping | None,
    fs: FileSummary,
    advance: Any,
) -> None:
    """Prepare batch k+1 (read, map, validate) in a thread while batch k is stored."""
    for work in in_background(_guarded(_prepared(dest, con, src, mapping))):
        fs.encoding, fs.delimiter = src.encoding, src.delimiter
        outcome = work.prepared.store(dest.store)
        fs.rows_read += work.rows_read
        fs.rows_rejected += work.rows_rejected
        fs.rows_without_events += work.rows_without_events
        fs.rows_skipped += work.rows_skipped
        fs.deadline_dates += work.deadline_dates
        fs.events_produced += work.produced
        fs.events_stored += outcome.result.stored
        fs.duplicates += outcome.result.duplicates
        fs.events_rejected += outcome.result.quarantined - work.rows_rejected
        fs.reasons.update(reason_class(r) for r in outcome.reasons)
        fs.note_examples(outcome.reasons)
        advance(work.rows_read, 0)
    fs.encoding, fs.delimiter = src.encoding, src.delimiter


def _prepared(
    dest: Destination, con: duckdb.DuckDBPyConnection, src: SourceFile, mapping: Mapping | None
) -> Iterator[_Work]:
    sql: str | None = None
    row = "__row"
    chosen: Mapping | None = None
    per_row = 1  # events a mapped row can give: source_order = record * per_row + event
    source = str(src.path)
    for raw in src.batches(dest.batch_rows):
        if raw.canonical or (sql is None and mapping is None and _typed_canonical(raw.table)):
            yield _located(_prepare_canonical(dest, raw, source), src)
            continue
        if sql is None:
            columns = src.columns or raw.table.column_names
            chosen = mapping or _default_mapping(columns, dest.timezone)
            sql = compile_mapping(chosen, columns, source, dest.journey)
            row = row_column(columns)
            per_row = len(chosen.resolved_events())
        assert chosen is not None
        yield _located(_prepare_mapped(dest, con, sql, raw, source, chosen, row, per_row), src)


def _located(work: _Work, src: SourceFile) -> _Work:
    """Quarantine entries with their physical line next to the record number (they differ
    in a CSV file whose quoted texts hold line breaks)."""
    q = work.prepared.quarantine
    if q is None or not q.num_rows or src.format != "csv":
        return work
    records = q.column("record").to_numpy(zero_copy_only=False).astype(np.int64)
    lines = pa.array(src.physical_lines(records), pa.int64())
    q = q.set_column(q.schema.get_field_index("line"), "line", lines)
    work.prepared = dataclasses.replace(work.prepared, quarantine=q)
    return work


def _default_mapping(columns: list[str], timezone: str) -> Mapping:
    if set(columns) >= _PM4PY_COLUMNS and "kind" not in columns:
        return parse_mapping(PM4PY_MAPPING, "<built-in pm4py mapping>")
    return identity_mapping(columns, timezone)


def _typed_canonical(table: pa.Table) -> bool:
    """Already canonical and typed (e.g. our own Parquet): skip the mapping step."""
    names = set(table.column_names)
    if not {"event_id", "occurred_at", "kind"} <= names or not names <= set(EVENT_COLUMNS):
        return False
    ts = table.schema.field("occurred_at").type
    return pa.types.is_timestamp(ts) and ts.tz is not None


def _prepare_canonical(dest: Destination, raw: RawBatch, source: str) -> _Work:
    table, dates = end_of_day_deadlines(raw.table, dest.journey)
    if "source" in table.column_names:
        filled = pc.coalesce(table["source"], pa.scalar(source))
        table = table.set_column(table.schema.get_field_index("source"), "source", filled)
    else:
        table = table.append_column("source", pa.array([source] * table.num_rows, pa.string()))
    prepared = prepare_events(
        table,
        dest.journey,
        source,
        lines=raw.lines,
        extra_quarantine=_reader_quarantine(raw, source),
        extra_reasons=[r.reason for r in raw.rejects],
    )
    return _Work(raw.rows_read, len(raw.rejects), 0, table.num_rows, prepared, deadline_dates=dates)


def _prepare_mapped(
    dest: Destination,
    con: duckdb.DuckDBPyConnection,
    sql: str,
    raw: RawBatch,
    source: str,
    mapping: Mapping,
    row: str = "__row",
    per_row: int = 1,
) -> _Work:
    out = _run_mapping(con, sql, raw, row)
    skipped = _skipped_by_where(con, mapping, raw)
    rows_with_events = len(pc.unique(out["__row"])) if out.num_rows else 0
    held: pa.Table | None = None
    if mapping.source.atomic_rows:
        out, held_at, held_reasons = held_rows(out)
        held = _held_quarantine(raw, source, held_at, held_reasons)
        rows_with_events -= len(held_at)
    bad_mask = pc.is_valid(out["__reason"])
    bad = out.filter(bad_mask)
    good = out.filter(pc.invert(bad_mask))
    events, text_dates = end_of_day_deadlines(good.select(list(EVENT_COLUMNS)), dest.journey)
    events = events.set_column(
        events.schema.get_field_index("source"),
        "source",
        pc.coalesce(events["source"], pa.scalar(source)),
    )
    lines = raw.lines[good["__row"].to_numpy()] if good.num_rows else np.array([], np.int64)
    # Ties keep the source order: the row's record number, then the event's place in the
    # mapping's [[events]].
    order = lines.astype(np.int64) * per_row + good["__event"].to_numpy().astype(np.int64)
    events = events.set_column(
        events.schema.get_field_index("source_order"), "source_order", pa.array(order, pa.int64())
    )
    extra = [
        t
        for t in (_reader_quarantine(raw, source), held, _mapping_quarantine(bad, raw, source))
        if t is not None
    ]
    held_n = 0 if held is None else held.num_rows
    held_reasons_list = [] if held is None else held["reason"].to_pylist()
    prepared = prepare_events(
        events,
        dest.journey,
        source,
        lines=lines,
        extra_quarantine=pa.concat_tables(extra) if extra else None,
        extra_reasons=[r.reason for r in raw.rejects]
        + held_reasons_list
        + bad["__reason"].to_pylist(),
    )
    return _Work(
        raw.rows_read,
        len(raw.rejects) + held_n,
        raw.table.num_rows - rows_with_events - held_n - skipped,
        out.num_rows,
        prepared,
        skipped,
        text_dates + (int(pc.sum(good["__end_of_day"]).as_py() or 0) if good.num_rows else 0),
    )


def _skipped_by_where(con: duckdb.DuckDBPyConnection, mapping: Mapping, raw: RawBatch) -> int:
    """Rows the mapping's ``where`` filters out (counted, not quarantined)."""
    cond = where_sql(mapping)
    if cond is None:
        return 0
    con.register("_raw", raw.table)
    try:
        rows = con.sql(f"SELECT count(*) FILTER (WHERE NOT ({cond})) FROM _raw").fetchall()
    finally:
        con.unregister("_raw")
    return int(rows[0][0])


def _held_quarantine(
    raw: RawBatch, source: str, rows: list[int], reasons: list[str]
) -> pa.Table | None:
    """One quarantine entry per source row held back by ``atomic_rows``."""
    if not rows:
        return None
    originals = raw.table.take(pa.array(rows)).to_pylist()
    lines = raw.lines[np.asarray(rows, dtype=np.int64)]
    return mapping_rejects(source, originals, ["all"] * len(rows), lines, reasons)


def _run_mapping(
    con: duckdb.DuckDBPyConnection, sql: str, raw: RawBatch, row: str = "__row"
) -> pa.Table:
    table = raw.table.append_column(row, pa.array(np.arange(raw.table.num_rows)))
    con.register("_raw", table)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("_raw")


_DONE = object()


def in_background(items: Iterator[_T], depth: int = 1) -> Iterator[_T]:
    """Iterate ``items`` in a worker thread, at most ``depth`` items ahead; errors in the
    worker are raised here, and stopping early stops the worker."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:
            q.put(exc)

    thread = threading.Thread(target=work, name="klantreis-ingest-prepare", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _reader_quarantine(raw: RawBatch, source: str) -> pa.Table | None:
    rejects = raw.rejects
    return reader_rejects(
        source, [r.line for r in rejects], [r.reason for r in rejects], [r.raw for r in rejects]
    )


def _mapping_quarantine(bad: pa.Table, raw: RawBatch, source: str) -> pa.Table | None:
    if not bad.num_rows:
        return None
    rows = bad["__row"].to_pylist()
    originals = raw.table.take(pa.array(rows)).to_pylist()
    lines = raw.lines[np.asarray(rows, dtype=np.int64)]
    return mapping_rejects(
        source, originals, bad["__event"].to_pylist(), lines, bad["__reason"].to_pylist()
    )


@contextmanager
def _progress(enabled: bool, files: int) -> Iterator[Any]:
    """A rich progress bar on a terminal; otherwise a no-op ``advance(rows, files)``."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda rows, done: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files · {task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("ingest", total=files, rows=0)
        state = {"rows": 0}

        def advance(rows: int, done: int) -> None:
            state["rows"] += rows
            bar.update(task, advance=done, rows=state["rows"])

        yield advance
