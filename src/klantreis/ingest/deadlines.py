"""Date-only deadlines in canonical events: ``attrs = {"deadline": "2026-09-24"}``.

A mapping reads a date-only deadline as the end of that local day when it parses the column
(``klantreis.ingest.compile``). Files already in the canonical layout carry the deadline as
text in ``attrs``; :func:`end_of_day_deadlines` rewrites a deadline that is a bare date
(``YYYY-MM-DD``) of a promise's ``deadline_attr`` to the last second of that day in the
journey's time zone, in UTC (``2026-09-24T21:59:59Z``), unless the promise says
``deadline_date = "start_of_day"``. Only rows whose attrs text holds such a date are parsed.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from klantreis.model.journey import JourneyConfig

__all__ = ["end_of_day", "end_of_day_deadlines"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def end_of_day(day: str, timezone: str) -> str:
    """``2026-09-24`` -> the UTC time of 23:59:59 that day in ``timezone``."""
    local = datetime.combine(date.fromisoformat(day), time(23, 59, 59), ZoneInfo(timezone))
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def end_of_day_deadlines(table: pa.Table, journey: JourneyConfig) -> tuple[pa.Table, int]:
    """The table with date-only deadlines read as end of day, and how many there were."""
    keys = [p.deadline_attr for p in journey.promises if p.deadline_date == "end_of_day"]
    if not keys or "attrs" not in table.column_names or not table.num_rows:
        return table, 0
    attrs = table["attrs"]
    if not pa.types.is_string(attrs.type) and not pa.types.is_large_string(attrs.type):
        return table, 0
    pattern = "|".join(re.escape(json.dumps(k)) for k in keys)
    maybe = pc.fill_null(
        pc.match_substring_regex(attrs, f'({pattern})\\s*:\\s*"\\d{{4}}-\\d{{2}}-\\d{{2}}"'),
        False,
    )
    if not pc.any(maybe).as_py():
        return table, 0
    values = attrs.to_pylist()
    count = 0
    for i in pc.indices_nonzero(maybe).to_pylist():
        fixed, n = _fix(values[i], keys, journey.timezone)
        values[i], count = fixed, count + n
    column = pa.array(values, attrs.type)
    return table.set_column(table.schema.get_field_index("attrs"), "attrs", column), count


def _fix(text: str, keys: list[str], timezone: str) -> tuple[str, int]:
    try:
        obj = json.loads(text)
    except ValueError:
        return text, 0
    if not isinstance(obj, dict):
        return text, 0
    n = 0
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str) and _DATE.match(value):
            try:
                obj[key] = end_of_day(value, timezone)
            except ValueError:  # not a real date: validation says so later, or it stays text
                continue
            n += 1
    return (json.dumps(obj, ensure_ascii=False), n) if n else (text, 0)
