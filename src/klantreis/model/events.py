"""The canonical customer event: one row of the append-only event log.

Every source (CSV, Parquet, JSON, XES, HTTP) is turned into rows of this shape before it is
stored. ``validate_events`` splits an Arrow table into valid rows and rejected rows with a
reason each, so that rows in = rows stored + rows quarantined.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_SCHEMA",
    "KIND_PATTERN",
    "METRIC_RANGES",
    "REQUIRED_COLUMNS",
    "ValidationResult",
    "derive_event_id",
    "empty_events",
    "events_from_records",
    "quick_valid",
    "validate_events",
    "validation_reason_sql",
]

#: Column name -> (Arrow type, description). The order is the storage order.
EVENT_COLUMNS: dict[str, tuple[pa.DataType, str]] = {
    "event_id": (pa.string(), "Unique id; ingest is idempotent on it."),
    "occurred_at": (pa.timestamp("us", tz="UTC"), "When it happened, stored in UTC."),
    "customer_id": (pa.string(), "Pseudonymous customer key."),
    "journey_id": (pa.string(), "The case: an order, booking, return or ticket."),
    "kind": (pa.string(), "What happened, dotted: order.placed, delivery.completed, ..."),
    "touchpoint": (pa.string(), "Configured name of the moment, e.g. bezorging."),
    "channel": (pa.string(), "web, app, phone, email, chat, social, whatsapp, store, ..."),
    "owner": (pa.string(), "Team or partner responsible, e.g. carrier:postnl."),
    "metric": (pa.string(), "Feedback metric: nps, ces, csat or stars."),
    "score": (pa.float64(), "Feedback score in the metric's range."),
    "text": (pa.string(), "Free text: comment, transcript, mention (untrusted)."),
    "lang": (pa.string(), "Language of the text: nl, en, ..."),
    "attrs": (pa.string(), "Anything else as a JSON object: deadline, amount, reason, ..."),
    "source": (pa.string(), "Where the row came from: file name or api."),
}

EVENT_SCHEMA = pa.schema(
    [
        pa.field(name, typ, nullable=name not in ("event_id", "occurred_at", "kind"))
        for name, (typ, _) in EVENT_COLUMNS.items()
    ]
)

REQUIRED_COLUMNS = ("occurred_at", "kind")

#: Allowed inclusive score range per feedback metric.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "nps": (0, 10),
    "ces": (1, 7),
    "csat": (1, 5),
    "stars": (1, 5),
}

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")

#: Time stamps outside this window are treated as impossible.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST_YEARS_AHEAD = 5
MAX_TEXT_CHARS = 100_000
MAX_FIELD_CHARS = 1_000


@dataclass(frozen=True)
class ValidationResult:
    """Valid rows conforming to EVENT_SCHEMA, and rejected row indices with reasons."""

    valid: pa.Table
    rejected_index: list[int]
    rejected_reason: list[str]


def empty_events() -> pa.Table:
    return EVENT_SCHEMA.empty_table()


def derive_event_id(*parts: object) -> str:
    """A stable id from the content of an event, for sources without ids.

    Re-sending the same row gives the same id, so ingest stays idempotent.
    """
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(b"\x1f")
        h.update(str("" if part is None else part).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _attrs_json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def events_from_records(records: list[Mapping[str, Any]], source: str = "api") -> pa.Table:
    """Build an (unvalidated) event table from dicts; ``attrs`` may be a dict.

    Time stamps may be datetimes or ISO-8601 strings; naive ones are taken as UTC here
    (callers that know the source's time zone convert before).
    """
    try:
        return _records_fast(records, source)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass  # odd types somewhere (numbers as text, datetimes, naive times): per column
    arrays = {}
    for name in EVENT_COLUMNS:
        values = [rec.get(name) for rec in records]
        if name == "occurred_at":
            arrays[name] = _parse_timestamps(values)
        elif name == "score":
            arrays[name] = _float_array(values)
        elif name == "attrs":
            arrays[name] = _string_array([_attrs_json(v) for v in values])
        elif name == "source":
            arrays[name] = _string_array([v or source for v in values])
        else:
            arrays[name] = _string_array(values)
    return pa.table(arrays)


_FAST_SCHEMA = pa.schema(
    [
        (name, pa.float64() if name == "score" else pa.string())
        for name in EVENT_COLUMNS
        if name not in ("attrs", "source")
    ]
)


def _records_fast(records: list[Mapping[str, Any]], source: str) -> pa.Table:
    """The common case in a few Arrow calls: text fields are strings, scores numbers and
    time stamps ISO-8601 strings with an offset. Raises for anything else."""
    table = pa.Table.from_pylist(records, schema=_FAST_SCHEMA)
    ts = table.column("occurred_at").cast(pa.timestamp("us", tz="UTC"))
    table = table.set_column(1, "occurred_at", ts)
    attrs = _string_array([_attrs_json(rec.get("attrs")) for rec in records])
    table = table.add_column(table.num_columns, "attrs", attrs)
    origin = pa.array([rec.get("source") or source for rec in records], pa.string())
    return table.append_column("source", origin)


def _string_array(values: list[Any]) -> pa.Array:
    """Strings as they are (one Arrow call); anything else through ``str`` (rare)."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowException, TypeError, ValueError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _float_array(values: list[Any]) -> pa.Array:
    """Numbers as they are (one Arrow call); strings etc. through ``_to_float`` (rare)."""
    if all(type(v) in (int, float) or v is None for v in values):
        try:
            return pa.array(values, pa.float64())
        except (pa.ArrowException, OverflowError):
            pass
    return pa.array([_to_float(v) for v in values], pa.float64())


def _to_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _parse_timestamps(values: list[Any]) -> pa.Array:
    """ISO-8601 strings with an offset are parsed by Arrow in one call (same result as
    ``datetime.fromisoformat``); anything else (naive, datetimes, odd forms) per value."""
    try:
        return pa.array(values, pa.string()).cast(pa.timestamp("us", tz="UTC"))
    except (pa.ArrowException, TypeError, ValueError):
        pass
    out: list[datetime | None] = []
    for v in values:
        if v is None or v == "":
            out.append(None)
            continue
        if isinstance(v, datetime):
            dt = v
        else:
            try:
                dt = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
            except ValueError:
                out.append(None)
                continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        out.append(dt.astimezone(UTC))
    return pa.array(out, pa.timestamp("us", tz="UTC"))


def conform(table: pa.Table) -> pa.Table:
    """Reorder/cast a table to EVENT_SCHEMA, adding missing columns as nulls."""
    if table.schema.equals(EVENT_SCHEMA):
        return table  # already canonical (the common case on the ingest paths)
    arrays = []
    n = table.num_rows
    for name, (typ, _) in EVENT_COLUMNS.items():
        if name in table.column_names:
            col = table.column(name)
            if col.type != typ:
                col = col.cast(typ)
            arrays.append(col)
        else:
            arrays.append(pa.nulls(n, typ))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def years_ahead(now: datetime, years: int) -> datetime:
    """``now`` moved ``years`` calendar years on; 29 February becomes 28 February when the
    target year is not a leap year (``datetime.replace`` would raise)."""
    try:
        return now.replace(year=now.year + years)
    except ValueError:  # 29 February -> a year without one
        return now.replace(year=now.year + years, day=28)


def validate_events(table: pa.Table, now: datetime | None = None) -> ValidationResult:
    """Check every row; the first failing rule of a row is its reason.

    Rules: occurred_at present and within [1990, now + 5 years]; kind present and dotted
    lower-case; event_id present (callers derive one when the source has none); a score has a
    known metric and lies in its range; text at most 100,000 characters, other text fields at
    most 1,000; attrs, when present, is a JSON object.
    """
    table = conform(table)
    now = now or datetime.now(UTC)
    latest = years_ahead(now, LATEST_YEARS_AHEAD)
    n = table.num_rows
    reasons = _Reasons(n)
    mark = reasons.mark

    eid = table.column("event_id")
    mark(pc.or_kleene(pc.is_null(eid), pc.equal(pc.utf8_length(eid), 0)), "missing event_id")
    ts = table.column("occurred_at")
    mark(pc.is_null(ts), "missing or unparseable occurred_at")
    mark(
        pc.less(ts, pa.scalar(EARLIEST, pa.timestamp("us", tz="UTC"))),
        "impossible occurred_at (before 1990)",
    )
    mark(
        pc.greater(ts, pa.scalar(latest, pa.timestamp("us", tz="UTC"))),
        "impossible occurred_at (more than 5 years ahead)",
    )
    kind = table.column("kind")
    mark(pc.is_null(kind), "missing kind")
    mark(
        pc.invert(pc.match_substring_regex(kind, KIND_PATTERN.pattern)),
        "kind must be dotted lower-case, e.g. order.placed",
    )
    for name in EVENT_COLUMNS:
        if EVENT_COLUMNS[name][0] == pa.string() and name not in ("text", "attrs"):
            mark(
                pc.greater(pc.utf8_length(table.column(name)), MAX_FIELD_CHARS),
                f"{name} longer than {MAX_FIELD_CHARS} characters",
            )
    mark(
        pc.greater(pc.utf8_length(table.column("text")), MAX_TEXT_CHARS),
        f"text longer than {MAX_TEXT_CHARS} characters",
    )
    _check_scores(table, mark)
    _check_attrs(table, reasons)

    if not reasons.by_index:
        return ValidationResult(table, [], [])
    bad = sorted(reasons.by_index)
    keep = pa.array(~reasons.marked)
    return ValidationResult(table.filter(keep), bad, [reasons.by_index[i] for i in bad])


_PLAIN_FIELDS = ("customer_id", "journey_id", "touchpoint", "channel", "owner", "lang", "source")


def quick_valid(
    records: list[Mapping[str, Any]], table: pa.Table, now: datetime | None = None
) -> bool:
    """True only when ``validate_events(table)`` would reject no row, where ``table`` is
    ``conform(events_from_records(records))``: the plain case (text fields are strings, a
    score is a number with its metric) checked per record in Python, cheaper than the
    vectorised rules for small batches. False means "run ``validate_events``" (which finds
    the reasons), not necessarily that a row is invalid."""
    for rec in records:
        eid = rec.get("event_id")
        if type(eid) is not str or not 0 < len(eid) <= MAX_FIELD_CHARS:
            return False
        kind = rec.get("kind")
        if type(kind) is not str or not _plain_kind(kind):
            return False
        for name in _PLAIN_FIELDS:
            value = rec.get(name)
            if value is not None and (type(value) is not str or len(value) > MAX_FIELD_CHARS):
                return False
        text = rec.get("text")
        if text is not None and (type(text) is not str or len(text) > MAX_TEXT_CHARS):
            return False
        metric, score = rec.get("metric"), rec.get("score")
        if metric is None:
            if score is not None:
                return False
        else:
            bounds = METRIC_RANGES.get(metric) if type(metric) is str else None
            if bounds is None or not (type(score) is int or type(score) is float):
                return False
            if not bounds[0] <= score <= bounds[1]:  # also False for NaN
                return False
    ts = table.column("occurred_at")
    if ts.null_count or table.num_rows != len(records):
        return False
    if table.num_rows:
        now = now or datetime.now(UTC)
        bounds_ts = pc.min_max(ts)
        earliest, latest = bounds_ts["min"].as_py(), bounds_ts["max"].as_py()
        if earliest < EARLIEST or latest > years_ahead(now, LATEST_YEARS_AHEAD):
            return False
    attrs = table.column("attrs")
    if attrs.null_count != len(attrs):
        reasons = _Reasons(table.num_rows)
        _check_attrs(table, reasons)
        if reasons.by_index:
            return False
    return True


@functools.lru_cache(maxsize=4096)
def _plain_kind(kind: str) -> bool:
    """The kind rules of ``validate_events`` for one value (Arrow's RE2 ``$`` does not match
    before a final newline, so a newline is never plain)."""
    return len(kind) <= MAX_FIELD_CHARS and "\n" not in kind and bool(KIND_PATTERN.fullmatch(kind))


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def validation_reason_sql(now: datetime | None = None, known_kinds: Iterable[str] = ()) -> str:
    """The rules of ``validate_events`` as one DuckDB CASE expression over the canonical
    columns: the first failing rule's reason, or NULL for a valid row.

    Same rules, same order, same texts as the Arrow path (DuckDB's ``length`` counts code
    points like Arrow's ``utf8_length``; both use RE2 for the kind pattern; ``json_valid`` is
    the same function). ``tests/ingest/test_parquet_sql.py`` checks they agree row by row.
    ``known_kinds`` (e.g. the journey's) only spare the regular expression for kinds that
    pass it anyway.
    """
    now = now or datetime.now(UTC)
    spared = sorted(k for k in known_kinds if KIND_PATTERN.fullmatch(k) and "\n" not in k)
    kind_rule = f"NOT regexp_matches(kind, {_sql_text(KIND_PATTERN.pattern)})"
    if spared:
        kind_rule = f"kind NOT IN ({', '.join(map(_sql_text, spared))}) AND {kind_rule}"
    latest = years_ahead(now, LATEST_YEARS_AHEAD)
    known = ", ".join(_sql_text(m) for m in METRIC_RANGES)
    rules = [
        ("event_id IS NULL OR length(event_id) = 0", "missing event_id"),
        ("occurred_at IS NULL", "missing or unparseable occurred_at"),
        (
            f"occurred_at < TIMESTAMPTZ {_sql_text(EARLIEST.isoformat())}",
            "impossible occurred_at (before 1990)",
        ),
        (
            f"occurred_at > TIMESTAMPTZ {_sql_text(latest.astimezone(UTC).isoformat())}",
            "impossible occurred_at (more than 5 years ahead)",
        ),
        ("kind IS NULL", "missing kind"),
        (kind_rule, "kind must be dotted lower-case, e.g. order.placed"),
    ]
    rules += [
        (f"length({name}) > {MAX_FIELD_CHARS}", f"{name} longer than {MAX_FIELD_CHARS} characters")
        for name, (typ, _) in EVENT_COLUMNS.items()
        if typ == pa.string() and name not in ("text", "attrs")
    ]
    rules += [
        (f"length(text) > {MAX_TEXT_CHARS}", f"text longer than {MAX_TEXT_CHARS} characters"),
        ("score IS NOT NULL AND isnan(score)", "score is not a number"),
        (
            f"score IS NOT NULL AND coalesce(metric NOT IN ({known}), TRUE)",
            "score without a known metric (nps, ces, csat, stars)",
        ),
        ("metric IS NOT NULL AND score IS NULL", "metric without a score"),
        (f"metric NOT IN ({known})", "unknown metric (use nps, ces, csat or stars)"),
    ]
    rules += [
        (
            f"metric = {_sql_text(name)} AND (score < {lo!r} OR score > {hi!r})",
            f"{name} score outside {lo:g}-{hi:g}",
        )
        for name, (lo, hi) in METRIC_RANGES.items()
    ]
    rules += [
        ("NOT starts_with(attrs, '{')", "attrs must be a JSON object"),
        ("NOT json_valid(attrs)", "attrs is not valid JSON"),
    ]
    whens = " ".join(f"WHEN {cond} THEN {_sql_text(reason)}" for cond, reason in rules)
    return f"(CASE {whens} END)"


class _Reasons:
    """First failing rule per row; vectorised bookkeeping (Python touches bad rows only)."""

    def __init__(self, n: int) -> None:
        self.marked = np.zeros(n, dtype=bool)
        self.by_index: dict[int, str] = {}

    def mark(self, mask: pa.Array | pa.ChunkedArray, reason: str) -> None:
        hits = pc.fill_null(mask, False)
        if not pc.any(hits).as_py():
            return
        new = np.asarray(hits.to_numpy(zero_copy_only=False), dtype=bool) & ~self.marked
        for i in np.flatnonzero(new).tolist():
            self.by_index[i] = reason
        self.marked |= new


def _check_scores(table: pa.Table, mark: Any) -> None:
    metric = table.column("metric")
    score = table.column("score")
    has_score = pc.is_valid(score)
    known = pc.is_in(metric, pa.array(list(METRIC_RANGES)))
    mark(pc.and_(has_score, pc.is_nan(score)), "score is not a number")
    mark(
        pc.and_(has_score, pc.invert(pc.fill_null(known, False))),
        "score without a known metric (nps, ces, csat, stars)",
    )
    mark(pc.and_(pc.is_valid(metric), pc.invert(has_score)), "metric without a score")
    mark(
        pc.and_(pc.is_valid(metric), pc.invert(pc.fill_null(known, False))),
        "unknown metric (use nps, ces, csat or stars)",
    )
    for name, (lo, hi) in METRIC_RANGES.items():
        is_metric = pc.equal(metric, name)
        out = pc.or_(pc.less(score, lo), pc.greater(score, hi))
        mark(pc.and_(is_metric, out), f"{name} score outside {lo:g}-{hi:g}")


def _check_attrs(table: pa.Table, reasons: _Reasons) -> None:
    """attrs must be a JSON object: checked vectorised (DuckDB's json_valid), not per row
    in Python."""
    attrs = table.column("attrs")
    if attrs.null_count == len(attrs):
        return
    reasons.mark(pc.invert(pc.starts_with(attrs, "{")), "attrs must be a JSON object")
    con = _json_connection()
    con.register("_attrs", pa.table({"a": attrs}))
    try:
        valid = con.sql("SELECT json_valid(a) AS ok FROM _attrs").to_arrow_table().column("ok")
    finally:
        con.unregister("_attrs")
    reasons.mark(pc.invert(valid), "attrs is not valid JSON")


_local = threading.local()


def _json_connection() -> duckdb.DuckDBPyConnection:
    """One small in-memory DuckDB per thread for vectorised JSON checks (connecting costs
    tens of milliseconds, too much per batch)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
    return con
