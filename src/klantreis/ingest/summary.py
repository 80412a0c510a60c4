"""What an ingest did, per file and in total.

Counting (the invariant the tests check, per file):

- ``rows_read`` = source rows (data lines, JSON records, XES events) =
  ``rows_rejected`` (unreadable rows: wrong column count, broken JSON line) +
  rows that produced events + ``rows_without_events`` (every time stamp of a multi-event
  row empty).
- ``events_produced`` = candidate events from the readable rows (one per row, or one per
  ``[[events]]`` entry whose time stamp is filled) =
  ``events_stored`` + ``duplicates`` + ``events_rejected``.
- ``quarantined`` = ``rows_rejected`` + ``events_rejected``: one quarantine entry each, with
  the source file, line and reason.

So for one-event-per-row sources: rows_read = stored + duplicates + quarantined.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FileSummary", "IngestSummary", "reason_class"]


def reason_class(reason: str) -> str:
    """A reason without its example value, for counting ("... in column 'x': 31-02")."""
    return re.split(r": ", reason, maxsplit=1)[0]


@dataclass
class FileSummary:
    path: str
    format: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    rows_read: int = 0
    rows_rejected: int = 0
    rows_without_events: int = 0
    events_produced: int = 0
    events_stored: int = 0
    duplicates: int = 0
    events_rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    seconds: float = 0.0

    @property
    def quarantined(self) -> int:
        return self.rows_rejected + self.events_rejected

    @property
    def status(self) -> str:
        return "failed" if self.error else "completed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "rows_read": self.rows_read,
            "rows_rejected": self.rows_rejected,
            "rows_without_events": self.rows_without_events,
            "events_produced": self.events_produced,
            "events_stored": self.events_stored,
            "duplicates": self.duplicates,
            "events_rejected": self.events_rejected,
            "quarantined": self.quarantined,
            "reasons": dict(self.reasons.most_common()),
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


_TOTALS = (
    "rows_read",
    "rows_rejected",
    "rows_without_events",
    "events_produced",
    "events_stored",
    "duplicates",
    "events_rejected",
    "quarantined",
)


@dataclass
class IngestSummary:
    files: list[FileSummary] = field(default_factory=list)
    seconds: float = 0.0

    def total(self, name: str) -> int:
        return sum(int(getattr(f, name)) for f in self.files)

    @property
    def rows_read(self) -> int:
        return self.total("rows_read")

    @property
    def events_stored(self) -> int:
        return self.total("events_stored")

    @property
    def duplicates(self) -> int:
        return self.total("duplicates")

    @property
    def quarantined(self) -> int:
        return self.total("quarantined")

    @property
    def events_produced(self) -> int:
        return self.total("events_produced")

    @property
    def reasons(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for f in self.files:
            out.update(f.reasons)
        return out

    @property
    def failed(self) -> list[FileSummary]:
        return [f for f in self.files if f.error]

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [f.to_dict() for f in self.files],
            "totals": {name: self.total(name) for name in _TOTALS},
            "reasons": dict(self.reasons.most_common()),
            "seconds": round(self.seconds, 3),
        }
