"""Small hand-made journey logs for the journeys tests, and a pure-Python oracle."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pyarrow as pa
import pytest

from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)


def ev(eid: str, jid: str | None, kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "event_id": eid,
        "journey_id": jid,
        "kind": kind,
        "occurred_at": at,
        "customer_id": fields.pop("customer_id", f"c-{jid}"),
    }
    if "attrs" in fields and not isinstance(fields["attrs"], str):
        fields["attrs"] = json.dumps(fields["attrs"])
    rec.update(fields)
    return rec


def _order(
    jid: str,
    carrier: str,
    delivered_after: timedelta | None,
    contacts: int = 0,
    csat: float | None = None,
    channel: str = "web",
    segment: str = "consumer",
) -> list[dict[str, Any]]:
    d = timedelta
    deadline = T0 + d(days=2)
    recs = [
        ev(f"{jid}-1", jid, "order.placed", T0, channel=channel, attrs={"segment": segment}),
        ev(f"{jid}-2", jid, "payment.completed", T0 + d(minutes=5)),
        ev(f"{jid}-3", jid, "shipment.handed_over", T0 + d(days=1), owner=carrier),
        ev(
            f"{jid}-4",
            jid,
            "delivery.promised",
            T0 + d(days=1, minutes=1),
            owner=carrier,
            attrs={"deadline": deadline.isoformat().replace("+00:00", "Z")},
        ),
    ]
    if delivered_after is not None:
        recs.append(ev(f"{jid}-5", jid, "delivery.completed", T0 + delivered_after, owner=carrier))
    for i in range(contacts):
        recs.append(
            ev(
                f"{jid}-c{i}",
                jid,
                "contact.inbound",
                T0 + d(days=2, hours=3 + i),
                channel="chat",
                text=f"Waar is <b>{jid}</b>?",
                lang="nl",
                attrs={"reason": "waar_is_mijn_pakket"},
            )
        )
    if csat is not None:
        recs.append(
            ev(
                f"{jid}-s",
                jid,
                "survey.response",
                T0 + d(days=4),
                metric="csat",
                score=csat,
                touchpoint="bezorging",
                owner=carrier,
                channel="email",
            )
        )
    return recs


def small_log() -> list[dict[str, Any]]:
    """Six orders: on time (snelpost), late (vlotbezorgd), one undelivered at risk, ties."""
    d = timedelta
    recs: list[dict[str, Any]] = []
    recs += _order("o1", "carrier:snelpost", d(days=1, hours=6), csat=5)
    recs += _order("o2", "carrier:vlotbezorgd", d(days=3), contacts=2, csat=2, channel="app")
    recs += _order("o3", "carrier:snelpost", d(days=1, hours=20), csat=4, segment="business")
    recs += _order("o4", "carrier:vlotbezorgd", d(days=2, hours=1), contacts=1, csat=1)
    # o5: promised, not delivered, deadline two hours after NOW: open and at risk.
    recs += [
        ev("o5-1", "o5", "order.placed", NOW - d(days=1)),
        ev(
            "o5-2",
            "o5",
            "delivery.promised",
            NOW - d(hours=5),
            owner="carrier:snelpost",
            attrs={"deadline": (NOW + d(hours=2)).isoformat()},
        ),
    ]
    # o6: two events at the same instant from a source that gives no order (source_order
    # equal, as for events stored before schema version 3): event_id decides (a < b).
    recs += [
        ev("o6-b", "o6", "payment.completed", T0 + d(hours=1), source_order=0),
        ev("o6-a", "o6", "order.placed", T0 + d(hours=1), source_order=0),
        ev("o6-c", "o6", "invoice.sent", T0 + d(hours=2), source_order=0),
    ]
    recs.append(ev("m1", None, "social.mention", T0, channel="social", text="Top!"))
    return recs


def load(app: App, records: Iterable[Mapping[str, Any]]) -> int:
    table = events_from_records(list(records), source="test")
    result = ingest_table(app.store, table, app.journey, source="test")
    assert result.quarantined == 0, result
    return result.stored


def ordered_traces(
    records: Iterable[Mapping[str, Any]], activity: str = "kind"
) -> dict[str, list[dict[str, Any]]]:
    """Oracle: journeys as lists of events sorted by (occurred_at, source order, event_id);
    the source order is a record's ``source_order``, else its position in ``records`` from 1
    (as ``load`` stores them)."""
    traces: dict[str, list[dict[str, Any]]] = {}
    for position, r in enumerate(records, start=1):
        if r.get("journey_id") is not None:
            order = r.get("source_order")
            traces.setdefault(r["journey_id"], []).append(
                {**r, "_order": position if order is None else order}
            )
    for events in traces.values():
        events.sort(key=lambda r: (r["occurred_at"], r["_order"], r["event_id"]))
    return traces


def oracle_dfg(
    traces: Mapping[str, list[dict[str, Any]]], activity: str = "kind"
) -> Counter[tuple[Any, Any]]:
    edges: Counter[tuple[Any, Any]] = Counter()
    for events in traces.values():
        acts = [e.get(activity) for e in events]
        edges.update(pairwise(acts))
    return edges


def oracle_variants(
    traces: Mapping[str, list[dict[str, Any]]], activity: str = "kind"
) -> Counter[tuple[str, ...]]:
    return Counter(tuple(e.get(activity) or "(none)" for e in events) for events in traces.values())


def edge_counts(table: pa.Table) -> dict[tuple[Any, Any], int]:
    return {(r["source"], r["target"]): r["count"] for r in table.to_pylist()}


def assert_kept_graph(kept: list[dict[str, Any]], exact: list[dict[str, Any]]) -> None:
    """The kept graph (``journey_dfg``'s histogram) against the exact one: the same edges in
    the same order with the same counts, means equal, median and p90 within ``ALPHA``
    (relative) of the exact ``quantile_cont``."""
    from klantreis.analytics.derived_totals import ALPHA

    def key(e: dict[str, Any]) -> tuple[Any, Any, int]:
        return (e["source"], e["target"], e["count"])

    assert [key(e) for e in kept] == [key(e) for e in exact]
    for k, x in zip(kept, exact, strict=True):
        assert k["mean_s"] == pytest.approx(x["mean_s"], rel=1e-9, abs=1e-6)
        for q in ("median_s", "p90_s"):
            assert abs(k[q] - x[q]) <= ALPHA * abs(x[q]) + 1e-9, (k, x, q)
