"""Quarantine entries: the one place they are built, for every way in.

A row that cannot become a valid event is never dropped: it becomes a quarantine entry with
its source, line, reason and raw text (rows in = rows stored + duplicates + quarantined).
Rows are rejected at three stages, each with its own raw text, and all entries are made by
``quarantine_rows``:

* the reader could not parse a line (``reader_rejects``: the raw line),
* a mapping could not produce an event from a row (``mapping_rejects``: the source row and
  the event it gave, as JSON),
* a canonical row failed a validation rule (``rejected_rows``: the row as JSON, so the entry's
  id, and re-sending it, do not depend on which ingest path rejected it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from klantreis.model.events import conform, derive_event_id
from klantreis.store.duckdb_store import QUARANTINE_SCHEMA

__all__ = [
    "MAX_RAW_CHARS",
    "mapping_rejects",
    "quarantine_rows",
    "reader_rejects",
    "rejected_rows",
]

#: Quarantined raw rows are cut to this many characters (a 10 MB field stays out).
MAX_RAW_CHARS = 20_000


def quarantine_rows(
    source: str,
    lines: Sequence[int],
    reasons: Sequence[str],
    raws: Sequence[str],
    records: Sequence[int] | None = None,
) -> pa.Table:
    """Build quarantine rows; the id is derived from source, record number and raw content,
    so re-sending the same bad row adds nothing. Raw text longer than MAX_RAW_CHARS is cut.

    ``records`` are the rows' record numbers in their source (a CSV row whose quoted text
    holds line breaks is one record over several physical ``lines``); without them the
    record number is the line."""
    records = lines if records is None else records
    raws = [_utf8(r) for r in raws]
    ids = [derive_event_id(source, rec, raw) for rec, raw in zip(records, raws, strict=True)]
    cut = [r if len(r) <= MAX_RAW_CHARS else r[:MAX_RAW_CHARS] + " ...[truncated]" for r in raws]
    return pa.table(
        {
            "quarantine_id": ids,
            "source": [source] * len(lines),
            "line": list(lines),
            "reason": [_utf8(r) for r in reasons],
            "raw": cut,
            "record": list(records),
        },
        schema=QUARANTINE_SCHEMA,
    )


def _utf8(text: str) -> str:
    """Text that can be stored: a lone surrogate (valid in a JSON string, not in UTF-8)
    is written as its escape."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def rejected_rows(
    rows: pa.Table,
    lines: Sequence[int],
    reasons: Sequence[str],
    source: str,
    records: Sequence[int] | None = None,
) -> pa.Table:
    """Entries for canonical rows that failed a validation rule: the raw text is the row
    as JSON (without its ``source_order``, which depends on the way in)."""
    canonical = conform(rows).drop_columns(["source_order"])
    raws = [json.dumps(r, default=str, ensure_ascii=False) for r in _row_dicts(canonical)]
    return quarantine_rows(source, lines, reasons, raws, records)


def _row_dicts(rows: pa.Table) -> list[dict[str, Any]]:
    """The rows as dicts; a value Python cannot hold (a time stamp in year 0, which Arrow
    and DuckDB can) becomes Arrow's text for it, so such a row is quarantined, not fatal."""
    try:
        dicts: list[dict[str, Any]] = rows.to_pylist()
        return dicts
    except (OverflowError, ValueError):
        return [_row_dict(rows.slice(i, 1)) for i in range(rows.num_rows)]


def _row_dict(row: pa.Table) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in row.column_names:
        value = row.column(name)[0]
        try:
            out[name] = value.as_py()
        except (OverflowError, ValueError):
            out[name] = value.cast(pa.string()).as_py()
    return out


def reader_rejects(
    source: str,
    lines: Sequence[int],
    reasons: Sequence[str],
    raws: Sequence[str],
    records: Sequence[int] | None = None,
) -> pa.Table | None:
    """Entries for lines the reader could not parse (their raw text), or None for none."""
    if not lines:
        return None
    return quarantine_rows(source, lines, reasons, raws, records)


def mapping_rejects(
    source: str,
    originals: Sequence[dict[str, Any]],
    events: Sequence[Any],
    lines: npt.NDArray[np.int64] | Sequence[int],
    reasons: Sequence[str],
    records: npt.NDArray[np.int64] | Sequence[int] | None = None,
) -> pa.Table | None:
    """Entries for source rows a mapping could not turn into a valid event: the raw text
    holds the source row and the event it gave."""
    if not reasons:
        return None
    raws = [
        json.dumps({"row": o, "event": e}, ensure_ascii=False, default=str)
        for o, e in zip(originals, events, strict=True)
    ]
    return quarantine_rows(
        source,
        [int(n) for n in lines],
        reasons,
        raws,
        None if records is None else [int(n) for n in records],
    )
