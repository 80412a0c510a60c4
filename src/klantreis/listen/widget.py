"""The webshop widget's server side: may this customer be asked now, and the invitation.

The fatigue decision is the server's, never the browser's: :data:`MayAsk` is the seam the
contact-rule engine fills (``may_ask(customer_id, survey_id) -> (allowed, reason)``). Until
then :func:`simple_may_ask` checks the ledger: the survey's own cooldown and the contact
rules' ``min_days_between`` and ``max_per_period`` over every invitation the customer had.

When the answer is yes, :func:`widget_invitation` records an invitation in the ledger
(``channel = "link"``, one per customer, survey and day: asking twice the same day gives
the same invitation) and the widget gets its signed link token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from klantreis.listen import ledger
from klantreis.listen.ledger import Invitation
from klantreis.model.survey import SurveyConfig
from klantreis.store.duckdb_store import EventStore

__all__ = ["MayAsk", "simple_may_ask", "widget_invitation"]

#: ``may_ask(customer_id, survey_id) -> (allowed, reason code)``.
MayAsk = Callable[[str, str], tuple[bool, str]]
#: How long a widget link stays valid.
WIDGET_LINK_LIFETIME = timedelta(hours=2)


def simple_may_ask(
    store: EventStore, config: SurveyConfig, now: Callable[[], datetime] | None = None
) -> MayAsk:
    """The default decision from the ledger (see the module notes)."""
    clock = now or (lambda: datetime.now(UTC))

    def may_ask(customer_id: str, survey_id: str) -> tuple[bool, str]:
        survey = config.survey(survey_id)
        if survey is None or not survey.active:
            return False, "unknown_survey"
        rules = config.contact_rules
        ledger.ensure_schema(store)
        rows = store.query(
            "SELECT survey_id, coalesce(sent_at, send_at) AS at, status"
            " FROM survey_invitations WHERE customer_id = ? AND status <> 'suppressed'",
            [customer_id],
        ).to_pylist()
        at = clock()
        for r in rows:
            if r["survey_id"] == survey_id and at - r["at"] < timedelta(days=survey.cooldown_days):
                return False, "cooldown"
        if any(at - r["at"] < timedelta(days=rules.min_days_between) for r in rows):
            return False, "min_days_between"
        recent = [r for r in rows if at - r["at"] < timedelta(days=rules.period_days)]
        if len(recent) >= rules.max_per_period:
            return False, "cap"
        return True, "ok"

    return may_ask


def widget_invitation(
    store: EventStore,
    survey_id: str,
    customer_id: str,
    lang: str,
    journey_id: str | None = None,
    now: datetime | None = None,
) -> Invitation:
    """The widget's invitation of ``customer_id`` today (made now, or the one made earlier
    today), marked sent."""
    at = now or datetime.now(UTC)
    trigger = f"widget:{customer_id}:{journey_id or ''}:{at.date().isoformat()}"
    inv_id = ledger.invitation_id(survey_id, trigger)
    ledger.ensure_schema(store)
    ledger.insert_new(
        store,
        [
            Invitation(
                invitation_id=inv_id,
                survey_id=survey_id,
                customer_id=customer_id,
                journey_id=journey_id,
                trigger_event_id=trigger,
                touchpoint=None,
                owner=None,
                channel="link",
                send_at=at,
                status="sent",
                lang=lang,
                planned_at=at,
                sent_at=at,
                expires_at=at + WIDGET_LINK_LIFETIME,
            )
        ],
    )
    found = ledger.get(store, inv_id)
    assert found is not None
    return found
