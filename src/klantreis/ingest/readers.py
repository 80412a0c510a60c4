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
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from klantreis.ingest.raw import RawBatch, RowReject, slug

__all__ = ["RawBatch", "RowReject", "SourceFile", "detect_encoding", "open_source", "slug"]

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
RAW_PREVIEW_CHARS = 2_000


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".xes.gz"):
        return "xes"
    if name.endswith(".csv.gz"):
        return "csv"
    return FORMATS.get(path.suffix.lower())


def detect_encoding(path: Path, chunk: int = 1 << 20) -> str:
    """utf-8-sig (BOM), utf-8, else cp1252, else latin-1 (which decodes anything)."""
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        head = fh.read(3)
        if head == codecs.BOM_UTF8:
            return "utf-8-sig"
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
        self, path: Path, delimiter: str | None = None, encoding: str | None = None
    ) -> None:
        self.path = path
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
            pa.input_stream(str(self.path), compression="detect"),
            read_options=pacsv.ReadOptions(
                encoding="utf8" if self.encoding.startswith("utf-8") else self.encoding,
                block_size=CSV_BLOCK_BYTES,
                use_threads=False,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=self.delimiter, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(self.columns, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        yield from _rebatch(_csv_stream(reader, rejects), batch_rows)

    def _csv_head(self) -> tuple[str, str]:
        opener: Any = gzip.open if self.path.name.lower().endswith(".gz") else open
        assert self.encoding is not None
        with opener(self.path, "rt", encoding=self.encoding, errors="replace", newline="") as fh:
            sample = fh.read(64 * 1024)
        header = sample.lstrip("\ufeff").splitlines()[0] if sample.strip() else ""
        return header, sample

    # -- Parquet -------------------------------------------------------------------------
    def _parquet(self, batch_rows: int) -> Iterator[RawBatch]:
        pf = pq.ParquetFile(self.path)
        self.columns = pf.schema_arrow.names
        line = 1
        for rb in pf.iter_batches(batch_size=batch_rows):
            table = pa.Table.from_batches([rb])
            yield RawBatch(table, np.arange(line, line + table.num_rows))
            line += table.num_rows

    # -- JSON ----------------------------------------------------------------------------
    def _json(self, batch_rows: int) -> Iterator[RawBatch]:
        with _open_text(self.path) as fh:
            head = fh.read(4096).lstrip("\ufeff \t\r\n")
        if not head.startswith("["):
            yield from self._ndjson(batch_rows)
            return
        self.encoding = "utf-8"
        records: list[Any] = []
        lines: list[int] = []
        with _open_text(self.path) as fh:
            for number, item in json_array_items(fh):
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
        self.encoding = "utf-8"
        records: list[tuple[int, Any]] = []
        with _open_text(self.path) as fh:
            for number, line in enumerate(fh, start=1):
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
        yield from xes_batches(self.path, batch_rows)


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
    path: Path, delimiter: str | None = None, encoding: str | None = None
) -> SourceFile:
    return SourceFile(path, delimiter, encoding)


def sniff_delimiter(sample: str) -> str:
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        first = lines[0] if lines else ""
        return max(",;\t|", key=first.count)


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="strict")
    return path.open(encoding="utf-8-sig", errors="strict")


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


@dataclass(frozen=True)
class JsonArrayError:
    """Where a JSON array stops being valid: the rest of the file is not read."""

    reason: str
    raw: str


_JSON_SPACE = re.compile(r"[ \t\r\n\ufeff]*")

#: A single array element larger than this is refused (bounded memory).
MAX_JSON_ELEMENT_CHARS = 64 << 20


def json_array_items(
    fh: IO[str], chunk: int = 1 << 20
) -> Iterator[tuple[int, Any | JsonArrayError]]:
    """The elements of a top-level JSON array, one at a time, numbered from 1, reading ``fh``
    in chunks: memory stays near one chunk plus the largest element, not the whole file.

    A syntax error ends the stream with a ``JsonArrayError`` naming the element it is in;
    the elements before it were yielded already."""
    decoder = json.JSONDecoder()
    buf, pos, eof, want = "", 0, False, chunk

    def fill() -> bool:
        nonlocal buf, pos, eof, want
        if eof:
            return False
        more = fh.read(want)
        if not more:
            eof = True
            return False
        buf, pos = buf[pos:] + more, 0
        return True

    def skip_space() -> None:
        nonlocal pos
        while True:
            pos = _JSON_SPACE.match(buf, pos).end()  # type: ignore[union-attr]
            if pos < len(buf) or not fill():
                return

    def error(number: int, what: str) -> tuple[int, JsonArrayError]:
        preview = buf[pos : pos + RAW_PREVIEW_CHARS]
        return number, JsonArrayError(
            f"invalid JSON in element {number}: {what}; the rest of the file was not read",
            preview,
        )

    skip_space()
    if buf[pos : pos + 1] != "[":
        yield error(1, "the file does not start with '['")
        return
    pos += 1
    number = 0
    skip_space()
    if buf[pos : pos + 1] == "]":
        return
    while True:
        number += 1
        skip_space()
        while True:
            try:
                item, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                if len(buf) - pos < MAX_JSON_ELEMENT_CHARS and fill():
                    want = min(want * 2, MAX_JSON_ELEMENT_CHARS)
                    continue
                yield error(number, exc.msg if eof else "element too large")
                return
            if end < len(buf) or eof or not fill():
                break  # a value that ends at the buffer's end may go on (a number)
        want = chunk
        pos = end
        yield number, item
        skip_space()
        sep = buf[pos : pos + 1]
        pos += 1
        if sep == "]":
            skip_space()
            if pos < len(buf):
                yield error(number + 1, "text after the closing ']'")
            return
        if sep != ",":
            pos -= 1
            yield error(number + 1, "expected ',' or ']' after element " + str(number))
            return


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
    for line, rec in zip(lines, records, strict=True):
        if not isinstance(rec, dict):
            rejects.append(RowReject(line, "record is not a JSON object", _json_text(rec) or ""))
            continue
        good.append(rec)
        good_lines.append(line)
    names = list(dict.fromkeys(k for rec in good for k in rec))
    src.columns = list(dict.fromkeys([*src.columns, *names]))
    table = (
        pa.table({k: pa.array([_json_text(r.get(k)) for r in good], pa.string()) for k in names})
        if good
        else pa.table({})
    )
    return RawBatch(table, np.array(good_lines, dtype=np.int64), rejects)


def _ndjson_batch(numbered: list[tuple[int, str]], src: SourceFile) -> RawBatch:
    records: list[Any] = []
    lines: list[int] = []
    rejects: list[RowReject] = []
    for number, text in numbered:
        try:
            records.append(json.loads(text))
            lines.append(number)
        except ValueError as exc:
            rejects.append(
                RowReject(number, f"invalid JSON: {exc.args[0][:80]}", text[:RAW_PREVIEW_CHARS])
            )
    batch = _records_batch(records, 0, src, lines)
    batch.rejects = rejects + batch.rejects
    return batch
