"""Shared helpers for ingest tests (imported as ``ingest_helpers``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from klantreis.ingest import FileSummary

#: The ``write`` fixture: (file name, text or bytes, encoding) -> path.
Writer = Callable[..., Path]

HEADER = "event_id,occurred_at,kind,channel,metric,score,text\n"


def assert_counts_add_up(f: FileSummary, one_event_per_row: bool = True) -> None:
    """The documented invariant (klantreis.ingest.summary)."""
    assert f.error is None, f.error
    assert f.events_produced == f.events_stored + f.duplicates + f.events_rejected
    assert f.quarantined == f.rows_rejected + f.events_rejected == sum(f.reasons.values())
    if one_event_per_row:
        assert f.rows_without_events == 0
        assert f.rows_read == f.events_stored + f.duplicates + f.quarantined
