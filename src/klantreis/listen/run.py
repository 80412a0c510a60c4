"""The scheduler step: plan invitations from the log, hand the due ones to the outbox, expire
the old ones, send reminders — idempotent, and resumable after a kill.

One :meth:`Scheduler.send_due` run:

0. copies the outbox's outcome of earlier messages into the ledger (sent, failed, unknown:
   :func:`klantreis.listen.delivery.sync_from_outbox`);
1. expires what is past its time: ``planned`` past ``expires_at`` becomes ``expired`` with
   reason ``not_sent_in_time``; ``queued``/``sent`` past ``expires_at`` (unanswered) becomes
   ``expired``;
2. decides every due ``planned`` invitation (``send_at`` <= now) with the contact rules
   (:mod:`klantreis.listen.rules`) and the send-time facts of its journey, in ``send_at``
   order, each decision seeing the ones before it: ``queued`` (a ``survey_contacts`` row),
   ``suppressed`` with its reason, or moved out of quiet hours;
3. plans reminders to non-responders (their own budget, see ``rules``);
4. hands every message not yet handed over to the outbox (message key: the invitation id, or
   ``<invitation id>:r<n>`` for the ``n``-th reminder) and writes ``survey.invited`` /
   ``survey.reminded`` events, then marks the message handed over;
5. writes a ``survey.suppressed`` event (reason in attrs) for every invitation decided not to
   be sent.

Each decision is committed (ledger + contact row) before anything leaves, and a message is
marked handed over only after the outbox and the log have it. A run killed anywhere is
finished by the next: a decision is never made twice, the outbox drops a key it has, the log
an event id it has. Nothing personal goes into the events: ids, survey, reason.
"""

from __future__ import annotations

import html
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa

from klantreis.ingest.pipeline import ingest_table
from klantreis.listen import delivery, ledger, rules, triggers
from klantreis.listen.ledger import Contact, Invitation
from klantreis.listen.rules import PURPOSE, DirectoryLike
from klantreis.model.events import derive_event_id, events_from_records
from klantreis.model.journey import JourneyConfig
from klantreis.model.survey import Survey, SurveyConfig, parse_duration
from klantreis.store.duckdb_store import EventStore
from klantreis.wording import Wording

__all__ = [
    "EVENT_KINDS",
    "InvitationMessage",
    "OutboxLike",
    "Scheduler",
    "SendReport",
    "compose",
    "contact_event",
    "message_key",
]

log = logging.getLogger(__name__)

#: The events the scheduler writes: an invitation or a reminder handed to the outbox, an
#: invitation decided not to be sent.
EVENT_KINDS = ("survey.invited", "survey.reminded", "survey.suppressed")
SOURCE = "listen"


@dataclass(frozen=True)
class InvitationMessage:
    """A message for the outbox, with the fields of ``klantreis.outbox.Message`` (pass that
    class as ``message_type`` once it is there)."""

    key: str
    channel: str
    customer_id: str
    subject: str
    text: str
    html: str
    payload: dict[str, Any]
    not_before: datetime | None = None
    purpose: str = PURPOSE
    to: str | None = None


class OutboxLike(Protocol):
    """The outbox seam (``klantreis.outbox.Outbox``): idempotent on the message key; an
    outbox with ``enqueue_many`` gets each run's messages in one call."""

    def enqueue(self, message: Any) -> Any: ...


LinkFor = Callable[[Invitation], str]
#: An invitation (or reminder ``n``) with its contact time and its outbox message.
_Built = tuple[Invitation, int, datetime, Any]


@dataclass
class SendReport:
    """What one :meth:`Scheduler.send_due` run did."""

    queued: int = 0
    reminded: int = 0
    moved: int = 0
    expired: int = 0
    handed_over: int = 0
    failed: int = 0
    events: int = 0
    #: Invitations whose outbox outcome was copied into the ledger at the start of the run.
    synced: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["suppressed"] = dict(sorted(self.suppressed.items()))
        return out


def message_key(invitation_id: str, n: int) -> str:
    """The outbox key of an invitation (``n = 0``) or its ``n``-th reminder."""
    return invitation_id if n == 0 else f"{invitation_id}:r{n}"


def _lang(invitation: Invitation, survey: Survey) -> str:
    lang = invitation.lang or survey.default_lang
    return lang if lang.split("-")[0] in ("nl", "en") else survey.default_lang


def compose(
    survey: Survey, invitation: Invitation, link: str, n: int = 0, timezone: str = "UTC"
) -> tuple[str, str, str]:
    """Subject, plain text and HTML of an invitation (``n = 0``) or its ``n``-th reminder,
    in the invitation's language (fallback chain of the survey's texts)."""
    lang = _lang(invitation, survey)
    w = Wording(lang.split("-")[0], timezone)
    name = survey.name(lang)
    subject = w("listen.message.reminder_subject" if n else "listen.message.subject", survey=name)
    intro = survey.text(survey.intro, lang) if survey.intro else w("listen.message.intro")
    until = w.date(invitation.expires_at, "d MMMM") if invitation.expires_at else None
    lines = [w("listen.message.greeting"), "", intro, "", w("listen.message.link", link=link)]
    if until:
        lines += ["", w("listen.message.until", date=until)]
    lines += ["", w("listen.message.closing")]
    esc = html.escape
    body = [
        f"<p>{esc(w('listen.message.greeting'))}</p>",
        f"<p>{esc(intro)}</p>",
        f'<p><a href="{esc(link, quote=True)}">{esc(w("listen.message.button"))}</a></p>',
    ]
    if until:
        body.append(f"<p>{esc(w('listen.message.until', date=until))}</p>")
    body.append(f"<p>{esc(w('listen.message.closing'))}</p>")
    return subject, "\n".join(lines), "\n".join(body)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class Scheduler:
    """Plans and sends one surveys file's invitations on one store.

    ``link_for(invitation) -> str`` gives the personal link (``links.sign`` of the form's
    module); ``message_type`` builds outbox messages (default :class:`InvitationMessage`);
    ``timezone`` is the customers' local time for quiet hours (default: the journey's) —
    a customer whose directory entry has its own time zone (``directory.timezones``) gets
    quiet hours in that one."""

    def __init__(
        self,
        store: EventStore,
        config: SurveyConfig,
        journey: JourneyConfig,
        link_for: LinkFor,
        *,
        timezone: str | None = None,
        message_type: Callable[..., Any] = InvitationMessage,
        batch_size: int = 5_000,
        emit_events: bool = True,
    ) -> None:
        self.store = store
        self.config = config
        self.journey = journey
        self.link_for = link_for
        self.timezone = timezone or journey.timezone
        self.message_type = message_type
        self.batch_size = batch_size
        self.emit_events = emit_events
        self.rules = config.contact_rules
        ledger.ensure_schema(store)

    # -- planning ------------------------------------------------------------------------
    def plan(
        self, now: datetime, since: datetime | None = None, batch: pa.Table | None = None
    ) -> list[triggers.PlanResult]:
        """Plan from the whole log (or from ``batch``, new events); see ``triggers.plan``."""
        return triggers.plan(self.store, self.config, self.journey, now, since, batch)

    # -- one run -------------------------------------------------------------------------
    def send_due(self, now: datetime, outbox: OutboxLike, directory: DirectoryLike) -> SendReport:
        """One scheduler run at ``now`` (see the module)."""
        now = _utc(now)
        report = SendReport()
        report.synced = delivery.sync_from_outbox(self.store)
        self._expire(now, report)
        while self._decide_batch(now, directory, report):
            pass
        self._remind(now, directory, report)
        self._hand_over(now, outbox, report)
        self._log_suppressed(now, report)
        return report

    def _expire(self, now: datetime, report: SendReport) -> None:
        with self.store.transaction() as con:
            unsent = con.execute(
                "UPDATE survey_invitations SET status = 'expired', reason = 'not_sent_in_time',"
                " event_pending = true WHERE status = 'planned' AND expires_at <= ?",
                [now],
            ).fetchall()
            sent = con.execute(
                "UPDATE survey_invitations SET status = 'expired'"
                " WHERE status IN ('queued', 'sent') AND expires_at <= ?",
                [now],
            ).fetchall()
        report.expired += int(unsent[0][0]) + int(sent[0][0])
        if unsent[0][0]:
            report.suppressed["not_sent_in_time"] += int(unsent[0][0])

    def _longest(self) -> timedelta:
        days = [self.rules.period_days, self.rules.min_days_between]
        days += [s.cooldown_days for s in self.config.surveys]
        return timedelta(days=max(days))

    def _histories(self, customers: Sequence[str], now: datetime) -> dict[str, list[Contact]]:
        cust = pa.table({"customer_id": pa.array(sorted(set(customers)), pa.string())})
        cur = self.store.cursor()
        try:
            cur.register("_cust", cust)
            rows = cur.execute(
                "SELECT customer_id, invitation_id, survey_id, n, contacted_at"
                " FROM survey_contacts WHERE customer_id IN (SELECT customer_id FROM _cust)"
                " AND contacted_at >= ? ORDER BY contacted_at, n",
                [now - self._longest()],
            ).fetchall()
        finally:
            cur.close()
        out: dict[str, list[Contact]] = defaultdict(list)
        for customer, inv_id, survey_id, n, at in rows:
            out[customer].append(Contact(inv_id, survey_id, n, at))
        return out

    @staticmethod
    def _zones(directory: DirectoryLike, customers: Sequence[str]) -> dict[str, str]:
        """The customers' own time zones, when the directory keeps them
        (``timezones(customer_ids) -> {customer: IANA name}``); the rest use the journey's."""
        lookup = getattr(directory, "timezones", None)
        if lookup is None or not customers:
            return {}
        zones: dict[str, str] = lookup(sorted(set(customers)))
        return zones

    def _due(self, now: datetime) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.store.query(
            "SELECT invitation_id, survey_id, customer_id, journey_id, trigger_event_id"
            " FROM survey_invitations WHERE status = 'planned' AND origin = 'system'"
            " AND send_at <= ? ORDER BY send_at, invitation_id LIMIT ?",
            [now, self.batch_size],
        ).to_pylist()
        return rows

    def _facts(self, due: list[dict[str, Any]], now: datetime) -> dict[str, dict[str, Any]]:
        attrs = sorted({r.attr for r in self.rules.exclude})
        facts: dict[str, dict[str, Any]] = {}
        by_survey: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in due:
            by_survey[row["survey_id"]].append(row)
        for survey_id, rows in by_survey.items():
            survey = self.config.survey(survey_id)
            if survey is None or not survey.active:
                continue
            table = pa.Table.from_pylist(
                [
                    {
                        k: r[k]
                        for k in ("invitation_id", "customer_id", "journey_id", "trigger_event_id")
                    }
                    for r in rows
                ],
                schema=pa.schema(
                    [
                        (k, pa.string())
                        for k in ("invitation_id", "customer_id", "journey_id", "trigger_event_id")
                    ]
                ),
            )
            facts.update(
                triggers.journey_facts(self.store, survey, self.journey, table, now, attrs)
            )
        return facts

    def _decide_batch(self, now: datetime, directory: DirectoryLike, report: SendReport) -> bool:
        due = self._due(now)
        if not due:
            return False
        facts = self._facts(due, now)
        past = self._histories([r["customer_id"] for r in due], now)
        zones = self._zones(directory, [r["customer_id"] for r in due])
        sends: list[tuple[str, str, str, str]] = []
        suppressed: list[tuple[str, str]] = []
        moved: list[tuple[str, datetime]] = []
        for row in due:
            inv_id, customer = row["invitation_id"], row["customer_id"]
            survey = self.config.survey(row["survey_id"])
            if survey is None or not survey.active:
                suppressed.append((inv_id, "survey_inactive"))
                continue
            fact = facts.get(inv_id, {"matching": False})  # trigger event gone from the log
            zone = zones.get(customer, self.timezone)
            decision = rules.decide(
                self.rules, survey, customer, past[customer], now, zone, directory, fact
            )
            if decision.action == "send" and decision.channel:
                sends.append((inv_id, customer, survey.id, decision.channel))
                past[customer].append(Contact(inv_id, survey.id, 0, now))
            elif decision.action == "move" and decision.at:
                moved.append((inv_id, decision.at))
            else:
                suppressed.append((inv_id, decision.reason or "not_matching"))
        self._record(now, sends, suppressed, moved)
        report.queued += len(sends)
        report.moved += len(moved)
        report.suppressed.update(reason for _, reason in suppressed)
        return True

    def _record(
        self,
        now: datetime,
        sends: list[tuple[str, str, str, str]],
        suppressed: list[tuple[str, str]],
        moved: list[tuple[str, datetime]],
    ) -> None:
        """One transaction: the decisions of a batch (ledger rows and contact rows)."""
        expires = {s.id: s.trigger.expires_td for s in self.config.surveys}
        with self.store.transaction() as con:
            if sends:
                rows: dict[str, list[Any]] = {
                    "invitation_id": [i for i, _, _, _ in sends],
                    "customer_id": [c for _, c, _, _ in sends],
                    "survey_id": [s for _, _, s, _ in sends],
                    "channel": [ch for _, _, _, ch in sends],
                    "expires_at": [now + expires[s] for _, _, s, _ in sends],
                }
                _bulk(
                    con,
                    rows,
                    "UPDATE survey_invitations i SET status = 'queued', reason = NULL,"
                    " channel = b.channel, queued_at = ?, expires_at = b.expires_at"
                    " FROM _rows b WHERE i.invitation_id = b.invitation_id",
                    [now],
                )
                _bulk(
                    con,
                    rows,
                    "INSERT INTO survey_contacts (invitation_id, n, customer_id, survey_id,"
                    " channel, contacted_at) SELECT invitation_id, 0, customer_id, survey_id,"
                    " channel, ? FROM _rows ON CONFLICT DO NOTHING",
                    [now],
                )
            if suppressed:
                _bulk(
                    con,
                    {
                        "invitation_id": [i for i, _ in suppressed],
                        "reason": [r for _, r in suppressed],
                    },
                    "UPDATE survey_invitations i SET status = 'suppressed', reason = b.reason,"
                    " event_pending = true FROM _rows b WHERE i.invitation_id = b.invitation_id",
                )
            if moved:
                _bulk(
                    con,
                    {"invitation_id": [i for i, _ in moved], "send_at": [at for _, at in moved]},
                    "UPDATE survey_invitations i SET send_at = b.send_at"
                    " FROM _rows b WHERE i.invitation_id = b.invitation_id",
                )

    # -- reminders -----------------------------------------------------------------------
    def _remind(self, now: datetime, directory: DirectoryLike, report: SendReport) -> None:
        r = self.rules
        if r.max_reminders == 0:
            return
        after = parse_duration(r.reminder_after)
        rows = self.store.query(
            "SELECT invitation_id, survey_id, customer_id, channel, reminders"
            " FROM survey_invitations WHERE status IN ('queued', 'sent') AND origin = 'system'"
            " AND reminders < ? AND expires_at > ?"
            " AND coalesce(reminded_at, queued_at, sent_at) <= ?"
            " ORDER BY coalesce(reminded_at, queued_at, sent_at), invitation_id",
            [r.max_reminders, now, now - after],
        ).to_pylist()
        if not rows:
            return
        past = self._histories([row["customer_id"] for row in rows], now)
        zones = self._zones(directory, [row["customer_id"] for row in rows])
        reminders: list[tuple[str, str, str, str, int]] = []
        for row in rows:
            survey = self.config.survey(row["survey_id"])
            customer, inv_id = row["customer_id"], row["invitation_id"]
            if survey is None or not survey.active or not row["channel"]:
                continue
            zone = zones.get(customer, self.timezone)
            if not rules.reminder_allowed(r, inv_id, past[customer], now, zone):
                continue
            ok, _ = directory.may_contact(customer, PURPOSE, row["channel"])
            if not ok:
                continue
            n = row["reminders"] + 1
            reminders.append((inv_id, customer, survey.id, row["channel"], n))
            past[customer].append(Contact(inv_id, survey.id, n, now))
        if not reminders:
            return
        with self.store.transaction() as con:
            columns: dict[str, list[Any]] = {
                "invitation_id": [x[0] for x in reminders],
                "customer_id": [x[1] for x in reminders],
                "survey_id": [x[2] for x in reminders],
                "channel": [x[3] for x in reminders],
                "n": [x[4] for x in reminders],
            }
            _bulk(
                con,
                columns,
                "UPDATE survey_invitations i SET reminders = b.n, reminded_at = ?"
                " FROM _rows b WHERE i.invitation_id = b.invitation_id",
                [now],
            )
            _bulk(
                con,
                columns,
                "INSERT INTO survey_contacts (invitation_id, n, customer_id, survey_id,"
                " channel, contacted_at) SELECT invitation_id, n, customer_id, survey_id,"
                " channel, ? FROM _rows ON CONFLICT DO NOTHING",
                [now],
            )
        report.reminded += len(reminders)

    # -- hand-over and events ------------------------------------------------------------
    def _hand_over(self, now: datetime, outbox: OutboxLike, report: SendReport) -> None:
        cols = ", ".join(f"i.{c}" for c in ledger._COLUMNS)
        rows = self.store.query(
            f"SELECT c.n AS _n, c.contacted_at AS _at, {cols} FROM survey_contacts c"
            " JOIN survey_invitations i USING (invitation_id)"
            " WHERE c.handed_at IS NULL ORDER BY c.contacted_at, c.invitation_id, c.n"
        ).to_pylist()
        built: list[_Built] = []
        for row in rows:
            n, at = row.pop("_n"), row.pop("_at")
            inv = Invitation(**row)
            survey = self.config.survey(inv.survey_id)
            if survey is None or inv.channel is None:
                continue
            try:
                built.append((inv, n, at, self._message(survey, inv, n)))
            except Exception:  # one bad message must not stop the others; retried next run
                log.exception("invitation %s: not handed to the outbox", inv.invitation_id)
                report.failed += 1
        handed = _enqueue(outbox, built, report)
        done = [(inv.invitation_id, n) for inv, n, _, _ in handed]
        events = [contact_event(inv, n, at) for inv, n, at, _ in handed]
        report.events += self._write_events(events)
        if done:
            with self.store.transaction() as con:
                _bulk(
                    con,
                    {"invitation_id": [i for i, _ in done], "n": [n for _, n in done]},
                    "UPDATE survey_contacts c SET handed_at = ? FROM _rows b"
                    " WHERE c.invitation_id = b.invitation_id AND c.n = b.n",
                    [now],
                )
        report.handed_over += len(done)

    def _message(self, survey: Survey, inv: Invitation, n: int) -> Any:
        link = self.link_for(inv)
        subject, text, body = compose(survey, inv, link, n, self.timezone)
        return self.message_type(
            key=message_key(inv.invitation_id, n),
            channel=inv.channel,
            customer_id=inv.customer_id,
            to=None,
            subject=subject,
            text=text,
            html=body,
            payload={
                "invitation_id": inv.invitation_id,
                "survey_id": survey.id,
                "reminder": n,
                "link": link,
            },
            not_before=None,
            purpose=PURPOSE,
        )

    def _log_suppressed(self, now: datetime, report: SendReport) -> None:
        cols = ", ".join(ledger._COLUMNS)
        rows = self.store.query(
            f"SELECT {cols} FROM survey_invitations WHERE event_pending ORDER BY invitation_id"
        ).to_pylist()
        if not rows:
            return
        invs = [Invitation(**r) for r in rows]
        report.events += self._write_events([_suppressed_event(i, now) for i in invs])
        with self.store.transaction() as con:
            _bulk(
                con,
                {"invitation_id": [i.invitation_id for i in invs]},
                "UPDATE survey_invitations i SET event_pending = false"
                " FROM _rows b WHERE i.invitation_id = b.invitation_id",
            )

    def _write_events(self, records: Sequence[Mapping[str, Any]]) -> int:
        if not records or not self.emit_events:
            return 0
        table = events_from_records(list(records), source=SOURCE)
        return ingest_table(self.store, table, self.journey, source=SOURCE).stored


def _enqueue(outbox: OutboxLike, built: list[_Built], report: SendReport) -> list[_Built]:
    """Hand ``built`` messages to the outbox: in one call when it takes many
    (``enqueue_many``: one transaction), else one by one; returns those it took."""
    many = getattr(outbox, "enqueue_many", None)
    if many is not None and built:
        try:
            many([message for *_, message in built])
            return built
        except Exception:  # fall back to one by one, to find the bad one
            log.exception("the outbox refused a batch; handing the messages over one by one")
    handed = []
    for item in built:
        try:
            outbox.enqueue(item[3])
        except Exception:  # one bad message must not stop the others; retried next run
            log.exception("invitation %s: not handed to the outbox", item[0].invitation_id)
            report.failed += 1
            continue
        handed.append(item)
    return handed


def _bulk(
    con: Any, columns: dict[str, list[Any]], sql: str, params: list[Any] | None = None
) -> None:
    """Run ``sql`` reading the rows ``columns`` as ``_rows`` (one statement, not one per row:
    DuckDB runs a join far faster than thousands of single-row updates)."""
    _rows = pa.table(columns)  # read by DuckDB's replacement scan
    con.execute(sql, params or []).fetchall()
    del _rows


def _base_event(inv: Invitation, kind: str, at: datetime, *parts: object) -> dict[str, Any]:
    return {
        "event_id": derive_event_id(kind, inv.invitation_id, *parts),
        "occurred_at": at.isoformat(),
        "kind": kind,
        "customer_id": inv.customer_id,
        # the journey goes in attrs: asking is not a step of the customer's journey (maps,
        # variants and hand-overs stay as they were); survey.response keeps its journey
        "journey_id": None,
        "touchpoint": inv.touchpoint,
        "owner": inv.owner,
    }


def contact_event(inv: Invitation, n: int, at: datetime) -> dict[str, Any]:
    """The ``survey.invited`` (``n = 0``) or ``survey.reminded`` event of a message handed
    out (ids only; ``attrs.origin`` system or staff)."""
    kind = "survey.reminded" if n else "survey.invited"
    event = _base_event(inv, kind, at, n)
    event["channel"] = inv.channel
    event["attrs"] = {
        "survey_id": inv.survey_id,
        "invitation_id": inv.invitation_id,
        "journey_id": inv.journey_id,
        "reminder": n,
        "origin": inv.origin,
    }
    return event


def _suppressed_event(inv: Invitation, at: datetime) -> dict[str, Any]:
    event = _base_event(inv, "survey.suppressed", at, inv.reason)
    event["attrs"] = {
        "survey_id": inv.survey_id,
        "invitation_id": inv.invitation_id,
        "journey_id": inv.journey_id,
        "reason": inv.reason,
    }
    return event
