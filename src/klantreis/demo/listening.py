"""The demo listens (issue 14): its own surveys run on its own journeys for the last days of
the demo period, through the same parts a real installation uses.

* The directory gets demo contact details (``<customer>@example.invalid``) and consent by a
  stable hash of the customer: most may be asked, some gave no consent, some objected, some
  have no e-mail address, some addresses are on the suppression list — so the invitations
  page shows suppressed invitations with their reasons.
* Day by day (10:00 in the journey's time zone) the scheduler plans from the log and decides
  with the contact rules (fatigue: cooldown, days between, cap) and the directory, and hands
  the invitations to the outbox.
* Simulated respondents answer a stable share of them (``listen.responses``), so
  ``survey.response`` events arrive on the invitation's journey, touchpoint and carrier.
* Nothing is really sent: each day the outbox delivers to :class:`RecordingSender`, which
  keeps the message ids in memory and reports them sent; the ledger gets the outcome
  (``sent``, or ``failed`` with the directory's reason at send time) before anyone answers.
"""

from __future__ import annotations

import hashlib
import time as time_
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from klantreis.directory import Directory
from klantreis.listen import ledger, responses
from klantreis.listen.delivery import sync_from_outbox
from klantreis.listen.ledger import Invitation
from klantreis.listen.run import Scheduler
from klantreis.model.journey import JourneyConfig
from klantreis.model.survey import Question, SurveyConfig
from klantreis.outbox import Message, Outbox, SendResult
from klantreis.store.duckdb_store import EventStore

__all__ = ["LISTEN_DAYS", "Listening", "RecordingSender", "fill_directory", "listen_on"]

#: The demo listens over the last this many days of its period.
LISTEN_DAYS = 14
#: The share of invitations (per cent) the simulated respondents answer.
ANSWER_PERCENT = 35
DOMAIN = "example.invalid"
SOURCE = "demo"


@dataclass
class Listening:
    """What the demo's listening did."""

    customers: int = 0
    planned: int = 0
    queued: int = 0
    reminded: int = 0
    answered: int = 0
    sent: int = 0
    #: Events written: survey.invited / reminded / suppressed and survey.response.
    events: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        out = dict(self.__dict__)
        out["suppressed"] = dict(sorted(self.suppressed.items()))
        return out


class RecordingSender:
    """Sends nothing: records the message ids and reports each one sent (the demo's).
    Nothing leaves the process, so the outbox keeps no per-message journal for it."""

    external = False

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message: Message, message_id: str, address: str | None) -> SendResult:
        self.sent.append(message_id)
        return SendResult("sent")

    def close(self) -> None:
        pass


def _bucket(customer_id: str, salt: str) -> int:
    return int(hashlib.sha256(f"{salt}:{customer_id}".encode()).hexdigest()[:8], 16) % 100


def _address(customer_id: str) -> str:
    return f"{customer_id.lower()}@{DOMAIN}"


def fill_directory(directory: Directory, customer_ids: Sequence[str]) -> Counter[str]:
    """Demo contact details and consent for ``customer_ids`` (stable per customer): 4% no
    e-mail address, 8% no consent, 5% objected, 3% on the suppression list, the rest may be
    asked. Returns the customers per case."""
    rows, consents, cases = [], [], Counter[str]()
    for cid in customer_ids:
        b = _bucket(cid, "consent")
        case = (
            "no_contact_details"
            if b < 4
            else "no_consent"
            if b < 12
            else "objected"
            if b < 17
            else "suppressed"
            if b < 20
            else "may_ask"
        )
        cases[case] += 1
        email = None if case == "no_contact_details" else _address(cid)
        lang = "en" if _bucket(cid, "lang") < 12 else "nl"
        rows.append(directory.validated(cid, email=email, lang=lang, source=SOURCE))
        if case != "no_consent":
            consents.append((cid, "surveys", case != "objected"))
    directory.store_rows(rows)
    directory.set_consents(consents, source=SOURCE)
    for cid in customer_ids:
        if 17 <= _bucket(cid, "consent") < 20:
            directory.suppress(_address(cid), "bounced")
    return cases


class _Prefetched:
    """The directory's decisions for the demo's customers, asked in one query per channel
    (the demo's consent does not change while it runs)."""

    def __init__(self, directory: Directory, customer_ids: Sequence[str]) -> None:
        self.directory = directory
        self.customers = list(customer_ids)
        self.known: dict[tuple[str, str], dict[str, str | None]] = {}

    def may_contact(self, customer_id: str, purpose: str, channel: str) -> tuple[bool, str | None]:
        if (purpose, channel) not in self.known:
            self.known[purpose, channel] = self.directory.decisions(
                self.customers, purpose, channel
            )
        decided = self.known[purpose, channel]
        if customer_id not in decided:
            return self.directory.may_contact(customer_id, purpose, channel)
        reason = decided[customer_id]
        return reason is None, reason

    def lookup(self, customer_id: str, purpose: str, channel: str) -> tuple[str | None, str | None]:
        """What the outbox asks at send time: the demo's address when it may be used."""
        ok, _ = self.may_contact(customer_id, purpose, channel)
        if not ok or channel != "email":
            return self.directory.lookup(customer_id, purpose, channel)
        return _address(customer_id), None


def _answer(question: Question, key: str, owner: str | None) -> Any:
    """A stable simulated answer: scores lean on the owner (carriers differ), texts stay
    empty, the first option of a choice."""
    lean = _bucket(owner or "", "owner") % 3 - 1  # -1, 0 or +1 per owner
    roll = _bucket(key, question.id)
    if question.type == "nps":
        return max(0, min(10, [10, 9, 9, 8, 8, 7, 7, 6, 5, 3][roll % 10] + lean))
    if question.type == "ces":
        return max(1, min(7, [2, 2, 3, 3, 4, 5, 6][roll % 7] - lean))
    if question.type in ("csat", "stars"):
        return max(1, min(5, [5, 4, 4, 3, 2][roll % 5] + lean))
    if question.type in ("single", "multiple") and question.options:
        first = question.options[roll % len(question.options)].id
        return first if question.type == "single" else [first]
    return None


def _respond(
    store: EventStore,
    config: SurveyConfig,
    journey: JourneyConfig,
    handed: Sequence[Invitation],
    at: datetime,
    end: datetime,
) -> int:
    items = []
    for inv in handed:
        survey = config.survey(inv.survey_id)
        if survey is None or _bucket(inv.invitation_id, "answers") >= ANSWER_PERCENT:
            continue
        finished = at + timedelta(minutes=20 + _bucket(inv.invitation_id, "delay") * 11)
        if finished > end:
            continue
        given = {q.id: _answer(q, inv.invitation_id, inv.owner) for q in survey.questions}
        items.append((survey, inv, given, finished))
    return responses.submit_many(store, items, responses.store_sink(store, journey), via="form")


def _handed_at(store: EventStore, at: datetime) -> list[Invitation]:
    """The invitations the run at ``at`` handed over and the outbox sent, still open (not
    reminders)."""
    cols = ", ".join(f"i.{c}" for c in ledger._COLUMNS)
    rows = store.query(
        f"SELECT {cols} FROM survey_invitations i JOIN survey_contacts c USING (invitation_id)"
        " WHERE c.n = 0 AND c.handed_at = ? AND i.status = 'sent'"
        " ORDER BY i.invitation_id",
        [at],
    ).to_pylist()
    return [Invitation(**r) for r in rows]


def _customers(store: EventStore, start: datetime, end: datetime) -> list[str]:
    rows = store.query(
        "SELECT DISTINCT customer_id FROM events WHERE occurred_at >= ? AND occurred_at <= ?"
        " AND customer_id IS NOT NULL ORDER BY customer_id",
        [start, end],
    ).to_pylist()
    return [r["customer_id"] for r in rows]


def listen_on(
    store: EventStore,
    journey: JourneyConfig,
    config: SurveyConfig,
    end: datetime,
    *,
    directory: Directory,
    outbox: Outbox,
    link_for: Callable[[Invitation], str],
    days: int = LISTEN_DAYS,
    plan_more: Callable[[datetime], object] | None = None,
) -> Listening:
    """Run ``config``'s surveys on the store's journeys over the ``days`` before ``end``
    (see the module). ``plan_more(at)`` plans other invitations into the ledger before each
    day's sending (the closed cases' re-surveys). Idempotent: a second run on the same store
    adds nothing."""
    out, began = Listening(), time_.perf_counter()
    before = store.count()
    zone = ZoneInfo(journey.timezone)
    first = (end - timedelta(days=days)).astimezone(zone).date()
    start = datetime.combine(first, time(10), zone)
    customers = _customers(store, start - timedelta(days=8), end)
    out.customers = len(customers)
    fill_directory(directory, customers)
    decide = _Prefetched(directory, customers)
    scheduler = Scheduler(
        store, config, journey, link_for, timezone=journey.timezone, message_type=Message
    )
    at = start
    sender = RecordingSender()
    while at <= end:
        out.planned += sum(r.planned for r in scheduler.plan(at, since=at - timedelta(days=1)))
        if plan_more is not None:
            plan_more(at)
        report = scheduler.send_due(at, outbox, decide)
        out.queued += report.queued
        out.reminded += report.reminded
        out.suppressed.update(report.suppressed)
        delivered = outbox.deliver_due(
            at, senders={"email": sender}, lookup=decide.lookup, close_senders=False
        )
        out.sent += delivered.sent
        sync_from_outbox(store)  # the ledger says sent (or failed) as the outbox did
        answered = _respond(store, config, journey, _handed_at(store, at), at, end)
        out.answered += answered
        at = datetime.combine(at.astimezone(zone).date() + timedelta(days=1), time(10), zone)
    out.events = store.count() - before
    out.seconds = round(time_.perf_counter() - began, 2)
    return out
