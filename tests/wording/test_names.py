"""Names of configured things in the reader's language, from the journey configuration and
the contacts taxonomy; ids only where nothing names them."""

from __future__ import annotations

import pytest

from klantreis.app import default_journey_config
from klantreis.contacts.taxonomy import default_taxonomy
from klantreis.wording import Names, Wording


@pytest.fixture(params=["nl", "en"])
def names(request: pytest.FixtureRequest) -> Names:
    return Names(default_journey_config(), Wording(request.param), default_taxonomy())


@pytest.mark.parametrize(
    ("dimension", "key", "nl", "en"),
    [
        ("owner", "carrier:vlotbezorgd", "VlotBezorgd", "VlotBezorgd"),
        ("owner", "customer_service", "Klantenservice", "Customer service"),
        ("owner", "warehouse", "Magazijn", "Warehouse"),
        ("stage", "orientatie", "Oriëntatie", "Orientation"),
        ("channel", "email", "E-mail", "Email"),
        ("reason", "waar_is_mijn_pakket", "Waar is mijn pakket?", "Where is my parcel?"),
        ("kind", "invoice.bounced", "Factuur onbestelbaar", "Invoice bounced"),
        ("metric", "stars", "Sterren", "Stars"),
        ("segment", "nieuw", "Nieuwe klanten", "New customers"),
        ("segment", "vip", "Vip", "Vip"),
        ("owner", "unknown", "Onbekend", "Unknown"),
        ("owner", "no_such_owner", "no_such_owner", "no_such_owner"),
    ],
)
def test_names(names: Names, dimension: str, key: str, nl: str, en: str) -> None:
    assert names(dimension, key) == (nl if names.w.lang == "nl" else en)


def test_conditions_and_scores(names: Names) -> None:
    broken = names.condition("broken:op_tijd_bezorgd@carrier:vlotbezorgd")
    kind = names.condition("kind:return.requested")
    if names.w.lang == "nl":
        assert broken == "Belofte gebroken: Op tijd bezorgd (VlotBezorgd)"
        assert kind == "Gebeurtenis: Retour aangemeld"
        assert names.score("stars", 4) == "4 sterren" and names.score("stars", 1) == "1 ster"
    else:
        assert broken == "Promise broken: Delivered on time (VlotBezorgd)"
        assert names.score("stars", 4) == "4 stars"
    assert names.score("nps", 9) == "NPS 9"
    assert names.condition("contacts>1") == "contacts>1"


def test_late_and_undelivered_conditions_are_named(names: Names) -> None:
    late = names.condition("late:op_tijd_bezorgd")
    undelivered = names.condition("undelivered:op_tijd_bezorgd@carrier:snelpost")
    if names.w.lang == "nl":
        assert late == "Te laat: Op tijd bezorgd"
        assert undelivered == "Niet bezorgd: Op tijd bezorgd (SnelPost)"
    else:
        assert late == "Late: Delivered on time"
        assert undelivered == "Not delivered: Delivered on time (SnelPost)"
