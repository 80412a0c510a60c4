"""The contact-rule engine: whether an invitation may go out now, decided on the server for
every channel, and a stable reason code for every one that may not.

The rules (``ContactRules`` of the surveys file, and the survey's own cooldown), checked in
this order; the first that says no is the reason:

1. eligibility at send time (from the log, :func:`klantreis.listen.triggers.journey_facts`):
   ``no_longer_matching`` (the journey no longer meets ``trigger.when``, e.g. the promise is
   still open), ``cancelled_by_event`` (an ``unless`` event followed the trigger: a return
   started, a case opened), ``answered_elsewhere`` (the customer answered a survey since);
2. attribute exclusions (``contact_rules.exclude``): the rule's own reason code
   (``excluded_attribute`` unless it names one, e.g. ``contract_customer``);
3. ``cooldown``: an invitation to the same survey within the survey's ``cooldown_days``;
4. ``min_days_between``: any message (an invitation or a reminder, any survey) within
   ``min_days_between`` days;
5. ``cap``: ``max_per_period`` invitations in the rolling ``period_days`` before now
   (reminders do not count);
6. the directory, per channel in the survey's order (the first channel that may be used is
   the one used): ``no_consent``, ``objected``, ``no_contact_details``, ``suppressed``,
   ``erased`` (the reason of the first channel when none may be used).

Quiet hours (local time: the customer's own time zone when the directory has one, else the
journey's; the scheduler passes it as ``zone``) do not suppress: an invitation that comes
due inside them is moved to the end of the quiet hours, and every rule is checked again then.

Reminders have their own budget (``max_reminders`` per invitation, ``reminder_after`` after
the last message of that invitation): they never count toward the cap. They do count toward
``min_days_between`` — the customer feels every message, and Qualtrics' not counting them is
the gap this closes: a new invitation waits ``min_days_between`` after a reminder too, and a
reminder is not sent within ``min_days_between`` of another invitation's message (it waits,
until its invitation expires). A reminder inside quiet hours waits for their end.

Everything here is pure except :func:`history` (one indexed look-up in the ledger) and
:func:`why_not` (the ledger rows of one customer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from klantreis.listen import ledger
from klantreis.listen.ledger import Contact
from klantreis.model.survey import ContactRules, Survey
from klantreis.store.duckdb_store import EventStore

__all__ = [
    "DIRECTORY_REASONS",
    "REASONS",
    "Decision",
    "DirectoryLike",
    "check_contact_rules",
    "choose_channel",
    "decide",
    "history",
    "in_quiet_hours",
    "quiet_end",
    "reminder_allowed",
    "why_not",
]

#: Reasons the directory gives for not contacting a customer on a channel.
DIRECTORY_REASONS: tuple[str, ...] = (
    "no_consent",
    "objected",
    "no_contact_details",
    "suppressed",
    "erased",
)

#: Every reason code an invitation can carry (the wording has each as ``listen.reason.<code>``;
#: an attribute rule may name its own code, worded as an attribute exclusion).
REASONS: tuple[str, ...] = (
    "not_matching",
    "not_sampled",
    "survey_inactive",
    "not_sent_in_time",
    "no_longer_matching",
    "cancelled_by_event",
    "answered_elsewhere",
    "excluded_attribute",
    "cooldown",
    "min_days_between",
    "cap",
    *DIRECTORY_REASONS,
    # the outbox's, copied back by klantreis.listen.delivery (failed or doubtful sends)
    "refused",
    "max_attempts",
    "no_address",
    "doubtful",
    "interrupted",
)

#: The purpose an invitation is sent for (the directory keeps consent per purpose).
PURPOSE = "surveys"


class DirectoryLike(Protocol):
    """The directory seam (``klantreis.directory.Directory``): may this customer be contacted
    for this purpose on this channel, and if not, why (one of :data:`DIRECTORY_REASONS`).
    A directory may also offer ``timezones(customer_ids) -> {customer_id: IANA name}``: the
    scheduler then applies quiet hours in each customer's own time zone."""

    def may_contact(
        self, customer_id: str, purpose: str, channel: str
    ) -> tuple[bool, str | None]: ...


@dataclass(frozen=True)
class Decision:
    """``send`` (on ``channel``), ``suppress`` (with ``reason``) or ``move`` (to ``at``: the
    end of the quiet hours)."""

    action: Literal["send", "suppress", "move"]
    reason: str | None = None
    channel: str | None = None
    at: datetime | None = None


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def _local(at: datetime, zone: str) -> datetime:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(ZoneInfo(zone))


def in_quiet_hours(rules: ContactRules, at: datetime, zone: str) -> bool:
    """Whether ``at`` falls inside the quiet hours (local time in ``zone``)."""
    quiet = rules.quiet()
    if quiet is None:
        return False
    start, end = quiet
    now = _local(at, zone).time()
    if start <= end:
        return start <= now < end
    return now >= start or now < end


def quiet_end(rules: ContactRules, at: datetime, zone: str) -> datetime | None:
    """The end of the quiet hours ``at`` falls in (UTC), or None when it is outside them."""
    if not in_quiet_hours(rules, at, zone):
        return None
    quiet = rules.quiet()
    assert quiet is not None
    end: time = quiet[1]
    local = _local(at, zone)
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        # aware arithmetic is wall-clock: the next calendar day at the same local hour
        candidate = (local + timedelta(days=1)).replace(
            hour=end.hour, minute=end.minute, second=0, microsecond=0
        )
    return candidate.astimezone(UTC)


def check_contact_rules(
    rules: ContactRules,
    survey: Survey,
    past: Sequence[Contact],
    now: datetime,
    attrs: dict[str, Any] | None = None,
) -> str | None:
    """The reason a new invitation of ``survey`` may not go out at ``now`` given the
    customer's ``past`` messages and attributes, or None: exclusions, cooldown, min days
    between, cap (in that order)."""
    for rule in rules.exclude:
        value = (attrs or {}).get(rule.attr)
        if value is not None and str(value) in rule.values:
            return rule.reason
    earlier = [c for c in past if c.at <= now]
    if survey.cooldown_days and any(
        c.survey_id == survey.id and not c.is_reminder and now - c.at < _days(survey.cooldown_days)
        for c in earlier
    ):
        return "cooldown"
    if rules.min_days_between and any(now - c.at < _days(rules.min_days_between) for c in earlier):
        return "min_days_between"
    window = _days(rules.period_days)
    invitations = sum(1 for c in earlier if not c.is_reminder and now - c.at < window)
    if invitations >= rules.max_per_period:
        return "cap"
    return None


def choose_channel(
    directory: DirectoryLike, customer_id: str, channels: Iterable[str]
) -> tuple[str | None, str | None]:
    """The first of ``channels`` the directory allows (and None), or (None, the first
    channel's reason)."""
    first_reason: str | None = None
    for channel in channels:
        ok, reason = directory.may_contact(customer_id, PURPOSE, channel)
        if ok:
            return channel, None
        if first_reason is None:
            first_reason = reason if reason in DIRECTORY_REASONS else "no_contact_details"
    return None, first_reason or "no_contact_details"


def decide(
    rules: ContactRules,
    survey: Survey,
    customer_id: str,
    past: Sequence[Contact],
    now: datetime,
    zone: str,
    directory: DirectoryLike,
    facts: dict[str, Any] | None = None,
) -> Decision:
    """Whether a due invitation of ``survey`` goes out now (see the module's rule order).
    ``facts`` are the send-time facts of its journey (``journey_facts``), None to skip them."""
    if facts is not None:
        if not facts.get("matching", True):
            return Decision("suppress", "no_longer_matching")
        if facts.get("cancelled"):
            return Decision("suppress", "cancelled_by_event")
        if facts.get("answered_elsewhere"):
            return Decision("suppress", "answered_elsewhere")
    attrs = (facts or {}).get("attrs")
    reason = check_contact_rules(rules, survey, past, now, attrs)
    if reason:
        return Decision("suppress", reason)
    channel, reason = choose_channel(directory, customer_id, survey.channels)
    if channel is None:
        return Decision("suppress", reason)
    moved = quiet_end(rules, now, zone)
    if moved is not None:
        return Decision("move", at=moved)
    return Decision("send", channel=channel)


def reminder_allowed(
    rules: ContactRules,
    invitation_id: str,
    past: Sequence[Contact],
    now: datetime,
    zone: str,
) -> bool:
    """Whether a reminder of ``invitation_id`` may go out now: within its budget, after
    ``reminder_after`` since its last message, not within ``min_days_between`` of another
    invitation's message, outside quiet hours."""
    own = [c for c in past if c.invitation_id == invitation_id]
    if not own or len(own) - 1 >= rules.max_reminders:
        return False
    from klantreis.model.survey import parse_duration

    if now - max(c.at for c in own) < parse_duration(rules.reminder_after):
        return False
    others = [c for c in past if c.invitation_id != invitation_id and c.at <= now]
    if rules.min_days_between and any(now - c.at < _days(rules.min_days_between) for c in others):
        return False
    return not in_quiet_hours(rules, now, zone)


def history(
    con: EventStore | Any,
    customer_id: str,
    now: datetime,
    rules: ContactRules,
    surveys: Iterable[Survey],
) -> list[Contact]:
    """The customer's messages as far back as any rule looks (cap period, min days between,
    the longest cooldown): one look-up on the ledger's customer index."""
    longest = max([rules.period_days, rules.min_days_between, *(s.cooldown_days for s in surveys)])
    return ledger.contacts_of(con, customer_id, now - _days(longest))


Worder = Callable[[str], str]


def why_not(store: EventStore, customer_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """Every ledger row of ``customer_id``, newest first: survey, journey, trigger, status,
    reason (None when sent or answered), times, reminders. The one query behind "why was
    this customer not asked?" (keys only; the page words the reasons)."""
    ledger.ensure_schema(store)
    rows: list[dict[str, Any]] = store.query(
        """SELECT invitation_id, survey_id, journey_id, trigger_event_id, touchpoint, owner,
                  channel, status, reason, origin, send_at, planned_at, queued_at,
                  expires_at, answered_at, reminders
           FROM survey_invitations WHERE customer_id = ?
           ORDER BY send_at DESC, invitation_id LIMIT ?""",
        [customer_id, limit],
    ).to_pylist()
    return rows
