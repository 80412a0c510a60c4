"""XES event logs (plain or .xes.gz), stream-parsed with ``iterparse``.

A trace's ``concept:name`` becomes ``journey_id``; an event's ``concept:name`` becomes the
``kind`` (slugged: "Accepted/In Progress" -> accepted_in_progress) and is kept as written in
``attrs.label`` (for display); ``time:timestamp`` becomes ``occurred_at``; ``org:resource``
becomes the ``owner`` (and stays in ``attrs.resource``), so hand-overs work for XES logs; every
other event attribute goes to ``attrs`` (trace attributes as ``case:<key>``). Event ids derive
from the trace, the event's position in it, its name and time, so re-reading the log adds
nothing. The event's ordinal number in the file is its ``source_order`` (equal time stamps keep
the trace order) and its line and record number in the quarantine.

The parser is fed in chunks, and a file whose XML goes on for more than ``max_field_bytes``
without completing an element (one huge attribute, which old expat re-scans per chunk:
quadratic) fails with that reason instead of parsing for hours. Entity expansion is bounded
by expat's amplification limit (the file fails).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import Element, XMLPullParser

import numpy as np

from klantreis.ingest.limits import LimitExceeded, Limits
from klantreis.ingest.raw import RawBatch, slug
from klantreis.model.events import derive_event_id, events_from_records

__all__ = ["xes_batches", "xes_records"]

_ATTRIBUTE_TAGS = {"string", "date", "int", "float", "boolean", "id"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _open(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


#: Bytes fed to the parser at a time.
FEED_BYTES = 64 << 10


def _parse_events(fh: IO[bytes], source: str, limits: Limits) -> Iterator[tuple[str, Element]]:
    """``iterparse``'s (event, element) pairs, fed in chunks; past ``max_field_bytes`` fed
    without a completed element, :class:`LimitExceeded`."""
    parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
    quiet = 0
    while chunk := fh.read(FEED_BYTES):
        parser.feed(chunk)
        got = False
        for pair in parser.read_events():
            got = True
            yield pair  # type: ignore[misc]
        quiet = 0 if got else quiet + len(chunk)
        if quiet > limits.max_field_bytes:
            raise LimitExceeded(
                f"{source}: an XML element larger than {limits.max_field_bytes:,} bytes"
                " (setting max_field_bytes)"
            )
    parser.close()
    yield from parser.read_events()  # type: ignore[misc]


def _value(elem: Element) -> Any:
    tag, value = _local(elem.tag), elem.get("value")
    if value is None:
        return None
    try:
        if tag == "int":
            return int(value)
        if tag == "float":
            return float(value)
    except ValueError:
        return value
    if tag == "boolean":
        return value.lower() == "true"
    return value


def xes_records(
    path: Path | IO[bytes], source: str = "", limits: Limits | None = None
) -> Iterator[dict[str, Any]]:
    """One canonical record per XES event, in file order (``path`` or an open binary
    file)."""
    if isinstance(path, Path):
        with _open(path) as fh:
            yield from xes_records(fh, str(path), limits)
        return
    yield from _records_of(path, source, limits or Limits())


def _records_of(fh: IO[bytes], source: str, limits: Limits) -> Iterator[dict[str, Any]]:
    depth_stack: list[str] = []
    trace: dict[str, Any] = {}
    event: dict[str, Any] | None = None
    position = 0
    for action, elem in _parse_events(fh, source, limits):
        tag = _local(elem.tag)
        if action == "start":
            depth_stack.append(tag)
            if tag == "trace":
                trace, position = {}, 0
            elif tag == "event":
                event = {}
            continue
        depth_stack.pop()
        parent = depth_stack[-1] if depth_stack else ""
        if tag in _ATTRIBUTE_TAGS and parent in ("trace", "event") and elem.get("key"):
            (event if parent == "event" and event is not None else trace)[str(elem.get("key"))] = (
                _value(elem)
            )
        elif tag == "event" and event is not None:
            position += 1
            yield _record(trace, event, position, slug)
            event = None
            elem.clear()
        elif tag == "trace":
            elem.clear()


def _record(
    trace: dict[str, Any], event: dict[str, Any], position: int, slug: Any
) -> dict[str, Any]:
    case = trace.get("concept:name")
    name = event.pop("concept:name", None)
    when = event.pop("time:timestamp", None)
    attrs = {**{f"case:{k}": v for k, v in trace.items() if k != "concept:name"}, **event}
    resource = attrs.pop("org:resource", None)
    if resource is not None:
        attrs["resource"] = resource
    if name is not None:
        attrs.setdefault("label", str(name))
    return {
        "event_id": derive_event_id("xes", case, position, name, when),
        "journey_id": None if case is None else str(case),
        "kind": slug(None if name is None else str(name)),
        "owner": None if resource is None else str(resource),
        "occurred_at": when,
        "attrs": json.dumps(attrs, ensure_ascii=False, default=str, sort_keys=True),
    }


def xes_batches(
    path: Path | IO[bytes], source: str, batch_rows: int, limits: Limits | None = None
) -> Iterator[RawBatch]:
    chunk: list[Mapping[str, Any]] = []
    line = 1
    for rec in xes_records(path, source, limits):
        chunk.append(rec)
        if len(chunk) >= batch_rows:
            yield RawBatch(
                events_from_records(chunk, source),
                np.arange(line, line + len(chunk)),
                canonical=True,
            )
            line += len(chunk)
            chunk = []
    if chunk:
        yield RawBatch(
            events_from_records(chunk, source),
            np.arange(line, line + len(chunk)),
            canonical=True,
        )
