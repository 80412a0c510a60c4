from __future__ import annotations

from pathlib import Path

import pytest

from klantreis.app import default_journey_config
from klantreis.contacts.taxonomy import (
    TaxonomyError,
    check_taxonomy,
    default_taxonomy,
    load_taxonomy,
    parse_taxonomy,
)

SHARED_IDS = {
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
}

GOOD = """
[[categories]]
id = "bezorging"
name_nl = "Bezorging"
name_en = "Delivery"
[[categories.reasons]]
id = "waar"
name_nl = "Waar?"
name_en = "Where?"
touchpoint = "bezorging"
phrases_nl = ["waar is het"]
"""


def test_default_taxonomy_has_the_shared_reason_ids_and_fits_the_journey() -> None:
    tax = default_taxonomy()
    assert set(tax.reason_ids()) == SHARED_IDS
    assert tax.check_against(default_journey_config()) == []
    assert all(r.phrases_nl and r.phrases_en and r.fix_nl for r in tax.reasons())
    assert tax.category_of()["factuur_onjuist"] == "factuur"


def test_a_minimal_file_parses() -> None:
    tax = parse_taxonomy(GOOD)
    assert tax.reason_ids() == ["waar"]
    assert tax.reason("waar").avoidable is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD + GOOD.split("[[categories.reasons]]")[1].join(["[[categories.reasons]]", ""]),
            "duplicate reason id(s): waar",
        ),
        (GOOD.replace('phrases_nl = ["waar is het"]', ""), "has no example phrases"),
        (GOOD.replace('id = "waar"', 'id = "unknown"'), "reserved"),
        (GOOD.replace('id = "waar"', 'id = "Waar Is"'), "categories.0.reasons.0.id"),
        (
            GOOD.replace('touchpoint = "bezorging"', 'touchpoint = "bezorging"\ncolour = "red"'),
            "colour",
        ),
        ("[[categories]\n", "not valid TOML"),
    ],
)
def test_problems_are_reported_readably(text: str, expected: str) -> None:
    with pytest.raises(TaxonomyError) as err:
        parse_taxonomy(text, "t.toml")
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_check_against_the_journey_names_unknown_touchpoints(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(GOOD.replace('touchpoint = "bezorging"', 'touchpoint = "teleport"'), "utf-8")
    problems = check_taxonomy(path, default_journey_config())
    assert len(problems) == 1 and "teleport" in problems[0]
    assert check_taxonomy(tmp_path / "missing.toml") == ["file not found"]
    assert load_taxonomy(None).name == default_taxonomy().name
