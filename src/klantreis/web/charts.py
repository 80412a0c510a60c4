"""Vega-Lite specs for the pages, built from plain data rows.

Specs carry their data inline (``data.values``) and are drawn in the browser by the vendored
vega-embed as SVG. Every function returns a dict ready for ``json_script``.
"""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["band_line", "bars_with_ci", "index_line", "matrix_scatter", "weekly_lines"]

_BASE: dict[str, Any] = {
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "width": "container",
    "autosize": {"type": "fit-x", "contains": "padding"},
    "config": {
        "view": {"stroke": None},
        "axis": {"labelFontSize": 11, "titleFontSize": 11},
        "font": "system-ui, sans-serif",
    },
}


def _spec(**parts: Any) -> dict[str, Any]:
    """A Vega-Lite spec; its description (the chart's aria-label, otherwise Vega's English
    "Vega visualization") is its title, in the page's language."""
    title = parts.get("title")
    described = {"description": title} if isinstance(title, str) else {}
    return {**_BASE, **described, **parts}


#: Width of one character of an axis title (11 px system font), for wrapping.
_TITLE_CHAR_PX = 6.6


def axis_title(text: str, length: float) -> str | list[str]:
    """An axis title that fits along an axis ``length`` px long (a vertical title longer than
    a phone's chart is cut at both ends): longer titles break at spaces into the fewest lines,
    as even as they can be; a name and its scale in brackets ("CSAT", "(% tevreden, 4-5 van
    5)") go on lines of their own when that takes no more lines (not "... 4-5 van" / "5)")."""
    per_line = max(8, int(length / _TITLE_CHAR_PX))
    if len(text) <= per_line:
        return text
    lines = _even_lines(text.split(), per_line)
    head, bracket, scale = text.partition(" (")
    if bracket and len(head) <= per_line:
        split = [head, *_even_lines(("(" + scale).split(), per_line)]
        if len(split) <= len(lines):
            return split
    return lines


def _even_lines(words: list[str], per_line: int) -> list[str]:
    """``words`` in the fewest lines of at most ``per_line`` characters (a longer word has a
    line of its own), the longest line as short as it can be."""
    for count in range(1, len(words) + 1):
        options = [
            [" ".join(words[a:b]) for a, b in itertools.pairwise((0, *cuts, len(words)))]
            for cuts in itertools.combinations(range(1, len(words)), count - 1)
        ]
        best = min(options, key=lambda lines: max(map(len, lines)))
        if all(len(line) <= per_line or " " not in line for line in best):
            return best
    return words


def index_line(
    points: list[dict[str, Any]],
    title: str,
    value_label: str,
    date_label: str,
    bounds: tuple[str, str],
    base: float = 100.0,
) -> dict[str, Any]:
    """The index per day with its interval band and a rule at the base value (100). Days
    without a value (too few answers) stay in the data so that the line breaks there
    (``invalid: null``) instead of jumping over the gap."""
    x = {"field": "day", "type": "temporal", "title": date_label}
    banded = [p for p in points if p.get("ci_low") is not None and p.get("value") is not None]
    return _spec(
        height=220,
        title=title,
        layer=[
            {
                "data": {"values": banded},
                "mark": {"type": "area", "opacity": 0.2, "color": "#1f5fbf", "aria": False},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "ci_low",
                        "type": "quantitative",
                        "title": axis_title(value_label, 220),
                    },
                    "y2": {"field": "ci_high"},
                    "tooltip": [
                        {"field": "day", "type": "temporal", "title": date_label},
                        {"field": "ci_low", "format": ".1f", "title": bounds[0]},
                        {"field": "ci_high", "format": ".1f", "title": bounds[1]},
                    ],
                },
            },
            {
                "data": {"values": points},
                "mark": {
                    "type": "line",
                    "strokeWidth": 2.5,
                    "point": {"size": 18},
                    "invalid": None,
                },
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "value",
                        "type": "quantitative",
                        "title": axis_title(value_label, 220),
                        "scale": {"zero": False},
                    },
                    "tooltip": [
                        {"field": "day", "type": "temporal", "title": date_label},
                        {
                            "field": "value",
                            "type": "quantitative",
                            "format": ".1f",
                            "title": value_label,
                        },
                        {"field": "n_window", "type": "quantitative", "title": "n"},
                    ],
                },
            },
            {
                "data": {"values": [{"base": base}]},
                "mark": {"type": "rule", "strokeDash": [4, 4], "color": "#888"},
                "encoding": {"y": {"field": "base", "type": "quantitative"}},
            },
        ],
    )


def band_line(
    rows: list[dict[str, Any]],
    title: str,
    value_label: str,
    date_label: str,
    bounds: tuple[str, str],
) -> dict[str, Any]:
    """A score over time with its confidence band (rows: period, value, ci_low, ci_high, n);
    ``bounds`` names the band's low and high ends in the tooltip."""
    shown = [r for r in rows if r.get("value") is not None]
    x = {"field": "period", "type": "temporal", "title": date_label}
    return _spec(
        height=180,
        title=title,
        data={"values": shown},
        layer=[
            {
                "mark": {"type": "area", "opacity": 0.22, "color": "#1f5fbf", "aria": False},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "ci_low",
                        "type": "quantitative",
                        "title": axis_title(value_label, 180),
                        "scale": {"zero": False},
                    },
                    "y2": {"field": "ci_high"},
                },
            },
            {
                "mark": {"type": "line", "point": {"size": 16}, "color": "#1f5fbf"},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "value",
                        "type": "quantitative",
                        "title": axis_title(value_label, 180),  # the area's: one axis title
                    },
                    "tooltip": [
                        {"field": "period", "type": "temporal", "title": date_label},
                        {"field": "value", "format": ".1f", "title": value_label},
                        {"field": "ci_low", "format": ".1f", "title": bounds[0]},
                        {"field": "ci_high", "format": ".1f", "title": bounds[1]},
                        {"field": "n", "title": "n"},
                    ],
                },
            },
        ],
    )


def bars_with_ci(
    rows: list[dict[str, Any]], key: str, title: str, value_label: str, key_label: str
) -> dict[str, Any]:
    """Horizontal bars per group with interval whiskers (rows: key, value, ci_low, ci_high);
    ``key_label`` names the groups in the tooltip."""
    shown = [r for r in rows if r.get("value") is not None]
    y = {"field": key, "type": "nominal", "title": None, "sort": "-x"}
    return _spec(
        height={"step": 22},
        title=title,
        data={"values": shown},
        layer=[
            {
                "mark": {"type": "bar", "color": "#7aa6e6"},
                "encoding": {
                    "y": y,
                    "x": {"field": "value", "type": "quantitative", "title": value_label},
                    "tooltip": [
                        {"field": key, "title": key_label},
                        {"field": "value", "format": ".1f", "title": value_label},
                        {"field": "n", "title": "n"},
                    ],
                },
            },
            {
                "mark": {"type": "rule", "color": "#10243f"},
                "encoding": {
                    "y": y,
                    "x": {"field": "ci_low", "type": "quantitative"},
                    "x2": {"field": "ci_high"},
                },
            },
        ],
    )


def matrix_scatter(
    rows: list[dict[str, Any]], title: str, x_label: str, y_label: str, label: str
) -> dict[str, Any]:
    """NPS (y) against CES (x) per touchpoint (``label`` names them in the tooltip)."""
    shown = [r for r in rows if r.get("nps") is not None and r.get("ces") is not None]
    enc = {
        "x": {"field": "ces", "type": "quantitative", "title": x_label, "scale": {"zero": False}},
        "y": {
            "field": "nps",
            "type": "quantitative",
            "title": axis_title(y_label, 260),
            "scale": {"zero": False},
        },
    }
    return _spec(
        height=260,
        title=title,
        data={"values": shown},
        layer=[
            {
                "mark": {"type": "circle", "size": 120, "color": "#1f5fbf"},
                "encoding": {
                    **enc,
                    "tooltip": [
                        {"field": "label", "title": label},
                        {"field": "nps", "format": ".1f", "title": "NPS"},
                        {"field": "ces", "format": ".2f", "title": "CES"},
                    ],
                },
            },
            {
                "mark": {"type": "text", "dy": -12, "fontSize": 11},
                "encoding": {**enc, "text": {"field": "label"}},
            },
        ],
    )


def weekly_lines(
    rows: list[dict[str, Any]],
    series: str,
    title: str,
    value_label: str,
    date_label: str,
    series_label: str,
    value: str = "per_100_orders",
) -> dict[str, Any]:
    """One line per ``series`` over the weeks (``period``: the week's first day), the legend
    below the chart (so it fits a phone)."""
    points = [r for r in rows if r.get(value) is not None]
    return _spec(
        height=240,
        title=title,
        data={"values": points},
        mark={"type": "line", "point": {"size": 20}, "strokeWidth": 2},
        encoding={
            "x": {
                "field": "period",
                "type": "temporal",
                "timeUnit": "yearmonthdate",
                "title": date_label,
            },
            "y": {"field": value, "type": "quantitative", "title": axis_title(value_label, 240)},
            "color": {
                "field": series,
                "type": "nominal",
                "title": series_label,
                "legend": {"orient": "bottom", "columns": 2, "labelLimit": 260},
            },
            "tooltip": [
                {"field": series, "type": "nominal", "title": series_label},
                {"field": "period", "type": "temporal", "title": date_label},
                {"field": value, "type": "quantitative", "format": ".2f", "title": value_label},
            ],
        },
    )
