"""The outbox's tables in the event store (created by :func:`ensure_schema`, idempotent).

``outbox_messages``: one row per message key, with its state. A message to a customer holds
the pseudonymous ``customer_id`` and no address. ``outbox_deliveries``: one row per attempt
(time, status, response code, a scrubbed error) and nothing personal.
"""

from __future__ import annotations

from klantreis.store import EventStore

__all__ = ["ensure_schema"]

_TABLES = (
    "CREATE SEQUENCE IF NOT EXISTS outbox_seq",
    """CREATE TABLE IF NOT EXISTS outbox_messages (
        message_id VARCHAR PRIMARY KEY, message_key VARCHAR NOT NULL,
        channel VARCHAR NOT NULL, customer_id VARCHAR, recipient VARCHAR,
        purpose VARCHAR NOT NULL, subject VARCHAR, body_text VARCHAR, body_html VARCHAR,
        payload VARCHAR, headers VARCHAR, not_before TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL, state VARCHAR NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, tries INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TIMESTAMPTZ, lease_owner VARCHAR, lease_until TIMESTAMPTZ,
        sent_at TIMESTAMPTZ, reason VARCHAR, updated_at TIMESTAMPTZ NOT NULL,
        seq BIGINT NOT NULL DEFAULT nextval('outbox_seq'))""",
    """CREATE TABLE IF NOT EXISTS outbox_deliveries (
        message_id VARCHAR NOT NULL, attempt INTEGER NOT NULL,
        started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ, status VARCHAR NOT NULL,
        response_code INTEGER, error VARCHAR)""",
)


def ensure_schema(store: EventStore) -> None:
    """Create the outbox tables when missing."""
    with store.transaction() as con:
        for ddl in _TABLES:
            con.execute(ddl).fetchall()
