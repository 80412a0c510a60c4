"""Catalogues: same keys in every language, every key used in templates exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from klantreis.web.i18n import LANGUAGES, Translator, catalogue, pick_language

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "klantreis" / "web" / "templates"
PAGES = TEMPLATES.parent / "pages"


def test_languages_have_the_same_keys() -> None:
    assert set(catalogue("nl")) == set(catalogue("en"))


def test_placeholders_agree_between_languages() -> None:
    for key, text in catalogue("nl").items():
        assert set(re.findall(r"{(\w+)}", text)) == set(
            re.findall(r"{(\w+)}", catalogue("en")[key])
        ), key


def _used_keys() -> set[str]:
    keys: set[str] = set()
    sources = list(TEMPLATES.glob("*.html")) + list(PAGES.glob("*.py"))
    for path in sources:
        keys.update(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']""", path.read_text("utf-8")))
        keys.update(
            re.findall(r"""NavItem\([^,]+,\s*["']([a-z0-9_.]+)["']""", path.read_text("utf-8"))
        )
    return {k for k in keys if not k.endswith(".")}  # "dim." ~ name: checked below


def test_every_used_key_exists() -> None:
    used = _used_keys()
    assert len(used) > 30
    missing = sorted(k for k in used if k not in catalogue("nl"))
    assert missing == []


@pytest.mark.parametrize(
    ("prefix", "names"),
    [
        ("dim.", ["touchpoint", "stage", "channel", "owner", "segment"]),
        ("metric.", ["nps", "ces", "csat", "nps.scale", "ces.scale", "csat.scale"]),
        ("period.", ["7d", "30d", "90d", "365d", "all"]),
        ("role.", ["admin", "analyst", "viewer"]),
    ],
)
def test_keys_built_in_templates_exist(prefix: str, names: list[str]) -> None:
    for lang in LANGUAGES:
        assert [n for n in names if prefix + n not in catalogue(lang)] == []


@pytest.mark.parametrize(
    ("lang", "number", "date"), [("nl", "1.234,5", "31 mrt 2026"), ("en", "1,234.5", "31 Mar 2026")]
)
def test_numbers_and_dates_by_locale(lang: str, number: str, date: str) -> None:
    t = Translator(lang)
    assert t.number(1234.5, 1) == number
    assert t.day("2026-03-31") == date
    assert t.number(-2.25, 1, signed=True).startswith("-")
    assert t.number(2, 1, signed=True).startswith("+")
    assert t.number(None) == "–"


def test_pick_language_order() -> None:
    assert pick_language("en", "nl", "nl") == "en"
    assert pick_language(None, "en", "nl") == "en"
    assert pick_language("xx", None, "nl") == "nl"
    assert set(LANGUAGES) == {"nl", "en"}


def test_missing_key_falls_back_to_the_key() -> None:
    assert Translator("nl")("no.such.key") == "no.such.key"
    assert Translator("en")("index.movers_explain", days=7).startswith("Last 7 days")
