"""Export the event log for other process-mining tools: XES (IEEE 1849) and a flat CSV.

XES: one trace per journey (``concept:name`` = journey_id), one event per row with
``concept:name`` = kind, ``time:timestamp`` = occurred_at (UTC), ``org:resource`` = owner, and
every other field as an attribute (score as a float; each top-level key of ``attrs`` as
``attrs.<key>``). Events without a journey are not part of any trace and are skipped (counted).
Text is escaped, and characters XML 1.0 forbids are replaced by U+FFFD, so the file is valid
XML whatever customers typed.

CSV: every event column (journeys first ordered by journey and time), time stamps ISO-8601 UTC.
Both are written in batches, so the log never has to fit in memory at once.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TextIO

import ibis.expr.types as ir

from klantreis.model.events import EVENT_COLUMNS

__all__ = ["ExportResult", "export_csv", "export_log", "export_xes", "xes_escape"]

Format = Literal["xes", "csv"]

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
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
        yield part.order_by(["journey_id", "occurred_at", "event_id"]).to_pyarrow().to_pylist()
    if not journeys_only:
        rest = ev.filter(ev.journey_id.isnull()).order_by(["occurred_at", "event_id"])
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
        for name in EVENT_COLUMNS
        if name not in _SKIP and row[name] is not None
    ]
    parts.insert(1, f'<date key="time:timestamp" value="{_iso(row["occurred_at"])}"/>')
    if row["score"] is not None:
        parts.append(_typed_attr("score", float(row["score"])))
    parts += [
        _typed_attr(f"attrs.{k}", v) for k, v in _attrs(row["attrs"]).items() if v is not None
    ]
    return "\t\t<event>\n" + "".join(f"\t\t\t{p}\n" for p in parts) + "\t\t</event>\n"


def export_xes(events: ir.Table, out: TextIO, batch_journeys: int = 20_000) -> ExportResult:
    """Write the log as XES to a text stream (UTF-8)."""
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


def export_csv(events: ir.Table, out: TextIO, batch_journeys: int = 20_000) -> ExportResult:
    """Write every event as one CSV row (header: the event columns)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(EVENT_COLUMNS))
    n = 0
    journeys: set[str] = set()
    for rows in _ordered_batches(events, False, batch_journeys):
        for row in rows:
            row["occurred_at"] = _iso(row["occurred_at"])
            if row["journey_id"] is not None:
                journeys.add(row["journey_id"])
            writer.writerow(["" if row[c] is None else row[c] for c in EVENT_COLUMNS])
            n += 1
    return ExportResult(n, len(journeys), 0)


def export_log(events: ir.Table, path: str | Path, fmt: Format = "xes") -> ExportResult:
    """Export to a file; ``fmt`` is ``xes`` or ``csv``."""
    if fmt not in ("xes", "csv"):
        raise ValueError(f"format must be xes or csv, not {fmt!r}")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        return export_xes(events, fh) if fmt == "xes" else export_csv(events, fh)
