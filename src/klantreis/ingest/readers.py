"""Readers: files to batches of raw rows, in bounded memory.

Every reader yields ``RawBatch``es of at most ``batch_rows`` rows, with the source line of
each row (for the quarantine) and the rows it could not read at all (wrong column count,
broken JSON line) as ``RowReject``s. CSV goes through pyarrow's streaming reader with every
column as text (conversion happens in the mapping); Parquet through ``iter_batches``; XES
is stream-parsed with ``iterparse`` into canonical events.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from klantreis.ingest.json_array import (
    MAX_JSON_ELEMENT_CHARS,
    RAW_PREVIEW_CHARS,
    JsonArrayError,
    JsonElementError,
    json_array_items,
)
from klantreis.ingest.limits import LimitExceeded, Limits, capped, too_deep
from klantreis.ingest.raw import RawBatch, RowReject, slug

__all__ = [
    "MAX_JSON_ELEMENT_CHARS",
    "JsonArrayError",
    "JsonElementError",
    "RawBatch",
    "RowReject",
    "SourceFile",
    "detect_encoding",
    "json_array_items",
    "open_source",
    "slug",
]

log = logging.getLogger(__name__)

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".xes": "xes",
}
CSV_BLOCK_BYTES = 8 << 20


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".xes.gz"):
        return "xes"
    if name.endswith(".csv.gz"):
        return "csv"
    return FORMATS.get(path.suffix.lower())


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def detect_encoding(path: Path, chunk: int = 1 << 20) -> str:
    """By byte-order mark (UTF-8, UTF-16, UTF-32), else utf-8, else cp1252, else latin-1
    (which decodes anything)."""
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        head = fh.read(4)
        for bom, name in _BOMS:  # UTF-32 LE before UTF-16 LE: its BOM starts the same
            if head.startswith(bom):
                return name
        fh.seek(0)
        for encoding in ("utf-8", "cp1252"):
            if _decodes(fh, encoding, chunk):
                return encoding
            fh.seek(0)
    return "latin-1"


def _decodes(fh: IO[bytes], encoding: str, chunk: int) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while data := fh.read(chunk):
            decoder.decode(data)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


class SourceFile:
    """One input file: its format, encoding and delimiter (detected or given)."""

    def __init__(
        self,
        path: Path,
        delimiter: str | None = None,
        encoding: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.path = path
        self.limits = limits or Limits()
        fmt = file_format(path)
        if fmt is None:
            raise ValueError(
                f"{path}: unknown file type (use .csv, .parquet, .json, .ndjson, .xes or .xes.gz)"
            )
        self.format = fmt
        self.delimiter = delimiter
        self.encoding = encoding
        self.columns: list[str] = []
        self._lines: _CsvLines | None = None

    def physical_lines(self, records: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The physical line each record starts on (records numbered as ``RawBatch.lines``
        and the quarantine's ``record``: in a CSV file the header is record 1). A record
        whose quoted text holds line breaks spans several lines, so in a CSV file the two
        differ; in other formats they are the same. Costs a scan of the file up to the
        last record asked for (only done for quarantined rows)."""
        records = np.asarray(records, dtype=np.int64)
        if self.format != "csv" or not len(records):
            return records
        if self._lines is None:
            self._lines = _CsvLines(self.path, self.encoding or "utf-8", self.delimiter or ",")
        unique = np.unique(records)  # sorted: one forward scan
        starts = np.array([self._lines.start_of(int(r)) for r in unique], dtype=np.int64)
        return starts[np.searchsorted(unique, records)]

    def batches(self, batch_rows: int) -> Iterator[RawBatch]:
        readers = {
            "csv": self._csv,
            "parquet": self._parquet,
            "json": self._json,
            "ndjson": self._ndjson,
            "xes": self._xes,
        }
        return readers[self.format](batch_rows)

    # -- CSV -----------------------------------------------------------------------------
    def _csv(self, batch_rows: int) -> Iterator[RawBatch]:
        self.encoding = self.encoding or detect_encoding(self.path)
        header, sample = self._csv_head()
        if not header:
            return
        self.delimiter = self.delimiter or sniff_delimiter(sample)
        limit = self.limits.max_record_fields
        if header.count(self.delimiter) >= limit:
            raise LimitExceeded(
                f"{self.path}: more than {limit:,} columns (setting max_record_fields)"
            )
        self.columns = next(csv.reader([header], delimiter=self.delimiter))
        rejects: list[RowReject] = []

        def on_invalid(row: Any) -> str:
            rejects.append(
                RowReject(
                    int(row.number) if row.number and row.number > 0 else -1,
                    f"wrong column count (expected {row.expected_columns},"
                    f" got {row.actual_columns})",
                    str(row.text)[:RAW_PREVIEW_CHARS],
                )
            )
            return "skip"

        reader = pacsv.open_csv(
            self._binary_stream(),
            read_options=pacsv.ReadOptions(
                encoding="utf8" if self.encoding.startswith("utf-8") else self.encoding,
                # a row must fit in a block: room for a field of max_field_bytes (a larger
                # row fails the file; a field past the limit quarantines its row)
                block_size=max(CSV_BLOCK_BYTES, 4 * self.limits.max_field_bytes),
                use_threads=False,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=self.delimiter,
                invalid_row_handler=on_invalid,
                # quoted text may hold line breaks and bare carriage returns (social-media
                # exports): without this a block boundary inside one splits the record
                newlines_in_values=True,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(self.columns, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        batches = _rebatch(_csv_stream(reader, rejects), batch_rows)
        yield from _drop_oversized(batches, self.limits.max_field_bytes)

    def _binary_stream(self) -> Any:
        """The file's bytes for pyarrow; a .gz decompressed in Python, capped at
        ``max_decompressed_bytes``."""
        if not self.path.name.lower().endswith(".gz"):
            return pa.input_stream(str(self.path))
        return pa.PythonFile(self._open_binary(), mode="r")

    def _open_binary(self) -> IO[bytes]:
        if self.path.name.lower().endswith(".gz"):
            limit = self.limits.max_decompressed_bytes
            return capped(gzip.open(self.path, "rb"), limit, str(self.path))  # type: ignore[arg-type]
        return open(self.path, "rb")

    def _csv_head(self) -> tuple[str, str]:
        assert self.encoding is not None
        with io.TextIOWrapper(
            self._open_binary(), encoding=self.encoding, errors="replace", newline=""
        ) as fh:
            sample = fh.read(64 * 1024)
        header = sample.lstrip("\ufeff").splitlines()[0] if sample.strip() else ""
        return header, sample

    # -- Parquet -------------------------------------------------------------------------
    def _parquet(self, batch_rows: int) -> Iterator[RawBatch]:
        pf = pq.ParquetFile(self.path)
        self.columns = pf.schema_arrow.names
        line = 1
        for rb in pf.iter_batches(batch_size=batch_rows):
            table = _microseconds(pa.Table.from_batches([rb]))
            yield RawBatch(table, np.arange(line, line + table.num_rows))
            line += table.num_rows

    # -- JSON ----------------------------------------------------------------------------
    def _json(self, batch_rows: int) -> Iterator[RawBatch]:
        with self._open_text() as fh:
            head = fh.read(4096).lstrip("\ufeff \t\r\n")
        if not head.startswith("["):
            yield from self._ndjson(batch_rows)
            return
        self.encoding = "utf-8"
        records: list[Any] = []
        lines: list[int] = []
        with self._open_text() as fh:
            for number, item in json_array_items(fh):
                if isinstance(item, JsonElementError):
                    records.append(item)
                    lines.append(number)
                    continue
                if isinstance(item, JsonArrayError):
                    batch = _records_batch(records, 0, self, lines)
                    batch.rejects.append(RowReject(number, item.reason, item.raw))
                    yield batch
                    return
                records.append(item)
                lines.append(number)
                if len(records) >= batch_rows:
                    yield _records_batch(records, 0, self, lines)
                    records, lines = [], []
        if records:
            yield _records_batch(records, 0, self, lines)

    def _ndjson(self, batch_rows: int) -> Iterator[RawBatch]:
        """One record per line; a line that is not UTF-8 or not JSON is quarantined alone."""
        self.encoding = "utf-8"
        records: list[tuple[int, bytes]] = []
        with self._open_binary() as fh:
            for number, line in enumerate(_bounded_lines(fh, MAX_JSON_ELEMENT_CHARS), start=1):
                if number == 1 and line.startswith(codecs.BOM_UTF8):
                    line = line[len(codecs.BOM_UTF8) :]
                if line.strip():
                    records.append((number, line))
                if len(records) >= batch_rows:
                    yield _ndjson_batch(records, self)
                    records = []
        if records:
            yield _ndjson_batch(records, self)

    # -- XES -----------------------------------------------------------------------------
    def _xes(self, batch_rows: int) -> Iterator[RawBatch]:
        from klantreis.ingest.xes import xes_batches

        self.encoding = "utf-8"
        with self._open_binary() as fh:
            yield from xes_batches(fh, str(self.path), batch_rows, self.limits)

    def _open_text(self) -> IO[str]:
        return io.TextIOWrapper(self._open_binary(), encoding="utf-8-sig", errors="strict")


class _CsvLines:
    """Record number -> physical start line, by an incremental scan with Python's csv reader
    (the same quoting rules as pyarrow's: double quotes, doubled to escape)."""

    def __init__(self, path: Path, encoding: str, delimiter: str) -> None:
        self.path, self.encoding, self.delimiter = path, encoding, delimiter
        self._restart()

    def _restart(self) -> None:
        opener: Any = gzip.open if self.path.name.lower().endswith(".gz") else open
        self._fh = opener(self.path, "rt", encoding=self.encoding, errors="replace", newline="")
        self._reader = csv.reader(self._fh, delimiter=self.delimiter)
        self._record = 0  # records read so far
        self._next_start = 1  # physical line of the next record

    def start_of(self, record: int) -> int:
        if record <= 0:
            return record
        if record <= self._record:  # asked for an earlier record: scan again (rare)
            self._fh.close()
            self._restart()
        start = self._next_start
        while self._record < record:
            start = self._next_start
            try:
                next(self._reader)
            except (StopIteration, csv.Error):
                return start
            self._record += 1
            self._next_start = self._reader.line_num + 1
        return start


def open_source(
    path: Path,
    delimiter: str | None = None,
    encoding: str | None = None,
    limits: Limits | None = None,
) -> SourceFile:
    return SourceFile(path, delimiter, encoding, limits)


def sniff_delimiter(sample: str) -> str:
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        first = lines[0] if lines else ""
        return max(",;\t|", key=first.count)


def _microseconds(table: pa.Table) -> pa.Table:
    """Nanosecond time stamps truncated to microseconds (the store's precision)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.unit == "ns":
            us = pc.cast(table.column(i), pa.timestamp("us", f.type.tz), safe=False)
            table = table.set_column(i, f.name, us)
    return table


def _drop_oversized(batches: Iterator[RawBatch], limit: int) -> Iterator[RawBatch]:
    """Rows with a field of more than ``limit`` bytes become rejects with their line."""
    for batch in batches:
        table, big = batch.table, None
        for column in table.columns:
            over = pc.greater(pc.binary_length(column), limit)
            big = over if big is None else pc.or_(big, over)
        if big is None or not pc.any(big).as_py():
            yield batch
            continue
        mask = np.asarray(pc.fill_null(big, False).to_numpy(zero_copy_only=False), dtype=bool)
        reason = f"a field larger than {limit:,} bytes (setting max_field_bytes)"
        batch.rejects += [
            RowReject(int(line), reason, _row_preview(row))
            for line, row in zip(batch.lines[mask], table.filter(big).to_pylist(), strict=True)
        ]
        batch.table, batch.lines = table.filter(pc.invert(big)), batch.lines[~mask]
        yield batch


def _row_preview(row: dict[str, Any]) -> str:
    return json.dumps({k: (v or "")[:200] for k, v in row.items()}, ensure_ascii=False)


def _csv_stream(
    reader: pacsv.CSVStreamingReader, rejects: list[RowReject]
) -> Iterator[tuple[pa.RecordBatch, list[RowReject]]]:
    for rb in reader:
        taken = list(rejects)
        rejects.clear()
        yield rb, taken
    if rejects:
        yield pa.RecordBatch.from_pylist([], schema=reader.schema), list(rejects)


def _rebatch(
    stream: Iterator[tuple[pa.RecordBatch, list[RowReject]]], batch_rows: int
) -> Iterator[RawBatch]:
    """Cut pyarrow's blocks into batches of ``batch_rows`` rows, numbering lines.

    Line of a good row = header line + its position among data rows, shifted past the
    rejected rows before it (rows spanning several lines are not counted separately).
    """
    pending: list[pa.RecordBatch] = []
    pending_rejects: list[RowReject] = []
    known_bad: list[int] = []
    next_line = 2
    for rb, rejects in stream:
        pending.append(rb)
        pending_rejects += rejects
        known_bad += [r.line for r in rejects if r.line > 0]
        while sum(b.num_rows for b in pending) >= batch_rows:
            table = pa.Table.from_batches(pending).combine_chunks()
            head, rest = table.slice(0, batch_rows), table.slice(batch_rows)
            batch, next_line = _emit(head, pending_rejects, known_bad, next_line)
            yield batch
            pending, pending_rejects = rest.to_batches(), []
    if pending or pending_rejects:
        table = pa.Table.from_batches(pending) if pending else pa.table({})
        yield _emit(table, pending_rejects, known_bad, next_line)[0]


def _emit(
    table: pa.Table, rejects: list[RowReject], known_bad: list[int], next_line: int
) -> tuple[RawBatch, int]:
    n = table.num_rows
    lines = np.arange(next_line, next_line + n, dtype=np.int64)
    for bad in sorted(b for b in known_bad if b >= next_line):
        lines[lines >= bad] += 1
    last = int(lines[-1]) + 1 if n else next_line
    return RawBatch(table, lines, rejects), last


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _records_batch(
    records: list[Any], first_line: int, src: SourceFile, lines: list[int] | None = None
) -> RawBatch:
    lines = lines if lines is not None else list(range(first_line, first_line + len(records)))
    good: list[dict[str, Any]] = []
    good_lines: list[int] = []
    rejects: list[RowReject] = []
    known = dict.fromkeys(src.columns)
    for line, rec in zip(lines, records, strict=True):
        problem = _record_problem(rec, src.limits, known)
        if problem is not None:
            raw = rec.raw if isinstance(rec, JsonElementError) else _preview(rec)
            rejects.append(RowReject(line, problem, raw))
            continue
        known.update(dict.fromkeys(rec))
        good.append(rec)
        good_lines.append(line)
    names = list(dict.fromkeys(k for rec in good for k in rec))
    src.columns = list(known)
    try:
        table = _string_table(good, names)
    except UnicodeError:  # a lone surrogate somewhere: find the records that hold one
        keep = [_encodable(rec) for rec in good]
        rejects += [
            RowReject(line, "text that is not valid Unicode (a lone surrogate)", _preview(rec))
            for line, rec, ok in zip(good_lines, good, keep, strict=True)
            if not ok
        ]
        good = [rec for rec, ok in zip(good, keep, strict=True) if ok]
        good_lines = [line for line, ok in zip(good_lines, keep, strict=True) if ok]
        table = _string_table(good, names)
    return RawBatch(table, np.array(good_lines, dtype=np.int64), rejects)


def _string_table(records: list[dict[str, Any]], names: list[str]) -> pa.Table:
    if not records:
        return pa.table({})
    return pa.table(
        {k: pa.array([_json_text(r.get(k)) for r in records], pa.string()) for k in names}
    )


def _encodable(rec: dict[str, Any]) -> bool:
    try:
        for key, value in rec.items():
            key.encode("utf-8")
            text = _json_text(value)
            if text is not None:
                text.encode("utf-8")
    except UnicodeError:
        return False
    return True


def _preview(value: Any) -> str:
    """The start of a record as JSON (a record of a million keys is not dumped whole)."""
    if isinstance(value, dict) and len(value) > 100:
        value = dict(itertools.islice(value.items(), 100))
    return (_json_text(value) or "")[:RAW_PREVIEW_CHARS]


def _record_problem(rec: Any, limits: Limits, known: dict[str, None]) -> str | None:
    """Why a parsed JSON record cannot be read (the :class:`Limits`), or None."""
    if isinstance(rec, JsonElementError):
        return rec.reason
    if not isinstance(rec, dict):
        return "record is not a JSON object"
    most = limits.max_record_fields
    if len(rec) > most:
        return f"more than {most:,} keys (setting max_record_fields)"
    if len(known) + len(rec) > most and len(known | dict.fromkeys(rec)) > most:
        return f"the file would have more than {most:,} distinct keys (setting max_record_fields)"
    big = limits.max_field_bytes
    nested = False
    for value in rec.values():
        if (
            isinstance(value, str)
            and len(value) > big // 4
            and len(value.encode("utf-8", "surrogatepass")) > big
        ):
            return f"a field larger than {big:,} bytes (setting max_field_bytes)"
        nested = nested or isinstance(value, dict | list)
    if nested and too_deep(rec, limits.max_json_depth):
        return f"nested deeper than {limits.max_json_depth} levels (setting max_json_depth)"
    return None


class _LongLine(bytes):
    """The start of a line longer than the limit (the rest was skipped)."""


def _bounded_lines(fh: IO[bytes], limit: int) -> Iterator[bytes]:
    """The lines of ``fh``; a line longer than ``limit`` bytes is given as a
    :class:`_LongLine` holding its start, and the rest of it is skipped (bounded memory)."""
    while line := fh.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while (more := fh.readline(1 << 20)) and not more.endswith(b"\n"):
            pass
        yield _LongLine(line[:RAW_PREVIEW_CHARS])


def _ndjson_batch(numbered: list[tuple[int, bytes]], src: SourceFile) -> RawBatch:
    records: list[Any] = []
    lines: list[int] = []
    rejects: list[RowReject] = []
    for number, data in numbered:
        if isinstance(data, _LongLine):
            raw = data.decode("utf-8", "replace")
            reason = f"line longer than {MAX_JSON_ELEMENT_CHARS:,} bytes"
            rejects.append(RowReject(number, reason, raw))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raw = data[:RAW_PREVIEW_CHARS].decode("utf-8", "replace")
            rejects.append(RowReject(number, f"not valid UTF-8 (byte {exc.start})", raw))
            continue
        try:
            records.append(json.loads(text))
            lines.append(number)
        except RecursionError:
            rejects.append(
                RowReject(number, "invalid JSON: nested too deeply", text[:RAW_PREVIEW_CHARS])
            )
        except ValueError as exc:
            rejects.append(
                RowReject(
                    number, f"invalid JSON: {str(exc.args[0])[:80]}", text[:RAW_PREVIEW_CHARS]
                )
            )
    batch = _records_batch(records, 0, src, lines)
    batch.rejects = rejects + batch.rejects
    return batch
