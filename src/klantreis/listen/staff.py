"""Invitations handed out by staff: a personal link an agent gives a customer (after a call,
in a chat, at the counter) instead of the system sampling them.

:func:`staff_invitation` records it in the ledger with ``origin = 'staff'``, status ``sent``
(the agent hands it over now: it never goes through the outbox) and a ``survey_contacts``
row, so **it counts as a contact** for the contact rules (cooldown, days between, cap) like
any invitation, and it writes its ``survey.invited`` event (``attrs.origin = "staff"``).
Response rates count it (:func:`klantreis.listen.rates.response_rates`, with the staff share
in their own columns). One invitation per survey, customer, journey and day: asking twice
the same day gives the same invitation (and link).

The contact rules do not stop a person from handing out a link: they are for what the system
sends. The returned :class:`StaffInvitation` says which rule *would* have said no
(``rule_reason``), so the agent's screen can show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from klantreis.ingest.pipeline import ingest_table
from klantreis.listen import ledger, rules
from klantreis.listen.ledger import Invitation
from klantreis.listen.run import SOURCE, contact_event
from klantreis.model.events import events_from_records
from klantreis.model.journey import JourneyConfig
from klantreis.model.survey import SurveyConfig
from klantreis.store.duckdb_store import EventStore

__all__ = ["StaffInvitation", "staff_invitation"]


@dataclass(frozen=True)
class StaffInvitation:
    invitation: Invitation
    #: True when this call made it (False: the one made earlier today).
    new: bool
    #: The contact rule that would have stopped the system from sending it, or None.
    rule_reason: str | None


def staff_invitation(
    store: EventStore,
    config: SurveyConfig,
    journey: JourneyConfig,
    survey_id: str,
    customer_id: str,
    *,
    journey_id: str | None = None,
    touchpoint: str | None = None,
    owner: str | None = None,
    lang: str | None = None,
    staff: str | None = None,
    now: datetime | None = None,
) -> StaffInvitation:
    """Record a staff-handed invitation (see the module); ``staff`` is the agent's id (kept
    in the trigger, not in the event). ``ValueError`` for an unknown or inactive survey."""
    survey = config.survey(survey_id)
    if survey is None or not survey.active:
        raise ValueError(f"no active survey {survey_id!r}")
    at = now or datetime.now(UTC)
    ledger.ensure_schema(store)
    past = rules.history(store, customer_id, at, config.contact_rules, config.surveys)
    would = rules.check_contact_rules(config.contact_rules, survey, past, at)
    trigger = f"staff:{customer_id}:{journey_id or ''}:{at.date().isoformat()}"
    inv = Invitation(
        invitation_id=ledger.invitation_id(survey_id, trigger),
        survey_id=survey_id,
        customer_id=customer_id,
        journey_id=journey_id,
        trigger_event_id=trigger if staff is None else f"{trigger}:{staff}",
        touchpoint=touchpoint or survey.touchpoint,
        owner=owner,
        channel="link",
        send_at=at,
        status="sent",
        origin="staff",
        lang=lang or survey.default_lang,
        planned_at=at,
        sent_at=at,
        expires_at=at + survey.trigger.expires_td,
    )
    new = ledger.insert_new(store, [inv]) == 1
    if new:
        with store.transaction() as con:
            con.execute(
                "INSERT INTO survey_contacts (invitation_id, n, customer_id, survey_id, channel,"
                " contacted_at, handed_at) VALUES (?, 0, ?, ?, 'link', ?, ?)"
                " ON CONFLICT DO NOTHING",
                [inv.invitation_id, customer_id, survey_id, at, at],
            ).fetchall()
        table = events_from_records([contact_event(inv, 0, at)], source=SOURCE)
        ingest_table(store, table, journey, source=SOURCE)
    found = ledger.get(store, inv.invitation_id)
    assert found is not None
    return StaffInvitation(found, new, would)
