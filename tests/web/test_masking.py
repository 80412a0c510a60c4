"""Personal data masking with Dutch formats."""

from __future__ import annotations

import pytest

from klantreis.access.masking import MASK, mask_customer_id, mask_record, mask_text


@pytest.mark.parametrize(
    ("text", "secret", "placeholder"),
    [
        ("Bel me op 06-12345678 a.u.b.", "06-12345678", "[telefoon]"),
        ("Mijn nummer is +31 6 1234 5678.", "+31 6 1234 5678", "[telefoon]"),
        ("bereikbaar op 0612345678", "0612345678", "[telefoon]"),
        ("vast: 020-1234567", "020-1234567", "[telefoon]"),
        ("0031 20 123 4567 overdag", "0031 20 123 4567", "[telefoon]"),
        ("Storten op NL91ABNA0417164300 graag", "NL91ABNA0417164300", "[IBAN]"),
        ("iban NL91 ABNA 0417 1643 00.", "NL91 ABNA 0417 1643 00", "[IBAN]"),
        ("Belgisch: BE68539007547034", "BE68539007547034", "[IBAN]"),
        ("mail jan.de.vries+shop@example.nl svp", "jan.de.vries+shop@example.nl", "[e-mail]"),
        ("klantnummer: K123456 klopt niet", "K123456", "[nummer]"),
        ("my customer number 998877 please", "998877", "[nummer]"),
        ("Met vriendelijke groet, Jan de Vries", "Jan de Vries", "[naam]"),
        ("Hallo, mijn naam is Fatima El Amrani en", "Fatima El Amrani", "[naam]"),
    ],
)
def test_personal_data_is_masked(text: str, secret: str, placeholder: str) -> None:
    masked = mask_text(text)
    assert masked is not None
    assert secret not in masked and placeholder in masked


@pytest.mark.parametrize(
    "text",
    [
        "Pakket kwam 2 dagen te laat, 3 dozen beschadigd.",
        "Besteld op 12-03-2026 om 10:30, bezorgd op 14-03.",
        "Ik ben erg teleurgesteld over de bezorging",
        "The delivery took 5 days and cost EUR 4,95",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


# The variants of the security review (issue 12) that passed unmasked before, and their kin.
VARIANTS = [
    ("storten op nl91abna0417164300 graag", "nl91abna0417164300", "[IBAN]"),
    ("iban nl91 abna 0417 1643 00.", "nl91 abna 0417 1643 00", "[IBAN]"),
    ("Refund to gb82west12345698765432 please", "gb82west12345698765432", "[IBAN]"),
    ("groetjes, Anouk", "Anouk", "[naam]"),
    ("Groetjes Anouk", "Anouk", "[naam]"),
    ("met vriendelijke groet, Jan de Vries", "Jan de Vries", "[naam]"),
    ("Met vriendelijke groet,\nJan de Vries\n", "Jan de Vries", "[naam]"),
    ("mijn naam is jan de vries en ik wacht al weken", "jan de vries", "[naam]"),
    ("mvg Piet", "Piet", "[naam]"),
    ("Kind regards, John Smith", "John Smith", "[naam]"),
    ("Thanks!\nJohn", "John", "[naam]"),
    ("Ik ben Anouk.", "Anouk", "[naam]"),
    ("bel 06/12345678", "12345678", "[telefoon]"),
    ("bel 612345678 svp", "612345678", "[telefoon]"),
    ("bel 6-12345678 svp", "12345678", "[telefoon]"),
    ("+31612345678 is mijn nummer", "612345678", "[telefoon]"),
    ("+31 (0)6 12345678", "12345678", "[telefoon]"),
    ("06 123 456 78 overdag", "456 78", "[telefoon]"),
    ("mail jan (at) example.nl", "example", "[e-mail]"),
    ("mail jan [at] example [dot] nl", "example", "[e-mail]"),
    ("mail JAN(AT)EXAMPLE(DOT)NL", "EXAMPLE", "[e-mail]"),
    ("mail jan at example.nl", "example", "[e-mail]"),
    ("Kerkstraat 12, 1234 AB Amsterdam", "Kerkstraat 12", "[adres]"),
    ("Kerkstraat 12, 1234 AB Amsterdam", "1234 AB", "[adres]"),
    ("ik woon op kerkstraat 12a", "kerkstraat 12a", "[adres]"),
    ("postcode 1234AB huisnummer 5", "1234AB", "[adres]"),
    ("bsn 111222333", "111222333", "[BSN]"),
    ("BSN: 123.456.782", "123.456.782", "[BSN]"),
    ("mijn nummer 123456782 klopt", "123456782", "[BSN]"),
    ("geboren op 12-03-1985", "12-03-1985", "[geboortedatum]"),
    ("geboortedatum: 1985-03-12", "1985-03-12", "[geboortedatum]"),
    ("date of birth 12 March 1985", "12 March 1985", "[geboortedatum]"),
    ("geb. 3/4/1979", "3/4/1979", "[geboortedatum]"),
    ("mijn ordernummer is 4001234567", "4001234567", "[nummer]"),
    ("bestelling KR20260012 is zoek", "KR20260012", "[nummer]"),
    ("order #A123456 niet ontvangen", "A123456", "[nummer]"),
    ("klant C99999 belt", "C99999", "[nummer]"),
    ("waar is order O-2026-00123", "O-2026-00123", "[nummer]"),
    ("track & trace 3SABC1234567 zegt niets", "3SABC1234567", "[nummer]"),
]


@pytest.mark.parametrize(("text", "secret", "placeholder"), VARIANTS)
def test_review_variants_are_masked(text: str, secret: str, placeholder: str) -> None:
    masked = mask_text(text)
    assert masked is not None
    assert secret not in masked and placeholder in masked, masked


@pytest.mark.parametrize(
    "text",
    [
        "Storten op NL91ABNA0417164399 graag",  # wrong IBAN check digits: not an IBAN
        "Ik heb 3 keer gebeld. Groeten uit Utrecht",
        "Top service, bedankt voor alles",
        "Betaald met iDEAL, 2 stuks van 12,50 euro.",
        "Gebeld op 12 maart om 14:00 met de klantenservice",
        "nummer 123456789 klopt niet met de elfproef",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    masked = mask_text(text)
    assert masked is not None
    assert "[IBAN]" not in masked and "[naam]" not in masked and "[BSN]" not in masked


def test_none_and_empty_stay() -> None:
    assert mask_text(None) is None and mask_text("") == ""
    assert mask_customer_id(None) is None and mask_customer_id("C1") == MASK


def test_mask_record_hides_ids_and_masks_text() -> None:
    rec = {"customer_id": "C42", "text": "mail a@b.nl", "score": 3}
    out = mask_record(rec)
    assert out == {"customer_id": MASK, "text": "mail [e-mail]", "score": 3}
    assert rec["customer_id"] == "C42", "the input is not changed"


def test_placeholders_come_in_the_page_language() -> None:
    """English pages read "[phone]", "[number]", "[name]" (not the Dutch words); the
    masking itself is the same in every language."""
    from klantreis.access.masking import PLACEHOLDER_KINDS, PLACEHOLDERS, worded_placeholders
    from klantreis.wording import Wording

    text = "Bel 06-12345678, klantnummer K123456, groetjes, Anouk"
    english = worded_placeholders(Wording("en"))
    dutch = worded_placeholders(Wording("nl"))
    assert mask_text(text, english) == "Bel [phone], klantnummer [number], groetjes, [name]"
    assert (
        mask_text(text, dutch)
        == mask_text(text)
        == "Bel [telefoon], klantnummer [nummer], groetjes, [naam]"
    )
    assert tuple(dutch[k] for k in PLACEHOLDER_KINDS) == PLACEHOLDERS
    assert len(set(english.values())) == len(PLACEHOLDER_KINDS), "each kind its own word"


@pytest.mark.parametrize("word", ["[06-12345678]", "[a@b.nl]", "<b>", "[x] [y]", "nummer"])
def test_a_placeholder_that_could_be_data_or_markup_is_refused(word: str) -> None:
    from klantreis.access.masking import worded_placeholders

    with pytest.raises(ValueError, match="not a safe placeholder"):
        worded_placeholders(lambda key: word if key == "mask.phone" else "[x]")
