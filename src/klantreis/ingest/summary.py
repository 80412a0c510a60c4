"""What an ingest did, per file and in total.

Counting (the invariant the tests check, per file):

- ``rows_read`` = source rows (data lines, JSON records, XES events) =
  ``rows_rejected`` (unreadable rows: wrong column count, broken JSON line; with
  ``atomic_rows``, rows held back whole) + rows that produced events +
  ``rows_without_events`` (every time stamp of a multi-event row empty, or no ``when``
  held) + ``rows_skipped`` (filtered out by the mapping's ``where``; not quarantined).
- ``events_produced`` = candidate events from the readable rows (one per row, or one per
  ``[[events]]`` entry whose time stamp is filled) =
  ``events_stored`` + ``duplicates`` + ``events_rejected``.
- ``quarantined`` = ``rows_rejected`` + ``events_rejected``: one quarantine entry each, with
  the source file, line and reason.

So for one-event-per-row sources: rows_read = stored + duplicates + quarantined + skipped.

``deadline_dates`` counts stored deadlines given as a date only and read as the end of that
local day; ``suggestions`` holds, per "unparseable time stamp" reason, the
``timestamp_formats`` that would have parsed its example values.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from klantreis.ingest.atomic import ATOMIC_PREFIX
from klantreis.ingest.formats import detect_formats

__all__ = ["FileSummary", "IngestSummary", "reason_class"]


def reason_class(reason: str) -> str:
    """A reason without its example value, for counting ("... in column 'x': 31-02"); a row
    held back by ``atomic_rows`` keeps the reason of the event that failed."""
    if reason.startswith(ATOMIC_PREFIX):
        return ATOMIC_PREFIX + reason_class(reason.removeprefix(ATOMIC_PREFIX))
    return re.split(r": ", reason, maxsplit=1)[0]


#: Example values kept per reason class (for the time-stamp format suggestions).
_EXAMPLES = 20


@dataclass
class FileSummary:
    path: str
    format: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    rows_read: int = 0
    rows_rejected: int = 0
    rows_without_events: int = 0
    rows_skipped: int = 0
    deadline_dates: int = 0
    events_produced: int = 0
    events_stored: int = 0
    duplicates: int = 0
    events_rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    seconds: float = 0.0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note_examples(self, reasons: list[str]) -> None:
        """Keep a few example values of "unparseable time stamp" reasons."""
        for reason in reasons:
            head, sep, value = reason.partition(": ")
            head = head.removeprefix(ATOMIC_PREFIX)
            if sep and head.startswith("unparseable time stamp"):
                kept = self.examples.setdefault(head, [])
                if len(kept) < _EXAMPLES and value not in kept:
                    kept.append(value)

    @property
    def suggestions(self) -> dict[str, list[str]]:
        """Per unparseable-time-stamp reason: formats that read all its examples."""
        out = {}
        for reason, values in self.examples.items():
            if formats := detect_formats(values):
                out[reason] = formats
        return out

    @property
    def stored_nothing(self) -> bool:
        """Read without error but nothing stored and nothing already there."""
        return not self.error and self.events_stored == 0 and self.duplicates == 0

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
            "rows_skipped": self.rows_skipped,
            "deadline_dates": self.deadline_dates,
            "events_produced": self.events_produced,
            "events_stored": self.events_stored,
            "duplicates": self.duplicates,
            "events_rejected": self.events_rejected,
            "quarantined": self.quarantined,
            "reasons": dict(self.reasons.most_common()),
            "suggestions": self.suggestions,
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


_TOTALS = (
    "rows_read",
    "rows_rejected",
    "rows_without_events",
    "rows_skipped",
    "deadline_dates",
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
