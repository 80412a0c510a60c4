"""One journey, or one customer, across all channels: every event in time order with its
text and score, so whoever helps the customer has the context.

Texts are returned as stored (untrusted; escape when rendering). Masking personal data for
viewers is the job of the caller (``klantreis.access.masking`` in the web layer).
"""

from __future__ import annotations

import ibis.expr.types as ir
import pyarrow as pa

from klantreis.analytics.journeys import order_keys

__all__ = ["TIMELINE_COLUMNS", "timeline"]

TIMELINE_COLUMNS = (
    "occurred_at",
    "event_id",
    "journey_id",
    "customer_id",
    "kind",
    "touchpoint",
    "channel",
    "owner",
    "metric",
    "score",
    "text",
    "lang",
    "attrs",
    "source",
)


def timeline(
    events: ir.Table,
    journey_id: str | None = None,
    customer_id: str | None = None,
    limit: int = 1000,
) -> pa.Table:
    """Events of one journey or one customer (exactly one of both), oldest first.

    A customer's timeline holds all their journeys and the events that belong to none
    (e.g. a social mention). ``limit`` caps the rows (the newest are dropped).
    """
    if (journey_id is None) == (customer_id is None):
        raise ValueError("give exactly one of journey_id and customer_id")
    if journey_id is not None:
        ev = events.filter(events.journey_id == journey_id)
    else:
        ev = events.filter(events.customer_id == customer_id)
    ev = ev.order_by(order_keys(ev)).limit(limit)
    return ev.select(*TIMELINE_COLUMNS).to_pyarrow()
