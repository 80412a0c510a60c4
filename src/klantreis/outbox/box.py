"""The outbox: enqueue once per key, deliver what is due, log every attempt, replay.

Delivery rules (docs/outbox.md):

- Due messages are **claimed** in batches, in one transaction (state ``sending``, a lease
  with this process's token) before anything is sent, and their results are recorded in a
  second one per batch. Between the two, the attempt journal (:mod:`klantreis.outbox.journal`)
  holds a durable ``start`` line written before each send and a ``done`` line with its
  result after it, so a kill mid-batch loses no result, and a message claimed but never
  started goes back to the queue. A sender with no effect outside the process
  (``external = False``, the demo's) gets no journal lines: after a kill its claimed
  messages go back to the queue, and sending them again harms no one.
- A message to a customer gets its address at send time from ``resolve(customer_id,
  channel)`` or ``lookup(customer_id, purpose, channel)``; no address means ``not_sent``
  with the reason, never retried.
- A failure that is known to be before hand-over is retried with exponential back-off and
  jitter until ``max_attempts``; a permanent refusal (SMTP 5xx, HTTP 410) fails at once.
- **Doubtful sends** — an interrupted run that left a message ``sending`` with a ``start``
  but no ``done`` in the journal, or a sender that lost the connection after handing the
  message over — are **held as ``unknown``** when the
  message goes to a customer by e-mail (or push): the customer never gets it twice; a person
  checks the mail server's log for its Message-ID and replays it or leaves it. Webhooks and
  messages to staff are retried (at least once; webhook receivers dedupe on ``webhook-id``).
- Only one process can write the store (DuckDB's file lock), so a ``sending`` row claimed by
  another process token is an interrupted run; within the process, an expired lease is.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from klantreis.outbox.journal import Journal
from klantreis.outbox.message import (
    STATES,
    Delivery,
    DeliveryReport,
    Message,
    SendResult,
    StoredMessage,
)
from klantreis.outbox.retry import RetryPolicy
from klantreis.outbox.schema import ensure_schema
from klantreis.outbox.sender import Sender, is_external, scrub
from klantreis.store import EventStore

__all__ = ["Lookup", "Outbox", "OutboxError", "Resolve"]

log = logging.getLogger(__name__)

#: ``resolve(customer_id, channel)``: the address, or ``None`` (not sent: ``no_address``).
Resolve = Callable[[str, str], str | None]
#: ``lookup(customer_id, purpose, channel)``: ``(address, None)`` or ``(None, reason)``;
#: :meth:`klantreis.directory.Directory.lookup` is one.
Lookup = Callable[[str, str, str], tuple[str | None, str | None]]

_COLUMNS = (
    "message_id, message_key, channel, customer_id, recipient, purpose, subject, body_text,"
    " body_html, payload, headers, not_before, created_at, state, attempts, tries,"
    " next_attempt_at, sent_at, reason"
)


class OutboxError(ValueError):
    """A request the outbox refuses (an unknown message, a replay that would send twice)."""


@functools.cache
def _token(pid: int) -> str:
    return f"{pid}-{secrets.token_hex(6)}"


def process_token() -> str:
    """This process's lease token (new after a fork)."""
    return _token(os.getpid())


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(dict(value), separators=(",", ":"))


def _stored(row: tuple[Any, ...]) -> StoredMessage:
    (mid, key, channel, cid, to, purpose, subject, text, html, payload, headers, not_before) = row[
        :12
    ]
    created, state, attempts, tries, next_at, sent_at, reason = row[12:]
    message = Message(
        key=key,
        channel=channel,
        customer_id=cid,
        to=to,
        subject=subject,
        text=text,
        html=html,
        payload=json.loads(payload) if payload is not None else None,
        not_before=not_before,
        purpose=purpose,
        headers=json.loads(headers) if headers is not None else None,
    )
    return StoredMessage(mid, message, state, attempts, tries, created, next_at, sent_at, reason)


def doubtful_state(message: Message) -> str:
    """Where a message goes when it may or may not have been delivered: ``unknown`` (held
    for a person) for a customer's e-mail or push, ``queued`` (sent again) otherwise."""
    if message.customer_id is not None and message.channel != "webhook":
        return "unknown"
    return "queued"


_TS = pa.timestamp("us", tz="UTC")

_BATCH_SCHEMA = pa.schema(
    [
        *[
            (name, pa.string())
            for name in (
                "message_id",
                "message_key",
                "channel",
                "customer_id",
                "recipient",
                "purpose",
                "subject",
                "body_text",
                "body_html",
                "payload",
                "headers",
            )
        ],
        ("not_before", pa.timestamp("us", tz="UTC")),
        ("position", pa.int64()),
    ]
)


@dataclass(frozen=True)
class _Outcome:
    """One attempt's result and the state it leads to, waiting to be recorded."""

    stored: StoredMessage
    result: SendResult
    started: datetime
    finished: datetime
    state: str
    reason: str | None
    next_at: datetime | None
    status: str

    def count(self, report: DeliveryReport) -> None:
        if self.status == "retry":
            report.retrying += 1
        elif self.status == "not_sent":
            report.not_sent += 1
            key = self.reason or "no_address"
            report.reasons[key] = report.reasons.get(key, 0) + 1
        else:
            setattr(report, self.status, getattr(report, self.status) + 1)


def _address(
    message: Message, resolve: Resolve | None, lookup: Lookup | None
) -> tuple[str | None, str | None]:
    """``(address, None)`` or ``(None, reason)`` for a message to a customer."""
    assert message.customer_id is not None
    if lookup is not None:
        address, reason = lookup(message.customer_id, message.purpose, message.channel)
        return address, (reason or "no_address") if address is None else None
    assert resolve is not None
    address = resolve(message.customer_id, message.channel)
    return address, "no_address" if address is None else None


class Outbox:
    """The persisted outbox in ``store`` (tables created on first use)."""

    #: Messages claimed and recorded per transaction (see the module).
    BATCH = 100

    def __init__(
        self, store: EventStore, *, policy: RetryPolicy | None = None, batch: int | None = None
    ) -> None:
        self.store = store
        self.policy = policy or RetryPolicy()
        self.batch = max(1, batch or self.BATCH)
        self.journal = Journal(store.path, memory_key=store)
        ensure_schema(store)

    # -- enqueue ---------------------------------------------------------------------------
    def enqueue(self, message: Message) -> str:
        """Add ``message`` unless one with its key is there already; returns its id either
        way (a second enqueue of the same key adds nothing)."""
        return self.enqueue_many([message])[0]

    def enqueue_many(self, messages: Iterable[Message]) -> list[str]:
        """Enqueue many in one transaction (idempotent per key, like :meth:`enqueue`)."""
        batch = list(messages)
        for message in batch:
            message.check()
        now = _utc(None)
        unique = list({m.message_id: m for m in reversed(batch)}.values())[::-1]
        table = pa.table(
            {
                "message_id": [m.message_id for m in unique],
                "message_key": [m.key for m in unique],
                "channel": [m.channel for m in unique],
                "customer_id": [m.customer_id for m in unique],
                "recipient": [m.to for m in unique],
                "purpose": [m.purpose for m in unique],
                "subject": [m.subject for m in unique],
                "body_text": [m.text for m in unique],
                "body_html": [m.html for m in unique],
                "payload": [_json(m.payload) for m in unique],
                "headers": [_json(m.headers) for m in unique],
                "not_before": pa.array(
                    [m.not_before for m in unique], pa.timestamp("us", tz="UTC")
                ),
                "position": pa.array(range(len(unique)), pa.int64()),
            },
            schema=_BATCH_SCHEMA,
        )
        with self.store.transaction() as con:
            con.register("outbox_batch", table)
            try:
                con.execute(
                    "INSERT INTO outbox_messages (message_id, message_key, channel,"
                    " customer_id, recipient, purpose, subject, body_text, body_html, payload,"
                    " headers, not_before, created_at, updated_at, state)"
                    " SELECT message_id, message_key, channel, customer_id, recipient, purpose,"
                    " subject, body_text, body_html, payload, headers, not_before, ?, ?,"
                    " 'queued' FROM outbox_batch ORDER BY position ON CONFLICT DO NOTHING",
                    [now, now],
                ).fetchall()
            finally:
                con.unregister("outbox_batch")
        return [m.message_id for m in batch]

    # -- reading ---------------------------------------------------------------------------
    def _rows(self, where: str, params: list[Any]) -> list[StoredMessage]:
        cur = self.store.cursor()
        try:
            rows = cur.execute(
                f"SELECT {_COLUMNS} FROM outbox_messages WHERE {where}", params
            ).fetchall()
        finally:
            cur.close()
        return [_stored(r) for r in rows]

    def message(self, message_id: str) -> StoredMessage | None:
        found = self._rows("message_id = ?", [message_id])
        return found[0] if found else None

    def deliveries(self, message_id: str) -> list[Delivery]:
        cur = self.store.cursor()
        try:
            rows = cur.execute(
                "SELECT message_id, attempt, started_at, finished_at, status, response_code,"
                " error FROM outbox_deliveries WHERE message_id = ? ORDER BY attempt, started_at",
                [message_id],
            ).fetchall()
        finally:
            cur.close()
        return [Delivery(*r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Messages per state (every state, zeros included)."""
        cur = self.store.cursor()
        try:
            rows = cur.execute(
                "SELECT state, count(*) FROM outbox_messages GROUP BY state"
            ).fetchall()
        finally:
            cur.close()
        found = dict(rows)
        return {state: int(found.get(state, 0)) for state in STATES}

    def status(self) -> list[dict[str, Any]]:
        """Messages per channel and state, with the oldest due time of queued ones."""
        cur = self.store.cursor()
        try:
            rows = cur.execute(
                "SELECT channel, state, count(*),"
                " min(coalesce(next_attempt_at, not_before, created_at))"
                " FROM outbox_messages GROUP BY channel, state ORDER BY channel, state"
            ).fetchall()
        finally:
            cur.close()
        return [
            {"channel": c, "state": s, "messages": int(n), "oldest": oldest}
            for c, s, n, oldest in rows
        ]

    def held(self, states: Iterable[str] = ("unknown", "failed")) -> list[StoredMessage]:
        """Messages that need a person: doubtful sends and failures."""
        chosen = list(states)
        return self._rows("state IN (SELECT unnest(?::VARCHAR[])) ORDER BY updated_at", [chosen])

    # -- delivering ------------------------------------------------------------------------
    def recover(self, now: datetime | None = None) -> tuple[int, int]:
        """Settle sends interrupted by a crash (claimed by another process, or whose lease
        ran out): ``(requeued, held as unknown)``. With the attempt journal: a finished
        attempt is recorded with its result, one never started goes back to the queue, one
        under way is doubtful. :meth:`deliver_due` does this first."""
        at = _utc(now)
        interrupted = self._rows(
            "state = 'sending' AND (lease_owner IS DISTINCT FROM ? OR lease_until < ?)",
            [process_token(), at],
        )
        journal = self.journal.read() if self.journal.exists else None
        requeued = held = 0
        outcomes: list[_Outcome] = []
        untouched: list[StoredMessage] = []
        cut = SendResult("ambiguous", None, "interrupted: the run ended during the send")
        for stored in interrupted:
            entry = journal.get((stored.message_id, stored.attempts)) if journal else None
            if journal is not None and entry is None:
                untouched.append(stored)  # claimed, never sent
                requeued += 1
                continue
            if entry is not None and entry.result is not None:
                outcomes.append(self._replayed(stored, entry.result, entry.started, entry.finished))
                continue
            state = doubtful_state(stored.message)
            started = entry.started if entry is not None else at
            reason = "interrupted" if state == "unknown" else None
            outcomes.append(_Outcome(stored, cut, started, at, state, reason, None, "interrupted"))
            if state == "unknown":
                held += 1
                log.warning(
                    "outbox: %s held as unknown after an interrupted send", stored.message_id
                )
            else:
                requeued += 1
        if outcomes or untouched:
            with self.store.transaction() as con:
                self._record_many(con, outcomes, untouched, at)
        self._clear_journal()
        return requeued, held

    def _replayed(
        self,
        stored: StoredMessage,
        result: SendResult,
        started: datetime,
        finished: datetime | None,
    ) -> _Outcome:
        """The outcome of an attempt the journal saw finish (see :meth:`recover`)."""
        end = finished or started
        if result.outcome == "not_sent":
            reason = result.error or "no_address"
            failed = SendResult("failed", None, reason)
            return _Outcome(stored, failed, started, end, "not_sent", reason, None, "not_sent")
        return self._judge(stored, result, started, end)

    def _clear_journal(self) -> None:
        cur = self.store.cursor()
        try:
            sending = cur.execute(
                "SELECT count(*) FROM outbox_messages WHERE state = 'sending'"
            ).fetchall()[0][0]
        finally:
            cur.close()
        if not sending:
            self.journal.clear()

    def deliver_due(
        self,
        now: datetime | None = None,
        *,
        senders: Mapping[str, Sender],
        resolve: Resolve | None = None,
        lookup: Lookup | None = None,
        limit: int | None = None,
        close_senders: bool = True,
    ) -> DeliveryReport:
        """Send every message due at ``now`` whose channel has a sender; returns what
        happened. Interrupted sends are settled first (:meth:`recover`).

        Messages are claimed and recorded :attr:`batch` at a time (two transactions per
        batch); the attempt journal covers the time between (see the module). A batch stops
        early, releasing what it did not start, when half the lease has passed."""
        if resolve is not None and lookup is not None:
            raise ValueError("give resolve or lookup, not both")
        at = _utc(now)
        report = DeliveryReport()
        report.requeued, report.held = self.recover(at)
        due = self._rows(
            "state = 'queued' AND (not_before IS NULL OR not_before <= ?)"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            " ORDER BY coalesce(next_attempt_at, not_before, created_at), seq"
            + (f" LIMIT {int(limit)}" if limit is not None else ""),
            [at, at],
        )

        def clock() -> datetime:
            return at if now is not None else _utc(None)

        sendable = []
        for stored in due:
            if senders.get(stored.message.channel) is None or (
                stored.message.customer_id is not None and resolve is None and lookup is None
            ):
                report.skipped += 1
            else:
                sendable.append(stored)
        try:
            for first in range(0, len(sendable), self.batch):
                chunk = sendable[first : first + self.batch]
                self._deliver_batch(chunk, senders, resolve, lookup, clock, report)
        finally:
            if close_senders:
                for sender in senders.values():
                    sender.close()
        return report

    def _deliver_batch(
        self,
        chunk: list[StoredMessage],
        senders: Mapping[str, Sender],
        resolve: Resolve | None,
        lookup: Lookup | None,
        clock: Callable[[], datetime],
        report: DeliveryReport,
    ) -> None:
        """Claim ``chunk`` (one transaction), send each with its journal lines, record the
        outcomes and release what was not started (one transaction)."""
        self.journal.begin_batch()
        try:
            claimed_at = clock()
            with self.store.transaction() as con:
                claimed = self._claim_many(con, chunk, claimed_at)
            deadline = time.monotonic() + self.policy.lease_seconds / 2
            outcomes: list[_Outcome] = []
            done = 0
            try:
                for stored in claimed:
                    if time.monotonic() > deadline:
                        break
                    started = clock()
                    sender = senders[stored.message.channel]
                    journaled = is_external(sender)
                    if journaled:
                        self.journal.start(stored.message_id, stored.attempts, started)
                    done += 1
                    outcome = self._attempt(stored, sender, resolve, lookup, started, clock)
                    if journaled:
                        self._journal_done(stored, outcome)
                    outcomes.append(outcome)
                    outcome.count(report)
            finally:
                # a send cut short by an exception (not a kill) stays ``sending``: doubtful
                untouched = claimed[done:]
                with self.store.transaction() as con:
                    self._record_many(con, outcomes, untouched, clock())
        finally:
            self.journal.end_batch()

    def _journal_done(self, stored: StoredMessage, outcome: _Outcome) -> None:
        result = outcome.result
        if outcome.status == "not_sent":
            result = SendResult("not_sent", None, outcome.reason)
        self.journal.done(stored.message_id, stored.attempts, result, outcome.finished)

    def _claim_many(
        self, con: duckdb.DuckDBPyConnection, chunk: list[StoredMessage], at: datetime
    ) -> list[StoredMessage]:
        lease = at + timedelta(seconds=self.policy.lease_seconds)
        rows = con.execute(
            "UPDATE outbox_messages SET state = 'sending', lease_owner = ?,"
            " lease_until = ?, attempts = attempts + 1, tries = tries + 1, updated_at = ?"
            " WHERE message_id IN (SELECT unnest(?::VARCHAR[])) AND state = 'queued'"
            " RETURNING message_id, attempts, tries",
            [process_token(), lease, at, [m.message_id for m in chunk]],
        ).fetchall()
        got = {mid: (attempts, tries) for mid, attempts, tries in rows}
        return [
            replace(m, state="sending", attempts=got[m.message_id][0], tries=got[m.message_id][1])
            for m in chunk
            if m.message_id in got
        ]

    def _attempt(
        self,
        claimed: StoredMessage,
        sender: Sender,
        resolve: Resolve | None,
        lookup: Lookup | None,
        started: datetime,
        clock: Callable[[], datetime],
    ) -> _Outcome:
        """Look up the address, send, and decide what the result means (not yet stored)."""
        message = claimed.message
        address: str | None = None
        if message.customer_id is not None:
            try:
                address, reason = _address(message, resolve, lookup)
            except Exception as exc:  # a failing look-up is tried again later
                log.exception("outbox: address look-up failed for %s", claimed.message_id)
                failed = SendResult("retry", None, f"look-up failed: {type(exc).__name__}")
                return self._judge(claimed, failed, started, clock())
            if address is None:
                result = SendResult("failed", None, reason)
                return _Outcome(
                    claimed, result, started, clock(), "not_sent", reason, None, "not_sent"
                )
        try:
            result = sender.send(message, claimed.message_id, address)
        except Exception as exc:  # a sender's bug: it may have sent, so it is doubtful
            log.exception("outbox: sender for %s raised", message.channel)
            result = SendResult("ambiguous", None, scrub(f"{type(exc).__name__}: {exc}", address))
        return self._judge(claimed, result, started, clock())

    def _judge(
        self, claimed: StoredMessage, result: SendResult, started: datetime, finished: datetime
    ) -> _Outcome:
        """The state a send result leads to (see the module's delivery rules)."""
        outcome = result.outcome
        if outcome == "ambiguous":
            if doubtful_state(claimed.message) == "unknown":
                return _Outcome(
                    claimed, result, started, finished, "unknown", "doubtful", None, "unknown"
                )
            outcome = "retry"
        if outcome == "sent":
            return _Outcome(claimed, result, started, finished, "sent", None, None, "sent")
        if outcome == "retry" and claimed.tries < self.policy.max_attempts:
            wait = self.policy.delay(claimed.tries, result.retry_after)
            next_at = finished + timedelta(seconds=wait)
            return _Outcome(claimed, result, started, finished, "queued", None, next_at, "retry")
        reason = "max_attempts" if outcome == "retry" else "refused"
        return _Outcome(claimed, result, started, finished, "failed", reason, None, "failed")

    @staticmethod
    def _record_many(
        con: duckdb.DuckDBPyConnection,
        outcomes: list[_Outcome],
        untouched: list[StoredMessage],
        at: datetime,
    ) -> None:
        """Record ``outcomes`` (state + delivery log) and put ``untouched`` claims back in
        the queue (their attempt undone): set-based, a few statements for a whole batch."""
        if outcomes:
            _rows = pa.table(  # read by DuckDB's replacement scan
                {
                    "message_id": [o.stored.message_id for o in outcomes],
                    "attempt": pa.array([o.stored.attempts for o in outcomes], pa.int32()),
                    "state": [o.state for o in outcomes],
                    "reason": pa.array([o.reason for o in outcomes], pa.string()),
                    "next_at": pa.array([o.next_at for o in outcomes], _TS),
                    "started": pa.array([o.started for o in outcomes], _TS),
                    "finished": pa.array([o.finished for o in outcomes], _TS),
                    "status": [o.status for o in outcomes],
                    "code": pa.array([o.result.code for o in outcomes], pa.int32()),
                    "error": pa.array([o.result.error for o in outcomes], pa.string()),
                }
            )
            con.execute(
                "UPDATE outbox_messages m SET state = r.state, reason = r.reason,"
                " next_attempt_at = r.next_at,"
                " sent_at = CASE WHEN r.state = 'sent' THEN r.finished ELSE m.sent_at END,"
                " lease_owner = NULL, lease_until = NULL, updated_at = r.finished"
                " FROM _rows r WHERE m.message_id = r.message_id"
            ).fetchall()
            con.execute(
                "INSERT INTO outbox_deliveries SELECT message_id, attempt, started, finished,"
                " status, code, error FROM _rows"
            ).fetchall()
            del _rows
        if untouched:
            con.execute(
                "UPDATE outbox_messages SET state = 'queued', attempts = attempts - 1,"
                " tries = tries - 1, lease_owner = NULL, lease_until = NULL, updated_at = ?"
                " WHERE message_id IN (SELECT unnest(?::VARCHAR[])) AND state = 'sending'",
                [at, [m.message_id for m in untouched]],
            ).fetchall()

    # -- replay ----------------------------------------------------------------------------
    def replay(self, message_id: str, *, force: bool = False) -> StoredMessage:
        """Queue a message again, with a fresh attempt budget: a failed, not sent or
        doubtful (``unknown``) one, or a sent webhook / staff message (receivers dedupe on
        its id). A message already sent to a customer is refused unless ``force``."""
        stored = self.message(message_id)
        if stored is None:
            raise OutboxError(f"no message {message_id}")
        if stored.state in ("queued", "sending"):
            raise OutboxError(f"message {message_id} is {stored.state} already")
        if stored.state == "sent" and stored.message.customer_id is not None and not force:
            raise OutboxError(
                f"message {message_id} was sent to the customer; replaying would send it"
                " twice (use force to do it anyway)"
            )
        now = _utc(None)
        with self.store.transaction() as con:
            con.execute(
                "UPDATE outbox_messages SET state = 'queued', tries = 0, next_attempt_at = NULL,"
                " reason = NULL, updated_at = ? WHERE message_id = ?",
                [now, message_id],
            ).fetchall()
        log.info("outbox: %s replayed (was %s)", message_id, stored.state)
        found = self.message(message_id)
        assert found is not None
        return found
