"""The webshop widget's server side: may this customer be asked now, and the invitation.

The fatigue decision is the server's, never the browser's: :data:`MayAsk` is the seam the
contact-rule engine fills (``may_ask(customer_id, survey_id) -> (allowed, reason)``). Until
then :func:`simple_may_ask` checks the ledger: the survey's own cooldown and the contact
rules' ``min_days_between`` and ``max_per_period`` over every invitation the customer had.

When the answer is yes, :func:`widget_invitation` records an invitation in the ledger
(``channel = "link"``, one per customer, survey and day: asking twice the same day gives
the same invitation) and the widget gets its signed link token.

**Who the customer is** is the shop's word, signed: the shop's server computes
``HMAC-SHA256(widget_secret, "<customer id>.<expiry>")`` (expiry in Unix seconds, hex
digest; :func:`sign_customer`) and puts id, expiry and signature in the page. The widget
endpoint refuses an id without a signature, with a wrong one, or whose expiry has passed or
lies more than :data:`MAX_SIGNATURE_LIFETIME` ahead (:func:`check_customer`), so a visitor
cannot ask in another customer's name by editing the page.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from klantreis.listen import ledger
from klantreis.listen.ledger import Invitation
from klantreis.model.survey import SurveyConfig
from klantreis.settings import Settings, SettingsError
from klantreis.store.duckdb_store import EventStore

__all__ = [
    "IDENTITY_REFUSALS",
    "MAX_SIGNATURE_LIFETIME",
    "MayAsk",
    "check_customer",
    "sign_customer",
    "simple_may_ask",
    "widget_invitation",
    "widget_secret",
]

#: ``may_ask(customer_id, survey_id) -> (allowed, reason code)``.
MayAsk = Callable[[str, str], tuple[bool, str]]
#: How long a widget link stays valid.
WIDGET_LINK_LIFETIME = timedelta(hours=2)
#: The furthest ahead a shop's signature of a customer id may expire.
MAX_SIGNATURE_LIFETIME = timedelta(days=7)
#: The widget secret used in demo mode when none is set (documented; never outside demo).
DEMO_WIDGET_SECRET = "klantreis-demo-widget-secret-not-for-production"
#: The shortest widget secret accepted.
MIN_WIDGET_SECRET = 32

IdentityRefusal = Literal["unsigned", "bad_signature", "expired", "too_long_lived"]
IDENTITY_REFUSALS: tuple[IdentityRefusal, ...] = (
    "unsigned",
    "bad_signature",
    "expired",
    "too_long_lived",
)


def widget_secret(settings: Settings) -> str:
    """The key the shop signs customer ids with: the ``widget_secret`` setting (at least
    :data:`MIN_WIDGET_SECRET` characters); in demo mode without it :data:`DEMO_WIDGET_SECRET`;
    otherwise :class:`SettingsError`."""
    if settings.widget_secret:
        if len(settings.widget_secret) < MIN_WIDGET_SECRET:
            raise SettingsError(
                f"widget_secret must be at least {MIN_WIDGET_SECRET} characters"
                " (e.g. `openssl rand -hex 32`)"
            )
        return settings.widget_secret
    if settings.demo_mode:
        return DEMO_WIDGET_SECRET
    raise SettingsError(
        "widget_secret is not set: set KLANTREIS_WIDGET_SECRET (e.g. `openssl rand -hex 32`),"
        " shared with the shop that signs its customer ids (no default outside demo mode)"
    )


def sign_customer(secret: str, customer_id: str, expires: int) -> str:
    """The shop's signature of ``customer_id`` until ``expires`` (Unix seconds): hex
    HMAC-SHA256 over ``"<customer id>.<expires>"``.

    >>> sign_customer("k" * 32, "C01234", 1767225600)[:16]
    '70ab79989b6ca887'
    """
    message = f"{customer_id}.{int(expires)}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check_customer(
    secret: str,
    customer_id: str,
    expires: str | None,
    signature: str | None,
    now: datetime | None = None,
) -> IdentityRefusal | None:
    """Why the shop's signature of ``customer_id`` is refused, or None when it is valid (a
    constant-time comparison)."""
    if not expires or not signature:
        return "unsigned"
    try:
        until = int(expires)
    except ValueError:
        return "bad_signature"
    expected = sign_customer(secret, customer_id, until)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        return "bad_signature"
    at = (now or datetime.now(UTC)).timestamp()
    if until <= at:
        return "expired"
    if until > at + MAX_SIGNATURE_LIFETIME.total_seconds():
        return "too_long_lived"
    return None


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
