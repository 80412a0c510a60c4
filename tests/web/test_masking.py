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


def test_none_and_empty_stay() -> None:
    assert mask_text(None) is None and mask_text("") == ""
    assert mask_customer_id(None) is None and mask_customer_id("C1") == MASK


def test_mask_record_hides_ids_and_masks_text() -> None:
    rec = {"customer_id": "C42", "text": "mail a@b.nl", "score": 3}
    out = mask_record(rec)
    assert out == {"customer_id": MASK, "text": "mail [e-mail]", "score": 3}
    assert rec["customer_id"] == "C42", "the input is not changed"
