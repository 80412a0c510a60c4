"""The war room: the avoidable contact reasons that cost most, why they happen (the root
cause with its lift, and the owner that concentrates it), the likely journey fix, and what it
would save per year if the reason disappeared. Data first (``build_war_room``), then an HTML
export with every text escaped and a CSV export, for a meeting.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from klantreis.contacts.classifier import ContactClassifier
from klantreis.contacts.data import contacts_frame
from klantreis.contacts.labels import assign_reasons
from klantreis.contacts.metrics import contact_cost, orders_frame
from klantreis.contacts.rootcause import condition_times, owner_breakdown, root_causes, top_causes
from klantreis.contacts.taxonomy import UNKNOWN, Taxonomy
from klantreis.model.journey import JourneyConfig

__all__ = [
    "ContactAnalysis",
    "WarRoom",
    "WarRoomRow",
    "build_war_room",
    "describe_condition",
    "load_analysis",
    "war_room_csv",
    "war_room_html",
]


@dataclass
class ContactAnalysis:
    """Everything the reports need, loaded once: contacts with reasons, orders, conditions."""

    contacts: pd.DataFrame
    orders: pd.DataFrame
    conditions: pd.DataFrame
    journey: JourneyConfig
    taxonomy: Taxonomy

    @property
    def days(self) -> float:
        times = pd.concat([self.orders["occurred_at"], self.contacts["occurred_at"]])
        if times.empty:
            return 0.0
        return max((times.max() - times.min()).total_seconds() / 86400.0, 1.0)


def load_analysis(
    events: Any,
    journey: JourneyConfig,
    taxonomy: Taxonomy,
    model: ContactClassifier | None = None,
    trust_given: bool = True,
) -> ContactAnalysis:
    contacts = assign_reasons(contacts_frame(events), taxonomy, model, trust_given)
    return ContactAnalysis(
        contacts,
        orders_frame(events, journey.journey_start),
        condition_times(events, journey),
        journey,
        taxonomy,
    )


def describe_condition(condition: str, journey: JourneyConfig, lang: str = "nl") -> str:
    """A readable name: ``broken:op_tijd_bezorgd`` -> 'Belofte gebroken: Op tijd bezorgd'."""
    kind, _, value = condition.partition(":")
    if kind == "broken":
        pr = next((p for p in journey.promises if p.id == value), None)
        name = (pr.name_nl if lang == "nl" else pr.name_en) if pr else value
        return f"{'Belofte gebroken' if lang == 'nl' else 'Promise broken'}: {name}"
    if kind == "kind":
        return f"{'Gebeurtenis' if lang == 'nl' else 'Event'}: {value}"
    return condition


def _owner_name(journey: JourneyConfig, owner_id: str) -> str:
    return next((o.name for o in journey.owners if o.id == owner_id), owner_id)


@dataclass
class WarRoomRow:
    rank: int
    reason: str
    name: str
    category: str
    avoidable: bool
    contacts: int
    per_100_orders: float
    cost: float
    cost_per_year: float
    saving_per_year: float
    fix: str
    root_cause: str | None = None
    root_cause_label: str | None = None
    lift: float | None = None
    lift_ci_low: float | None = None
    lift_ci_high: float | None = None
    explained_share: float | None = None
    saving_root_cause_per_year: float | None = None
    owner: str | None = None
    owner_name: str | None = None
    owner_lift: float | None = None
    owner_excess_contacts: float | None = None


@dataclass
class WarRoom:
    lang: str
    currency: str
    period_start: str | None
    period_end: str | None
    days: float
    orders: int
    contacts: int
    per_100_orders: float
    cost: float
    cost_per_year: float
    unknown_contacts: int
    rows: list[WarRoomRow] = field(default_factory=list)
    headline: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _row(
    a: ContactAnalysis,
    rc: pd.DataFrame,
    reason_id: str,
    group: pd.DataFrame,
    rank: int,
    per_year: float,
    lang: str,
) -> WarRoomRow:
    reason = a.taxonomy.reason(reason_id)
    assert reason is not None
    cost = float(group["cost"].sum())
    row = WarRoomRow(
        rank=rank,
        reason=reason_id,
        name=reason.name(lang),
        category=a.taxonomy.category_of()[reason_id],
        avoidable=reason.avoidable,
        contacts=len(group),
        per_100_orders=round(100.0 * len(group) / max(len(a.orders), 1), 2),
        cost=round(cost, 2),
        cost_per_year=round(cost * per_year, 2),
        saving_per_year=round(cost * per_year if reason.avoidable else 0.0, 2),
        fix=reason.fix(lang),
    )
    causes = top_causes(rc, reason_id, limit=1)
    if causes:
        _add_cause(a, row, causes[0], lang)
    return row


def _add_cause(a: ContactAnalysis, row: WarRoomRow, cause: Any, lang: str) -> None:
    row.root_cause = cause.condition
    row.root_cause_label = describe_condition(cause.condition, a.journey, lang)
    row.lift, row.lift_ci_low, row.lift_ci_high = (
        round(cause.lift, 2),
        round(cause.ci_low, 2),
        round(cause.ci_high, 2),
    )
    row.explained_share = round(cause.attributable, 3)
    row.saving_root_cause_per_year = round(cause.attributable * row.cost_per_year, 2)
    owners = owner_breakdown(
        a.contacts, a.conditions, row.reason, cause.condition, a.orders["journey_id"]
    )
    owners = owners[(owners["excess"] > 0) & (owners["ci_low"] > 1)]
    if len(owners):
        top = owners.iloc[0]
        row.owner, row.owner_name = str(top["owner"]), _owner_name(a.journey, str(top["owner"]))
        row.owner_lift = round(float(top["lift"]), 2)
        row.owner_excess_contacts = round(float(top["excess"]), 1)


def build_war_room(
    a: ContactAnalysis, top: int = 10, lang: str = "nl", include_unavoidable: bool = False
) -> WarRoom:
    """The top reasons by yearly cost (avoidable ones only, unless asked)."""
    c = a.contacts.assign(cost=contact_cost(a.contacts, a.journey.contact_costs))
    days = a.days
    per_year = 365.0 / days if days else 0.0
    known = c[c["reason"] != UNKNOWN]
    ranked = known.groupby("reason")["cost"].sum().sort_values(ascending=False)
    rc = root_causes(a.contacts, a.conditions, a.orders["journey_id"])
    rows: list[WarRoomRow] = []
    for reason_id in ranked.index:
        reason = a.taxonomy.reason(str(reason_id))
        if reason is None or not (reason.avoidable or include_unavoidable):
            continue
        rows.append(
            _row(
                a,
                rc,
                str(reason_id),
                known[known["reason"] == reason_id],
                len(rows) + 1,
                per_year,
                lang,
            )
        )
        if len(rows) >= top:
            break
    times = c["occurred_at"]
    report = WarRoom(
        lang=lang,
        currency=a.journey.currency,
        period_start=times.min().isoformat() if len(c) else None,
        period_end=times.max().isoformat() if len(c) else None,
        days=round(days, 1),
        orders=len(a.orders),
        contacts=len(c),
        per_100_orders=round(100.0 * len(c) / max(len(a.orders), 1), 2),
        cost=round(float(c["cost"].sum()), 2),
        cost_per_year=round(float(c["cost"].sum()) * per_year, 2),
        unknown_contacts=int((c["reason"] == UNKNOWN).sum()),
        rows=rows,
    )
    report.headline = headline(report)
    return report


def _money(value: float, currency: str, lang: str = "nl") -> str:
    sign = "€" if currency == "EUR" else currency + " "
    text = f"{sign}{value:,.0f}"
    return text.replace(",", ".") if lang == "nl" else text


def headline(w: WarRoom) -> str:
    if not w.rows:
        return (
            "Geen vermijdbare contactredenen gevonden."
            if w.lang == "nl"
            else "No avoidable contact reasons found."
        )
    r = w.rows[0]
    nl = w.lang == "nl"
    text = (
        f"{'Grootste vermijdbare reden' if nl else 'Biggest avoidable reason'}: {r.name} "
        f"({r.contacts} {'contacten' if nl else 'contacts'}, {r.per_100_orders:g} "
        f"{'per 100 bestellingen' if nl else 'per 100 orders'})."
    )
    if r.root_cause_label:
        text += f" {'Oorzaak' if nl else 'Root cause'}: {r.root_cause_label} (lift {r.lift:g})"
        if r.owner:
            text += f", {'vooral bij' if nl else 'concentrated at'} {r.owner} ({r.owner_name})"
        text += "."
    text += (
        f" {'Besparing als de reden verdwijnt' if nl else 'Saving if the reason disappears'}"
        f": {_money(r.saving_per_year, w.currency, w.lang)} "
        f"{'per jaar' if nl else 'per year'}."
    )
    return text


CSV_COLUMNS = [f for f in WarRoomRow.__dataclass_fields__]


def war_room_csv(w: WarRoom) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in w.rows:
        writer.writerow({k: _csv_safe(v) for k, v in asdict(row).items()})
    return out.getvalue()


def _csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (=, +, -, @ at the start)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


_HEAD = {
    "nl": [
        "#",
        "Reden",
        "Contacten",
        "Per 100 bestellingen",
        "Kosten per jaar",
        "Oorzaak",
        "Lift (95%-BI)",
        "Eigenaar",
        "Waarschijnlijke oplossing",
        "Besparing per jaar",
    ],
    "en": [
        "#",
        "Reason",
        "Contacts",
        "Per 100 orders",
        "Cost per year",
        "Root cause",
        "Lift (95% CI)",
        "Owner",
        "Likely fix",
        "Saving per year",
    ],
}


def war_room_html(w: WarRoom) -> str:
    """A self-contained HTML page (no scripts, no remote assets); all text escaped."""
    e = html.escape
    lang = "nl" if w.lang == "nl" else "en"
    title = "War room: contactredenen" if lang == "nl" else "War room: contact reasons"
    head = "".join(f"<th>{e(h)}</th>" for h in _HEAD[lang])
    body = "".join(_html_row(r, w.currency, lang) for r in w.rows)
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
        "vertical-align:top}</style></head><body>"
        f"<h1>{e(title)}</h1><p><strong>{e(w.headline)}</strong></p>"
        f"<p>{e(_summary(w))}</p><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></body></html>"
    )


def _summary(w: WarRoom) -> str:
    if w.lang == "nl":
        return (
            f"{w.contacts} contacten bij {w.orders} bestellingen ({w.per_100_orders:g} per 100)"
            f" in {w.days:g} dagen; kosten {_money(w.cost, w.currency)}, "
            f"{_money(w.cost_per_year, w.currency)} per jaar."
        )
    return (
        f"{w.contacts} contacts on {w.orders} orders ({w.per_100_orders:g} per 100) in "
        f"{w.days:g} days; cost {_money(w.cost, w.currency, 'en')}, "
        f"{_money(w.cost_per_year, w.currency, 'en')} per year."
    )


def _html_row(r: WarRoomRow, currency: str, lang: str) -> str:
    e = html.escape
    lift = f"{r.lift:g} ({r.lift_ci_low:g}-{r.lift_ci_high:g})" if r.lift is not None else ""
    owner = f"{r.owner_name} ({r.owner})" if r.owner else ""
    cells = [
        str(r.rank),
        r.name,
        str(r.contacts),
        f"{r.per_100_orders:g}",
        _money(r.cost_per_year, currency, lang),
        r.root_cause_label or "",
        lift,
        owner,
        r.fix,
        _money(r.saving_per_year, currency, lang),
    ]
    return "<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>"
