"""What the outbox holds: a :class:`Message` to send, its stored form and the results.

A message to a customer names only the pseudonymous ``customer_id`` (``to`` stays ``None``):
the address is looked up when it is sent, so the outbox never stores one. A message to a
receiver or to staff names its ``to`` (a webhook URL, a staff e-mail address).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "CHANNELS",
    "OUTCOMES",
    "PURPOSES",
    "STATES",
    "Delivery",
    "DeliveryReport",
    "Message",
    "SendResult",
    "StoredMessage",
    "message_id_for",
]

CHANNELS = ("email", "webhook", "push", "csv")
PURPOSES = ("surveys", "service", "system")
#: ``unknown``: the send may or may not have reached the customer (an interrupted send);
#: held for a person to decide (:meth:`~klantreis.outbox.Outbox.replay` or leave it).
STATES = ("queued", "sending", "sent", "failed", "not_sent", "unknown")
#: What a sender reports: ``ambiguous`` means the message may have been delivered.
OUTCOMES = ("sent", "retry", "failed", "ambiguous")
MAX_KEY_CHARS = 200


def message_id_for(key: str) -> str:
    """The message id derived from its key (``msg_`` + 24 base32 characters of SHA-256):
    the same key always gives the same id, so it doubles as the SMTP Message-ID and the
    ``webhook-id`` and a second send of the same message is recognisable downstream.

    >>> message_id_for("survey-inv:123")
    'msg_ysa2j67bdbbcapxekcdeiqip'
    """
    digest = hashlib.sha256(key.encode("utf-8")).digest()[:15]
    return "msg_" + base64.b32encode(digest).decode("ascii").lower()


@dataclass(frozen=True)
class Message:
    """A message to enqueue. ``key`` makes enqueueing idempotent (one message per key)."""

    key: str
    channel: str
    customer_id: str | None = None
    to: str | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    payload: Mapping[str, Any] | None = None
    not_before: datetime | None = None
    purpose: str = "system"
    #: Extra e-mail headers (e.g. ``List-Unsubscribe``); no personal data.
    headers: Mapping[str, str] | None = None

    def check(self) -> None:
        """``ValueError`` saying what is wrong with this message."""
        if not self.key or not self.key.strip() or len(self.key) > MAX_KEY_CHARS:
            raise ValueError(f"message key must be 1-{MAX_KEY_CHARS} characters")
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}: use one of {', '.join(CHANNELS)}")
        if self.purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {self.purpose!r}: use one of {', '.join(PURPOSES)}")
        if self.customer_id is not None:
            if self.to is not None:
                raise ValueError(
                    "a message to a customer has no 'to': the address is looked up at send"
                    " time, so the outbox stores none"
                )
            if self.purpose == "system":
                raise ValueError("a message to a customer needs purpose 'surveys' or 'service'")
        elif not self.to:
            raise ValueError("a message needs a customer_id or a 'to'")
        elif self.channel == "webhook" and not self.to.startswith(("https://", "http://")):
            raise ValueError("a webhook's 'to' must be an http(s) URL")
        elif self.channel == "push" and not self.to.startswith(("https://", "http://")):
            raise ValueError("a push message's 'to' must be its subscription's http(s) endpoint")
        elif self.channel == "email" and "@" not in self.to:
            raise ValueError("an e-mail's 'to' must be an e-mail address")
        if self.payload is not None:
            try:
                json.dumps(dict(self.payload))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"payload is not JSON: {exc}") from None
        if self.not_before is not None and self.not_before.tzinfo is None:
            raise ValueError("not_before needs a time zone")

    @property
    def message_id(self) -> str:
        return message_id_for(self.key)


@dataclass(frozen=True)
class StoredMessage:
    """A message as the outbox keeps it, with its state."""

    message_id: str
    message: Message
    state: str
    attempts: int
    tries: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        m = self.message
        return {
            "id": self.message_id,
            "key": m.key,
            "channel": m.channel,
            "customer_id": m.customer_id,
            "to": m.to,
            "purpose": m.purpose,
            "state": self.state,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "next_attempt_at": self.next_attempt_at,
            "sent_at": self.sent_at,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SendResult:
    """What one attempt gave. ``error`` holds no address (senders scrub it)."""

    outcome: str
    code: int | None = None
    error: str | None = None
    #: The receiver asked to wait this long (``Retry-After``) before the next attempt.
    retry_after: float | None = None


@dataclass(frozen=True)
class Delivery:
    """One attempt in the delivery log (nothing personal: no address, no content)."""

    message_id: str
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    response_code: int | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "attempt": self.attempt,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "response_code": self.response_code,
            "error": self.error,
        }


@dataclass
class DeliveryReport:
    """What one :meth:`~klantreis.outbox.Outbox.deliver_due` run did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    not_sent: int = 0
    unknown: int = 0
    #: due messages left queued because no sender was given for their channel
    skipped: int = 0
    #: interrupted sends found at the start: put back in the queue / held as unknown
    requeued: int = 0
    held: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed + self.not_sent + self.unknown

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "retrying": self.retrying,
            "failed": self.failed,
            "not_sent": self.not_sent,
            "unknown": self.unknown,
            "skipped": self.skipped,
            "requeued": self.requeued,
            "held": self.held,
            "reasons": dict(self.reasons),
        }
