"""One persisted outbox for every message that leaves klantreis (e-mail via SMTP, webhooks,
Web Push, CSV hand-overs): retries with back-off, a delivery log, replay; at-least-once to a
receiver and never twice to a customer. Knows nothing of surveys or cases.

Its tables live in the event store (:func:`ensure_schema`); nothing personal is stored in
them: a message to a customer holds the pseudonymous ``customer_id`` and its address is
looked up at send time. See docs/outbox.md.
"""

from klantreis.outbox.box import Lookup, Outbox, OutboxError, Resolve, doubtful_state
from klantreis.outbox.configured import senders_from_settings
from klantreis.outbox.csvlinks import CsvLinkSender
from klantreis.outbox.message import (
    CHANNELS,
    PURPOSES,
    STATES,
    Delivery,
    DeliveryReport,
    Message,
    SendResult,
    StoredMessage,
    message_id_for,
)
from klantreis.outbox.retry import RetryPolicy
from klantreis.outbox.schema import ensure_schema
from klantreis.outbox.sender import Sender, scrub
from klantreis.outbox.smtp import SmtpSender
from klantreis.outbox.webhooks import WebhookSender, WebhookVerificationError

__all__ = [
    "CHANNELS",
    "PURPOSES",
    "STATES",
    "CsvLinkSender",
    "Delivery",
    "DeliveryReport",
    "Lookup",
    "Message",
    "Outbox",
    "OutboxError",
    "Resolve",
    "RetryPolicy",
    "SendResult",
    "Sender",
    "SmtpSender",
    "StoredMessage",
    "WebhookSender",
    "WebhookVerificationError",
    "doubtful_state",
    "ensure_schema",
    "message_id_for",
    "scrub",
    "senders_from_settings",
]
