"""Masking of personal data for people who may not see it (the viewer role).

Customer texts are untrusted and often contain personal data: e-mail addresses, Dutch and
international phone numbers, IBANs, customer or order numbers, and names after a greeting.
``mask_text`` replaces each with a fixed placeholder; ``mask_customer_id`` hides an id field.

>>> mask_text("Bel me op 06-12345678 of mail jan@example.nl")
'Bel me op [telefoon] of mail [e-mail]'
>>> mask_text("Terugstorten op NL91ABNA0417164300 graag")
'Terugstorten op [IBAN] graag'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "PII_FIELDS", "mask_customer_id", "mask_record", "mask_text"]

MASK = "•••"

#: Record fields that identify a customer and are hidden entirely.
PII_FIELDS = ("customer_id",)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# IBAN: two letters, two check digits, then 11-30 letters/digits, optionally in groups of 4.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
# Phone numbers: +31/0031/0 followed by 9 digits with optional separators; other +CC numbers.
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\d{2}[\s.-]?(?:\(0\)[\s.-]?)?|0)"
    r"\d(?:[\s.-]?\d){7,10}(?!\w)"
)
# Customer/order numbers: an explicit label followed by an identifier.
_CUSTOMER_NO = re.compile(
    r"(?i)\b(klantnummer|klantnr\.?|klant-id|customer\s+(?:id|number|no\.?)|"
    r"ordernummer|ordernr\.?|bestelnummer|order\s+(?:id|number|no\.?))(\s*[:#]?\s*)"
    r"([A-Z0-9][A-Z0-9-]{2,})"
)
# Names after an introduction or a sign-off: capitalised words (1-3).
_NAME = re.compile(
    r"(?i:\b(mijn naam is|ik ben|my name is|i am|met vriendelijke groet,?|groeten,?|groet,?|"
    r"mvg,?|regards,?|kind regards,?|greetings,?))(\s+)"
    r"((?:[A-Z][a-zà-ÿ'-]+|van|de|der|den)(?:\s+(?:[A-Z][a-zà-ÿ'-]+|van|de|der|den)){0,3})"
)

_NAME_STOPWORDS = frozenset(
    {
        "Het",
        "De",
        "Een",
        "The",
        "A",
        "Not",
        "Niet",
        "Erg",
        "Heel",
        "Very",
        "Boos",
        "Blij",
        "Teleurgesteld",
        "Happy",
        "Angry",
    }
)


def _mask_name(match: re.Match[str]) -> str:
    words = match.group(3).split()
    if words and words[0] in _NAME_STOPWORDS:
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}[naam]"


def mask_text(text: str | None) -> str | None:
    """``text`` with e-mail addresses, IBANs, phone numbers, customer numbers and introduced
    names replaced by placeholders. ``None`` stays ``None``."""
    if not text:
        return text
    out = _EMAIL.sub("[e-mail]", text)
    out = _IBAN.sub("[IBAN]", out)
    out = _PHONE.sub("[telefoon]", out)
    out = _CUSTOMER_NO.sub(lambda m: f"{m.group(1)}{m.group(2)}[nummer]", out)
    return _NAME.sub(_mask_name, out)


def mask_customer_id(customer_id: str | None) -> str | None:
    """A customer id as a viewer sees it: hidden (``None`` stays ``None``)."""
    return None if customer_id is None else MASK


def mask_record(
    record: Mapping[str, Any], text_fields: Iterable[str] = ("text",)
) -> dict[str, Any]:
    """A copy of ``record`` with its id fields hidden and its free-text fields masked."""
    out = dict(record)
    for name in PII_FIELDS:
        if name in out:
            out[name] = mask_customer_id(out[name])
    for name in text_fields:
        if isinstance(out.get(name), str):
            out[name] = mask_text(out[name])
    return out
