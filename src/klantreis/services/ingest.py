"""Ingest: validate, enrich from the journey config, and store in batches.

``ingest_table`` is the one path every source takes (files, HTTP, the demo generator).
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from klantreis.model.events import conform, validate_events
from klantreis.model.journey import JourneyConfig
from klantreis.store import AppendResult, EventStore
from klantreis.store.duckdb_store import quarantine_rows

__all__ = ["enrich", "ingest_table"]


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


def ingest_table(store: EventStore, table: pa.Table, journey: JourneyConfig,
                 source: str = "api", first_line: int = 1) -> AppendResult:
    """Validate, enrich and store one batch of events in one transaction.

    Rejected rows go to the quarantine with their reason and line (``first_line`` is the
    line number of the batch's first row in its source).
    """
    table = conform(table)
    result = validate_events(table)
    valid = enrich(result.valid, journey)
    quarantine = None
    if result.rejected_index:
        rows = table.take(pa.array(result.rejected_index)).to_pylist()
        raws = [json.dumps(r, default=str, ensure_ascii=False) for r in rows]
        lines = [first_line + i for i in result.rejected_index]
        quarantine = quarantine_rows(source, lines, result.rejected_reason, raws)
    return store.append(valid, quarantine)
