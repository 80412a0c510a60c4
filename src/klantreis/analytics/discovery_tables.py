"""The shape of a discovery answer, shared by the portable Ibis functions
(:mod:`klantreis.analytics.discovery`) and the DuckDB journey index
(:mod:`klantreis.analytics.journey_index`): the :class:`Discovery` result and the one order
each of its tables is sorted in, so both give identical answers.

It imports neither of them: both import it (before, the index used private helpers of
``discovery``, and ``discovery`` reached back for the index).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

__all__ = [
    "ACTIVITIES",
    "VARIANT_SEP",
    "Activity",
    "Discovery",
    "finish_variants",
    "sort_activity_counts",
    "sort_edges",
]

#: What a step of a journey is: the event's kind or its touchpoint.
Activity = Literal["kind", "touchpoint"]
ACTIVITIES: tuple[str, ...] = ("kind", "touchpoint")

#: Joins a variant's activities into its sort key (the ASCII unit separator, so that the
#: order equals the journey index's ORDER BY on its stored paths).
VARIANT_SEP = "\x1f"


@dataclass(frozen=True)
class Discovery:
    """Everything the journey map needs, as Arrow tables."""

    journeys: int
    dfg: pa.Table
    variants: pa.Table
    start: pa.Table
    end: pa.Table

    def as_dict(self) -> dict[str, Any]:
        return {
            "journeys": self.journeys,
            "dfg": self.dfg.to_pylist(),
            "variants": self.variants.to_pylist(),
            "start": self.start.to_pylist(),
            "end": self.end.to_pylist(),
        }


def sort_edges(table: pa.Table) -> pa.Table:
    """Directly-follows edges, most frequent first, ties by source then target."""
    return table.sort_by(
        [("count", "descending"), ("source", "ascending"), ("target", "ascending")]
    )


def finish_variants(table: pa.Table, journeys: int, top: int | None) -> pa.Table:
    """Variants (``variant``, ``count``) sorted, cut to ``top``, with ``share`` of
    ``journeys`` and ``length``."""
    keys = [VARIANT_SEP.join(v) for v in table.column("variant").to_pylist()]
    table = table.append_column("key", pa.array(keys, pa.string()))
    table = table.sort_by([("count", "descending"), ("key", "ascending")]).drop_columns(["key"])
    if top is not None:
        table = table.slice(0, top)
    shares = [c / journeys if journeys else 0.0 for c in table.column("count").to_pylist()]
    lengths = [len(v) for v in table.column("variant").to_pylist()]
    return table.append_column("share", pa.array(shares, pa.float64())).append_column(
        "length", pa.array(lengths, pa.int64())
    )


def sort_activity_counts(table: pa.Table) -> pa.Table:
    """Start or end activities, most journeys first, ties by activity."""
    return table.sort_by([("count", "descending"), ("activity", "ascending")])
