"""Webhooks out: ``response.finished`` (and a test message) to the subscribed receivers.

Subscriptions are a small table (``webhook_subscriptions``: url, signing secret, the event
types, active), managed from the surveys' webhooks page or :func:`add_subscription`.

Every message goes into the project's outbox (``klantreis.outbox``: retries with back-off,
a delivery log, replay) on channel ``webhook``, to the subscription's URL, under the message
key ``<event type>:<response id>:<subscription id>``. The outbox drops a key it already holds,
so a response yields exactly one ``response.finished`` per subscription whatever the entry
point (form, widget, API, import) and however often finishing is repeated. The outbox's
``webhook-id`` header is derived from the key (``message_id_for``), so a receiver can drop a
redelivery.

Signing follows Standard Webhooks: headers ``webhook-id``, ``webhook-timestamp`` (unix
seconds) and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, the
key being the base64 part of a ``whsec_...`` secret. Each subscription keeps its own secret
(shown once to the admin who added it): the outbox's webhook sender signs a message to a
subscription's URL with that secret (:func:`secret_for`), everything else with the global
``webhook_secret``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from klantreis.outbox import Message, Outbox, message_id_for
from klantreis.store.duckdb_store import EventStore

__all__ = [
    "EVENT_TYPES",
    "OutboxWebhookQueue",
    "StandardWebhookSigner",
    "Subscription",
    "WebhookQueue",
    "add_subscription",
    "ensure_schema",
    "list_subscriptions",
    "publish",
    "remove_subscription",
    "sample_payload",
    "secret_for",
    "send_test",
]

log = logging.getLogger(__name__)

EVENT_TYPES = ("response.finished",)


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    url: str
    secret: str
    events: tuple[str, ...]
    active: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Without the secret."""
        return {
            "subscription_id": self.subscription_id,
            "url": self.url,
            "events": list(self.events),
            "active": self.active,
        }


class WebhookQueue(Protocol):
    """Where webhook messages wait for delivery; ``enqueue`` returns False for a key it
    already holds (nothing is added)."""

    def enqueue(
        self, key: str, subscription: Subscription, event_type: str, payload: Mapping[str, Any]
    ) -> bool: ...


def ensure_schema(store: EventStore) -> None:
    with store.transaction() as con:
        con.execute(
            """CREATE TABLE IF NOT EXISTS webhook_subscriptions (
                subscription_id VARCHAR PRIMARY KEY,
                url VARCHAR NOT NULL,
                secret VARCHAR NOT NULL,
                events VARCHAR NOT NULL,
                active BOOLEAN NOT NULL DEFAULT true,
                created_at TIMESTAMPTZ NOT NULL
            )"""
        ).fetchall()


def _check_url(url: str) -> str:
    url = url.strip()
    if not url.startswith(("https://", "http://")) or len(url) > 2000 or " " in url:
        raise ValueError("the address must start with https:// (or http://) and have no spaces")
    return url


def add_subscription(
    store: EventStore, url: str, events: tuple[str, ...] = EVENT_TYPES, secret: str = ""
) -> Subscription:
    """A new subscription; a secret (``whsec_`` + base64 of 24 random bytes) is made when not
    given. Raises ValueError for a bad address or an unknown event type."""
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown or not events:
        raise ValueError(f"unknown event type(s): {', '.join(unknown) or '(none)'}")
    secret = secret or "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    StandardWebhookSigner(secret)  # checks its form
    sub = Subscription("wh_" + secrets.token_hex(6), _check_url(url), secret, tuple(events))
    ensure_schema(store)
    with store.transaction() as con:
        con.execute(
            "INSERT INTO webhook_subscriptions VALUES (?, ?, ?, ?, true, ?)",
            [sub.subscription_id, sub.url, secret, ",".join(events), datetime.now(UTC)],
        ).fetchall()
    return sub


def remove_subscription(store: EventStore, subscription_id: str) -> bool:
    ensure_schema(store)
    with store.transaction() as con:
        rows = con.execute(
            "DELETE FROM webhook_subscriptions WHERE subscription_id = ? RETURNING 1",
            [subscription_id],
        ).fetchall()
    return bool(rows)


def list_subscriptions(store: EventStore, event_type: str | None = None) -> list[Subscription]:
    ensure_schema(store)
    rows = store.query(
        "SELECT subscription_id, url, secret, events, active FROM webhook_subscriptions"
        " ORDER BY created_at, subscription_id"
    ).to_pylist()
    subs = [
        Subscription(
            r["subscription_id"], r["url"], r["secret"], tuple(r["events"].split(",")), r["active"]
        )
        for r in rows
    ]
    return [s for s in subs if event_type is None or (s.active and event_type in s.events)]


class OutboxWebhookQueue:
    """The queue is the outbox: one ``webhook`` message per key, to the subscription's URL."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def enqueue(
        self, key: str, subscription: Subscription, event_type: str, payload: Mapping[str, Any]
    ) -> bool:
        new = self.outbox.message(message_id_for(key)) is None
        self.outbox.enqueue(
            Message(key=key, channel="webhook", to=subscription.url, payload=dict(payload))
        )
        return new


def secret_for(store: EventStore) -> Callable[[str], str | None]:
    """The signing secret of the (newest active) subscription at a URL, for the outbox's
    webhook sender; None for any other URL."""

    def find(url: str) -> str | None:
        subs = [s for s in list_subscriptions(store) if s.active and s.url == url]
        return subs[-1].secret if subs else None

    return find


def publish(
    store: EventStore,
    event_type: str,
    object_id: str,
    data: Mapping[str, Any],
    queue: WebhookQueue | None = None,
    at: datetime | None = None,
) -> int:
    """Queue ``event_type`` about ``object_id`` (e.g. a response id) for every active
    subscription to it; returns how many messages were new (0 when published before)."""
    subs = list_subscriptions(store, event_type)
    if not subs:
        return 0
    queue = queue or OutboxWebhookQueue(Outbox(store))
    payload = {
        "type": event_type,
        "timestamp": (at or datetime.now(UTC)).isoformat(),
        "data": dict(data),
    }
    new = 0
    for sub in subs:
        key = f"{event_type}:{object_id}:{sub.subscription_id}"
        new += queue.enqueue(key, sub, event_type, payload)
    return new


class StandardWebhookSigner:
    """Signs as Standard Webhooks say (see the module notes)."""

    def __init__(self, secret: str) -> None:
        body = secret.removeprefix("whsec_")
        try:
            self._key = base64.b64decode(body, validate=True)
        except ValueError:
            raise ValueError("a webhook secret is 'whsec_' followed by base64") from None
        if len(self._key) < 16:
            raise ValueError("a webhook secret needs at least 16 bytes")

    def signature(self, message_id: str, timestamp: int, body: bytes) -> str:
        signed = f"{message_id}.{timestamp}.".encode() + body
        return (
            "v1," + base64.b64encode(hmac.new(self._key, signed, hashlib.sha256).digest()).decode()
        )

    def headers(self, message_id: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
        stamp = int((now or datetime.now(UTC)).timestamp())
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": self.signature(message_id, stamp, body),
            "content-type": "application/json",
        }

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether one of the ``v1`` signatures in ``headers`` is ours (constant time)."""
        try:
            expected = self.signature(
                headers["webhook-id"], int(headers["webhook-timestamp"]), body
            )
        except (KeyError, ValueError):
            return False
        given = headers.get("webhook-signature", "").split()
        return any(hmac.compare_digest(g, expected) for g in given)


@dataclass(frozen=True)
class Delivery:
    message_key: str
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _post(
    sub: Subscription, key: str, body: bytes, timeout: float, now: datetime | None = None
) -> Delivery:
    headers = StandardWebhookSigner(sub.secret).headers(key, body, now)
    request = urllib.request.Request(sub.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return Delivery(key, int(answer.status), None)
    except urllib.error.HTTPError as exc:
        return Delivery(key, int(exc.code), f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        return Delivery(key, None, str(getattr(exc, "reason", exc))[:200])


def sample_payload(at: datetime | None = None) -> dict[str, Any]:
    """A realistic ``response.finished`` payload with made-up ids (the test button's)."""
    stamp = (at or datetime.now(UTC)).isoformat()
    return {
        "type": "response.finished",
        "timestamp": stamp,
        "test": True,
        "data": {
            "response_id": "resp_test",
            "invitation_id": "inv_test",
            "survey_id": "na_bezorging",
            "customer_id": "C00000",
            "journey_id": "O-test",
            "touchpoint": "bezorging",
            "owner": "carrier:test",
            "origin": "system",
            "via": "form",
            "lang": "nl",
            "finished_at": stamp,
            "answers": {"nps": 9, "waarom": "Snel bezorgd."},
        },
    }


def send_test(sub: Subscription, timeout: float = 10.0) -> Delivery:
    """Send the sample payload to ``sub`` now (signed; not queued, not retried)."""
    key = "test:" + secrets.token_hex(8)
    body = json.dumps(sample_payload(), ensure_ascii=False, sort_keys=True).encode()
    return _post(sub, key, body, timeout)
