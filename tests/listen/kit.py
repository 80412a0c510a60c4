"""Fakes for the outbox and directory seams, delivery journeys, a small surveys file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from klantreis.model.events import events_from_records
from klantreis.model.survey import SurveyConfig, parse_survey_config
from klantreis.store.duckdb_store import EventStore

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)  # a Monday, 11:00 in Amsterdam


@dataclass
class FakeOutbox:
    """Idempotent on the message key, like the real outbox."""

    messages: dict[str, Any] = field(default_factory=dict)
    calls: int = 0

    def enqueue(self, message: Any) -> None:
        self.calls += 1
        self.messages.setdefault(message.key, message)


@dataclass
class FakeDirectory:
    """Everyone may be contacted on every channel, except the refusals given."""

    refuse: dict[tuple[str, str], str] = field(default_factory=dict)

    def may_contact(self, customer_id: str, purpose: str, channel: str) -> tuple[bool, str | None]:
        assert purpose == "surveys"
        reason = self.refuse.get((customer_id, channel)) or self.refuse.get((customer_id, "*"))
        return (reason is None, reason)


def delivery_records(
    n: int, customers: int, start: datetime = T0, segment: str = "nieuw"
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        out.append(
            {
                "event_id": f"o{i}",
                "occurred_at": start.isoformat(),
                "kind": "order.placed",
                "customer_id": f"c{i % customers}",
                "journey_id": f"j{i}",
                "attrs": {"segment": segment},
            }
        )
        out.append(
            {
                "event_id": f"d{i}",
                "occurred_at": (start + timedelta(days=2)).isoformat(),
                "kind": "delivery.completed",
                "customer_id": f"c{i % customers}",
                "journey_id": f"j{i}",
                "owner": "carrier:vlotbezorgd",
                "touchpoint": "bezorging",
            }
        )
    return out


SURVEYS = """
default_lang = "nl"
[contact_rules]
max_per_period = 2
period_days = 30
min_days_between = 7
quiet_hours = "21:00-08:00"
max_reminders = 1
reminder_after = "3d"
[[contact_rules.exclude]]
attr = "segment"
values = ["zakelijk_contract"]
reason = "contract_customer"

[[survey]]
id = "na_bezorging"
name_nl = "Na de bezorging"
name_en = "After delivery"
cooldown_days = 60
touchpoint = "bezorging"
[survey.trigger]
after = "delivery.completed"
delay = "1d"
sample = {sample}
expires = "7d"
unless = ["return.requested"]
[[survey.questions]]
id = "nps"
type = "nps"
text = {{ nl = "Hoe waarschijnlijk?", en = "How likely?" }}
"""


def surveys(sample: float = 1.0, extra: str = "") -> SurveyConfig:
    return parse_survey_config(SURVEYS.format(sample=sample) + extra)


def add(store: EventStore, records: list[dict[str, Any]]) -> None:
    store.append(events_from_records(records))


def listen_on(app: Any, now: datetime, days: int = 30) -> str | None:
    """The demo's listening (``klantreis.demo.runner.listen_demo``: directory, contact rules,
    outbox, simulated respondents) over the last ``days`` before ``now`` — idempotent, so
    after ``run_demo`` it only adds the days before the demo's own window; returns a customer
    with an invitation that was not sent (for why-not pages), or None."""
    from klantreis.demo.runner import listen_demo

    listen_demo(app, now, days)
    rows = app.store.query(
        "SELECT customer_id FROM survey_invitations WHERE status = 'suppressed'"
        " AND reason NOT IN ('not_sampled') ORDER BY customer_id LIMIT 1"
    ).to_pylist()
    return rows[0]["customer_id"] if rows else None
