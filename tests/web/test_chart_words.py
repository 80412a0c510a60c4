"""A chart speaks the page's language: every tooltip line has a worded title (a hover over a
/scores point said "ci_low: 9,2", "value: 15,3", "label: Bezorging") and every chart has a
description, its aria-label (Vega's own is the English "Vega visualization")."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from klantreis.web.charts import axis_title
from klantreis.wording import Wording

CHARTS = re.compile(
    r'<script type="application/json" data-chart-for="([^"]+)">(.*?)</script>', re.S
)


def _specs(page: str) -> dict[str, dict[str, Any]]:
    return {m.group(1): json.loads(html.unescape(m.group(2))) for m in CHARTS.finditer(page)}


def _tooltips(spec: Any) -> Iterator[dict[str, Any]]:
    """Every tooltip field definition anywhere in a spec (layers included)."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "tooltip" and isinstance(value, list):
                yield from value
            else:
                yield from _tooltips(value)
    elif isinstance(spec, list):
        for item in spec:
            yield from _tooltips(item)


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("path", ["/", "/scores?period=all"])
def test_every_tooltip_line_is_worded(as_reader: Any, path: str, lang: str) -> None:
    page = as_reader("analyst").get(path, params={"lang": lang}).text
    specs = _specs(page)
    assert specs, "charts on the page"
    lines = [(name, t) for name, spec in specs.items() for t in _tooltips(spec)]
    assert lines, "tooltips to check"
    untitled = [(name, t["field"]) for name, t in lines if not t.get("title")]
    assert untitled == []
    raw = {"ci_low", "ci_high", "value", "label", "period", "day", "nps", "ces"}
    assert not [t for _, t in lines if t["title"] in raw]
    for name, spec in specs.items():
        assert spec.get("description") and spec["description"] == spec.get("title"), name
        _one_title_per_axis(name, spec)


def _one_title_per_axis(name: str, spec: dict[str, Any]) -> None:
    """Vega-Lite joins the layers' titles of an axis ("NPS, Upper bound, NPS"): one title per
    axis, none on x2/y2."""
    for channel in ("x", "y"):
        titles = {
            json.dumps(layer["encoding"][channel]["title"])
            for layer in [spec, *spec.get("layer", [])]
            if "title" in layer.get("encoding", {}).get(channel, {})
        }
        assert len(titles) <= 1, (name, channel, titles)
    for layer in [spec, *spec.get("layer", [])]:
        for channel in ("x2", "y2"):
            assert "title" not in layer.get("encoding", {}).get(channel, {}), (name, channel)


#: Vega's own English for a chart's parts, and raw field names: none may reach a Dutch page.
ENGLISH = re.compile(r"axis|mark|legend|titled|Title text|scale|ci_low|ci_high|\blabel\b|value:")
#: A number with more than two decimals ("17,7777777778" was read out).
UNROUNDED = re.compile(r"\d[.,]\d{3,}")


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("path", ["/", "/scores?period=all"])
def test_a_chart_is_read_out_in_the_pages_language(as_reader: Any, path: str, lang: str) -> None:
    """Each axis has a worded description for app.js, each mark with a tooltip a worded,
    rounded description per point; marks that only decorate are not read out."""
    w = Wording(lang)
    specs = _specs(as_reader("analyst").get(path, params={"lang": lang}).text)
    assert specs
    described = hidden = 0
    for name, spec in specs.items():
        meta = spec["usermeta"]
        assert meta["axes"]["x"].startswith(w("chart.axis.x")), name
        assert meta["axes"]["y"].startswith(w("chart.axis.y")), name
        assert meta["roledescriptions"]["axis"] == w("chart.role.axis")
        for layer in [spec, *spec.get("layer", [])]:
            if "mark" not in layer:
                continue
            if layer["mark"].get("aria") is False:
                hidden += 1
                continue
            field = layer["encoding"]["description"]["field"]  # a mark read out is described
            rows = layer.get("data", spec.get("data", {})).get("values", [])
            texts = [row[field] for row in rows]
            assert texts and all(texts), name
            described += len(texts)
            for text in texts:
                assert not UNROUNDED.search(text), (name, text)
                if lang == "nl":
                    assert not ENGLISH.search(text), (name, text)
    assert described and hidden, "points read out; the band, whiskers or base line not"


def test_a_legend_is_read_out_in_the_pages_language(as_reader: Any) -> None:
    specs = _specs(as_reader("analyst").get("/contacts", params={"lang": "nl"}).text)
    colours = [spec["encoding"]["color"] for spec in specs.values() if "color" in spec["encoding"]]
    assert colours
    for colour in colours:
        text = colour["legend"]["encode"]["legend"]["update"]["description"]["value"]
        assert text.startswith(f"Legenda ({colour['title']}): "), text


@pytest.mark.parametrize(
    ("title", "lines"),
    [
        ("CSAT (% tevreden, 4-5 van 5)", ["CSAT", "(% tevreden, 4-5 van 5)"]),
        ("CSAT (% satisfied, 4-5 of 5)", ["CSAT", "(% satisfied, 4-5 of 5)"]),
        (
            "CES (gemiddelde 1-7, lager is minder moeite)",
            ["CES (gemiddelde 1-7,", "lager is minder moeite)"],
        ),
        ("Gebroken per 100 bestellingen", ["Gebroken per", "100 bestellingen"]),
        ("NPS (-100 tot 100)", "NPS (-100 tot 100)"),
    ],
)
def test_an_axis_title_breaks_into_even_lines(title: str, lines: Any) -> None:
    """A 180 px axis holds 27 characters: the CSAT title broke as "... 4-5 van" / "5)"."""
    assert axis_title(title, 180) == lines
