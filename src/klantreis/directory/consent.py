"""Who may be contacted for what: the purposes, the legal basis per purpose and the reason
codes of a refusal.

The decision (:func:`decide`) takes the facts in this order and the first that applies wins:

1. ``erased``: the customer's details were erased on request (a tombstone is kept);
2. ``objected``: the latest consent record for the purpose says no (an objection or a
   withdrawn consent). Under the GDPR an objection always wins, whatever the basis;
3. ``no_consent``: the purpose's basis is ``consent`` and no consent was given;
4. ``no_contact_details``: no address for the channel;
5. ``suppressed``: the address is on the suppression list (bounces, complaints, "never").

Default bases (:class:`ConsentPolicy`): **surveys need consent**, **service messages may use
legitimate interest** (they are about an order or contact the customer has running). A
company that has done its own balancing test may send surveys on legitimate interest too
(``KLANTREIS_SURVEYS_BASIS=legitimate_interest``); an objection still stops them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BASES", "CHANNEL_FIELDS", "PURPOSES", "REASONS", "ConsentPolicy", "decide"]

PURPOSES = ("surveys", "service")
BASES = ("consent", "legitimate_interest")
REASONS = ("erased", "objected", "no_consent", "no_contact_details", "suppressed")

#: Which contact detail a channel needs. Web Push subscriptions are not kept here yet, so a
#: push channel has no contact details in the directory.
CHANNEL_FIELDS = {
    "email": "email",
    "sms": "phone",
    "whatsapp": "phone",
    "phone": "phone",
    "webhook": "phone",
    "csv": "email",
}


@dataclass(frozen=True)
class ConsentPolicy:
    """The legal basis per purpose: ``consent`` (an explicit yes is needed) or
    ``legitimate_interest`` (allowed until the customer objects)."""

    surveys: str = "consent"
    service: str = "legitimate_interest"

    def __post_init__(self) -> None:
        for purpose in PURPOSES:
            if getattr(self, purpose) not in BASES:
                raise ValueError(
                    f"basis for {purpose} must be one of {', '.join(BASES)},"
                    f" not {getattr(self, purpose)!r}"
                )

    def basis(self, purpose: str) -> str:
        check_purpose(purpose)
        return str(getattr(self, purpose))


def check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}: use one of {', '.join(PURPOSES)}")


def decide(
    *,
    erased: bool,
    consent: bool | None,
    basis: str,
    has_address: bool,
    suppressed: bool,
) -> str | None:
    """The reason code that forbids the contact, or ``None`` when it is allowed.
    ``consent`` is the latest record for the purpose (``None``: never asked)."""
    if erased:
        return "erased"
    if consent is False:
        return "objected"
    if basis == "consent" and consent is not True:
        return "no_consent"
    if not has_address:
        return "no_contact_details"
    if suppressed:
        return "suppressed"
    return None
