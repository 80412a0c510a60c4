"""Masking of personal data for people who may not see it (the viewer role).

Customer texts are untrusted and often contain personal data: e-mail addresses (also written
as ``jan (at) example [dot] nl``), Dutch and international phone numbers, IBANs, BSN-like
numbers, addresses, dates of birth, customer and order numbers, and names after an
introduction or a sign-off. ``mask_text`` replaces each with a fixed placeholder (Dutch by
default; a page passes the words of its language, :func:`worded_placeholders`);
``mask_customer_id`` hides an id field.

Free-text masking is heuristic: the patterns catch the common ways people write these
things, not every way. Data that must never reach a viewer belongs in fields (which are
withheld), not in free text.

>>> mask_text("Bel me op 06-12345678 of mail jan@example.nl")
'Bel me op [telefoon] of mail [e-mail]'
>>> mask_text("Terugstorten op nl91abna0417164300 graag")
'Terugstorten op [IBAN] graag'
>>> mask_text("groetjes, Anouk")
'groetjes, [naam]'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "PII_FIELDS",
    "PLACEHOLDERS",
    "PLACEHOLDER_KINDS",
    "SAFE_ATTR_KEYS",
    "mask_attrs",
    "mask_customer_id",
    "mask_record",
    "mask_text",
    "worded_placeholders",
]

MASK = "•••"

#: Record fields that identify a customer and are hidden entirely.
PII_FIELDS = ("customer_id",)

#: What ``mask_text`` can hide, and (:data:`PLACEHOLDERS`, same order) its default words.
PLACEHOLDER_KINDS = ("email", "iban", "phone", "bsn", "address", "birth_date", "number", "name")
#: Every default (Dutch) placeholder ``mask_text`` writes.
PLACEHOLDERS = (
    "[e-mail]",
    "[IBAN]",
    "[telefoon]",
    "[BSN]",
    "[adres]",
    "[geboortedatum]",
    "[nummer]",
    "[naam]",
)
_DEFAULT = dict(zip(PLACEHOLDER_KINDS, PLACEHOLDERS, strict=True))
#: A placeholder is a bracketed word or words: no digit, "@" or bracket inside, so no later
#: pattern can match in it (and it can never look like the data it hides).
_SAFE_PLACEHOLDER = re.compile(r"\[[^\d@\[\]<>&\n]{1,40}\]")


def worded_placeholders(word: Callable[[str], str]) -> dict[str, str]:
    """The placeholders in a language: ``word("mask.<kind>")`` for every kind (``word`` is a
    :class:`~klantreis.wording.Wording`). Raises ValueError for a catalogue word that is not
    a safe placeholder."""
    out = {kind: word(f"mask.{kind}") for kind in PLACEHOLDER_KINDS}
    for kind, text in out.items():
        if not _SAFE_PLACEHOLDER.fullmatch(text):
            raise ValueError(f"mask.{kind}: {text!r} is not a safe placeholder")
    return out


_AT = r"(?:@|\s*[(\[{]\s*(?:at|apenstaartje)\s*[)\]}]\s*)"
_DOT = r"(?:\.|\s*[(\[{]\s*(?:dot|punt)\s*[)\]}]\s*)"
_EMAIL = re.compile(
    rf"[\w.+-]+{_AT}[\w-]+(?:{_DOT}[\w-]+)*{_DOT}[a-z]{{2,}}\b|[\w.+-]+\s+at\s+[\w-]+\.(?:nl|be|de|com|org|net|eu)\b",
    re.IGNORECASE | re.UNICODE,
)
# IBAN candidates, any case, optionally in groups of four; only those with a valid mod-97
# check are masked (so ordinary words and codes are left alone).
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]{4}){2,7}(?:[ ]?[A-Za-z0-9]{1,3})?\b")
# Phone numbers: +31/0031/0 then 9 digits with optional separators (-, ., /, space), other
# +CC numbers, and Dutch mobile numbers without their leading 0 (6 then 8 digits).
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\d{2}[\s./-]?(?:\(0\)[\s./-]?)?|0)"
    r"\d(?:[\s./-]?\d){7,10}(?!\w)"
    r"|(?<![\w+.,-])6[\s/-]?\d(?:[\s-]?\d){7}(?![\w.,-]?\d)"
)
# Street + house number ("Kerkstraat 12", "Lange Voorhout 12a") and Dutch postcodes.
_STREET = re.compile(
    r"\b[A-Za-z][a-zà-ÿ'-]*(?:straat|weg|laan|plein|gracht|kade|dijk|singel|hof|steeg|dreef|"
    r"pad|markt|park|plantsoen|baan|dam|wal|erf|veld|kwartier|street|road|lane|avenue)"
    r"\s+\d{1,5}(?:\s?[a-zA-Z](?!\w)|-\d+)?"
)
_POSTCODE = re.compile(r"\b[1-9]\d{3}\s?[A-Z]{2}\b|\b[1-9]\d{3}[a-z]{2}\b")
# Dates of birth: a date after a label, or any full date in the 1900s.
_DATE = r"\d{1,2}[-/. ]\d{1,2}[-/. ]\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2}\s+[a-z]+\s+\d{4}"
_BIRTH = re.compile(
    rf"(?i)\b(geboren\s+(?:op\s+)?|geb\.?\s*|geboortedatum\s*:?\s*|"
    rf"date\s+of\s+birth\s*:?\s*|d\.?o\.?b\.?\s*:?\s*|born\s+(?:on\s+)?|birthday\s*:?\s*|"
    rf"verjaardag\s*:?\s*)({_DATE})"
)
_OLD_DATE = re.compile(r"\b\d{1,2}[-/.]\d{1,2}[-/.]19\d{2}\b|\b19\d{2}-\d{2}-\d{2}\b")
# Customer/order numbers: a label followed by an identifier with a digit.
_CUSTOMER_NO = re.compile(
    r"(?i)\b(klantnummer|klantnr\.?|klant-id|klant|customer\s+(?:id|number|no\.?)|"
    r"ordernummer|ordernr\.?|bestelnummer|bestelnr\.?|bestelling|order\s+(?:id|number|no\.?)|"
    r"order|factuurnummer|factuurnr\.?|factuur|invoice(?:\s+number)?|"
    r"track\s*(?:&|and|en)\s*trace(?:code)?|trackingnummer|tracking\s+number|"
    r"zending|pakket(?:nummer)?|referentie|reference|ref\.?|dossier(?:nummer)?|nr\.?|no\.?)"
    r"(\s*[:#]?\s*)"
    r"((?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{2,})\b"
)
_HASH_NO = re.compile(r"(?<!\w)#\s?((?=[A-Za-z0-9-]*\d)[A-Za-z0-9-]{3,})\b")
# Id-like tokens without a label: letters then at least 4 digits ("K123456", "ORD-2026-0012",
# "C99999"), and runs of 7 or more digits.
_ID_TOKEN = re.compile(r"\b[A-Za-z]{1,4}-?\d{4,}(?:-\d+)*\b|(?<![\d,.])\d(?:[ .]?\d){6,}(?![\d,])")
_NINE_DIGITS = re.compile(r"(?<![\d,.-])\d(?:[. ]?\d){8}(?![\d,-])")

# Names after an introduction ("mijn naam is jan de vries") or a sign-off ("groetjes, Anouk").
_PARTICLE = r"(?:van|de|der|den|het|ter|ten|te|la|le|du|di|da|von|el|al|bin|'t|in 't)"
_WORD = r"[A-Za-zÀ-ÿ][a-zà-ÿ'-]+"
_NAME_AFTER_INTRO = re.compile(
    rf"(?i)\b(mijn\s+naam\s+is|ik\s+heet|my\s+name\s+is|name\s*:|naam\s*:|u\s+spreekt\s+met)"
    rf"(\s+)((?:{_PARTICLE}\s+)*{_WORD}(?:\s+(?:{_PARTICLE}\s+)*{_WORD}){{0,2}})"
)
_SIGN_OFF = (
    r"met\s+vriendelijke\s+groet(?:en)?|vriendelijke\s+groet(?:en)?|hartelijke\s+groet(?:en)?|"
    r"(?:hele\s+)?(?:lieve\s+)?groet(?:en|jes)?|mvg|m\.v\.g\.?|gr\.?|doei|dank\s+je\s+wel|"
    r"alvast\s+bedankt|bedankt|kind\s+regards|best\s+regards|regards|greetings|cheers|"
    r"thanks|thank\s+you|sincerely|yours\s+sincerely|best\s+wishes"
)
_NAME_AFTER_SIGN_OFF = re.compile(
    rf"(?im)\b({_SIGN_OFF})(\s*[,.!:-]\s*|\s+)"
    rf"((?:{_PARTICLE}\s+)*{_WORD}(?:[ \t]+(?:{_PARTICLE}[ \t]+)*{_WORD}){{0,2}})[ \t]*[.!]?[ \t]*$"
)
_NAME_AFTER_GREETING = re.compile(
    rf"\b(?i:ik\s+ben|i\s+am|u\s+spreekt\s+met|you.re\s+speaking\s+with)(\s+)"
    rf"((?:[A-Z][a-zà-ÿ'-]+)(?:\s+(?:{_PARTICLE}\s+)*[A-Z][a-zà-ÿ'-]+){{0,2}})"
    r"(?=\s*(?:[,.!]|$|\s+(?:van|from|en|and|hier|here)\b))"
)
#: Words after an introduction that are not a name.
_NOT_NAMES = frozenset(
    [
        "het",
        "de",
        "een",
        "the",
        "a",
        "an",
        "not",
        "niet",
        "erg",
        "heel",
        "very",
        "boos",
        "blij",
        "teleurgesteld",
        "happy",
        "angry",
        "sad",
        "verdrietig",
        "ontevreden",
        "tevreden",
        "klant",
        "customer",
        "al",
        "nog",
        "ook",
        "also",
        "still",
        "just",
        "maar",
        "zeer",
        "echt",
        "really",
        "so",
        "zo",
        "wel",
        "geen",
        "no",
        "none",
        "u",
        "you",
        "jullie",
        "we",
        "wij",
        "hier",
        "here",
        "bij",
        "en",
        "and",
        "dat",
        "that",
        "dit",
        "this",
        "een",
        "weer",
        "again",
        "pakket",
        "bestelling",
        "order",
        "vandaag",
        "today",
        "morgen",
        "tomorrow",
        "gisteren",
        "yesterday",
        "team",
        "service",
        "klantenservice",
        "support",
        "uit",
        "from",
        "aan",
        "to",
        "iedereen",
        "allemaal",
        "everyone",
        "all",
        "voor",
        "for",
        "nothing",
        "niks",
        "niets",
        "alles",
        "everything",
        "hoor",
        "again",
        "anyway",
        "toch",
        "alvast",
    ]
)


def _iban_ok(candidate: str) -> bool:
    code = candidate.replace(" ", "").upper()
    if not 15 <= len(code) <= 34:
        return False
    moved = code[4:] + code[:4]
    digits = "".join(str(int(c, 36)) for c in moved)
    return int(digits) % 97 == 1


def _bsn_ok(digits: str) -> bool:
    """The Dutch "elfproef" for a nine-digit BSN (weights 9..2 and -1)."""
    total = sum(int(d) * w for d, w in zip(digits, (9, 8, 7, 6, 5, 4, 3, 2, -1), strict=True))
    return total % 11 == 0 and total != 0


def _mask_iban(match: re.Match[str], placeholder: str) -> str:
    return placeholder if _iban_ok(match.group(0)) else match.group(0)


def _mask_bsn(match: re.Match[str], placeholder: str) -> str:
    return placeholder if _bsn_ok(re.sub(r"[. ]", "", match.group(0))) else match.group(0)


def _is_name(words: str) -> bool:
    first = words.split()[0].lower()
    return first not in _NOT_NAMES


def _mask_intro(match: re.Match[str], placeholder: str) -> str:
    words = match.group(3).split()
    kept: list[str] = []
    for word in words:  # stop at the first word that is not part of a name ("jan en ik")
        if word.lower() in _NOT_NAMES and not re.fullmatch(_PARTICLE, word, re.I):
            break
        kept.append(word)
    if not kept or not _is_name(kept[0]):
        return match.group(0)
    rest = match.group(3)[len(" ".join(kept)) :]
    return f"{match.group(1)}{match.group(2)}{placeholder}{rest}"


def _mask_sign_off(match: re.Match[str], placeholder: str) -> str:
    if not _is_name(match.group(3)):
        return match.group(0)
    tail = match.group(0)[match.end(3) - match.start(0) :]
    return f"{match.group(1)}{match.group(2)}{placeholder}{tail}"


def _mask_greeting_name(match: re.Match[str], placeholder: str) -> str:
    if not _is_name(match.group(2)):
        return match.group(0)
    return f"{match.group(0)[: match.start(2) - match.start(0)]}{placeholder}"


def _mask_names(text: str, name: str) -> str:
    out = _NAME_AFTER_INTRO.sub(lambda m: _mask_intro(m, name), text)
    out = _NAME_AFTER_SIGN_OFF.sub(lambda m: _mask_sign_off(m, name), out)
    return _NAME_AFTER_GREETING.sub(lambda m: _mask_greeting_name(m, name), out)


_MAYBE_EMAIL = re.compile(r"@|(?i:[(\[{]\s*(?:at|apenstaartje)\s*[)\]}]|\sat\s)")
_DIGIT = re.compile(r"\d")


def _mask_numbers(text: str, p: Mapping[str, str]) -> str:
    if not _DIGIT.search(text):  # every pattern below needs a digit; most texts have none
        return text
    born, number = p["birth_date"], p["number"]
    out = _BIRTH.sub(lambda m: f"{m.group(1)}{born}", text)
    out = _OLD_DATE.sub(lambda _: born, out)
    out = _STREET.sub(lambda _: p["address"], out)
    out = _POSTCODE.sub(lambda _: p["address"], out)
    out = _PHONE.sub(lambda _: p["phone"], out)
    out = _NINE_DIGITS.sub(lambda m: _mask_bsn(m, p["bsn"]), out)
    out = _CUSTOMER_NO.sub(lambda m: f"{m.group(1)}{m.group(2)}{number}", out)
    out = _HASH_NO.sub(lambda _: f"#{number}", out)
    return _ID_TOKEN.sub(lambda _: number, out)


def mask_text(text: str | None, placeholders: Mapping[str, str] | None = None) -> str | None:
    """``text`` with e-mail addresses, IBANs, phone numbers, BSN-like numbers, addresses,
    dates of birth, customer and order numbers and names replaced by placeholders
    (``placeholders``, one per :data:`PLACEHOLDER_KINDS`, from :func:`worded_placeholders`;
    by default :data:`PLACEHOLDERS`). ``None`` stays ``None``. A heuristic: see the module
    notes."""
    if not text:
        return text
    p = placeholders or _DEFAULT
    out = _EMAIL.sub(lambda _: p["email"], text) if _MAYBE_EMAIL.search(text) else text
    out = _IBAN.sub(lambda m: _mask_iban(m, p["iban"]), out)
    out = _mask_numbers(out, p)
    return _mask_names(out, p["name"])


def mask_customer_id(customer_id: str | None) -> str | None:
    """A customer id as a viewer sees it: hidden (``None`` stays ``None``)."""
    return None if customer_id is None else MASK


#: ``attrs`` keys a viewer may see (their text values still pass :func:`mask_text`); every
#: other key's value is replaced by :data:`MASK`, whatever a mapping put there.
SAFE_ATTR_KEYS = frozenset(
    {
        "segment",
        "reason",
        "reason_label",
        "deadline",
        "promised",
        "amount",
        "currency",
        "carrier",
        "resolved",
        "response_minutes",
        "status",
        "items",
        "method",
        "payment_method",
        "store",
        "stage",
        "priority",
        "category",
        "product",
        "sku",
        "quantity",
        "duration_minutes",
    }
)


def mask_attrs(
    attrs: str | Mapping[str, Any] | None, placeholders: Mapping[str, str] | None = None
) -> str | dict[str, Any] | None:
    """``attrs`` as a viewer sees it: keys of :data:`SAFE_ATTR_KEYS` kept (texts masked),
    every other value replaced by :data:`MASK`. A JSON text stays a JSON text; a text that
    is not a JSON object is withheld entirely.

    >>> mask_attrs('{"segment": "zakelijk", "email": "a@b.nl"}')
    '{"segment": "zakelijk", "email": "•••"}'
    """
    if attrs is None:
        return None
    as_text = isinstance(attrs, str)
    try:
        value = json.loads(attrs) if isinstance(attrs, str) else attrs
    except ValueError:
        return MASK
    if not isinstance(value, Mapping):
        return MASK
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in SAFE_ATTR_KEYS:
            out[key] = MASK
        elif isinstance(item, str):
            out[key] = mask_text(item, placeholders)
        elif isinstance(item, (int, float, bool)) or item is None:
            out[key] = item
        else:
            out[key] = MASK
    return json.dumps(out, ensure_ascii=False) if as_text else out


def mask_record(
    record: Mapping[str, Any],
    text_fields: Iterable[str] = ("text",),
    placeholders: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A copy of ``record`` with its id fields hidden, its free-text fields masked (with
    ``placeholders``, see :func:`mask_text`) and its ``attrs`` reduced to the safe keys
    (:func:`mask_attrs`)."""
    out = dict(record)
    if "attrs" in out:
        out["attrs"] = mask_attrs(out["attrs"], placeholders)
    for name in PII_FIELDS:
        if name in out:
            out[name] = mask_customer_id(out[name])
    for name in text_fields:
        if isinstance(out.get(name), str):
            out[name] = mask_text(out[name], placeholders)
    return out
