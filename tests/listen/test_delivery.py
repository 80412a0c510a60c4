"""The outbox's outcome copied back into the invitations ledger, against a real SMTP server
(aiosmtpd): sent with its time, a refused address failed with its reason, a doubtful send
held as unknown; idempotent; response rates count what was really sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.listen.kit import T0, FakeDirectory, add, delivery_records, surveys
from tests.outbox.servers import smtp_server

from klantreis.listen import rates
from klantreis.listen.delivery import sync_from_outbox
from klantreis.listen.ledger import Invitation
from klantreis.listen.run import Scheduler
from klantreis.model.journey import JourneyConfig
from klantreis.outbox import Message, Outbox, RetryPolicy, SendResult, SmtpSender
from klantreis.store.duckdb_store import EventStore

SENT_AT = T0 + timedelta(days=3)


def _link(inv: Invitation) -> str:
    return f"https://example.test/s/{inv.invitation_id}"


def _queued(store: EventStore, journey: JourneyConfig, n: int) -> Scheduler:
    add(store, delivery_records(n, n))
    s = Scheduler(store, surveys(), journey, _link, message_type=Message)
    s.plan(T0 + timedelta(days=2, hours=1), since=T0)
    report = s.send_due(SENT_AT, Outbox(store), FakeDirectory())
    assert report.handed_over == n
    return s


def _ledger(store: EventStore) -> dict[str, dict[str, Any]]:
    rows = store.query(
        "SELECT customer_id, status, reason, sent_at, outcome_at FROM survey_invitations"
    ).to_pylist()
    return {r["customer_id"]: r for r in rows}


def _address(customer_id: str, channel: str) -> str:
    return f"{customer_id}@people.example"


def test_after_delivery_the_ledger_says_sent_or_failed_with_its_reason(
    store: EventStore, journey: JourneyConfig
) -> None:
    _queued(store, journey, 3)
    assert {r["status"] for r in _ledger(store).values()} == {"queued"}
    assert rates.response_rates(store).to_pylist() == []  # handed over is not sent
    with smtp_server() as (sink, port):
        sink.refuse.add("c2@people.example")
        sender = SmtpSender("127.0.0.1", port, "cx@shop.example", security="none", timeout=5)
        at = SENT_AT + timedelta(minutes=1)
        report = Outbox(store).deliver_due(at, senders={"email": sender}, resolve=_address)
    assert (report.sent, report.failed) == (2, 1) and len(sink.received) == 2
    assert sync_from_outbox(store) == 3
    rows = _ledger(store)
    assert rows["c0"]["status"] == rows["c1"]["status"] == "sent"
    assert rows["c0"]["sent_at"] == at and rows["c0"]["reason"] is None
    assert rows["c2"]["status"] == "failed" and rows["c2"]["reason"] == "refused"
    assert rows["c2"]["sent_at"] is None and rows["c2"]["outcome_at"] == at
    assert sync_from_outbox(store) == 0  # idempotent
    [rate] = rates.response_rates(store).to_pylist()
    assert (rate["invited"], rate["answered"]) == (2, 0)  # the failed one was never asked
    reasons = {r["reason"] for r in rates.suppressed_by_reason(store).to_pylist()}
    assert "refused" in reasons


def test_a_doubtful_send_is_unknown_and_a_replay_that_is_sent_becomes_sent(
    store: EventStore, journey: JourneyConfig
) -> None:
    _queued(store, journey, 1)

    class Cut:
        def __init__(self, outcome: str) -> None:
            self.outcome = outcome

        def send(self, message: Any, message_id: str, address: str | None) -> SendResult:
            return SendResult(self.outcome, 250 if self.outcome == "sent" else None)  # type: ignore[arg-type]

        def close(self) -> None:
            pass

    box = Outbox(store, policy=RetryPolicy(max_attempts=1))
    at = SENT_AT + timedelta(minutes=1)
    box.deliver_due(at, senders={"email": Cut("ambiguous")}, resolve=_address)
    sync_from_outbox(store)
    [row] = _ledger(store).values()
    assert (row["status"], row["reason"], row["outcome_at"]) == ("unknown", "doubtful", at)
    [held] = box.held()
    box.replay(held.message_id)
    later = at + timedelta(hours=1)
    box.deliver_due(later, senders={"email": Cut("sent")}, resolve=_address)
    assert sync_from_outbox(store) == 1
    [row] = _ledger(store).values()
    assert (row["status"], row["reason"], row["sent_at"]) == ("sent", None, later)


def test_the_scheduler_copies_the_outcome_before_deciding(
    store: EventStore, journey: JourneyConfig
) -> None:
    s = _queued(store, journey, 2)
    box = Outbox(store)
    with smtp_server() as (_, port):
        sender = SmtpSender("127.0.0.1", port, "cx@shop.example", security="none", timeout=5)
        box.deliver_due(SENT_AT, senders={"email": sender}, resolve=_address)
    report = s.send_due(SENT_AT + timedelta(minutes=5), box, FakeDirectory())
    assert report.synced == 2
    assert {r["status"] for r in _ledger(store).values()} == {"sent"}
