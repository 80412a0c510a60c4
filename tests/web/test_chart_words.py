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
def test_every_tooltip_line_is_worded(as_user: Any, path: str, lang: str) -> None:
    page = as_user("analyst").get(path, params={"lang": lang}).text
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
