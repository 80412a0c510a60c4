"""Layout of the journey map: the directly-follows graph as boxes and curves, drawn offline.

A pure function from the graph and per-step statistics to coordinates and colours; the
template turns them into SVG (escaping every text). Columns are the journey stages in their
configured order (steps without a stage go last); inside a column steps follow the order in
which the journey configuration lists their kinds. Boxes are coloured by the score of the
step's touchpoint or by the contacts per 100 journeys that pass the step (red = bad,
green = good, grey = no data); an edge whose two steps have different owners is a hand-over
and is drawn dashed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from klantreis.model.journey import JourneyConfig

__all__ = ["goodness", "layout"]

NODE_W, NODE_H, GAP_X, GAP_Y, PAD, HEADER = 170, 46, 70, 26, 16, 34
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


def _edge_path(a: tuple[float, float], b: tuple[float, float]) -> tuple[str, float, float]:
    (x1, y1), (x2, y2) = a, b
    sx, sy, tx, ty = x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2
    if tx > sx:
        dx = (tx - sx) / 2
        return (
            f"M{sx:.0f},{sy:.0f} C{sx + dx:.0f},{sy:.0f} {tx - dx:.0f},{ty:.0f} {tx:.0f},{ty:.0f}",
            (sx + tx) / 2,
            (sy + ty) / 2,
        )
    # backwards or within a column: leave at the bottom, loop under, come back from below
    sx, sy, tx, ty = x1 + NODE_W / 2 + 12, y1 + NODE_H, x2 + NODE_W / 2 - 12, y2 + NODE_H
    depth = 40 + abs(sx - tx) / 6
    low = max(sy, ty) + depth
    return (
        f"M{sx:.0f},{sy:.0f} C{sx:.0f},{low:.0f} {tx:.0f},{low:.0f} {tx:.0f},{ty:.0f}",
        (sx + tx) / 2,
        low - depth / 4,
    )


def _nodes(
    steps: Sequence[Mapping[str, Any]], pos: Mapping[str, tuple[int, int]], color: str, metric: str
) -> list[dict[str, Any]]:
    nodes = []
    for s in steps:
        if s["activity"] not in pos:
            continue
        col, row = pos[s["activity"]]
        value = s["contacts_per_100"] if color == "contacts" else s["score"]
        nodes.append(
            {
                **s,
                "id": s["activity"],
                "x": PAD + col * (NODE_W + GAP_X),
                "y": PAD + HEADER + row * (NODE_H + GAP_Y),
                "w": NODE_W,
                "h": NODE_H,
                "value": value,
                "fill": _fill(goodness(value, color, metric)),
            }
        )
    return nodes


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
) -> dict[str, Any]:
    """Nodes (with x, y, w, h, fill), edges (with an SVG path, width, hand-over flag),
    stage headers and the canvas size. ``steps`` rows come from ``step_stats``; edges
    rarer than ``min_share`` of the most frequent one are left out (the tables list all)."""
    chosen = [s for s in steps if s["activity"] is not None][:max_nodes]
    pos, headers = _positions([s["activity"] for s in chosen], journey, activity == "touchpoint")
    nodes = _nodes(chosen, pos, color, metric)
    at = {n["id"]: (n["x"], n["y"]) for n in nodes}
    owner = {n["id"]: n["owner"] for n in nodes}
    kept = [e for e in dfg if e["source"] in at and e["target"] in at]
    top = max((e["count"] for e in kept), default=1)
    kept = [e for e in kept if e["count"] >= min_share * top][:max_edges]
    edges = []
    for e in kept:
        path, lx, ly = _edge_path(at[e["source"]], at[e["target"]])
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
    cols = max((p[0] for p in pos.values()), default=0) + 1
    rows = max((p[1] for p in pos.values()), default=0) + 1
    width = 2 * PAD + cols * NODE_W + (cols - 1) * GAP_X
    height = 2 * PAD + HEADER + rows * (NODE_H + GAP_Y) + 90
    stage_headers = [
        {
            "x": PAD + i * (NODE_W + GAP_X) + NODE_W / 2,
            "y": PAD + 12,
            "label": journey.label("stage", sid, lang) if sid else "–",
        }
        for i, sid in enumerate(headers)
    ]
    return {
        "width": width,
        "height": height,
        "nodes": nodes,
        "edges": edges,
        "stages": stage_headers,
        "color": color,
        "metric": metric,
    }
