"""Layout of the journey map: the directly-follows graph as boxes and curves, drawn offline.

A pure function from the graph and per-step statistics to coordinates and colours; the
template turns them into SVG (escaping every text). Columns are the journey stages in their
configured order (steps without a stage go last); inside a column steps follow the order in
which the journey configuration lists their kinds. Boxes are coloured by the score of the
step's touchpoint or by the contacts per 100 journeys that pass the step (red = bad,
green = good, grey = no data). An edge is a hand-over (drawn dashed) only when its steps'
owners differ and that pair of owners is a hand-over along the journeys' owner sequence
(``discovery.owner_handovers``): a customer calling customer service is not a hand-over.

Two orientations: ``horizontal`` (stages as columns, for a laptop; the SVG scales to its
card) and ``vertical`` (one step a row, stages as bands, edges as arcs beside the column,
for a phone). Each box lists the step's owners (three carriers deliver) with their score.
Only the most frequent transitions are drawn (``max_edges``; repeats within a step are
counted in the box, not drawn as loops); the tables list every one. Each edge's count label
is placed on its curve where it overlaps no other label and no box, or left off (the edge's
tooltip still has it), so labels never pile up.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from klantreis.model.journey import JourneyConfig

__all__ = ["goodness", "layout"]

NODE_W, NODE_H, GAP_X, GAP_Y, PAD, HEADER = 170, 46, 70, 26, 16, 34
#: Owners listed in a box; the rest are counted ("+2").
MAX_OWNERS = 3
OWNER_LINE = 14
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


Point = tuple[float, float]
Curve = tuple[Point, Point, Point, Point]


def _edge_curve(a: Point, b: Point, h: float) -> Curve:
    """Horizontal map: from the right of box ``a`` to the left of box ``b``; within a column
    straight down or up between the boxes; backwards: a loop under the boxes."""
    (x1, y1), (x2, y2) = a, b
    sx, sy, tx, ty = x1 + NODE_W, y1 + h / 2, x2, y2 + h / 2
    if tx > sx:
        dx = (tx - sx) / 2
        return (sx, sy), (sx + dx, sy), (tx - dx, ty), (tx, ty)
    if x1 == x2:  # the same column: from the facing sides of the two boxes
        x = x1 + NODE_W / 2 + (14 if y2 > y1 else -14)
        top, bottom = (y1 + h, y2) if y2 > y1 else (y1, y2 + h)
        return (x, top), (x, top), (x, bottom), (x, bottom)
    sx, sy, tx, ty = x1 + NODE_W / 2 + 12, y1 + h, x2 + NODE_W / 2 - 12, y2 + h
    depth = 30 + abs(sx - tx) / 8
    low = max(sy, ty) + depth
    return (sx, sy), (sx, low), (tx, low), (tx, ty)


def _arc_curve(a: Point, b: Point, h: float, span: int) -> Curve:
    """Vertical map: an arc beside the column, forwards on the right, backwards on the
    left, wider for steps further apart (so arcs nest instead of crossing labels)."""
    (x1, y1), (_, y2) = a, b
    if span == 1 and y2 > y1:  # the next box: straight down
        x = x1 + NODE_W / 2
        return (x, y1 + h), (x, y1 + h), (x, y2), (x, y2)
    right = y2 > y1
    side = x1 + NODE_W if right else x1
    bulge = (18 + 16 * min(span, 6)) * (1 if right else -1)
    sy, ty = y1 + h / 2, y2 + h / 2
    cx = side + bulge * 4 / 3
    return (side, sy), (cx, sy), (cx, ty), (side, ty)


def _path(c: Curve) -> str:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = c
    return f"M{x0:.0f},{y0:.0f} C{x1:.0f},{y1:.0f} {x2:.0f},{y2:.0f} {x3:.0f},{y3:.0f}"


def _point(c: Curve, t: float) -> Point:
    u = 1 - t
    w = (u**3, 3 * u * u * t, 3 * u * t * t, t**3)
    return (
        sum(k * p[0] for k, p in zip(w, c, strict=True)),
        sum(k * p[1] for k, p in zip(w, c, strict=True)),
    )


#: Where along its curve an edge's label may go, best first.
LABEL_SPOTS = (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78)
#: Estimated label box: characters x width (font-size 10, with its white halo), height.
CHAR_W, LABEL_H = 6.4, 13.0

Box = tuple[float, float, float, float]  # left, top, right, bottom


def label_box(x: float, y: float, text: str) -> Box:
    """The box a centred label (baseline at ``y``) takes."""
    half = (CHAR_W * len(text) + 6) / 2
    return x - half, y - LABEL_H + 3, x + half, y + 3


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place_labels(edges: list[dict[str, Any]], boxes: Sequence[Box]) -> None:
    """Each label (most frequent edge first) on the first spot of its curve that overlaps no
    box and no label placed before it; none free: no label (``label_x`` None)."""
    placed: list[Box] = []
    for e in sorted(edges, key=lambda e: -e["count"]):
        text = f"{e['count']:,}"
        e["label_x"] = e["label_y"] = None
        for t in LABEL_SPOTS:
            x, y = _point(e["curve"], t)
            y += 4
            box = label_box(x, y, text)
            if not any(_overlaps(box, b) for b in (*boxes, *placed)):
                e["label_x"], e["label_y"] = round(x), round(y)
                placed.append(box)
                break


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
    max_edges: int = 14,
    min_share: float = 0.02,
    owners: Sequence[Mapping[str, Any]] = (),
    orientation: str = "horizontal",
    owner_name: Any = None,
    handovers: Collection[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Nodes (with x, y, w, h, fill, label and owner lines), edges (with an SVG path, width,
    hand-over flag and a label position), stage headers and the canvas size. ``steps`` rows
    come from ``step_stats``, ``owners`` rows from ``step_owners``; ``handovers`` are the
    (from, to) owner pairs of ``owner_handovers`` (None: any change of owner). At most
    ``max_edges`` edges are drawn, none rarer than ``min_share`` of the most frequent one
    (the tables list all); ``hidden_edges`` counts the rest."""
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
    step_owners = {
        s["activity"]: {str(o["owner"]) for o in per_step.get(s["activity"], [])}
        | ({s["owner"]} if s["owner"] else set())
        for s in chosen
    }
    loops = {e["source"]: e["count"] for e in dfg if e["source"] == e["target"]}
    for n in nodes:
        n["repeats"] = loops.get(n["id"], 0)
    edges, hidden = _edges(dfg, at, h, vertical, max_edges, min_share, step_owners, handovers)
    boxes = [(n["x"], n["y"], n["x"] + n["w"], n["y"] + n["h"]) for n in nodes]
    for st in stage_headers:  # the stage names (bold, 12 px) are in the way too
        half = 7.4 * len(st["label"]) + 4
        left = st["x"] - half / 2 if st["anchor"] == "middle" else st["x"]
        boxes.append((left, st["y"] - 13, left + half, st["y"] + 4))
    _place_labels(edges, boxes)
    xs = [x for e in edges for x, _ in e["curve"]] + [
        b
        for e in edges
        if e["label_x"] is not None
        for b in label_box(e["label_x"], e["label_y"], f"{e['count']:,}")[::2]
    ]
    ys = [y for e in edges for _, y in e["curve"]] + [
        e["label_y"] + 4 for e in edges if e["label_y"] is not None
    ]
    offset = max([0.0] + [PAD - x for x in xs])
    width = max([width] + [x + PAD for x in xs]) + offset
    height = max([height] + [y + PAD for y in ys])
    for e in edges:
        e["path"] = _path(e.pop("curve"))
    return {
        "width": round(width),
        "height": round(height),
        "nodes": nodes,
        "edges": edges,
        "hidden_edges": hidden,
        "stages": stage_headers,
        "color": color,
        "metric": metric,
        "orientation": orientation,
        "offset_x": round(offset),
    }


def _edges(
    dfg: Sequence[Mapping[str, Any]],
    at: Mapping[str, tuple[float, float]],
    h: float,
    vertical: bool,
    max_edges: int,
    min_share: float,
    owners: Mapping[str, set[str]],
    handovers: Collection[tuple[str, str]] | None,
) -> tuple[list[dict[str, Any]], int]:
    """The drawn edges (a curve, width, hand-over flag) and how many were left out."""
    order = {a: i for i, a in enumerate(sorted(at, key=lambda a: (at[a][1], at[a][0])))}
    between = [
        e for e in dfg if e["source"] in at and e["target"] in at and e["source"] != e["target"]
    ]
    top = max((e["count"] for e in between), default=1)
    kept = sorted((e for e in between if e["count"] >= min_share * top), key=lambda e: -e["count"])[
        :max_edges
    ]
    edges = []
    for e in kept:
        if vertical:
            span = abs(order[e["target"]] - order[e["source"]])
            curve = _arc_curve(at[e["source"]], at[e["target"]], h, span)
        else:
            curve = _edge_curve(at[e["source"]], at[e["target"]], h)
        a, b = owners.get(e["source"], set()), owners.get(e["target"], set())
        pairs = {(x, y) for x in a for y in b if x != y}
        handover = (
            bool(pairs and a.isdisjoint(b)) if handovers is None else bool(pairs & set(handovers))
        )
        edges.append(
            {
                **e,
                "curve": curve,
                "width": round(1 + 5 * math.sqrt(e["count"] / top), 2),
                "handover": handover,
            }
        )
    return edges, len(between) - len(kept)


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
