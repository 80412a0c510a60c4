"""Where events are written: the one ingest pipeline, for every way in.

Every event that reaches the store passes the same five stages, defined here once:

1. **conform**: to the canonical columns (``klantreis.model.events.conform``);
2. **validate**: against the rules of ``klantreis.model.validation`` (each rule is data,
   compiled to Arrow for batches and to SQL for the Parquet fast path and the HTTP writer);
3. **enrich**: empty touchpoint and owner filled from the journey configuration
   (``enrich``, and its SQL twin ``enrich_sql``);
4. **append**: ``EventStore.append``, one transaction per batch, idempotent on ``event_id``;
5. **quarantine**: rejected rows, with their reasons, in the same transaction
   (entries built by ``klantreis.ingest.quarantine``).

The ways in and the module that runs the stages for each:

======================  ================================================================
files (CSV, JSON, XES)  ``klantreis.ingest.runner.ingest_paths``: batches through
                        ``prepare_events`` (preparing the next batch while one is stored)
canonical Parquet       ``klantreis.ingest.parquet_sql``: the same stages as one SQL
                        transaction per file (``validation_reason_sql``, ``enrich_sql``)
HTTP                    ``klantreis.ingest.writer.EventWriter``: the single writer of a
                        served store; batches concurrent requests (``web/routes/ingest.py``
                        only parses the request and awaits it)
demo, labels, Python    ``ingest_table`` below
======================  ================================================================

Nothing here knows the ``App``: the store, the journey configuration and the settings values
are passed in (as a :class:`Destination` or as arguments); the App calls ingest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from klantreis.ingest.limits import Limits
from klantreis.ingest.quarantine import rejected_rows
from klantreis.model.events import conform
from klantreis.model.journey import JourneyConfig
from klantreis.model.validation import validate_events
from klantreis.store import AppendResult, EventStore

__all__ = [
    "BatchOutcome",
    "Destination",
    "PreparedBatch",
    "Target",
    "enrich",
    "enrich_sql",
    "ingest_events",
    "ingest_table",
    "prepare_events",
    "with_source_order",
]


class Target(Protocol):
    """Anything with a store and a journey configuration: a :class:`Destination`, or the
    App (which this package never imports)."""

    @property
    def store(self) -> EventStore: ...

    @property
    def journey(self) -> JourneyConfig: ...


@dataclass(frozen=True)
class Destination:
    """Where events go and the settings values ingest needs: the store, the journey
    configuration (for enrichment), the rows per batch (one transaction each), the time
    zone of naive time stamps in files, the input :class:`Limits`, the memory limit of a
    file ingest and whether (and how) a file ingest keeps the journey index up to date.
    ``App.destination`` builds one from its settings."""

    store: EventStore
    journey: JourneyConfig
    batch_rows: int = 200_000
    timezone: str = "UTC"
    limits: Limits = field(default_factory=Limits)
    #: DuckDB's memory limit (MiB) while files are ingested in batches and for the final
    #: checkpoint (``ingest_memory_mb``; 0: DuckDB's own limit).
    memory_mb: int = 0
    #: Keep the journey index up to date in a file ingest when it was current before
    #: (``index_on_ingest``), in key ranges of ``index_range_events`` events under
    #: ``index_memory_mb`` (``klantreis.analytics.journey_index_ingest``).
    index_on_ingest: bool = False
    index_range_events: int = 1_000_000
    index_memory_mb: int = 1024


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
    at_lines = (
        np.asarray(lines, dtype=np.int64)
        if lines is not None
        else np.arange(first_line, first_line + table.num_rows, dtype=np.int64)
    )
    table = with_source_order(conform(table), at_lines)
    result = validate_events(table)
    valid = enrich(result.valid, journey)
    parts = [] if extra_quarantine is None else [extra_quarantine]
    if result.rejected_index:
        at = (lambda i: int(lines[i])) if lines is not None else (lambda i: first_line + i)
        parts.append(
            rejected_rows(
                table.take(pa.array(result.rejected_index)),
                [at(i) for i in result.rejected_index],
                result.rejected_reason,
                source,
            )
        )
    quarantine = pa.concat_tables(parts) if parts else None
    return PreparedBatch(valid, quarantine, [*extra_reasons, *result.rejected_reason])


def with_source_order(table: pa.Table, order: npt.NDArray[np.int64]) -> pa.Table:
    """``source_order`` filled where it is missing with ``order`` (the rows' positions in
    their source: line or record numbers), so equal time stamps keep the source's order."""
    column = table.column("source_order")
    if column.null_count == 0:
        return table
    filled = pc.coalesce(column, pa.array(order, pa.int64()))
    return table.set_column(table.schema.get_field_index("source_order"), "source_order", filled)


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
