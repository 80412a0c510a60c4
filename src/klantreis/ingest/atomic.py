"""All or nothing per source row (``[source] atomic_rows = true``).

A mapping can make several events of one source row (an order row gives ``order.placed``,
``payment.completed``, ``delivery.completed``). Without ``atomic_rows`` each event stands
alone: one unparseable date quarantines that event and stores the others. With it, an event
that fails the mapping (``__reason``) or a validation rule holds back its whole row: the row
becomes one quarantine entry with the first reason, and none of its events is stored.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from klantreis.model.events import EVENT_COLUMNS
from klantreis.model.validation import validate_events

__all__ = ["ATOMIC_PREFIX", "held_rows"]

ATOMIC_PREFIX = "row held back whole (atomic_rows): "


def held_rows(out: pa.Table) -> tuple[pa.Table, list[int], list[str]]:
    """Split mapped candidates (with ``__row`` and ``__reason``) into the events of whole
    good rows, and the rows held back with their reason (sorted by row)."""
    if not out.num_rows:
        return out, [], []
    reasons: dict[int, str] = {}
    rows = out["__row"].to_pylist()
    for row, reason in zip(rows, out["__reason"].to_pylist(), strict=True):
        if reason is not None:
            reasons.setdefault(int(row), reason)
    fine = out.filter(pc.is_null(out["__reason"]))
    checked = validate_events(fine.select(list(EVENT_COLUMNS)))
    fine_rows = fine["__row"].to_pylist()
    for i, reason in zip(checked.rejected_index, checked.rejected_reason, strict=True):
        reasons.setdefault(int(fine_rows[i]), reason)
    if not reasons:
        return out, [], []
    held = sorted(reasons)
    keep = pc.invert(pc.is_in(out["__row"], pa.array(held, out["__row"].type)))
    return out.filter(keep), held, [ATOMIC_PREFIX + reasons[r] for r in held]
