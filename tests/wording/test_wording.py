"""Numbers, plurals, names and sentences in Dutch and English."""

from __future__ import annotations

import random

import pytest
from babel.numbers import format_decimal

from klantreis.model.journey import JourneyConfig
from klantreis.wording import (
    LOCALES,
    Names,
    Wording,
    catalogue,
    format_delta,
    format_number,
    mover_sentence,
    test_label,
)


@pytest.mark.parametrize(
    ("lang", "value", "digits", "text"),
    [
        ("nl", 8.93, 2, "8,93"),
        ("en", 8.93, 2, "8.93"),
        ("nl", 1240.5, 1, "1.240,5"),
        ("en", 1240.5, 1, "1,240.5"),
        ("nl", 1240, 0, "1.240"),
        ("en", None, 1, "–"),
    ],
)
def test_numbers_follow_the_locale(lang: str, value: float | None, digits: int, text: str) -> None:
    assert Wording(lang).number(value, digits) == text


def test_numbers_are_babels_own() -> None:
    """Numbers are formatted with a kept pattern and locale (a table formats hundreds): the
    same text as babel's ``format_decimal``, halves and signs included."""
    rng = random.Random(17)
    values = [0.5, 1.5, 2.5, -0.05, 1e9 + 0.5, -1234.5678, 0, 7]
    values += [rng.uniform(-1e7, 1e7) for _ in range(200)] + [
        rng.randint(-(10**6), 10**6) for _ in range(50)
    ]
    for lang, locale in LOCALES.items():
        w = Wording(lang)
        for value in values:
            for digits in (0, 1, 2, 4):
                pattern = "#,##0" + ("." + "0" * digits if digits else "")
                assert format_number(value, lang, digits) == format_decimal(
                    value, format=pattern, locale=locale
                )
            assert w.short(value) == format_decimal(value, format="#,##0.##", locale=locale)


@pytest.mark.parametrize(
    ("lang", "value", "text"),
    [("nl", -4.123, "-4,1"), ("en", -4.123, "-4.1"), ("nl", -0.04, "+0,0"), ("en", 3, "+3.0")],
)
def test_signed_numbers_never_show_minus_zero(lang: str, value: float, text: str) -> None:
    assert Wording(lang).number(value, 1, signed=True) == text == format_delta(value, lang)


@pytest.mark.parametrize(
    ("lang", "value", "text"),
    [("nl", 6.12, "6,12"), ("en", 6.1, "6.1"), ("nl", 12.0, "12"), ("nl", 4.5, "4,5")],
)
def test_short_numbers_drop_trailing_zeros(lang: str, value: float, text: str) -> None:
    assert Wording(lang).short(value) == text


@pytest.mark.parametrize(
    ("lang", "value", "text"),
    [("nl", 1234.4, "€1.234"), ("en", 1234.6, "€1,235"), ("nl", 10, "€10")],
)
def test_money(lang: str, value: float, text: str) -> None:
    assert Wording(lang).money(value, "EUR") == text


def test_money_in_another_currency_keeps_its_code() -> None:
    assert Wording("nl").money(1500, "CHF") == "CHF 1.500"


def test_percent_follows_the_locale() -> None:
    assert Wording("nl").percent(0.125, 1) == "12,5%"
    assert Wording("en").percent(0.125, 1) == "12.5%"


@pytest.mark.parametrize(
    ("lang", "key", "count", "text"),
    [
        ("nl", "noun.comment", 1, "1 opmerking"),
        ("nl", "noun.comment", 2, "2 opmerkingen"),
        ("nl", "noun.comment", 0, "0 opmerkingen"),
        ("en", "noun.comment", 1, "1 comment"),
        ("en", "noun.comment", 2, "2 comments"),
        ("nl", "noun.answer", 1, "1 antwoord"),
        ("nl", "noun.contact", 1240, "1.240 contacten"),
        ("en", "noun.contact", 1240, "1,240 contacts"),
        ("nl", "driver.delivery.promised", 1, "1 te laat pakket"),
        ("nl", "driver.delivery.promised", 7, "7 te late pakketten"),
    ],
)
def test_plurals(lang: str, key: str, count: int, text: str) -> None:
    assert Wording(lang).count(key, count) == text


def test_every_plural_noun_has_both_forms_in_both_languages() -> None:
    for lang in ("nl", "en"):
        ids = catalogue(lang)
        ones = {k.removesuffix(".one") for k in ids if k.endswith(".one")}
        others = {k.removesuffix(".other") for k in ids if k.endswith(".other")}
        assert ones == others, lang


JOURNEY = JourneyConfig.model_validate(
    {
        "stages": [{"id": "bezorgen", "name_nl": "Bezorgen", "name_en": "Delivering"}],
        "owners": [
            {"id": "carrier:vlot", "name": "VlotBezorgd", "type": "partner"},
            {"id": "magazijn", "name": "Magazijn", "type": "team"},
        ],
        "touchpoints": [
            {
                "id": "bezorging",
                "name_nl": "Bezorging",
                "name_en": "Delivery",
                "stage": "bezorgen",
                "owner": "magazijn",
                "kinds": ["delivery.completed"],
            }
        ],
    }
)


def test_names_come_from_the_configuration() -> None:
    nl, en = Names(JOURNEY, Wording("nl")), Names(JOURNEY, Wording("en"))
    assert (nl("touchpoint", "bezorging"), en("touchpoint", "bezorging")) == (
        "Bezorging",
        "Delivery",
    )
    assert nl("stage", "bezorgen") == "Bezorgen" and en("owner", "carrier:vlot") == "VlotBezorgd"
    assert (nl("channel", "phone"), en("channel", "phone")) == ("Telefoon", "Phone")
    assert nl("touchpoint", "unknown") == "Onbekend"
    assert nl("touchpoint", "not_configured") == "not_configured"


def _mover(driver: dict[str, object], delta: float = -4.123) -> dict[str, object]:
    return {"dimension": "touchpoint", "key": "bezorging", "delta_points": delta, "driver": driver}


def test_a_mover_sentence_in_both_languages_with_locale_numbers() -> None:
    driver = {"type": "events", "key": "delivery.failed", "count": 1240, "previous": 1240}
    driver["owner"] = "carrier:vlot"
    m = _mover(driver)
    assert (
        mover_sentence(m, Names(JOURNEY, Wording("nl")))
        == "Bezorging -4,1: VlotBezorgd, 1.240 mislukte bezorgingen"
    )
    assert (
        mover_sentence(m, Names(JOURNEY, Wording("en")))
        == "Delivery -4.1: VlotBezorgd, 1,240 failed deliveries"
    )


def test_a_score_mover_counts_its_answers_with_the_right_plural() -> None:
    driver = {"type": "score", "score_before": 70.26, "score_after": 66.0, "n_after": 1}
    text = mover_sentence(_mover(driver), Names(JOURNEY, Wording("nl")))
    assert text == "Bezorging -4,1: score 70,3 → 66,0, 1 antwoord"


def test_contacts_mover_shows_its_change_in_percent() -> None:
    driver = {"type": "contacts", "key": "contact.inbound", "count": 150, "previous": 100}
    text = mover_sentence(_mover(driver, 2.0), Names(JOURNEY, Wording("en")))
    assert text == "Delivery +2.0: 150 contacts (+50%)"


def test_test_names_in_the_readers_language() -> None:
    assert test_label("welch-t-test", Wording("nl")) == "Welch t-toets"
    assert test_label("two-proportion-z-test", Wording("en")) == "two-proportion z-test"
    assert test_label("something-new", Wording("nl")) == "something-new"
