"""The outbox against a real SMTP server (aiosmtpd): idempotent enqueue, nothing personal
stored, look-up at send time, retries with back-off, permanent refusals, doubtful sends,
replay."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.outbox.servers import SmtpSink, smtp_server

from klantreis.directory import Directory
from klantreis.outbox import (
    CsvLinkSender,
    Message,
    Outbox,
    OutboxError,
    RetryPolicy,
    SendResult,
    SmtpSender,
    message_id_for,
    scrub,
)
from klantreis.store import EventStore

FROM = "cx@shop.example"


@pytest.fixture
def store() -> Iterator[EventStore]:
    with EventStore() as s:
        yield s


def addresses(customer_id: str, channel: str) -> str | None:
    return None if customer_id.startswith("gone") else f"{customer_id}@people.example"


def smtp(port: int) -> SmtpSender:
    return SmtpSender("127.0.0.1", port, FROM, security="none", timeout=5)


def survey(n: int, **kw: object) -> Message:
    return Message(
        key=f"survey-inv:{n}",
        channel="email",
        customer_id=f"c{n}",
        subject="Hoe was de bezorging?",
        text="Geef ons een cijfer: https://shop.example/s/abc",
        purpose="surveys",
        **kw,  # type: ignore[arg-type]
    )


def test_enqueue_is_idempotent_on_the_key(store: EventStore) -> None:
    ob = Outbox(store)
    first = ob.enqueue(survey(1))
    again = ob.enqueue(survey(1))
    assert first == again == message_id_for("survey-inv:1")
    assert store.query("SELECT count(*) AS n FROM outbox_messages").column("n")[0].as_py() == 1
    assert ob.counts()["queued"] == 1
    twice = ob.enqueue_many([survey(2), survey(2), survey(1)])
    assert twice == [message_id_for("survey-inv:2")] * 2 + [first]
    assert ob.counts()["queued"] == 2


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (
            Message(
                key="k", channel="email", customer_id="c1", to="a@b.example", purpose="surveys"
            ),
            "no 'to'",
        ),
        (Message(key="k", channel="email", customer_id="c1"), "needs purpose"),
        (Message(key="k", channel="fax", to="x"), "unknown channel"),
        (Message(key="", channel="email", to="a@b.example"), "key"),
        (Message(key="k", channel="webhook", to="ftp://x"), "http"),
        (Message(key="k", channel="email"), "customer_id or a 'to'"),
        (Message(key="k", channel="webhook", to="https://x", payload={"t": object()}), "JSON"),
    ],
)
def test_bad_messages_are_refused_with_a_reason(
    store: EventStore, message: Message, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Outbox(store).enqueue(message)


def test_deliver_sends_each_message_once_with_a_message_id_from_its_key(
    store: EventStore,
) -> None:
    ob = Outbox(store)
    ob.enqueue_many([survey(n) for n in range(5)])
    with smtp_server() as (sink, port):
        report = ob.deliver_due(senders={"email": smtp(port)}, resolve=addresses)
        again = ob.deliver_due(senders={"email": smtp(port)}, resolve=addresses)
    assert (report.sent, again.attempted) == (5, 0)
    assert sorted(sink.ids()) == sorted(
        f"<{message_id_for(f'survey-inv:{n}')}@shop.example>" for n in range(5)
    )
    assert sink.received[0].rcpt == ["c0@people.example"]
    assert ob.counts()["sent"] == 5
    log = ob.deliveries(message_id_for("survey-inv:0"))
    assert [(d.attempt, d.status, d.response_code) for d in log] == [(1, "sent", 250)]


def test_nothing_personal_is_stored_in_the_outbox(store: EventStore) -> None:
    ob = Outbox(store)
    ob.enqueue_many([survey(n) for n in range(3)])
    sink = SmtpSink(refuse={"c1@people.example"})
    with smtp_server(sink) as (_, port):
        ob.deliver_due(senders={"email": smtp(port)}, resolve=addresses)
    stored = store.query("SELECT * FROM outbox_messages").to_pylist()
    stored += store.query("SELECT * FROM outbox_deliveries").to_pylist()
    text = repr(stored)
    assert "@people.example" not in text
    assert "550" in text  # the refusal is logged, scrubbed of the address
    assert ob.message(message_id_for("survey-inv:1")).state == "failed"  # type: ignore[union-attr]


def test_no_address_means_not_sent_with_the_reason_and_no_retry(store: EventStore) -> None:
    ob = Outbox(store)
    ob.enqueue(Message(key="k1", channel="email", customer_id="gone1", text="x", purpose="service"))
    with smtp_server() as (sink, port):
        report = ob.deliver_due(senders={"email": smtp(port)}, resolve=addresses)
        later = ob.deliver_due(
            datetime.now(UTC) + timedelta(days=2), senders={"email": smtp(port)}, resolve=addresses
        )
    stored = ob.message(message_id_for("k1"))
    assert stored is not None
    assert (report.not_sent, report.reasons, later.attempted) == (1, {"no_address": 1}, 0)
    assert (stored.state, stored.reason, sink.received) == ("not_sent", "no_address", [])


def test_directory_lookup_gives_the_consent_reason(store: EventStore) -> None:
    ob = Outbox(store)
    with Directory.open(":memory:") as directory, smtp_server() as (sink, port):
        directory.upsert("c1", email="jan@people.example")
        directory.upsert("c2", email="piet@people.example")
        directory.set_consent("c2", "surveys", True, source="checkout")
        ob.enqueue_many([survey(1), survey(2)])
        report = ob.deliver_due(senders={"email": smtp(port)}, lookup=directory.lookup)
    assert (report.sent, report.not_sent, report.reasons) == (1, 1, {"no_consent": 1})
    assert sink.received[0].rcpt == ["piet@people.example"]
    assert ob.message(message_id_for("survey-inv:1")).reason == "no_consent"  # type: ignore[union-attr]


def test_temporary_failures_back_off_then_deliver(store: EventStore) -> None:
    policy = RetryPolicy(max_attempts=5, base_seconds=10, max_seconds=100, rng=random.Random(1))
    ob = Outbox(store, policy=policy)
    ob.enqueue(survey(1))
    mid = message_id_for("survey-inv:1")
    now = datetime.now(UTC)
    with smtp_server(SmtpSink(fail_first=2)) as (sink, port):
        first = ob.deliver_due(now, senders={"email": smtp(port)}, resolve=addresses)
        waiting = ob.message(mid)
        assert waiting is not None and waiting.next_attempt_at is not None
        wait = (waiting.next_attempt_at - now).total_seconds()
        assert 5 <= wait <= 10  # attempt 1: base 10 s times a jitter in [0.5, 1]
        early = ob.deliver_due(
            now + timedelta(seconds=4), senders={"email": smtp(port)}, resolve=addresses
        )
        second = ob.deliver_due(
            now + timedelta(seconds=11), senders={"email": smtp(port)}, resolve=addresses
        )
        third = ob.deliver_due(
            now + timedelta(seconds=40), senders={"email": smtp(port)}, resolve=addresses
        )
    assert (first.retrying, early.attempted, second.retrying, third.sent) == (1, 0, 1, 1)
    assert len(sink.received) == 1
    log = ob.deliveries(mid)
    assert [(d.attempt, d.status, d.response_code) for d in log] == [
        (1, "retry", 451),
        (2, "retry", 451),
        (3, "sent", 250),
    ]


def test_back_off_doubles_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(base_seconds=5, max_seconds=60, rng=random.Random(7))
    delays = [policy.delay(n) for n in range(1, 8)]
    for n, d in enumerate(delays, start=1):
        full = min(60, 5 * 2 ** (n - 1))
        assert full / 2 <= d <= full
    assert policy.delay(1, retry_after=30) >= 30
    assert policy.delay(1, retry_after=10_000) <= 60


def test_after_max_attempts_the_message_fails(store: EventStore) -> None:
    ob = Outbox(store, policy=RetryPolicy(max_attempts=2, base_seconds=0, max_seconds=0))
    ob.enqueue(survey(1))
    with smtp_server(SmtpSink(fail_first=5)) as (_sink, port):
        reports = [
            ob.deliver_due(senders={"email": smtp(port)}, resolve=addresses) for _ in range(3)
        ]
    stored = ob.message(message_id_for("survey-inv:1"))
    assert stored is not None and (stored.state, stored.reason) == ("failed", "max_attempts")
    assert [r.attempted for r in reports] == [1, 1, 0]


def test_a_lost_connection_after_handing_over_holds_customer_mail(store: EventStore) -> None:
    class CutAfterData:
        def send(self, message: Message, message_id: str, address: str | None) -> SendResult:
            return SendResult(
                "ambiguous", None, "SMTPServerDisconnected: Connection unexpectedly closed"
            )

        def close(self) -> None:
            return None

    ob = Outbox(store)
    ob.enqueue(survey(1))
    ob.enqueue(Message(key="staff-1", channel="email", to="team@shop.example", text="x"))
    report = ob.deliver_due(senders={"email": CutAfterData()}, resolve=addresses)
    assert (report.unknown, report.retrying) == (1, 1)
    assert ob.message(message_id_for("survey-inv:1")).state == "unknown"  # type: ignore[union-attr]
    assert ob.message(message_id_for("staff-1")).state == "queued"  # type: ignore[union-attr]


def test_an_interrupted_run_is_settled_by_the_rule(store: EventStore) -> None:
    ob = Outbox(store)
    ob.enqueue(survey(1))
    ob.enqueue(Message(key="hook-1", channel="webhook", to="https://r.example/h", payload={"a": 1}))
    with store.transaction() as con:  # as a killed process leaves them
        con.execute(
            "UPDATE outbox_messages SET state = 'sending', attempts = 1, tries = 1,"
            " lease_owner = 'another-process', lease_until = now() + INTERVAL 5 MINUTE"
        ).fetchall()
    requeued, held = ob.recover()
    assert (requeued, held) == (1, 1)
    assert ob.message(message_id_for("survey-inv:1")).state == "unknown"  # type: ignore[union-attr]
    assert ob.message(message_id_for("hook-1")).state == "queued"  # type: ignore[union-attr]
    assert ob.recover() == (0, 0)


def test_replay_rules(store: EventStore) -> None:
    ob = Outbox(store)
    ob.enqueue(survey(1))
    ob.enqueue(survey(2))
    with smtp_server(SmtpSink(refuse={"c2@people.example"})) as (sink, port):
        ob.deliver_due(senders={"email": smtp(port)}, resolve=addresses)
        sent, failed = message_id_for("survey-inv:1"), message_id_for("survey-inv:2")
        with pytest.raises(OutboxError, match="twice"):
            ob.replay(sent)
        with pytest.raises(OutboxError, match="no message"):
            ob.replay("msg_nothing")
        assert ob.replay(failed).state == "queued"
        sink.refuse.clear()
        report = ob.deliver_due(senders={"email": smtp(port)}, resolve=addresses)
    assert report.sent == 1 and len(sink.received) == 2
    assert [d.attempt for d in ob.deliveries(failed)] == [1, 2]


def test_not_before_waits(store: EventStore) -> None:
    ob = Outbox(store)
    later = datetime.now(UTC) + timedelta(hours=1)
    ob.enqueue(survey(1, not_before=later))
    with smtp_server() as (_sink, port):
        assert ob.deliver_due(senders={"email": smtp(port)}, resolve=addresses).attempted == 0
        assert ob.deliver_due(later, senders={"email": smtp(port)}, resolve=addresses).sent == 1


def test_a_channel_without_sender_stays_queued(store: EventStore) -> None:
    ob = Outbox(store)
    ob.enqueue(survey(1))
    report = ob.deliver_due(senders={}, resolve=addresses)
    assert (report.skipped, ob.counts()["queued"]) == (1, 1)


def test_csv_links_hand_over_a_batch(store: EventStore, tmp_path: Path) -> None:
    ob = Outbox(store)
    for n in range(3):
        ob.enqueue(
            Message(
                key=f"l{n}",
                channel="csv",
                customer_id=f"c{n}",
                purpose="surveys",
                payload={"link": f"https://s.example/{n}"},
            )
        )
    out = tmp_path / "links.csv"
    report = ob.deliver_due(senders={"csv": CsvLinkSender(out)}, resolve=addresses)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert report.sent == 3 and len(lines) == 4
    assert lines[0].startswith("message_id,key,customer_id,address")
    assert "c1@people.example" in out.read_text(encoding="utf-8")


def test_scrub_removes_addresses_and_numbers() -> None:
    text = scrub("550 <jan@x.nl> unknown; call +31 6 1234 5678", None)
    assert "jan@x.nl" not in text and "1234" not in text
    assert len(scrub("x" * 1000)) == 300


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_html_and_extra_headers(store: EventStore) -> None:
    ob = Outbox(store)
    ob.enqueue(
        survey(
            1,
            html="<p>Geef ons een <b>cijfer</b></p>",
            headers={"List-Unsubscribe": "<https://shop.example/u/u1.abc>"},
        )
    )
    with smtp_server(login=("cx", "s3cret-pass")) as (sink, port):
        wrong = SmtpSender(
            "127.0.0.1", port, FROM, security="none", user="cx", password="nope", timeout=2
        )
        refused = ob.deliver_due(senders={"email": wrong}, resolve=addresses)
        assert (refused.retrying, sink.received) == (1, [])  # a login failure is retried
        right = SmtpSender(
            "127.0.0.1", port, FROM, security="none", user="cx", password="s3cret-pass"
        )
        later = datetime.now(UTC) + timedelta(minutes=5)
        assert ob.deliver_due(later, senders={"email": right}, resolve=addresses).sent == 1
    body = sink.received[0].body.decode()
    assert "List-Unsubscribe: <https://shop.example/u/u1.abc>" in body
    assert "multipart/alternative" in body and "<b>cijfer</b>" in body
    assert "s3cret" not in repr(store.query("SELECT * FROM outbox_deliveries").to_pylist())


def test_recovery_reads_the_attempt_journal(store: EventStore) -> None:
    ob = Outbox(store, batch=3)
    for n in range(3):
        ob.enqueue(survey(n))
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)
    ob.journal.begin_batch()
    with store.transaction() as con:
        claimed = ob._claim_many(con, ob._rows("true ORDER BY seq", []), at)
    first, second, third = (c.message_id for c in claimed)
    ob.journal.start(first, 1, at)
    ob.journal.done(first, 1, SendResult("sent", 250), at + timedelta(seconds=1))
    ob.journal.start(second, 1, at + timedelta(seconds=1))  # under way when it was killed
    ob.journal.end_batch()
    with store.transaction() as con:  # as a killed process leaves them
        con.execute("UPDATE outbox_messages SET lease_owner = 'another-process'").fetchall()
    assert ob.recover(at + timedelta(minutes=1)) == (1, 1)
    got = {m: ob.message(m) for m in (first, second, third)}
    assert got[first] is not None and got[first].state == "sent"
    assert got[first].sent_at == at + timedelta(seconds=1)
    assert got[second] is not None and (got[second].state, got[second].reason) == (
        "unknown",
        "interrupted",
    )
    assert got[third] is not None and (got[third].state, got[third].attempts) == ("queued", 0)
    assert [d.status for d in ob.deliveries(first)] == ["sent"]
    assert ob.deliveries(third) == []
    assert ob.journal.read() == {}  # nothing is sending any more: emptied


def test_a_store_in_memory_never_inherits_a_freed_stores_journal() -> None:
    """A store in memory's journal belongs to that store object. It was keyed by ``id()``;
    a later store that got a freed one's id found its journal ("used", with its lines) and
    requeued a doubtful send instead of holding it (a flake of the CI run)."""
    import gc

    from klantreis.outbox.journal import Journal

    class Key:
        pass

    first = Key()
    old = Journal(":memory:", memory_key=first)
    old.begin_batch()
    old.start("msg_x", 1, datetime.now(UTC))
    old.end_batch()
    freed = id(first)
    del first, old
    gc.collect()
    later = [Key() for _ in range(2000)]  # CPython hands a freed object's memory out again
    reused = [k for k in later if id(k) == freed]
    for key in reused or later[:1]:
        fresh = Journal(":memory:", memory_key=key)
        assert not fresh.exists and fresh.read() == {}
    same = Journal(":memory:", memory_key=later[0])
    Journal(":memory:", memory_key=later[0]).begin_batch()
    assert same.exists  # two outboxes of one store share its journal
