"""A group with no answers at all (n = 0) says so ("geen antwoorden" / "no answers"); "too
few answers" is kept for a group with some, but fewer than the minimum (walk 8)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from klantreis.app import App
from klantreis.model.events import events_from_records

WORDS = {"nl": ("geen antwoorden", "te weinig antwoorden"), "en": ("no answers", "too few answers")}


def _ces_only_in_the_store_channel(app: App, n: int = 5) -> None:
    """``n`` CES answers (no NPS) about bezorging, the only answers on the channel "store"."""
    records = [
        {
            "event_id": f"store-{i}",
            "occurred_at": f"2026-03-{20 + i}T10:00:00+00:00",
            "kind": "survey.response",
            "touchpoint": "bezorging",
            "owner": "carrier:snelpost",
            "channel": "store",
            "customer_id": f"S{i}",
            "journey_id": f"SJ{i}",
            "metric": "ces",
            "score": 3,
            "lang": "nl",
        }
        for i in range(n)
    ]
    app.store.append(events_from_records(records))


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_matrix_tells_none_from_too_few(web_app: App, as_user: Any, lang: str) -> None:
    _ces_only_in_the_store_channel(web_app)
    html = as_user("analyst").get(f"/scores?channel=store&period=30d&lang={lang}").text
    matrix = re.search(r'data-testid="matrix".*?</table>', html, re.S)
    assert matrix, "the NPS x CES table is shown"
    row = re.search(r"<tr><td>(?:Bezorging|Delivery)</td>.*?</tr>", matrix.group(0), re.S)
    assert row, matrix.group(0)
    none, few = WORDS[lang]
    nps, ces = re.findall(r'data-label="(?:NPS|CES)">(.*?)</td>', row.group(0), re.S)
    assert none in nps and few not in nps, "no NPS answers at all"
    assert few in ces, "five CES answers: too few"
    overall = re.search(r'data-testid="overall-ces"[^>]*>(.*?)</td>', html, re.S)
    assert overall and few in overall.group(1)


@pytest.mark.parametrize(("lang", "one"), [("nl", "1 antwoord in"), ("en", "1 answer in")])
def test_the_index_counts_its_answers_in_the_right_form(
    web_app: App, as_user: Any, lang: str, one: str
) -> None:
    """One answer: "1 antwoord" (not "1 antwoorden"), and too few for a value; none at all
    is the page's own notice, not "too few"."""
    _ces_only_in_the_store_channel(web_app, n=1)
    html = as_user("viewer").get(f"/?channel=store&lang={lang}").text
    value = re.search(r'data-testid="index-value">(.*?)</span>\s*</span>', html, re.S)
    few = WORDS[lang][1]
    assert value and few in value.group(1), value
    explain = re.search(r'data-testid="index-explain">(.*?)</p>', html, re.S)
    assert explain and one in explain.group(1), explain
    empty = as_user("viewer").get(f"/?channel=fax&lang={lang}").text
    assert few not in empty and 'data-testid="index-value"' not in empty


@pytest.mark.parametrize(
    ("kind", "nl", "en"),
    [
        ("score", "Nog geen antwoorden na de oplossing", "12 answers before"),
        ("contacts", "Nog geen reizen na de oplossing", "1 journey before"),
    ],
)
def test_a_fix_without_anything_after_it_says_none_yet(kind: str, nl: str, en: str) -> None:
    """Before/after a fix with nothing after it: "no ... after the fix yet", the count before
    in its plural form, not "too few after the fix (0 after)"."""
    from klantreis.web.app import _templates
    from klantreis.wording import Wording

    side = {"n": 12, "journeys": 1}
    c = {"too_few": True, "before": side, "after": {"n": 0, "journeys": 0}}
    for lang, words in (("nl", nl), ("en", en)):
        t = Wording(lang)
        macros = _templates().get_template("cases_macros.html").make_module({"t": t})
        text = str(macros.fix_side(c, kind, 1))
        assert words in text and "(0 " not in text, text
    c["after"] = {"n": 3, "journeys": 3}
    text = str(
        _templates().get_template("cases_macros.html").make_module({"t": t}).fix_side(c, kind, 1)
    )
    assert "3 after" in text, "some after the fix: still 'too few'"
