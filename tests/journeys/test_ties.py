"""Equal time stamps keep the source order (issue 11, defect 1) on every way in: mapped file
rows and their ``[[events]]`` order, canonical Parquet rows, HTTP arrival; and in every
reader of the order: discovery, the journey index, timelines and export."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from klantreis.analytics import discovery
from klantreis.analytics.journey_index import JourneyIndex
from klantreis.analytics.timeline import timeline
from klantreis.app import App
from klantreis.export import export_csv
from klantreis.ingest.writer import EventWriter

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FMT = "%Y-%m-%d %H:%M:%S"
#: The example mapping's [[events]]: (kind, column of its time stamp), in mapping order.
ORDER_EVENTS = [
    ("order.placed", "order_purchase_timestamp"),
    ("payment.completed", "order_approved_at"),
    ("shipment.handed_over", "order_delivered_carrier_date"),
    ("delivery.promised", "order_purchase_timestamp"),
    ("delivery.completed", "order_delivered_customer_date"),
]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _hand_variants() -> Counter[tuple[str, ...]]:
    """The example's variants from the CSV: a row's events by time, ties in mapping order
    (delivery.promised only with an estimated date, as its ``when`` says)."""
    variants: Counter[tuple[str, ...]] = Counter()
    with open(EXAMPLES / "data" / "olist_orders.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            steps = []
            for i, (kind, column) in enumerate(ORDER_EVENTS):
                if not row[column] or (
                    kind == "delivery.promised" and not row["order_estimated_delivery_date"]
                ):
                    continue
                steps.append((datetime.strptime(row[column], FMT), i, kind))
            variants[tuple(kind for _, _, kind in sorted(steps))] += 1
    return variants


def test_the_order_example_is_not_split_by_its_promise_tie(app: App) -> None:
    summary = app.ingest_paths(
        [EXAMPLES / "data" / "olist_orders.csv"],
        mapping=EXAMPLES / "mappings" / "olist_orders.toml",
        progress=False,
    )
    assert summary.files[0].events_stored > 0
    expected = _hand_variants()
    for index in (None, JourneyIndex(app.store)):
        d = discovery.discover(app.events_table(), app.journey, top=None, index=index)
        got = {tuple(r["variant"]): r["count"] for r in d.variants.to_pylist()}
        assert got == dict(expected)
        for variant in got:  # the promise is made when the order is placed, never before
            assert variant[:2] == ("order.placed", "delivery.promised")
        assert {r["activity"]: r["count"] for r in d.start.to_pylist()} == {
            "order.placed": sum(expected.values())
        }


def _tied(jid: str, ids_and_kinds: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"event_id": eid, "journey_id": jid, "kind": kind, "occurred_at": T0.isoformat()}
        for eid, kind in ids_and_kinds
    ]


def test_http_ties_keep_the_request_and_arrival_order(app: App) -> None:
    writer = EventWriter(app.store, app.journey, max_delay_ms=5)
    writer.start()

    async def send() -> None:
        # ids in reverse order of the events: only the arrival order can give z -> y -> x
        await writer.submit(_tied("h1", [("z", "order.placed"), ("y", "payment.completed")]))
        await writer.submit(_tied("h1", [("x", "invoice.sent")]))

    try:
        asyncio.run(send())
    finally:
        writer.stop()
    for index in (None, JourneyIndex(app.store)):
        d = discovery.discover(app.events_table(), app.journey, index=index)
        assert d.variants.column("variant").to_pylist() == [
            ["order.placed", "payment.completed", "invoice.sent"]
        ]


def test_canonical_parquet_ties_keep_the_file_row_order(app: App, tmp_path: Path) -> None:
    path = tmp_path / "canonical.parquet"
    rows = {
        "event_id": ["c", "b", "a"],
        "occurred_at": pa.array([T0] * 3, pa.timestamp("us", tz="UTC")),
        "journey_id": ["p1"] * 3,
        "kind": ["order.placed", "payment.completed", "invoice.sent"],
    }
    pq.write_table(pa.table(rows), path)
    # the same in a file with an empty source_order column (e.g. the demo's Parquet)
    empty = tmp_path / "empty_order.parquet"
    pq.write_table(
        pa.table({**rows, "journey_id": ["p2"] * 3, "event_id": ["f", "e", "d"]}).append_column(
            "source_order", pa.nulls(3, pa.int64())
        ),
        empty,
    )
    app.ingest_paths([path, empty], progress=False)
    d = discovery.discover(app.events_table(), app.journey)
    assert d.variants.to_pylist()[0]["variant"] == [
        "order.placed",
        "payment.completed",
        "invoice.sent",
    ]
    assert d.variants.to_pylist()[0]["count"] == 2


def test_timeline_and_export_keep_the_source_order(app: App, tmp_path: Path) -> None:
    path = tmp_path / "tied.csv"
    path.write_text(
        "event_id,occurred_at,journey_id,kind\n"
        f"z,{T0.isoformat()},t1,order.placed\n"
        f"m,{T0.isoformat()},t1,payment.completed\n"
        f"a,{(T0 + timedelta(minutes=1)).isoformat()},t1,invoice.sent\n"
        f"b,{T0.isoformat()},t1,delivery.promised\n",
        encoding="utf-8",
    )
    app.ingest_paths([path], progress=False)
    expected = ["order.placed", "payment.completed", "delivery.promised", "invoice.sent"]
    assert timeline(app.events_table(), journey_id="t1").column("kind").to_pylist() == expected
    out = io.StringIO()
    export_csv(app.events_table(), out)
    kinds = [r["kind"] for r in csv.DictReader(io.StringIO(out.getvalue()))]
    assert kinds == expected
