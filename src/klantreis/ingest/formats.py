"""Time-stamp formats detected from example values: for the hint on an "unparseable time
stamp" reason and for ``klantreis mapping suggest``.

``detect_formats(["24-09-2026 14:05", "01-10-2026 09:30"])`` gives ``["%d-%m-%Y %H:%M"]``:
every candidate (day-first before month-first, as Dutch exports write them) that reads all
the values. ISO-8601 text needs no format (the default reader takes it) and gives ``[]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

__all__ = ["detect_formats", "is_iso"]

_DATES = [
    "%d-%m-%Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%m/%d/%Y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%Y%m%d",
    "%d-%m-%y",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d %Y",
]
_TIMES = ["", " %H:%M", " %H:%M:%S", " %H:%M:%S.%f", " %I:%M %p", " %I:%M:%S %p", "T%H:%M:%S"]
CANDIDATES = [d + t for d in _DATES for t in _TIMES] + [
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%d-%m-%YT%H:%M:%S",
]


def is_iso(value: str) -> bool:
    """True when the default reader (ISO-8601) takes the value."""
    try:
        datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _reads(fmt: str, value: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def detect_formats(values: Iterable[str | None]) -> list[str]:
    """The candidate formats that read every non-empty value (most likely first)."""
    texts = [v.strip() for v in values if v and v.strip()]
    if not texts or all(is_iso(t) for t in texts):
        return []
    return [f for f in CANDIDATES if all(_reads(f, t) for t in texts)]
