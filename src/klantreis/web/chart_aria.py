"""What a screen reader hears of a chart, in the page's language.

Vega writes its own English for every part of a chart: an axis is "X-axis titled 'Datum' for
a time scale with values from ...", a legend "Symbol legend titled ...", a point lists every
encoded field by its raw name ("ci_low: 1,40720819687"), and each part has a role
description ("line mark", "axis"). :func:`spoken` gives every axis and legend a worded
description, every mark that has a tooltip a worded description per data row (its tooltip's
lines, formatted for the language), hides the marks that only decorate (the interval band,
whiskers, a base line, the labels beside points), and names the role descriptions in
``usermeta`` for ``app.js`` (Vega writes those itself; the rest are removed).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from klantreis.wording import Wording

__all__ = ["spoken"]

#: The field each data row gets its description in.
DESCRIPTION_FIELD = "_aria"
#: Vega's role descriptions -> the catalogue's word for them.
_ROLES = {
    "visualization": "chart.role.chart",
    "axis": "chart.role.axis",
    "legend": "chart.role.legend",
    "line mark": "chart.role.line",
    "point": "chart.role.point",
    "circle": "chart.role.point",
    "bar": "chart.role.bar",
}
_AXES = {"x": "chart.axis.x", "y": "chart.axis.y"}


def spoken(spec: dict[str, Any], w: Wording) -> dict[str, Any]:
    """A copy of Vega-Lite ``spec`` whose accessible texts are worded (see the module)."""
    out = copy.deepcopy(spec)
    for unit, rows in _units(out):
        _describe_marks(unit, rows, w)
    axes = {channel: _axis_description(out, channel, w(key), w) for channel, key in _AXES.items()}
    _describe_legends(out, w)
    out["usermeta"] = {
        "roledescriptions": {vega: w(key) for vega, key in _ROLES.items()},
        "axes": {channel: text for channel, text in axes.items() if text},
    }
    return out


def _units(spec: dict[str, Any]) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every view that draws a mark, with the data rows it draws (its own or the spec's)."""
    top = spec.get("data", {}).get("values")
    if "mark" in spec:
        yield spec, top if top is not None else []
    for layer in spec.get("layer", []):
        own = layer.get("data", {}).get("values")
        yield layer, own if own is not None else (top if top is not None else [])


def _describe_marks(unit: dict[str, Any], rows: list[dict[str, Any]], w: Wording) -> None:
    """A mark with a tooltip reads out its tooltip's lines; a mark without one is hidden."""
    mark = unit["mark"] if isinstance(unit["mark"], dict) else {"type": unit["mark"]}
    encoding = unit.setdefault("encoding", {})
    lines = encoding.get("tooltip")
    if mark.get("aria") is False or not isinstance(lines, list):
        unit["mark"] = {**mark, "aria": False}
        return
    unit["mark"] = mark
    for row in rows:
        row[DESCRIPTION_FIELD] = "; ".join(
            f"{line.get('title', line['field'])}: {_value(row[line['field']], line, w)}"
            for line in lines
            if row.get(line["field"]) is not None
        )
    encoding["description"] = {"field": DESCRIPTION_FIELD}


def _value(value: Any, line: dict[str, Any], w: Wording) -> str:
    """A tooltip line's value as the language writes it (its d3 ``.Nf`` format's digits)."""
    if line.get("type") == "temporal":
        return w.day(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    fmt = str(line.get("format", ""))
    if fmt.startswith(".") and fmt.endswith("f") and fmt[1:-1].isdigit():
        return w.number(value, int(fmt[1:-1]))
    return w.number(value, 0) if float(value).is_integer() else w.short(value)


def _axis_description(spec: dict[str, Any], channel: str, axis: str, w: Wording) -> str | None:
    """The ``channel`` axis's worded description: its title and the range (or the names) of
    what it shows. Vega reads an axis's description off its group item, which a Vega-Lite spec
    cannot set: ``app.js`` puts it on the drawn axis (``usermeta.axes``)."""
    defs = [
        (unit["encoding"][channel], rows)
        for unit, rows in _units(spec)
        if "field" in unit.get("encoding", {}).get(channel, {})
    ]
    if not defs:
        return None
    title = next((d["title"] for d, _ in defs if d.get("title")), None)
    kind = defs[0][0].get("type")
    values = [
        row[field]
        for d, rows in defs
        for field in _fields(spec, d, channel)
        for row in rows
        if row.get(field) is not None
    ]
    if title is None:
        title = _tooltip_title(spec, defs[0][0]["field"])
    return _axis_text(axis, title, kind, values, w)


def _fields(spec: dict[str, Any], d: dict[str, Any], channel: str) -> list[str]:
    """The fields an axis spans: its own and its ``x2``/``y2`` partner's in the same view."""
    fields = [d["field"]]
    for unit, _ in _units(spec):
        encoding = unit.get("encoding", {})
        if encoding.get(channel) is d and "field" in encoding.get(channel + "2", {}):
            fields.append(encoding[channel + "2"]["field"])
    return fields


def _tooltip_title(spec: dict[str, Any], field: str) -> str | None:
    for unit, _ in _units(spec):
        for line in unit.get("encoding", {}).get("tooltip", []) or []:
            if line.get("field") == field and line.get("title"):
                return str(line["title"])
    return None


def _axis_text(axis: str, title: Any, kind: Any, values: list[Any], w: Wording) -> str:
    named = (
        axis if not title else f"{axis}, {' '.join(title) if isinstance(title, list) else title}"
    )
    if not values:
        return named
    if kind in ("nominal", "ordinal"):
        return w("chart.axis.values", axis=named, values=", ".join(dict.fromkeys(map(str, values))))
    if kind == "temporal":
        ordered = sorted(map(str, values))
        low, high = w.day(ordered[0]), w.day(ordered[-1])
    else:
        low, high = w.number(min(values), 1), w.number(max(values), 1)
    return w("chart.axis.range", axis=named, low=low, high=high)


def _describe_legends(spec: dict[str, Any], w: Wording) -> None:
    """A colour legend reads its title and its names."""
    for unit, rows in _units(spec):
        colour = unit.get("encoding", {}).get("color", {})
        if "field" not in colour or ("legend" in colour and colour["legend"] is None):
            continue
        names = ", ".join(dict.fromkeys(str(r[colour["field"]]) for r in rows))
        text = w("chart.legend", title=colour.get("title") or "", values=names)
        # Vega reads a legend's description off its group item, which only ``encode`` sets
        encode = {"legend": {"update": {"description": {"value": text}}}}
        colour["legend"] = {**(colour.get("legend") or {}), "encode": encode}
