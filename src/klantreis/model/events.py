"""The canonical customer event: one row of the append-only event log.

Every source (CSV, Parquet, JSON, XES, HTTP) is turned into rows of this shape before it is
stored. The rules a row must pass live in ``klantreis.model.validation``; the way rows are
written is ``klantreis.ingest.pipeline``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_SCHEMA",
    "REQUIRED_COLUMNS",
    "conform",
    "derive_event_id",
    "empty_events",
    "events_from_records",
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
    "source_order": (
        pa.int64(),
        "Position in its source, the tie-breaker for equal time stamps: XES trace position,"
        " file row then the mapping's [[events]] order, HTTP arrival order.",
    ),
}

EVENT_SCHEMA = pa.schema(
    [
        pa.field(name, typ, nullable=name not in ("event_id", "occurred_at", "kind"))
        for name, (typ, _) in EVENT_COLUMNS.items()
    ]
)

REQUIRED_COLUMNS = ("occurred_at", "kind")
#: The canonical columns with every one nullable: what ``events_from_records`` builds.
_NULLABLE_SCHEMA = pa.schema([(name, typ) for name, (typ, _) in EVENT_COLUMNS.items()])


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
        elif name == "source_order":
            arrays[name] = pa.array([None if v is None else int(v) for v in values], pa.int64())
        else:
            arrays[name] = _string_array(values)
    return pa.table(arrays)


_FAST_SCHEMA = pa.schema(
    [
        (name, pa.float64() if name == "score" else pa.string())
        for name in EVENT_COLUMNS
        if name not in ("attrs", "source", "source_order")
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
    order = pa.array([rec.get("source_order") for rec in records], pa.int64())
    return table.append_column("source", origin).append_column("source_order", order)


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
    if table.schema.equals(_NULLABLE_SCHEMA):  # as built from records: only the flags differ
        return pa.Table.from_arrays(table.columns, schema=EVENT_SCHEMA)
    arrays = []
    n = table.num_rows
    names = set(table.column_names)  # once: 7 us a call, 15 calls were most of the cost
    for name, (typ, _) in EVENT_COLUMNS.items():
        if name in names:
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
