"""The scheduler step: due invitations decided and handed over once, quiet hours moved,
reminders, expiry, events in the log, why-not, and a kill at any point loses and duplicates
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.listen.kit import T0, FakeDirectory, FakeOutbox, add, delivery_records, surveys

from klantreis.listen import rates, rules
from klantreis.listen.ledger import Invitation, set_status
from klantreis.listen.run import Scheduler, message_key
from klantreis.model.journey import JourneyConfig
from klantreis.store.duckdb_store import EventStore


def _link(inv: Invitation) -> str:
    return f"https://example.test/s/{inv.invitation_id}"


def _scheduler(store: EventStore, journey: JourneyConfig, sample: float = 1.0) -> Scheduler:
    s = Scheduler(store, surveys(sample), journey, _link)
    s.plan(T0 + timedelta(days=2, hours=1), since=T0)
    return s


def _statuses(store: EventStore) -> dict[str, int]:
    rows = store.query(
        "SELECT coalesce(reason, status) AS k, count(*) AS n FROM survey_invitations GROUP BY ALL"
    )
    return dict(zip(rows["k"].to_pylist(), rows["n"].to_pylist(), strict=True))


def _events(store: EventStore, kind: str) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM events WHERE kind = ? ORDER BY event_id", [kind]).to_pylist()


def test_due_invitations_go_out_once_with_text_link_and_event(
    store: EventStore, journey: JourneyConfig
) -> None:
    add(store, delivery_records(6, 3))  # 3 customers, two deliveries each on the same day
    s = _scheduler(store, journey)
    box = FakeOutbox()
    report = s.send_due(T0 + timedelta(days=3), box, FakeDirectory())
    assert report.queued == 3 and report.suppressed == {"cooldown": 3}
    assert len(box.messages) == 3
    msg = next(iter(box.messages.values()))
    assert msg.subject == "Een korte vraag: Na de bezorging"
    assert (
        "https://example.test/s/inv_" in msg.text
        and 'href="https://example.test/s/inv_' in msg.html
    )
    assert msg.channel == "email" and msg.purpose == "surveys"
    invited = _events(store, "survey.invited")
    assert len(invited) == 3 and invited[0]["touchpoint"] == "bezorging"
    assert (
        '"survey_id": "na_bezorging"' in invited[0]["attrs"]
        and "example.test" not in invited[0]["attrs"]
    )
    suppressed = _events(store, "survey.suppressed")
    assert len(suppressed) == 3 and all('"reason": "cooldown"' in e["attrs"] for e in suppressed)
    again = s.send_due(T0 + timedelta(days=3, minutes=5), box, FakeDirectory())
    assert (again.queued, again.handed_over, again.events) == (0, 0, 0)
    assert box.calls == 3


def test_quiet_hours_move_the_send_time(store: EventStore, journey: JourneyConfig) -> None:
    add(store, delivery_records(1, 1, start=T0 + timedelta(hours=11)))  # due 22:00 local
    s = _scheduler(store, journey)
    night = T0 + timedelta(days=3, hours=11)
    assert s.plan(night, since=T0)[0].planned == 1
    box = FakeOutbox()
    assert s.send_due(night, box, FakeDirectory()).moved == 1
    row = store.query("SELECT send_at, status FROM survey_invitations").to_pylist()[0]
    assert row["status"] == "planned" and row["send_at"] == datetime(2026, 3, 6, 7, tzinfo=UTC)
    assert s.send_due(night + timedelta(hours=3), box, FakeDirectory()).queued == 0
    assert s.send_due(datetime(2026, 3, 6, 7, 5, tzinfo=UTC), box, FakeDirectory()).queued == 1


def test_send_time_eligibility_and_directory_reasons_and_why_not(
    store: EventStore, journey: JourneyConfig
) -> None:
    records = delivery_records(4, 4)
    records[1]["attrs"] = {"segment": "zakelijk_contract"}  # c0's order
    records.append(
        {
            "event_id": "r1",
            "occurred_at": (T0 + timedelta(days=2, hours=2)).isoformat(),
            "kind": "return.requested",
            "customer_id": "c1",
            "journey_id": "j1",
        }
    )
    records.append(
        {
            "event_id": "a2",
            "occurred_at": (T0 + timedelta(days=2, hours=3)).isoformat(),
            "kind": "survey.response",
            "customer_id": "c2",
            "metric": "nps",
            "score": 9,
        }
    )
    records[0]["attrs"] = {"segment": "zakelijk_contract"}
    add(store, records)
    s = _scheduler(store, journey)
    directory = FakeDirectory({("c3", "*"): "objected"})
    report = s.send_due(T0 + timedelta(days=3), FakeOutbox(), directory)
    assert report.suppressed == {
        "contract_customer": 1,
        "cancelled_by_event": 1,
        "answered_elsewhere": 1,
        "objected": 1,
    }
    why = rules.why_not(store, "c1")
    assert [(r["status"], r["reason"]) for r in why] == [("suppressed", "cancelled_by_event")]
    assert rules.why_not(store, "nobody") == []
    by_reason = rates.suppressed_by_reason(store).to_pylist()
    assert {r["reason"] for r in by_reason} == set(report.suppressed)


def test_reminders_then_expiry_and_response_rates(
    store: EventStore, journey: JourneyConfig
) -> None:
    add(store, delivery_records(4, 4))
    s = _scheduler(store, journey)
    box = FakeOutbox()
    s.send_due(T0 + timedelta(days=3), box, FakeDirectory())
    # the outbox sent them (the real copy-back from the outbox: tests/listen/test_delivery.py)
    every = store.query("SELECT invitation_id FROM survey_invitations")["invitation_id"]
    set_status(store, every.to_pylist(), "sent", at=T0 + timedelta(days=3))
    answered = store.query("SELECT invitation_id FROM survey_invitations WHERE customer_id = 'c0'")
    set_status(store, answered["invitation_id"].to_pylist(), "answered", at=T0 + timedelta(days=4))
    report = s.send_due(T0 + timedelta(days=6, hours=1), box, FakeDirectory())
    assert report.reminded == 3  # not to the one who answered
    assert any(k.endswith(":r1") for k in box.messages)
    assert box.messages[message_key(answered["invitation_id"][0].as_py(), 0)].key
    assert len(_events(store, "survey.reminded")) == 3
    assert s.send_due(T0 + timedelta(days=8), box, FakeDirectory()).reminded == 0  # budget: 1
    expired = s.send_due(T0 + timedelta(days=10, hours=1), box, FakeDirectory())
    assert expired.expired == 3
    [row] = rates.response_rates(store, "touchpoint").to_pylist()
    assert (row["group"], row["invited"], row["answered"], row["non_response"]) == (
        "bezorging",
        4,
        1,
        3,
    )
    assert row["ci_low"] < 0.25 < row["ci_high"]


def test_planned_but_not_sent_in_time_expires_with_a_reason(
    store: EventStore, journey: JourneyConfig
) -> None:
    add(store, delivery_records(2, 2))
    s = _scheduler(store, journey)
    report = s.send_due(T0 + timedelta(days=11), FakeOutbox(), FakeDirectory())
    assert report.suppressed == {"not_sent_in_time": 2} and report.queued == 0
    assert len(_events(store, "survey.suppressed")) == 2


class _Killed(BaseException):
    """Stands for the process dying (not an Exception: nothing may catch it)."""


class _DyingOutbox(FakeOutbox):
    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def enqueue(self, message: Any) -> None:
        if self.calls >= self.after:
            raise _Killed
        super().enqueue(message)


@pytest.mark.parametrize("after", [0, 1, 5, 9])
def test_a_kill_mid_send_loses_and_duplicates_nothing(
    store: EventStore, journey: JourneyConfig, after: int
) -> None:
    add(store, delivery_records(10, 10))
    s = _scheduler(store, journey)
    dying = _DyingOutbox(after)
    with pytest.raises(_Killed):
        s.send_due(T0 + timedelta(days=3), dying, FakeDirectory())
    box = FakeOutbox(messages=dict(dying.messages))
    report = Scheduler(store, surveys(1.0), journey, _link).send_due(
        T0 + timedelta(days=3, minutes=1), box, FakeDirectory()
    )
    assert report.queued == 0  # decided before the kill, not again
    assert len(box.messages) == 10
    assert len(_events(store, "survey.invited")) == 10
    handed = store.query("SELECT count(*) AS n FROM survey_contacts WHERE handed_at IS NULL")
    assert handed["n"][0].as_py() == 0


def test_a_kill_between_the_outbox_and_the_mark_sends_nothing_twice(
    store: EventStore, journey: JourneyConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(store, delivery_records(3, 3))
    s = _scheduler(store, journey)
    box = FakeOutbox()

    def killed(*_: Any) -> int:
        raise _Killed

    monkeypatch.setattr(s, "_write_events", killed)
    with pytest.raises(_Killed):
        s.send_due(T0 + timedelta(days=3), box, FakeDirectory())
    assert len(box.messages) == 3
    monkeypatch.undo()
    report = s.send_due(T0 + timedelta(days=3, minutes=1), box, FakeDirectory())
    assert report.handed_over == 3 and len(box.messages) == 3  # the outbox dropped the repeats
    assert len(_events(store, "survey.invited")) == 3


class _ZonedDirectory(FakeDirectory):
    """A directory that keeps some customers' own time zones."""

    def __init__(self, zones: dict[str, str]) -> None:
        super().__init__()
        self.zones = zones

    def timezones(self, customer_ids: list[str]) -> dict[str, str]:
        return {c: self.zones[c] for c in customer_ids if c in self.zones}


def test_quiet_hours_in_the_customers_own_time_zone(
    store: EventStore, journey: JourneyConfig
) -> None:
    add(store, delivery_records(3, 3))  # due 2026-03-05 10:00 UTC
    s = _scheduler(store, journey)
    directory = _ZonedDirectory({"c1": "America/Curacao", "c2": "Europe/Amsterdam"})
    now = datetime(2026, 3, 5, 11, tzinfo=UTC)  # Amsterdam 12:00, Curacao 07:00 (quiet)
    report = s.send_due(now, FakeOutbox(), directory)
    assert (report.queued, report.moved) == (2, 1)
    rows = {
        r["customer_id"]: r
        for r in store.query(
            "SELECT customer_id, status, send_at FROM survey_invitations"
        ).to_pylist()
    }
    assert rows["c2"]["status"] == rows["c0"]["status"] == "queued"  # c0: the journey's zone
    assert rows["c1"]["status"] == "planned"
    assert rows["c1"]["send_at"] == datetime(2026, 3, 5, 12, tzinfo=UTC)  # 08:00 in Curacao
    later = s.send_due(datetime(2026, 3, 5, 12, 1, tzinfo=UTC), FakeOutbox(), directory)
    assert later.queued == 1
