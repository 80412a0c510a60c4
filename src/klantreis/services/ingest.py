"""Ingest: validate, enrich from the journey config, and store in batches.

``ingest_table`` is the one path every source takes (files, HTTP, the demo generator).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from klantreis.model.events import conform, validate_events
from klantreis.model.journey import JourneyConfig
from klantreis.store import AppendResult, EventStore
from klantreis.store.duckdb_store import quarantine_rows

__all__ = [
    "BatchOutcome",
    "PreparedBatch",
    "enrich",
    "enrich_sql",
    "ingest_events",
    "ingest_table",
    "prepare_events",
    "rejected_quarantine",
]


def enrich(table: pa.Table, journey: JourneyConfig) -> pa.Table:
    """Fill empty ``touchpoint`` from the event kind, and empty ``owner`` from the touchpoint,
    as the journey configuration says. Given values are never overwritten."""
    kind_tp = journey.touchpoint_for_kind()
    tp_owner = {tp.id: tp.owner for tp in journey.touchpoints if tp.owner}
    if not kind_tp:
        return table
    kinds = pa.array(list(kind_tp))
    mapped_tp = pc.take(pa.array(list(kind_tp.values())), pc.index_in(table["kind"], kinds))
    tp = pc.coalesce(table["touchpoint"], mapped_tp)
    table = table.set_column(table.schema.get_field_index("touchpoint"), "touchpoint", tp)
    if tp_owner:
        tps = pa.array(list(tp_owner))
        mapped_owner = pc.take(pa.array(list(tp_owner.values())), pc.index_in(tp, tps))
        owner = pc.coalesce(table["owner"], mapped_owner)
        table = table.set_column(table.schema.get_field_index("owner"), "owner", owner)
    return table


def enrich_sql(journey: JourneyConfig) -> tuple[str, str]:
    """``enrich`` as DuckDB expressions over the canonical columns: (touchpoint, owner)."""
    kind_tp = journey.touchpoint_for_kind()
    if not kind_tp:
        return "touchpoint", "owner"
    tp_owner = {tp.id: tp.owner for tp in journey.touchpoints if tp.owner}
    tp = f"coalesce(touchpoint, {_case('kind', kind_tp)})"
    if not tp_owner:
        return tp, "owner"
    kind_owner = {k: tp_owner[t] for k, t in kind_tp.items() if t in tp_owner}
    owner = (
        f"coalesce(owner, CASE WHEN touchpoint IS NULL THEN {_case('kind', kind_owner)}"
        f" ELSE {_case('touchpoint', tp_owner)} END)"
    )
    return tp, owner


def _case(expr: str, mapping: dict[str, str]) -> str:
    def lit(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    if not mapping:
        return "CAST(NULL AS VARCHAR)"
    whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in mapping.items())
    return f"(CASE {expr} {whens} END)"


def rejected_quarantine(
    rows: pa.Table, lines: Sequence[int], reasons: Sequence[str], source: str
) -> pa.Table:
    """Quarantine entries for rejected canonical rows: the raw text is the row as JSON (so
    the entry's id, and re-sending it, do not depend on which ingest path rejected it)."""
    raws = [json.dumps(r, default=str, ensure_ascii=False) for r in conform(rows).to_pylist()]
    return quarantine_rows(source, list(lines), list(reasons), raws)


def ingest_table(
    store: EventStore,
    table: pa.Table,
    journey: JourneyConfig,
    source: str = "api",
    first_line: int = 1,
) -> AppendResult:
    """Validate, enrich and store one batch of events in one transaction.

    Rejected rows go to the quarantine with their reason and line (``first_line`` is the
    line number of the batch's first row in its source).
    """
    return ingest_events(store, table, journey, source, first_line=first_line).result


@dataclass(frozen=True)
class BatchOutcome:
    """What one stored batch did, and the reason of every quarantined entry."""

    result: AppendResult
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PreparedBatch:
    """A validated, enriched batch ready for ``EventStore.append`` (no store needed to
    build one, so preparing the next batch can overlap with storing this one)."""

    events: pa.Table
    quarantine: pa.Table | None
    reasons: list[str]

    def store(self, store: EventStore) -> BatchOutcome:
        return BatchOutcome(store.append(self.events, self.quarantine), self.reasons)


def prepare_events(
    table: pa.Table,
    journey: JourneyConfig,
    source: str = "api",
    *,
    first_line: int = 1,
    lines: Sequence[int] | npt.NDArray[np.int64] | None = None,
    extra_quarantine: pa.Table | None = None,
    extra_reasons: Sequence[str] = (),
) -> PreparedBatch:
    """Validate and enrich; rejected rows become quarantine rows with their line
    (``lines[i]``, or ``first_line + i``). ``extra_quarantine`` holds entries rejected
    upstream (reader or mapping failures) with ``extra_reasons``."""
    table = conform(table)
    result = validate_events(table)
    valid = enrich(result.valid, journey)
    parts = [] if extra_quarantine is None else [extra_quarantine]
    if result.rejected_index:
        at = (lambda i: int(lines[i])) if lines is not None else (lambda i: first_line + i)
        parts.append(
            rejected_quarantine(
                table.take(pa.array(result.rejected_index)),
                [at(i) for i in result.rejected_index],
                result.rejected_reason,
                source,
            )
        )
    quarantine = pa.concat_tables(parts) if parts else None
    return PreparedBatch(valid, quarantine, [*extra_reasons, *result.rejected_reason])


def ingest_events(
    store: EventStore,
    table: pa.Table,
    journey: JourneyConfig,
    source: str = "api",
    *,
    first_line: int = 1,
    lines: Sequence[int] | npt.NDArray[np.int64] | None = None,
    extra_quarantine: pa.Table | None = None,
    extra_reasons: Sequence[str] = (),
) -> BatchOutcome:
    """``prepare_events`` and append in one transaction."""
    return prepare_events(
        table,
        journey,
        source,
        first_line=first_line,
        lines=lines,
        extra_quarantine=extra_quarantine,
        extra_reasons=extra_reasons,
    ).store(store)
