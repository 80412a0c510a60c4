"""Webhooks signed per Standard Webhooks, sent to a real HTTP receiver that checks the
signature with its own code; retries until the receiver takes it; 410 stops."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.outbox.servers import Receiver, independent_signature, webhook_receiver

from klantreis.outbox import Message, Outbox, RetryPolicy, WebhookSender, message_id_for
from klantreis.outbox.webhooks import WebhookVerificationError, new_secret, sign, verify
from klantreis.store import EventStore

SECRET = new_secret()


@pytest.fixture
def store() -> Iterator[EventStore]:
    with EventStore() as s:
        yield s


def test_the_specifications_test_vector() -> None:
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    assert (
        independent_signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body)
        == expected
    )


def test_verify_refuses_tampering_and_old_time_stamps() -> None:
    body = b'{"a":1}'
    stamp = int(time.time())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(stamp)}
    good = {**headers, "webhook-signature": "v1,bogus " + sign(SECRET, "msg_1", stamp, body)}
    verify(SECRET, good, body)
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(SECRET, good, b'{"a":2}')
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(SECRET, good, body, now=stamp + 301)
    with pytest.raises(WebhookVerificationError, match="headers"):
        verify(SECRET, headers, body)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="24 bytes"):
        WebhookSender("whsec_c2hvcnQ=")
    with pytest.raises(ValueError, match="base64"):
        WebhookSender("whsec_not base64!")


def test_delivery_to_a_receiver_that_checks_the_signature(store: EventStore) -> None:
    ob = Outbox(store)
    receiver = Receiver(SECRET)
    with webhook_receiver(receiver) as url:
        ob.enqueue(
            Message(
                key="resp:1",
                channel="webhook",
                to=url,
                payload={"type": "response.finished", "data": {"id": "r1"}},
            )
        )
        report = ob.deliver_due(senders={"webhook": WebhookSender(SECRET, timeout=5)})
    assert report.sent == 1 and receiver.refused == []
    msg_id, body = receiver.accepted[0]
    assert msg_id == message_id_for("resp:1")
    assert json.loads(body) == {"type": "response.finished", "data": {"id": "r1"}}
    assert ob.deliveries(msg_id)[0].response_code == 204


def test_a_receiver_that_fails_twice_gets_it_on_the_third_try(store: EventStore) -> None:
    ob = Outbox(store, policy=RetryPolicy(base_seconds=2, max_seconds=60))
    receiver = Receiver(SECRET, fail_first=2)
    now = datetime.now(UTC)
    with webhook_receiver(receiver) as url:
        ob.enqueue(Message(key="resp:2", channel="webhook", to=url, payload={"n": 2}))
        sender = WebhookSender(SECRET, timeout=5)
        reports = [
            ob.deliver_due(now + timedelta(seconds=s), senders={"webhook": sender})
            for s in (0, 61, 122)
        ]
    assert [(r.retrying, r.sent) for r in reports] == [(1, 0), (1, 0), (0, 1)]
    assert receiver.calls == 3 and len(receiver.accepted) == 1
    mid = message_id_for("resp:2")
    log = ob.deliveries(mid)
    assert [(d.status, d.response_code) for d in log] == [
        ("retry", 503),
        ("retry", 503),
        ("sent", 204),
    ]
    # Retry-After: 1 s is shorter than our own back-off, which wins
    assert all(d.error in (None, "HTTP 503") for d in log)


def test_gone_stops_and_a_customer_message_goes_to_the_provider(store: EventStore) -> None:
    ob = Outbox(store)
    gone = Receiver(SECRET, fail_first=1, status_on_failure=410)
    provider = Receiver(SECRET)
    with webhook_receiver(gone) as gone_url, webhook_receiver(provider) as provider_url:
        ob.enqueue(Message(key="g", channel="webhook", to=gone_url, payload={}))
        ob.enqueue(
            Message(
                key="sms",
                channel="webhook",
                customer_id="c9",
                purpose="service",
                text="Uw pakket komt morgen",
            )
        )
        sender = WebhookSender(SECRET, url=provider_url, timeout=5)
        report = ob.deliver_due(senders={"webhook": sender}, resolve=lambda c, ch: "+31612345678")
    assert (report.failed, report.sent) == (1, 1)
    assert json.loads(provider.accepted[0][1]) == {
        "text": "Uw pakket komt morgen",
        "to": "+31612345678",
    }
    assert "+3161" not in repr(store.query("SELECT * FROM outbox_messages").to_pylist())


def test_an_unreachable_receiver_is_retried(store: EventStore) -> None:
    ob = Outbox(store)
    ob.enqueue(Message(key="x", channel="webhook", to="http://127.0.0.1:9/none", payload={}))
    report = ob.deliver_due(senders={"webhook": WebhookSender(SECRET, timeout=2)})
    assert report.retrying == 1
    assert ob.message(message_id_for("x")).state == "queued"  # type: ignore[union-attr]
