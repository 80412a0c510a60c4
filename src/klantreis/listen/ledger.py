"""The invitations ledger: every invitation klantreis planned, sent, held back or had answered.

One row per (survey, trigger event): the invitation id is derived from them, so planning twice
from the same log adds nothing. A row that was not sent keeps its reason code, so "why was this
customer not asked?" is one query. The ledger holds ids only (the pseudonymous customer id, the
journey, the trigger event) — contact details stay in ``klantreis.directory``.

Statuses: ``planned`` (waiting for its send time), ``queued`` (handed to the outbox),
``sent`` (the outbox sent it: ``sent_at``), ``failed`` (the outbox could not send it: see
``reason``), ``unknown`` (a doubtful send the outbox holds for a person), ``suppressed`` (a
contact rule or eligibility said no: see ``reason``), ``answered``, ``expired``. The outbox's
outcome is copied back by :func:`klantreis.listen.delivery.sync_from_outbox` (time in
``outcome_at``). ``origin`` says whether the system sampled the customer or staff handed the
invitation out (staff invitations are kept apart in response-rate analyses).

Next to it, ``survey_contacts`` holds every message handed to the outbox: the invitation
itself (``n = 0``) and its reminders (``n = 1, 2, ...``), with the customer and the time. The
contact rules read a customer's history from it (one indexed look-up), and a test checks every
rule against it after the fact. ``handed_at`` is set once the outbox has the message and its
event is in the log: a row without it is work a killed run left, done again on the next run
(the outbox is idempotent on the message key, the log on the event id).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Literal

from klantreis.store.duckdb_store import EventStore

__all__ = [
    "STATUSES",
    "Contact",
    "Invitation",
    "contacts_of",
    "ensure_schema",
    "get",
    "insert_new",
    "invitation_id",
    "set_status",
]

Status = Literal[
    "planned", "queued", "sent", "failed", "unknown", "suppressed", "answered", "expired"
]
STATUSES: tuple[str, ...] = (
    "planned",
    "queued",
    "sent",
    "failed",
    "unknown",
    "suppressed",
    "answered",
    "expired",
)


@dataclass(frozen=True)
class Invitation:
    invitation_id: str
    survey_id: str
    customer_id: str
    journey_id: str | None
    #: The event that triggered it (``None`` for a staff invitation).
    trigger_event_id: str | None
    touchpoint: str | None
    owner: str | None
    channel: str | None
    #: When it should go out (trigger time + delay), UTC.
    send_at: datetime
    status: str = "planned"
    #: Why it was not sent (a code such as ``cooldown``, ``cap``, ``no_consent``), else None.
    reason: str | None = None
    origin: Literal["system", "staff"] = "system"
    lang: str | None = None
    planned_at: datetime | None = None
    sent_at: datetime | None = None
    expires_at: datetime | None = None
    answered_at: datetime | None = None
    reminders: int = 0
    #: When it was handed to the outbox (status ``queued``), UTC.
    queued_at: datetime | None = None
    #: When the last reminder was handed to the outbox, UTC.
    reminded_at: datetime | None = None
    #: When the outbox reached its outcome (sent, failed, held as unknown), UTC.
    outcome_at: datetime | None = None

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = [f.name for f in fields(Invitation)]


@dataclass(frozen=True)
class Contact:
    """One message to a customer: an invitation (``n = 0``) or its ``n``-th reminder."""

    invitation_id: str
    survey_id: str
    n: int
    at: datetime

    @property
    def is_reminder(self) -> bool:
        return self.n > 0


def invitation_id(survey_id: str, trigger_event_id: str) -> str:
    """A stable id for the invitation of ``survey_id`` triggered by ``trigger_event_id``."""
    digest = hashlib.sha256(f"{survey_id}\x1f{trigger_event_id}".encode()).hexdigest()
    return "inv_" + digest[:24]


def ensure_schema(store: EventStore) -> None:
    with store.transaction() as con:
        con.execute(
            """CREATE TABLE IF NOT EXISTS survey_invitations (
                invitation_id VARCHAR PRIMARY KEY,
                survey_id VARCHAR NOT NULL,
                customer_id VARCHAR NOT NULL,
                journey_id VARCHAR,
                trigger_event_id VARCHAR,
                touchpoint VARCHAR,
                owner VARCHAR,
                channel VARCHAR,
                send_at TIMESTAMPTZ NOT NULL,
                status VARCHAR NOT NULL,
                reason VARCHAR,
                origin VARCHAR NOT NULL DEFAULT 'system',
                lang VARCHAR,
                planned_at TIMESTAMPTZ,
                sent_at TIMESTAMPTZ,
                expires_at TIMESTAMPTZ,
                answered_at TIMESTAMPTZ,
                reminders INTEGER NOT NULL DEFAULT 0
            )"""
        ).fetchall()
        for column in (
            "queued_at TIMESTAMPTZ",
            "reminded_at TIMESTAMPTZ",
            "outcome_at TIMESTAMPTZ",
        ):
            con.execute(
                f"ALTER TABLE survey_invitations ADD COLUMN IF NOT EXISTS {column}"
            ).fetchall()
        # an event (survey.suppressed) still to be written for this row (see listen.run)
        con.execute(
            "ALTER TABLE survey_invitations ADD COLUMN IF NOT EXISTS"
            " event_pending BOOLEAN DEFAULT false"
        ).fetchall()
        con.execute(
            "CREATE INDEX IF NOT EXISTS survey_invitations_customer"
            " ON survey_invitations (customer_id)"
        ).fetchall()
        con.execute(
            """CREATE TABLE IF NOT EXISTS survey_contacts (
                invitation_id VARCHAR NOT NULL,
                n INTEGER NOT NULL,
                customer_id VARCHAR NOT NULL,
                survey_id VARCHAR NOT NULL,
                channel VARCHAR,
                contacted_at TIMESTAMPTZ NOT NULL,
                handed_at TIMESTAMPTZ,
                PRIMARY KEY (invitation_id, n)
            )"""
        ).fetchall()
        con.execute(
            "CREATE INDEX IF NOT EXISTS survey_contacts_customer ON survey_contacts (customer_id)"
        ).fetchall()


def insert_new(store: EventStore, invitations: Sequence[Invitation]) -> int:
    """Insert the invitations whose id is not in the ledger yet; returns how many were new."""
    if not invitations:
        return 0
    cols = ", ".join(_COLUMNS)
    marks = ", ".join("?" for _ in _COLUMNS)
    with store.transaction() as con:
        before = con.execute("SELECT count(*) FROM survey_invitations").fetchall()[0][0]
        con.executemany(
            f"INSERT INTO survey_invitations ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING",
            [[getattr(inv, c) for c in _COLUMNS] for inv in invitations],
        )
        after = con.execute("SELECT count(*) FROM survey_invitations").fetchall()[0][0]
    return int(after - before)


def get(store: EventStore, invitation_id: str) -> Invitation | None:
    rows = store.query(
        f"SELECT {', '.join(_COLUMNS)} FROM survey_invitations WHERE invitation_id = ?",
        [invitation_id],
    ).to_pylist()
    return Invitation(**rows[0]) if rows else None


def set_status(
    store: EventStore,
    ids: Iterable[str],
    status: Status,
    *,
    reason: str | None = None,
    at: datetime | None = None,
) -> None:
    """Move invitations to ``status`` (``queued``/``sent``/``answered`` also stamp their
    time)."""
    stamp = {"queued": "queued_at", "sent": "sent_at", "answered": "answered_at"}.get(status)
    extra = f", {stamp} = ?" if stamp else ""
    with store.transaction() as con:
        for inv_id in ids:
            params: list[Any] = [status, reason]
            if stamp:
                params.append(at)
            con.execute(
                f"UPDATE survey_invitations SET status = ?, reason = ?{extra}"
                " WHERE invitation_id = ?",
                [*params, inv_id],
            ).fetchall()


def contacts_of(con: Any, customer_id: str, since: datetime | None = None) -> list[Contact]:
    """The messages handed out to ``customer_id`` (from ``since``), oldest first: one
    look-up on the ``survey_contacts`` index. ``con`` is a store or a DuckDB cursor."""
    sql = (
        "SELECT invitation_id, survey_id, n, contacted_at AS at FROM survey_contacts"
        " WHERE customer_id = ?"
    )
    params: list[Any] = [customer_id]
    if since is not None:
        sql += " AND contacted_at >= ?"
        params.append(since)
    if isinstance(con, EventStore):
        rows = con.query(sql + " ORDER BY contacted_at, n", params).to_pylist()
        return [Contact(**r) for r in rows]
    return [Contact(*r) for r in con.execute(sql + " ORDER BY contacted_at, n", params).fetchall()]
