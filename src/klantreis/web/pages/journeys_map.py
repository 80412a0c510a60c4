"""Layout of the journey map: the directly-follows graph as boxes and curves, drawn offline.

A pure function from the graph and per-step statistics to coordinates and colours; the
template turns them into SVG (escaping every text). Columns are the journey stages in their
configured order (steps without a stage go last); inside a column steps follow the order in
which the journey configuration lists their kinds. Boxes are coloured by the score of the
step's touchpoint or by the contacts per 100 journeys that pass the step (red = bad,
green = good, grey = no data); an edge whose two steps have different owners is a hand-over
and is drawn dashed.

Two orientations: ``horizontal`` (stages as columns, for a laptop; the SVG scales to its
card) and ``vertical`` (one step a row, stages as bands, edges as arcs beside the column,
for a phone). Each box lists the step's owners (three carriers deliver) with their score.
Edge labels that would overlap are moved apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from klantreis.model.journey import JourneyConfig

__all__ = ["goodness", "layout"]

NODE_W, NODE_H, GAP_X, GAP_Y, PAD, HEADER = 170, 46, 70, 26, 16, 34
#: Owners listed in a box; the rest are counted ("+2").
MAX_OWNERS = 3
OWNER_LINE = 14
#: A label closer than this (x, y) to an earlier one is moved down.
LABEL_GAP = (34, 13)
#: How a metric's value maps to 0 (bad) .. 1 (good).
_SCALES = {
    "csat": (0.0, 100.0, False),
    "nps": (-100.0, 100.0, False),
    "ces": (1.0, 7.0, True),
    "stars": (1.0, 5.0, False),
}


def goodness(value: float | None, color: str, metric: str) -> float | None:
    """0 (bad) .. 1 (good) for colouring; None when there is no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if color == "contacts":
        return max(0.0, 1.0 - value / 100.0)
    lo, hi, lower_is_better = _SCALES.get(metric, (0.0, 100.0, False))
    g = min(1.0, max(0.0, (value - lo) / (hi - lo)))
    return 1.0 - g if lower_is_better else g


def _fill(g: float | None) -> str:
    if g is None:
        return "#e5e7eb"
    return f"hsl({round(120 * g)}, 65%, 78%)"


def _positions(
    activities: Sequence[str], journey: JourneyConfig, by_touchpoint: bool
) -> tuple[dict[str, tuple[int, int]], list[str]]:
    stage_order = {s.id: i for i, s in enumerate(sorted(journey.stages, key=lambda s: s.order))}
    kind_rank: dict[str, int] = {}
    tp_stage = journey.stage_of_touchpoint()
    for i, tp in enumerate(journey.touchpoints):
        for kind in tp.kinds:
            kind_rank.setdefault(kind, len(kind_rank))
        kind_rank.setdefault("tp:" + tp.id, i)
    kind_tp = journey.touchpoint_for_kind()

    def stage_of(act: str) -> str | None:
        return tp_stage.get(act if by_touchpoint else kind_tp.get(act, ""))

    def col_key(act: str) -> int:
        stage = stage_of(act)
        return stage_order.get(stage, len(stage_order)) if stage else len(stage_order)

    used = sorted({col_key(a) for a in activities})
    column = {c: i for i, c in enumerate(used)}
    rows: dict[int, list[str]] = {}
    for act in activities:
        rows.setdefault(column[col_key(act)], []).append(act)
    pos: dict[str, tuple[int, int]] = {}
    for col, acts in rows.items():
        prefix = "tp:" if by_touchpoint else ""
        for row, act in enumerate(sorted(acts, key=lambda a: (kind_rank.get(prefix + a, 999), a))):
            pos[act] = (col, row)
    ids = {v: k for k, v in stage_order.items()}
    headers = [ids.get(c, "") for c in used]
    return pos, headers


def _edge_path(
    a: tuple[float, float], b: tuple[float, float], h: float
) -> tuple[str, float, float]:
    """Horizontal map: a curve from the right of box ``a`` to the left of box ``b``."""
    (x1, y1), (x2, y2) = a, b
    sx, sy, tx, ty = x1 + NODE_W, y1 + h / 2, x2, y2 + h / 2
    if tx > sx:
        dx = (tx - sx) / 2
        return (
            f"M{sx:.0f},{sy:.0f} C{sx + dx:.0f},{sy:.0f} {tx - dx:.0f},{ty:.0f} {tx:.0f},{ty:.0f}",
            (sx + tx) / 2,
            (sy + ty) / 2,
        )
    # backwards or within a column: leave at the bottom, loop under, come back from below
    sx, sy, tx, ty = x1 + NODE_W / 2 + 12, y1 + h, x2 + NODE_W / 2 - 12, y2 + h
    depth = 40 + abs(sx - tx) / 6
    low = max(sy, ty) + depth
    return (
        f"M{sx:.0f},{sy:.0f} C{sx:.0f},{low:.0f} {tx:.0f},{low:.0f} {tx:.0f},{ty:.0f}",
        (sx + tx) / 2,
        low - depth / 4,
    )


def _arc_path(
    a: tuple[float, float], b: tuple[float, float], h: float, span: int
) -> tuple[str, float, float]:
    """Vertical map: an arc beside the column, forwards on the right, backwards on the
    left, wider for steps further apart (so arcs nest instead of crossing labels)."""
    (x1, y1), (_, y2) = a, b
    if span == 1 and y2 > y1:  # the next box: straight down
        x = x1 + NODE_W / 2
        return f"M{x:.0f},{y1 + h:.0f} L{x:.0f},{y2:.0f}", x + 14, (y1 + h + y2) / 2 + 4
    right = y2 > y1
    side = x1 + NODE_W if right else x1
    bulge = (18 + 16 * min(span, 6)) * (1 if right else -1)
    sy, ty = y1 + h / 2, y2 + h / 2
    cx = side + bulge * 4 / 3
    return (
        f"M{side:.0f},{sy:.0f} C{cx:.0f},{sy:.0f} {cx:.0f},{ty:.0f} {side:.0f},{ty:.0f}",
        side + bulge,
        (sy + ty) / 2 + 4,
    )


def _spread_labels(edges: list[dict[str, Any]]) -> None:
    """Move a label down while it would overlap one placed before it."""
    placed: list[tuple[float, float]] = []
    for e in edges:
        x, y = e["label_x"], e["label_y"]
        while any(abs(x - px) < LABEL_GAP[0] and abs(y - py) < LABEL_GAP[1] for px, py in placed):
            y += LABEL_GAP[1]
        e["label_y"] = y
        placed.append((x, y))


def _owner_lines(
    owners: Sequence[Mapping[str, Any]], name: Any, metric: str
) -> list[dict[str, Any]]:
    lines = [
        {
            "owner": o["owner"],
            "name": name(o["owner"]),
            "score": o.get("score"),
            "score_n": o.get("score_n", 0),
            "metric": metric,
        }
        for o in owners[:MAX_OWNERS]
    ]
    if len(owners) > MAX_OWNERS:
        lines.append(
            {
                "owner": None,
                "name": f"+{len(owners) - MAX_OWNERS}",
                "score": None,
                "score_n": 0,
                "metric": metric,
            }
        )
    return lines


def _box_height(owner_lines: int) -> int:
    return max(NODE_H, 24 + OWNER_LINE * max(owner_lines, 1))


def layout(
    dfg: Sequence[Mapping[str, Any]],
    steps: Sequence[Mapping[str, Any]],
    journey: JourneyConfig,
    activity: str = "kind",
    color: str = "score",
    metric: str = "csat",
    lang: str = "nl",
    max_nodes: int = 16,
    max_edges: int = 30,
    min_share: float = 0.02,
    owners: Sequence[Mapping[str, Any]] = (),
    orientation: str = "horizontal",
    owner_name: Any = None,
) -> dict[str, Any]:
    """Nodes (with x, y, w, h, fill, label and owner lines), edges (with an SVG path, width,
    hand-over flag and a label position), stage headers and the canvas size. ``steps`` rows
    come from ``step_stats``, ``owners`` rows from ``step_owners``; edges rarer than
    ``min_share`` of the most frequent one are left out (the tables list all)."""
    name = owner_name or (lambda o: next((x.name for x in journey.owners if x.id == o), o))
    chosen = [s for s in steps if s["activity"] is not None][:max_nodes]
    pos, headers = _positions([s["activity"] for s in chosen], journey, activity == "touchpoint")
    per_step: dict[str, list[Mapping[str, Any]]] = {}
    for o in owners:
        per_step.setdefault(o["activity"], []).append(o)
    lines = {
        s["activity"]: _owner_lines(
            per_step.get(s["activity"])
            or [{"owner": s["owner"], "score": s["score"], "score_n": s["score_n"]}]
            if s["owner"]
            else [],
            name,
            metric,
        )
        for s in chosen
    }
    h = _box_height(max((len(v) for v in lines.values()), default=1))
    vertical = orientation == "vertical"
    place = _place_vertical if vertical else _place_horizontal
    at, stage_headers, width, height = place(pos, headers, journey, lang, h)
    nodes = [
        {
            **s,
            "id": s["activity"],
            "label": (
                journey.label("touchpoint", s["activity"], lang)
                if activity == "touchpoint"
                else s["activity"]
            ),
            "x": at[s["activity"]][0],
            "y": at[s["activity"]][1],
            "w": NODE_W,
            "h": h,
            "value": s["contacts_per_100"] if color == "contacts" else s["score"],
            "owners": lines[s["activity"]],
            "fill": _fill(
                goodness(
                    s["contacts_per_100"] if color == "contacts" else s["score"], color, metric
                )
            ),
        }
        for s in chosen
        if s["activity"] in at
    ]
    edges = _edges(dfg, nodes, at, h, vertical, max_edges, min_share)
    offset = 0
    if vertical:
        width = max([width] + [e["label_x"] + 24 for e in edges])
        offset = max([0] + [24 - e["label_x"] for e in edges])
        width += offset
    else:
        height = max([height] + [e["label_y"] + 16 for e in edges])
    return {
        "width": round(width),
        "height": round(height),
        "nodes": nodes,
        "edges": edges,
        "stages": stage_headers,
        "color": color,
        "metric": metric,
        "orientation": orientation,
        "offset_x": round(offset),
    }


def _edges(
    dfg: Sequence[Mapping[str, Any]],
    nodes: Sequence[Mapping[str, Any]],
    at: Mapping[str, tuple[float, float]],
    h: float,
    vertical: bool,
    max_edges: int,
    min_share: float,
) -> list[dict[str, Any]]:
    owner = {n["id"]: n["owner"] for n in nodes}
    order = {n["id"]: i for i, n in enumerate(sorted(nodes, key=lambda n: (n["y"], n["x"])))}
    kept = [e for e in dfg if e["source"] in at and e["target"] in at]
    top = max((e["count"] for e in kept), default=1)
    kept = [e for e in kept if e["count"] >= min_share * top][:max_edges]
    edges = []
    for e in kept:
        if vertical:
            span = abs(order[e["target"]] - order[e["source"]])
            path, lx, ly = _arc_path(at[e["source"]], at[e["target"]], h, span)
        else:
            path, lx, ly = _edge_path(at[e["source"]], at[e["target"]], h)
        a, b = owner.get(e["source"]), owner.get(e["target"])
        edges.append(
            {
                **e,
                "path": path,
                "label_x": round(lx),
                "label_y": round(ly),
                "width": round(1 + 5 * math.sqrt(e["count"] / top), 2),
                "handover": bool(a and b and a != b),
            }
        )
    _spread_labels(edges)
    return edges


def _place_horizontal(
    pos: Mapping[str, tuple[int, int]],
    headers: Sequence[str],
    journey: JourneyConfig,
    lang: str,
    h: int,
) -> tuple[dict[str, tuple[float, float]], list[dict[str, Any]], float, float]:
    at: dict[str, tuple[float, float]] = {
        act: (float(PAD + col * (NODE_W + GAP_X)), float(PAD + HEADER + row * (h + GAP_Y)))
        for act, (col, row) in pos.items()
    }
    cols = max((p[0] for p in pos.values()), default=0) + 1
    rows = max((p[1] for p in pos.values()), default=0) + 1
    width = 2 * PAD + cols * NODE_W + (cols - 1) * GAP_X
    height = 2 * PAD + HEADER + rows * (h + GAP_Y) + 40
    stage_headers: list[dict[str, Any]] = [
        {
            "x": PAD + i * (NODE_W + GAP_X) + NODE_W / 2,
            "y": PAD + 12,
            "anchor": "middle",
            "label": journey.label("stage", sid, lang) if sid else "–",
        }
        for i, sid in enumerate(headers)
    ]
    return at, stage_headers, width, height


def _place_vertical(
    pos: Mapping[str, tuple[int, int]],
    headers: Sequence[str],
    journey: JourneyConfig,
    lang: str,
    h: int,
) -> tuple[dict[str, tuple[float, float]], list[dict[str, Any]], float, float]:
    at: dict[str, tuple[float, float]] = {}
    stage_headers = []
    y = float(PAD)
    for col, sid in enumerate(headers):
        stage_headers.append(
            {
                "x": PAD,
                "y": y + 14,
                "anchor": "start",
                "label": journey.label("stage", sid, lang) if sid else "–",
            }
        )
        y += HEADER - 6
        for act, _ in sorted(
            ((a, p[1]) for a, p in pos.items() if p[0] == col), key=lambda item: item[1]
        ):
            at[act] = (PAD, y)
            y += h + GAP_Y
    return at, stage_headers, 2 * PAD + NODE_W, y + PAD
