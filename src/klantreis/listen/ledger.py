"""The invitations ledger: every invitation klantreis planned, sent, held back or had answered.

One row per (survey, trigger event): the invitation id is derived from them, so planning twice
from the same log adds nothing. A row that was not sent keeps its reason code, so "why was this
customer not asked?" is one query. The ledger holds ids only (the pseudonymous customer id, the
journey, the trigger event) — contact details stay in ``klantreis.directory``.

Statuses: ``planned`` (waiting for its send time), ``queued`` (handed to the outbox),
``sent``, ``suppressed`` (a contact rule or eligibility said no: see ``reason``), ``answered``,
``expired``. ``origin`` says whether the system sampled the customer or staff handed the
invitation out (staff invitations are kept apart in response-rate analyses).
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
    "Invitation",
    "ensure_schema",
    "get",
    "insert_new",
    "invitation_id",
    "set_status",
]

Status = Literal["planned", "queued", "sent", "suppressed", "answered", "expired"]
STATUSES: tuple[str, ...] = ("planned", "queued", "sent", "suppressed", "answered", "expired")


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

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = [f.name for f in fields(Invitation)]


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
        con.execute(
            "CREATE INDEX IF NOT EXISTS survey_invitations_customer"
            " ON survey_invitations (customer_id)"
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
    """Move invitations to ``status`` (``sent``/``answered`` also stamp their time)."""
    stamp = {"sent": "sent_at", "answered": "answered_at"}.get(status)
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
