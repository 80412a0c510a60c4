"""Render the demo's customer texts from templates, with variation a classifier must cope with:
synonyms, several ways of writing the order number, mixed formality, lower case, missing
punctuation and typos. Everything is driven by numbers drawn from a seeded generator, so the
texts are deterministic.

A few comments deliberately contain things the product must handle safely: a ``<script>``
tag, an e-mail address, a phone number and an IBAN (see ``NASTY_COMMENTS``).
"""

from __future__ import annotations

import numpy as np

from klantreis.demo.templates import (
    COMMENTS,
    CONFUSERS,
    CONTACT_TEMPLATES,
    GENERIC,
    PREFIXES,
    SLOTS,
)

__all__ = ["NASTY_COMMENTS", "REASONS", "render_comments", "render_contacts"]

#: Contact reason ids, in a fixed order (their index is the reason code in the generator).
REASONS: tuple[str, ...] = (
    "waar_is_mijn_pakket",
    "pakket_beschadigd",
    "bezorgd_niet_ontvangen",
    "retour_aanmelden",
    "terugbetaling_status",
    "factuur_niet_ontvangen",
    "factuur_onjuist",
    "betaling_mislukt",
    "bestelling_wijzigen",
    "bestelling_annuleren",
    "productvraag",
    "inloggen_account",
)

#: Comments that exercise escaping and masking (fictional data; the IBAN is a test number).
NASTY_COMMENTS: tuple[tuple[str, str], ...] = (
    ("nl", "Pakket te laat <script>alert(1)</script> echt slecht"),
    ("nl", "Mail me terug op jan.de.vries@example.nl want niemand belt terug."),
    ("nl", "Bel me maar op 06-12345678, ik wacht al een week op mijn geld."),
    ("nl", "Stort het bedrag terug op NL91ABNA0417164300 aub, retour is al binnen."),
    ("en", "Refund to NL91 ABNA 0417 1643 00 please, or call +31 6 1234 5678."),
)

_SLOT_NAMES = ("hallo", "groet", "pakket", "nr", "bezorger", "dagen")
_PRIMES = (3, 7, 11, 13, 17, 19, 23, 29, 31)


def _pick(options: list[str], r: int, k: int) -> str:
    return options[(r // _PRIMES[k]) % len(options)]


def _order_ref(order_id: str, r: int) -> str:
    """Customers write order numbers in several ways."""
    style = (r // 37) % 4
    if style == 1:
        return order_id[2:]
    if style == 2:
        return order_id.lower()
    return order_id


def _fill(template: str, lang: str, r: int, order_id: str, carrier: str) -> str:
    slots = SLOTS[lang]
    values = {name: _pick(slots[name], r, k) for k, name in enumerate(_SLOT_NAMES)}
    values["nr"] = values["nr"].format(o=_order_ref(order_id, r))
    values["bezorger"] = values["bezorger"].format(c=carrier)
    text = template.format(**values)
    return " ".join(text.split())


def _typo(text: str, r: int) -> str:
    """Swap two neighbouring letters, or drop one, somewhere in the text."""
    if len(text) < 8:
        return text
    pos = 2 + (r // 41) % (len(text) - 4)
    if (r // 43) % 2:
        return text[:pos] + text[pos + 1] + text[pos] + text[pos + 2 :]
    return text[:pos] + text[pos + 1 :]


def _vary(text: str, r: int) -> str:
    style = (r // 53) % 20
    if style < 3:
        text = text.lower()
    elif style == 3:
        text = text.rstrip(".!?")
    elif style == 4:
        text = text.replace("?", "??")
    if (r // 59) % 10 == 0:
        text = _typo(text, r)
    return text


def _template(reason: str, lang: str, r: int) -> str:
    """Mostly a template of the reason; sometimes a message that does not say why, an
    opening sentence of context, or a second sentence about a neighbouring reason."""
    style = (r // 61) % 100
    if style < 4:
        options = GENERIC[lang]
        return options[(r // 67) % len(options)]
    options = CONTACT_TEMPLATES[lang][reason]
    template = options[r % len(options)]
    if style < 12:
        prefix = PREFIXES[lang][(r // 71) % len(PREFIXES[lang])]
        template = (
            template.replace("{hallo}", "{hallo} " + prefix, 1)
            if "{hallo}" in template
            else prefix + " " + template
        )
    elif style < 18 and lang == "nl":
        extra = CONFUSERS[reason]
        template = template + " " + extra[(r // 73) % len(extra)]
    return template


def render_contacts(
    reasons: np.ndarray,
    english: np.ndarray,
    order_ids: list[str],
    carriers: list[str],
    rng: np.random.Generator,
) -> list[str]:
    """One customer message per contact: reason codes (index in REASONS), English flags,
    the order id and the (display) carrier name of each contact."""
    draws = rng.integers(0, 2**62, size=len(reasons)).tolist()
    out = []
    for code, en, order_id, carrier, r in zip(
        reasons.tolist(), english.tolist(), order_ids, carriers, draws, strict=True
    ):
        lang = "en" if en else "nl"
        template = _template(REASONS[code], lang, r)
        out.append(_vary(_fill(template, lang, r, order_id, carrier), r))
    return out


def render_comments(topics: list[str], english: np.ndarray, rng: np.random.Generator) -> list[str]:
    """One comment per topic (a key of COMMENTS), in Dutch or English, with variation."""
    draws = rng.integers(0, 2**62, size=len(topics)).tolist()
    out = []
    for topic, en, r in zip(topics, english.tolist(), draws, strict=True):
        options = COMMENTS["en" if en else "nl"][topic]
        out.append(_vary(options[r % len(options)], r))
    return out
