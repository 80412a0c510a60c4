"""A tiny store for the case tests: a few journeys that trigger (or not) each rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records

T0 = datetime(2026, 11, 16, 9, tzinfo=UTC)  # a Monday


def ev(eid: str, hours: float, kind: str, journey: str, customer: str, **kw: Any) -> dict[str, Any]:
    return {
        "event_id": eid,
        "occurred_at": (T0 + timedelta(hours=hours)).isoformat(),
        "kind": kind,
        "journey_id": journey,
        "customer_id": customer,
        **kw,
    }


def late_parcel(
    j: str, c: str, score: float | None = None, text: str | None = None, contact: bool = True
) -> list[dict[str, Any]]:
    """Ordered, promised for +24 h, delivered at +50 h by VlotBezorgd; the customer called at
    +30 h (unless ``contact=False``); optionally a survey."""
    deadline = (T0 + timedelta(hours=24)).isoformat()
    out = [
        ev(f"{j}-o", 0, "order.placed", j, c),
        ev(
            f"{j}-p",
            1,
            "delivery.promised",
            j,
            c,
            owner="carrier:vlotbezorgd",
            attrs={"deadline": deadline},
        ),
        ev(f"{j}-d", 50, "delivery.completed", j, c, owner="carrier:vlotbezorgd"),
    ]
    if contact:
        out.append(ev(f"{j}-w", 30, "contact.inbound", j, c, channel="phone"))
    if score is not None:
        out.append(ev(f"{j}-s", 52, "survey.response", j, c, metric="nps", score=score, text=text))
    return out


def on_time(j: str, c: str, **survey: Any) -> list[dict[str, Any]]:
    deadline = (T0 + timedelta(hours=24)).isoformat()
    out = [
        ev(f"{j}-o", 0, "order.placed", j, c),
        ev(
            f"{j}-p",
            1,
            "delivery.promised",
            j,
            c,
            owner="carrier:snelpost",
            attrs={"deadline": deadline},
        ),
        ev(f"{j}-d", 20, "delivery.completed", j, c, owner="carrier:snelpost"),
    ]
    if survey:
        out.append(ev(f"{j}-s", 22, "survey.response", j, c, **survey))
    return out


def story() -> list[dict[str, Any]]:
    return [
        *late_parcel("J1", "C1", score=3),  # detractor + broken promise -> VlotBezorgd
        *late_parcel("J2", "C2"),  # broken promise only
        *on_time("J3", "C3", metric="nps", score=9, text="Prima"),  # nothing
        *on_time("J4", "C4", metric="ces", score=6),  # high effort; on time -> step owner
        *on_time("J5", "C5", metric="nps", score=8, text="De doos was KAPOTTE, jammer"),  # text
        ev("J6-o", 0, "order.placed", "J6", "C6"),
        ev("J6-i", 30, "invoice.bounced", "J6", "C6"),  # -> finance (touchpoint factuur)
        ev("J7-c1", 10, "contact.inbound", "J7", "C7", channel="phone"),
        ev("J7-c2", 40, "contact.inbound", "J7", "C7", channel="email"),  # repeat within 7 d
        ev("J8-c1", 10, "contact.inbound", "J8", "C8", channel="phone"),
        ev("J8-c2", 400, "contact.inbound", "J8", "C8", channel="phone"),  # 16 days later: no
    ]


def load(app: Any, records: list[dict[str, Any]]) -> None:
    ingest_table(app.store, events_from_records(records), app.journey, source="test")
