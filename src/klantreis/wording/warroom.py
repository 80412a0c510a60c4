"""The war room in words: its headline, the root-cause names, the summary line and the
self-contained HTML export. :func:`klantreis.contacts.warroom.build_war_room` hands over the
numbers and ids; :func:`worded_war_room` fills in what a person reads, in the report's
language, with locale numbers and money and names from the journey configuration.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from klantreis.contacts.warroom import WarRoom, WarRoomRow
from klantreis.wording.core import Wording
from klantreis.wording.names import Names

__all__ = [
    "condition_label",
    "saving_range",
    "war_room_headline",
    "war_room_html",
    "war_room_summary",
    "worded_war_room",
    "worded_war_room_dict",
]


def condition_label(condition: str, names: Names) -> str:
    """``broken:op_tijd_bezorgd`` -> "Belofte gebroken: Op tijd bezorgd" (see
    :meth:`Names.condition`)."""
    return names.condition(condition)


def war_room_headline(room: WarRoom, w: Wording) -> str:
    """The biggest avoidable reason, its cause and owner, and the saving per year."""
    if not room.rows:
        return w("warroom.none")
    r = room.rows[0]
    text = w(
        "warroom.biggest",
        name=r.name,
        contacts=w.count("noun.contact", r.contacts),
        per_100=w.short(r.per_100_orders),
    )
    if r.root_cause_label:
        cause = w("warroom.cause", cause=r.root_cause_label, lift=w.short(r.lift))
        if r.owner:
            cause = w("warroom.cause_at", cause=cause, owner=r.owner_name or r.owner)
        text += " " + cause + "."
    if r.saving_root_cause_per_year is None:
        saving = w.money(r.saving_per_year, room.currency)
        return text + " " + w("warroom.saving", saving=saving)
    return text + " " + w("warroom.saving_cause", saving=saving_range(r, room.currency, w))


def saving_range(r: WarRoomRow, currency: str, w: Wording) -> str:
    """The root-cause saving per year with its 95% interval: "€ 61.000 (45.000-74.000)"."""
    if r.saving_root_cause_per_year is None:
        return "–"
    low, high = r.saving_root_cause_low_per_year, r.saving_root_cause_high_per_year
    text = w.money(r.saving_root_cause_per_year, currency)
    if low is None or high is None:
        return text
    return f"{text} ({w.money(low, currency)}–{w.money(high, currency)})"


def war_room_summary(room: WarRoom, w: Wording) -> str:
    """Contacts, orders, days and cost of the whole period, one line."""
    return w(
        "warroom.summary",
        contacts=w.count("noun.contact", room.contacts),
        orders=w.count("noun.order", room.orders),
        per_100=w.short(room.per_100_orders),
        days=w.count("noun.day", room.days, digits=0 if room.days == int(room.days) else 1),
        cost=w.money(room.cost, room.currency),
        cost_per_year=w.money(room.cost_per_year, room.currency),
    )


def worded_war_room(room: WarRoom, names: Names) -> WarRoom:
    """A copy with ``headline`` and every row's ``root_cause_label`` and ``owner_name``."""
    rows = [
        replace(
            r,
            root_cause_label=condition_label(r.root_cause, names) if r.root_cause else None,
            owner_name=names.owner(r.owner) if r.owner else None,
        )
        for r in room.rows
    ]
    out = replace(room, rows=rows)
    out.headline = war_room_headline(out, names.w)
    return out


def worded_war_room_dict(room: Mapping[str, Any], names: Names) -> dict[str, Any]:
    """:func:`worded_war_room` for the dict form (``WarRoom.to_dict()``)."""
    rows = [WarRoomRow(**r) for r in room["rows"]]
    return asdict(worded_war_room(WarRoom(**{**room, "rows": rows}), names))


def war_room_html(room: WarRoom) -> str:
    """A self-contained HTML page (no scripts, no remote assets); all text escaped.

    ``room`` is worded already (:func:`worded_war_room`): its headline is shown as it is."""
    e = html.escape
    w = Wording(room.lang)
    title = w("warroom.export_title")
    head = "".join(f"<th>{e(w(f'warroom.col.{c}'))}</th>" for c in _COLUMNS)
    body = "".join(_html_row(r, room.currency, w) for r in room.rows)
    return (
        f'<!doctype html><html lang="{w.lang}"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
        "vertical-align:top}</style></head><body>"
        f"<h1>{e(title)}</h1><p><strong>{e(room.headline)}</strong></p>"
        f"<p>{e(war_room_summary(room, w))}</p><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></body></html>"
    )


_COLUMNS = (
    "rank",
    "reason",
    "contacts",
    "per_100",
    "cost",
    "cause",
    "lift",
    "owner",
    "fix",
    "saving",
)


def _html_row(r: WarRoomRow, currency: str, w: Wording) -> str:
    e = html.escape
    lift = (
        f"{w.short(r.lift)} ({w.short(r.lift_ci_low)}-{w.short(r.lift_ci_high)})"
        if r.lift is not None
        else ""
    )
    owner = (r.owner_name or r.owner) if r.owner else ""
    cells = [
        str(r.rank),
        r.name,
        w.number(r.contacts, 0),
        w.short(r.per_100_orders),
        w.money(r.cost_per_year, currency),
        r.root_cause_label or "",
        lift,
        owner,
        r.fix,
        saving_range(r, currency, w),
    ]
    return "<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>"
