"""Tiny hand-made event sets for the contact tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import derive_event_id, events_from_records

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def event(
    kind: str, journey: str, days: float, customer: str | None = None, **fields: Any
) -> dict[str, Any]:
    rec = {
        "kind": kind,
        "journey_id": journey,
        "customer_id": customer or f"K-{journey}",
        "occurred_at": at(days),
        **fields,
    }
    rec["event_id"] = derive_event_id(kind, journey, days, fields.get("attrs"))
    return rec


def contact(
    journey: str,
    days: float,
    reason: str | None,
    channel: str = "phone",
    text: str = "hallo",
    customer: str | None = None,
    n: int = 0,
    minutes: float | None = None,
    resolved: bool | None = None,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {"contact_id": f"{journey}-C{n}"}
    if reason:
        attrs["reason"] = reason
    if minutes is not None:
        attrs["response_minutes"] = minutes
    if resolved is not None:
        attrs["resolved"] = resolved
    return event(
        "contact.inbound", journey, days, customer, channel=channel, text=text, attrs=attrs
    )


def load(app: Any, records: list[dict[str, Any]]) -> None:
    result = ingest_table(
        app.store, events_from_records(records, source="test"), app.journey, source="test"
    )
    assert result.stored == len(records)
