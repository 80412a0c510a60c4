"""``klantreis mapping suggest FILE``: a first mapping drafted from a file's header and values.

It reads the first rows and guesses, per column:

- **time stamps**: every value ISO-8601, or read by one format of
  :func:`klantreis.ingest.formats.detect_formats` (then ``[source] timestamp_formats``); one
  time column gives one event per row, several give one ``[[events]]`` entry each (an empty
  time stamp: no event);
- **ids**: a name like ``order_id``, ``klantnummer``, ``case``, ``ticket``: the journey
  (order, case, ticket), the customer, or, unique per row, the event id;
- **scores**: whole numbers 0-10 (``nps``), 1-7 (``ces``) or 1-5 (``stars``; ``csat`` when the
  name says so), or a name with ``nps``/``ces``/``csat``/``score``/``rating``/``cijfer``;
- **text**: long free text; other columns become attributes.

The draft is valid TOML that ``parse_mapping`` accepts; a person names the event kinds (the
``TODO`` comments) and checks the guesses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from klantreis.ingest.formats import detect_formats, is_iso
from klantreis.ingest.readers import SourceFile

__all__ = ["Guess", "guess_columns", "suggest_mapping"]

_JOURNEY = re.compile(r"order|bestel|case|ticket|zaak|dossier|booking|boeking|parent|journey")
_CUSTOMER = re.compile(r"customer|klant|client|user|account")
_ID = re.compile(r"(^|_|\b)(id|nr|no|nummer|number|key)$|_id_|id$")
_SCORE = re.compile(r"nps|ces|csat|score|rating|stars|sterren|cijfer")
_CHANNEL = re.compile(r"channel|kanaal|medium")


@dataclass
class Guess:
    """What a column looks like."""

    column: str
    role: str  # time, journey_id, customer_id, event_id, score, text, channel, attr, empty
    formats: list[str] = field(default_factory=list)
    metric: str | None = None


def _numbers(values: list[str]) -> list[float] | None:
    out = []
    for v in values:
        try:
            out.append(float(v.replace(",", ".")))
        except ValueError:
            return None
    return out


def _score_metric(name: str, values: list[str]) -> str | None:
    nums = _numbers(values)
    if not nums or any(n != int(n) for n in nums):
        return None
    low, high = min(nums), max(nums)
    lowered = name.lower()
    for metric in ("nps", "ces", "csat"):
        if metric in lowered:
            return metric
    if not _SCORE.search(lowered):
        return None
    if low >= 1 and high <= 5:
        return "stars"
    if low >= 1 and high <= 7:
        return "ces"
    return "nps" if low >= 0 and high <= 10 else None


def _guess(name: str, values: list[str], rows: int) -> Guess:
    lowered = name.lower()
    if not values:
        return Guess(name, "empty")
    if all(is_iso(v) for v in values) and any(("-" in v or "/" in v) for v in values):
        return Guess(name, "time")
    if any(c in values[0] for c in "-/.:") and (formats := detect_formats(values)):
        return Guess(name, "time", formats)
    if metric := _score_metric(name, values):
        return Guess(name, "score", metric=metric)
    if _ID.search(lowered) or lowered in ("id", "case", "ticket"):
        if _CUSTOMER.search(lowered):
            return Guess(name, "customer_id")
        if _JOURNEY.search(lowered):
            return Guess(name, "journey_id")
        if len(set(values)) == len(values) == rows:
            return Guess(name, "event_id")
    if _CHANNEL.search(lowered):
        return Guess(name, "channel")
    if sum(len(v) for v in values) / len(values) > 40:
        return Guess(name, "text")
    return Guess(name, "attr")


def guess_columns(columns: list[str], values: dict[str, list[str]], rows: int) -> list[Guess]:
    """One guess per column from its non-empty example values."""
    return [_guess(c, values.get(c, []), rows) for c in columns]


def _sample(
    path: str | Path, rows: int, delimiter: str | None, encoding: str | None
) -> tuple[SourceFile, list[str], dict[str, list[str]], int]:
    src = SourceFile(Path(path), delimiter, encoding)
    batch = next(iter(src.batches(rows)), None)
    if batch is None:
        raise ValueError(f"{path}: no rows to look at")
    table = batch.table.slice(0, rows)
    columns = src.columns or table.column_names
    values = {}
    for name in table.column_names:
        texts = [str(v).strip() for v in table[name].to_pylist() if v is not None]
        values[name] = [t for t in texts if t]
    return src, columns, values, table.num_rows


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _q(name)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "column"


def suggest_mapping(
    path: str | Path, rows: int = 1000, delimiter: str | None = None, encoding: str | None = None
) -> str:
    """A draft mapping TOML for the file (see the module docs)."""
    src, columns, values, n = _sample(path, rows, delimiter, encoding)
    guesses = guess_columns(columns, values, n)
    times = [g for g in guesses if g.role == "time"]
    formats = list(dict.fromkeys(f for g in times for f in g.formats))
    out = [f"# Drafted by klantreis mapping suggest from {Path(path).name} ({n} rows read)."]
    out.append("# Check every guess; name the event kinds (TODO). See docs/ingest.md.")
    out += ["", "[source]", 'timezone = "Europe/Amsterdam"  # naive time stamps are local here']
    if formats:
        out.append(f"timestamp_formats = [{', '.join(map(_q, formats))}]")
    if src.format == "csv" and src.delimiter and src.delimiter != ",":
        out.append(f"delimiter = {_q(src.delimiter)}")
    out += ["", "[fields]"]
    chosen = {}
    for role in ("event_id", "journey_id", "customer_id", "channel", "text"):
        first = next((g for g in guesses if g.role == role), None)
        if first is not None:
            chosen[role] = first.column
            out.append(f"{role} = {_q(first.column)}")
    if "event_id" in chosen and "journey_id" in chosen:
        out.append(
            f"# {chosen['event_id']} was unique in the rows read; if it repeats across"
            f" {chosen['journey_id']}, use"
        )
        template = "{" + chosen["event_id"] + "}-{" + chosen["journey_id"] + "}"
        out.append(f"# event_id = {{ template = {_q(template)} }}")
    scores = [g for g in guesses if g.role == "score"]
    if scores:
        s = scores[0]
        out.append(
            f"metric = {{ value = {_q(s.metric or 'nps')} }}  # {s.column}: {s.metric} scale"
        )
        out.append(f"score = {_q(s.column)}")
    used = {g.column for g in guesses if g.role != "attr"}
    attrs = [g for g in guesses if g.role == "attr" and g.column not in used]
    if attrs:
        out += ["", "[attrs]"]
        out += [f"{_key(_slug(g.column))} = {_q(g.column)}" for g in attrs]
    if not times:
        out += [
            "",
            "# No time stamp column found: set occurred_at to the column that holds one.",
            "[[events]]",
            'kind = { value = "todo.event" }  # TODO: name this event',
            'occurred_at = "TODO"',
        ]
    for g in times:
        kind = "survey.response" if scores and len(times) == 1 else f"todo.{_slug(g.column)}"
        out += ["", "[[events]]", f"kind = {{ value = {_q(kind)} }}  # TODO: name this event"]
        out.append(f"occurred_at = {_q(g.column)}")
    return "\n".join(out) + "\n"
