"""Export the event log for other process-mining tools: XES (IEEE 1849) and a flat CSV.

XES: one trace per journey (``concept:name`` = journey_id), one event per row with
``concept:name`` = kind, ``time:timestamp`` = occurred_at (UTC), ``org:resource`` = owner, and
every other field as an attribute (score as a float; each top-level key of ``attrs`` as
``attrs.<key>``). Events without a journey are not part of any trace and are skipped (counted).
Text is escaped, and characters XML 1.0 forbids are replaced by U+FFFD, so the file is valid
XML whatever customers typed.

CSV: every event column (journeys first ordered by journey and time), time stamps ISO-8601 UTC.
Spreadsheet-safe by default: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading ``'`` so spreadsheet programs show it instead of running it as
a formula (``=HYPERLINK(...)`` in a customer comment); ``spreadsheet_safe=False`` writes the
text unchanged for tools that read CSV as data.

Inside a journey, events are in the order of ``klantreis.analytics.journeys.order_keys``
(time, then ``source_order``, then event id). ``source_order`` itself is not written: the
order of the events in the file is its meaning, and reading the file back numbers them so.

Both are written in batches, so the log never has to fit in memory at once. On DuckDB the text
is built in SQL and streamed as Arrow batches straight to the file (one ordered query per range
of journeys, so no sort holds the whole log); rows whose ``attrs`` SQL cannot type exactly as
Python's json would are written by the Python code below, which is also the path for other
engines (Spark): both give the same bytes.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, TextIO

import duckdb
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from klantreis.model.events import EVENT_COLUMNS

__all__ = [
    "FORMULA_STARTS",
    "ExportResult",
    "defuse_cell",
    "export_csv",
    "export_log",
    "export_xes",
    "xes_escape",
]

Format = Literal["xes", "csv"]

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
#: The same for RE2 (Arrow and DuckDB), whose text cannot hold surrogates.
_XML_INVALID_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{FFFE}\x{FFFF}]"
_ENTITIES = (
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
    ('"', "&quot;"),
    ("\n", "&#10;"),
    ("\r", "&#13;"),
    ("\t", "&#9;"),
)
_XES_HEADER = """<?xml version="1.0" encoding="UTF-8" ?>
<log xes.version="1.0" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">
\t<extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
\t<extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
\t<extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
\t<global scope="trace">
\t\t<string key="concept:name" value="__INVALID__"/>
\t</global>
\t<global scope="event">
\t\t<string key="concept:name" value="__INVALID__"/>
\t\t<date key="time:timestamp" value="1970-01-01T00:00:00+00:00"/>
\t</global>
\t<classifier name="Activity" keys="concept:name"/>
\t<string key="concept:name" value="klantreis export"/>
"""
#: Event fields written under their own XES keys; the rest become plain attributes.
_XES_KEYS = {"kind": "concept:name", "owner": "org:resource"}
_SKIP = {"journey_id", "occurred_at", "attrs", "score"}
#: The columns written (``source_order`` is the order of the rows, see the module docs).
_EXPORTED = tuple(c for c in EVENT_COLUMNS if c != "source_order")
#: The order of a journey's events (as ``klantreis.analytics.journeys.order_keys``).
_ORDER = ["occurred_at", "source_order", "event_id"]
_ORDER_SQL = ", ".join(_ORDER)
#: Events per ordered query on DuckDB (bounds the memory of its sort), and rows per batch.
ROWS_PER_QUERY = 100_000
BATCH_ROWS = 16_384


@dataclass(frozen=True)
class ExportResult:
    events: int
    traces: int
    skipped: int


def xes_escape(value: str) -> str:
    """Escape for an XML attribute value; characters XML cannot hold become U+FFFD."""
    value = _XML_INVALID.sub("\ufffd", value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
    )


def _ordered_batches(
    events: ir.Table, journeys_only: bool, batch_journeys: int
) -> Iterator[list[dict[str, Any]]]:
    """Events ordered by journey and time, a range of journeys at a time (keyset paging, so
    no single query has to return the whole log); journey-less events last."""
    ev = events.select(*EVENT_COLUMNS)
    with_journey = ev.filter(ev.journey_id.notnull())
    ids = (
        with_journey.select("journey_id")
        .distinct()
        .order_by("journey_id")
        .to_pyarrow()
        .column("journey_id")
        .to_pylist()
    )
    for i in range(0, len(ids), batch_journeys):
        first, last = ids[i], ids[min(i + batch_journeys, len(ids)) - 1]
        part = with_journey.filter(with_journey.journey_id.between(first, last))
        yield part.order_by(["journey_id", *_ORDER]).to_pyarrow().to_pylist()
    if not journeys_only:
        rest = ev.filter(ev.journey_id.isnull()).order_by(_ORDER)
        yield rest.to_pyarrow().to_pylist()


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="microseconds" if ts.microsecond else "seconds")


def _typed_attr(key: str, value: Any) -> str:
    k = xes_escape(key)
    if isinstance(value, bool):
        return f'<boolean key="{k}" value="{"true" if value else "false"}"/>'
    if isinstance(value, int):
        return f'<int key="{k}" value="{value}"/>'
    if isinstance(value, float):
        return f'<float key="{k}" value="{value!r}"/>'
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return f'<string key="{k}" value="{xes_escape(text)}"/>'


def _attrs(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"attrs": raw}
    return value if isinstance(value, dict) else {"attrs": raw}


def _xes_event(row: dict[str, Any]) -> str:
    parts = [
        _typed_attr(_XES_KEYS.get(name, name), row[name])
        for name in _EXPORTED
        if name not in _SKIP and row[name] is not None
    ]
    parts.insert(1, f'<date key="time:timestamp" value="{_iso(row["occurred_at"])}"/>')
    if row["score"] is not None:
        parts.append(_typed_attr("score", float(row["score"])))
    parts += [
        _typed_attr(f"attrs.{k}", v) for k, v in _attrs(row["attrs"]).items() if v is not None
    ]
    return "\t\t<event>\n" + "".join(f"\t\t\t{p}\n" for p in parts) + "\t\t</event>\n"


def export_xes(
    events: ir.Table,
    out: TextIO,
    batch_journeys: int = 20_000,
    *,
    rows_per_query: int = ROWS_PER_QUERY,
    batch_rows: int = BATCH_ROWS,
) -> ExportResult:
    """Write the log as XES to a text stream (UTF-8).

    On DuckDB the XML of each event is built in SQL, by ordered queries over ranges of whole
    journeys of about ``rows_per_query`` events (what one sort holds in memory), streamed in
    Arrow batches of ``batch_rows``. On other engines the events are read ``batch_journeys``
    journeys at a time and written from Python.
    """
    source = _duckdb_source(events)
    if source is None:
        return _portable_xes(events, out, batch_journeys)
    return _duckdb_xes(*source, out, batch_rows, rows_per_query)


def export_csv(
    events: ir.Table,
    out: TextIO,
    batch_journeys: int = 20_000,
    *,
    rows_per_query: int = ROWS_PER_QUERY,
    batch_rows: int = BATCH_ROWS,
    spreadsheet_safe: bool = True,
) -> ExportResult:
    """Write every event as one CSV row (header: the event columns); see :func:`export_xes`
    for the parameters. ``spreadsheet_safe``: text cells that a spreadsheet would run as a
    formula get a leading ``'`` (see the module notes)."""
    source = _duckdb_source(events)
    if source is None:
        return _portable_csv(events, out, batch_journeys, spreadsheet_safe)
    return _duckdb_csv(*source, out, batch_rows, rows_per_query, spreadsheet_safe)


#: First characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defuse_cell(value: str) -> str:
    """``value`` with a leading ``'`` when a spreadsheet would read it as a formula.

    >>> defuse_cell("=1+2"), defuse_cell("ok")
    ("'=1+2", 'ok')
    """
    return "'" + value if value.startswith(FORMULA_STARTS) else value


# -- DuckDB path: the XML and CSV text is built in SQL ---------------------------------------
#
# Each function below returns SQL text for one column expression. The XES query marks a row
# "safe" when SQL reproduces ``_xes_event`` exactly; other rows (an ``attrs`` that is not a
# plain JSON object of scalars as DuckDB and Python's json both read it) come with their raw
# columns and are written by ``_xes_event`` in Python, so both paths give the same text.


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_SQL_INVALID = _lit(_XML_INVALID_RE2)
_SQL_ENTITIES = tuple((_lit(char), _lit(entity)) for char, entity in _ENTITIES)
#: Text needing any escaping at all (the common case needs none, and a match is cheap).
_SQL_SPECIAL = _lit(r'[&<>"\x00-\x1f\x{FFFE}\x{FFFF}]')
#: JSON numbers, as Python's json reads them: int without fraction or exponent, else float.
_SQL_JSON_INT = _lit(r"-?(0|[1-9][0-9]*)")
_SQL_JSON_FLOAT = _lit(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _sql_esc(expr: str) -> str:
    """SQL for :func:`xes_escape` of a text expression."""
    out = f"regexp_replace({expr}, {_SQL_INVALID}, '\ufffd', 'g')"
    for char, entity in _SQL_ENTITIES:
        out = f"replace({out}, {char}, {entity})"
    return f"CASE WHEN regexp_matches({expr}, {_SQL_SPECIAL}) THEN {out} ELSE {expr} END"


def _sql_iso(expr: str) -> str:
    """SQL for :func:`_iso` of a UTC instant (independent of the session time zone)."""
    us = f"epoch_us({expr})"
    ts = f"make_timestamp({us})"
    return (
        f"strftime({ts}, '%Y-%m-%dT%H:%M:%S')"
        f" || CASE WHEN {us} % 1000000 = 0 THEN '' ELSE '.' || strftime({ts}, '%f') END"
        " || '+00:00'"
    )


def _sql_attr(
    tag: str, key_sql: str, value_sql: str, indent: str = "\t\t\t", nullable: bool = True
) -> str:
    """SQL for one XES attribute element; NULL when the value is (unless not ``nullable``:
    then the value must never be NULL, and one ``concat`` is cheaper than ``||``)."""
    if not nullable:
        return f"concat('{indent}<{tag} key=\"', {key_sql}, '\" value=\"', {value_sql}, '\"/>\n')"
    return f"'{indent}<{tag} key=\"' || {key_sql} || '\" value=\"' || {value_sql} || '\"/>\n'"


def _sql_attr_elements() -> str:
    """SQL: the list of ``attrs.<key>`` elements from columns ``k`` (the keys of the JSON
    object, in order) and ``v`` (their values as JSON text), like ``_typed_attr``: '' for a
    JSON null (left out), NULL where SQL cannot be sure to match Python (nested values,
    numbers Python would read as NaN or infinity), which sends the row to Python."""
    key = "'attrs.' || " + _sql_esc("key")
    x = "v[i]"
    text = (
        f"CASE WHEN contains({x}, '\\') THEN json_extract_string({x}, '$')"
        f" ELSE substr({x}, 2, length({x}) - 2) END"
    )
    number = f"TRY_CAST({x} AS DOUBLE)"
    as_int = f"CASE WHEN {x} = '-0' THEN '0' ELSE {x} END"
    as_float = f"CAST({number} AS VARCHAR)"
    true, false = (
        _sql_attr("boolean", key, "'true'", nullable=False),
        _sql_attr("boolean", key, "'false'", nullable=False),
    )
    return (
        f"list_transform(k, lambda key, i: CASE left({x}, 1)"
        f" WHEN '\"' THEN {_sql_attr('string', key, _sql_esc(text), nullable=False)}"
        f" WHEN 't' THEN {true} WHEN 'f' THEN {false}"
        " WHEN 'n' THEN ''"
        " WHEN '{' THEN NULL WHEN '[' THEN NULL"
        f" ELSE CASE WHEN regexp_full_match({x}, {_SQL_JSON_INT})"
        f" THEN {_sql_attr('int', key, as_int, nullable=False)}"
        f" WHEN regexp_full_match({x}, {_SQL_JSON_FLOAT}) AND isfinite({number})"
        f" THEN {_sql_attr('float', key, as_float, nullable=False)} END END)"
    )


def _sql_xes_event() -> str:
    """SQL for ``_xes_event`` of a row whose attrs are safe (column ``attrs_xml``). One
    ``concat`` (NULL parts count as '') rather than a chain of ``||``, which copies the
    growing text at every step."""
    parts = ["'\t\t<event>\n'", _sql_attr("string", "'event_id'", _sql_esc("event_id"))]
    parts.append(_sql_attr("date", "'time:timestamp'", _sql_iso("occurred_at")))
    for name in _EXPORTED:
        if name in _SKIP or name == "event_id":
            continue
        key = _lit(xes_escape(_XES_KEYS.get(name, name)))
        parts.append(_sql_attr("string", key, _sql_esc(name)))
    parts.append(_sql_attr("float", "'score'", "CAST(score AS VARCHAR)"))
    parts += ["attrs_xml", "'\t\t</event>\n'"]
    return "concat(" + ", ".join(parts) + ")"


def _xes_query(source_sql: str, where: str) -> str:
    """The events matching ``where`` (journeys only), in order, as XES text per event."""
    cols = ", ".join(EVENT_COLUMNS)
    raw = ", ".join(f"CASE WHEN safe THEN NULL ELSE {c} END AS _raw_{c}" for c in _EXPORTED)
    name = _sql_attr("string", "'concept:name'", _sql_esc("journey_id"), "\t\t")
    opening = _lit(_CLOSE_TRACE + "\t<trace>\n") + " || " + name
    # An object as DuckDB reads it; DuckDB also reads trailing commas, Python does not (the
    # pattern may match inside strings: false alarms only cost speed).
    maybe_object = (
        "attrs <> '' AND starts_with(ltrim(attrs, ' \t\n\r'), '{')"
        r" AND NOT regexp_matches(attrs, ',[ \t\n\r]*[}\]]')"
    )
    return f"""
WITH src AS (SELECT {cols} FROM ({source_sql}) WHERE {where}),
parsed AS (
    SELECT *, CASE WHEN {maybe_object} THEN try(json_keys(attrs)) END AS k FROM src),
vals AS (
    SELECT *, CASE WHEN k IS NOT NULL THEN try(json_extract(attrs, '$.*')) END AS v
    FROM parsed),
elements AS (SELECT *, {_sql_attr_elements()} AS e FROM vals),
marked AS (
    SELECT *, event_id IS NOT NULL AND (attrs IS NULL OR attrs = '' OR (
        len(v) = len(k) AND list_count(e) = len(k) AND len(list_distinct(k)) = len(k)
    )) AS safe, coalesce(array_to_string(e, ''), '') AS attrs_xml
    FROM elements)
SELECT journey_id AS _journey, CASE WHEN safe THEN {_sql_xes_event()} END AS _xml, {raw},
    {opening} AS _open
FROM marked ORDER BY journey_id, {_ORDER_SQL}"""


def _sql_csv_field(expr: str) -> str:
    """SQL for a CSV field as ``csv.writer`` quotes it (minimal quoting; NULL -> empty), except
    that a lone carriage return is quoted too (else readers would split the row there)."""
    return (
        f"CASE WHEN {expr} IS NULL THEN '' WHEN contains({expr}, ',') OR contains({expr}, '\"')"
        f" OR contains({expr}, chr(10)) OR contains({expr}, chr(13))"
        f" THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' ELSE {expr} END"
    )


def _sql_defused(expr: str) -> str:
    """SQL for :func:`defuse_cell`."""
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_STARTS)
    return f"CASE WHEN left({expr}, 1) IN ({starts}) THEN chr(39) || {expr} ELSE {expr} END"


def _csv_query(source_sql: str, where: str, spreadsheet_safe: bool = True) -> str:
    """The events matching ``where``, in order, as CSV lines."""
    fields = []
    for name in _EXPORTED:
        if name == "occurred_at":
            fields.append(_sql_iso(name))
        elif name == "score":
            fields.append("coalesce(CAST(score AS VARCHAR), '')")
        else:
            fields.append(_sql_csv_field(_sql_defused(name) if spreadsheet_safe else name))
    line = "concat(concat_ws(',', " + ", ".join(fields) + "), chr(10))"
    cols = ", ".join(EVENT_COLUMNS)
    return (
        f"SELECT journey_id AS _journey, {line} AS _line"
        f" FROM (SELECT {cols} FROM ({source_sql}) WHERE {where})"
        f" ORDER BY journey_id, {_ORDER_SQL}"
    )


def _journey_ranges(con: Any, source_sql: str, rows_per_query: int) -> list[str]:
    """SQL conditions that split the events with a journey into ordered ranges of whole
    journeys of about ``rows_per_query`` events, so that no query sorts the whole log."""
    cursor = con.cursor()
    try:
        with_journey = f"SELECT journey_id FROM ({source_sql}) WHERE journey_id IS NOT NULL"
        total = int(cursor.sql(f"SELECT count(*) FROM ({with_journey})").fetchall()[0][0])
        parts = -(-total // max(rows_per_query, 1))
        if parts <= 1:
            return ["journey_id IS NOT NULL"]
        # Cut points from a sample, sorted by DuckDB (its collation is the one that counts).
        sample = cursor.sql(
            f"SELECT DISTINCT journey_id FROM ({with_journey})"
            f" USING SAMPLE reservoir({min(100 * parts, 100_000)} ROWS) REPEATABLE (7)"
            " ORDER BY journey_id"
        ).fetchall()
    finally:
        cursor.close()
    ids = [row[0] for row in sample]
    cuts = list(dict.fromkeys(ids[len(ids) * i // parts] for i in range(1, parts)))
    if not cuts:
        return ["journey_id IS NOT NULL"]
    conds = [f"journey_id < {_lit(cuts[0])}"]
    conds += [f"journey_id >= {_lit(lo)} AND journey_id < {_lit(hi)}" for lo, hi in pairwise(cuts)]
    conds.append(f"journey_id >= {_lit(cuts[-1])}")
    return conds


def _duckdb_source(events: ir.Table) -> tuple[Any, str] | None:
    """(DuckDB connection, SQL of the events) when ``events`` is a DuckDB table with the
    canonical column types; None for other engines (the portable path)."""
    try:
        backend = events._find_backend()
    except Exception:
        return None
    if backend.name != "duckdb":
        return None
    schema = events.schema()
    for name in EVENT_COLUMNS:
        if name not in schema:
            return None
        dtype = schema[name]
        want = {
            "occurred_at": dtype.is_timestamp(),
            "score": dtype.is_float64(),
            "source_order": dtype.is_integer(),
        }
        if not want.get(name, dtype.is_string()):
            return None
        if name == "occurred_at" and dtype.timezone not in ("UTC", "Etc/UTC"):
            return None
    sql = str(backend.compile(events.select(*EVENT_COLUMNS)))
    cursor = backend.con.cursor()
    try:  # e.g. an in-memory table Ibis registers only when it runs the expression itself
        cursor.sql(f"SELECT * FROM ({sql}) LIMIT 0").fetchall()
    except duckdb.Error:
        return None
    finally:
        cursor.close()
    return backend.con, sql


def _utf8(column: pa.Array) -> memoryview:
    """The UTF-8 bytes of all strings of an Arrow string array, back to back (no copy)."""
    if column.type != pa.string():
        column = column.cast(pa.string())
    if not len(column):
        return memoryview(b"")
    _, offsets, data = column.buffers()
    if data is None:
        return memoryview(b"")
    first, last = np.frombuffer(offsets, np.int32)[[column.offset, column.offset + len(column)]]
    return memoryview(data)[int(first) : int(last)]


def _sink(out: TextIO) -> Callable[[memoryview], None]:
    """Write UTF-8 bytes to ``out``: straight to its byte buffer when it is a UTF-8 text file
    that does not translate newlines, else decoded."""
    if (
        isinstance(out, io.TextIOWrapper)
        and codecs.lookup(out.encoding).name == "utf-8"
        and os.linesep == "\n"
    ):

        def write_bytes(data: memoryview) -> None:
            out.flush()
            out.buffer.write(data)

        return write_bytes

    def write_text(data: memoryview) -> None:
        out.write(str(data, "utf-8"))

    return write_text


def _new_keys(column: pa.Array, previous: pa.Array) -> pa.Array:
    """Boolean per row: a non-null key that differs from the row before (``previous``, one
    value, for the first row). Raises if the keys are out of order: a trace must be written
    in one piece."""
    before = pa.concat_arrays([previous, column.slice(0, len(column) - 1)])
    if pc.any(pc.less(column, before)).as_py():
        raise RuntimeError("export query returned journeys out of order")
    differs = pc.fill_null(pc.not_equal(column, before), True)
    return pc.and_(pc.is_valid(column), differs)


def _stream(con: Any, queries: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The results of the queries, one after the other, in Arrow batches."""
    for sql in queries:
        cursor = con.cursor()
        try:
            for batch in cursor.sql(sql).to_arrow_reader(batch_rows):
                if batch.num_rows:
                    yield batch
        finally:
            cursor.close()


_CLOSE_TRACE = "\t</trace>\n"


def _duckdb_xes(
    con: Any, source_sql: str, out: TextIO, batch_rows: int, rows_per_query: int
) -> ExportResult:
    cursor = con.cursor()
    try:
        skipped = cursor.sql(f"SELECT count(*) FROM ({source_sql}) WHERE journey_id IS NULL")
        n_skipped = int(skipped.fetchall()[0][0])
    finally:
        cursor.close()
    out.write(_XES_HEADER)
    sink = _sink(out)
    last = pa.nulls(1, pa.string())  # the journey of the row before
    n = traces = 0
    queries = [_xes_query(source_sql, c) for c in _journey_ranges(con, source_sql, rows_per_query)]
    for batch in _stream(con, queries, batch_rows):
        journeys = batch.column("_journey")
        xml = batch.column("_xml")
        if xml.null_count:  # rows SQL leaves to Python (unusual attrs)
            texts = xml.to_pylist()
            raw = batch.select([f"_raw_{c}" for c in _EXPORTED])
            raw = raw.rename_columns(list(_EXPORTED))
            for i in pc.indices_nonzero(pc.is_null(xml)).to_pylist():
                texts[i] = _xes_event(raw.slice(i, 1).to_pylist()[0])
            xml = pa.array(texts, pa.string())
        new = _new_keys(journeys, last)
        opening = pc.if_else(new, batch.column("_open"), "")
        data = _utf8(pc.binary_join_element_wise(opening, xml, ""))
        sink(data if n else data[len(_CLOSE_TRACE) :])  # no trace to close before the first
        traces += pc.sum(new).as_py() or 0
        n += batch.num_rows
        last = journeys.slice(len(journeys) - 1, 1)
    if n:
        out.write(_CLOSE_TRACE)
    out.write("</log>\n")
    return ExportResult(n, traces, n_skipped)


def _duckdb_csv(
    con: Any,
    source_sql: str,
    out: TextIO,
    batch_rows: int,
    rows_per_query: int,
    spreadsheet_safe: bool = True,
) -> ExportResult:
    out.write(",".join(_EXPORTED) + "\n")
    sink = _sink(out)
    n = journeys = 0
    last = pa.nulls(1, pa.string())
    ranges = _journey_ranges(con, source_sql, rows_per_query)
    queries = [_csv_query(source_sql, c, spreadsheet_safe) for c in [*ranges, "journey_id IS NULL"]]
    for batch in _stream(con, queries, batch_rows):
        ids = batch.column("_journey")
        journeys += pc.sum(_new_keys(ids, last)).as_py() or 0
        sink(_utf8(batch.column("_line")))
        n += batch.num_rows
        last = ids.slice(len(ids) - 1, 1)
    return ExportResult(n, journeys, 0)


# -- portable path (any Ibis engine) -------------------------------------------------------


def _portable_xes(events: ir.Table, out: TextIO, batch_journeys: int = 20_000) -> ExportResult:
    skipped = int(events.filter(events.journey_id.isnull()).count().to_pyarrow().as_py())
    out.write(_XES_HEADER)
    current: str | None = None
    n = traces = 0
    for rows in _ordered_batches(events, True, batch_journeys):
        for row in rows:
            if row["journey_id"] != current:
                if current is not None:
                    out.write("\t</trace>\n")
                current = row["journey_id"]
                traces += 1
                out.write(
                    f'\t<trace>\n\t\t<string key="concept:name"'
                    f' value="{xes_escape(str(current))}"/>\n'
                )
            out.write(_xes_event(row))
            n += 1
    if current is not None:
        out.write("\t</trace>\n")
    out.write("</log>\n")
    return ExportResult(n, traces, skipped)


def _portable_csv(
    events: ir.Table, out: TextIO, batch_journeys: int = 20_000, spreadsheet_safe: bool = True
) -> ExportResult:
    writer = csv.writer(out, lineterminator="\n")
    text_columns = [c for c in _EXPORTED if c not in ("occurred_at", "score")]
    writer.writerow(list(_EXPORTED))
    n = 0
    journeys: set[str] = set()
    for rows in _ordered_batches(events, False, batch_journeys):
        for row in rows:
            row["occurred_at"] = _iso(row["occurred_at"])
            if row["journey_id"] is not None:
                journeys.add(row["journey_id"])
            if spreadsheet_safe:
                for c in text_columns:
                    if isinstance(row[c], str):
                        row[c] = defuse_cell(row[c])
            writer.writerow(["" if row[c] is None else row[c] for c in _EXPORTED])
            n += 1
    return ExportResult(n, len(journeys), 0)


def export_log(
    events: ir.Table, path: str | Path, fmt: Format = "xes", *, spreadsheet_safe: bool = True
) -> ExportResult:
    """Export to a file; ``fmt`` is ``xes`` or ``csv`` (``spreadsheet_safe``: see
    :func:`export_csv`)."""
    if fmt not in ("xes", "csv"):
        raise ValueError(f"format must be xes or csv, not {fmt!r}")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        if fmt == "xes":
            return export_xes(events, fh)
        return export_csv(events, fh, spreadsheet_safe=spreadsheet_safe)
