"""The war room: the avoidable contact reasons that cost most, why they happen (the root
cause with its lift, and the owner that concentrates it), the likely journey fix, and what it
would save per year. ``saving_per_year`` is the upper bound (the whole reason disappears);
``saving_root_cause_per_year`` is the honest figure: the share of the reason's yearly cost
that its root cause explains (the attributable fraction), with a 95% interval from the lift's
interval (``..._low``/``..._high``). Data here (``build_war_room``, the CSV export);
the headline, the root-cause names and the HTML export are words for people and live in
:mod:`klantreis.wording.warroom`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import pandas as pd

from klantreis.contacts.classifier import ContactClassifier
from klantreis.contacts.data import contacts_frame
from klantreis.contacts.labels import assign_reasons
from klantreis.contacts.metrics import contact_cost, orders_frame
from klantreis.contacts.rootcause import Causes, FrameCauses, condition_times, top_causes
from klantreis.contacts.taxonomy import UNKNOWN, Taxonomy
from klantreis.model.journey import JourneyConfig

__all__ = [
    "ContactAnalysis",
    "ContactSums",
    "WarRoom",
    "WarRoomRow",
    "attributable_share",
    "build_war_room",
    "contact_sums",
    "load_analysis",
    "war_room_csv",
    "war_room_from",
]


@dataclass
class ContactAnalysis:
    """Everything the reports need, loaded once: contacts with reasons, orders, conditions
    (``condition_times``; None when the root causes come from kept tables) and where the
    root causes come from (``causes``; by default from these frames); ``answers``: the
    period's CSAT answers about the service when kept (``ConditionViews.answers``; None:
    the report reads them from the events)."""

    contacts: pd.DataFrame
    orders: pd.DataFrame
    conditions: pd.DataFrame | None
    journey: JourneyConfig
    taxonomy: Taxonomy
    causes: Causes | None = None
    answers: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if self.causes is None:
            if self.conditions is None:
                raise ValueError("give the conditions or the causes")
            self.causes = FrameCauses(self.contacts, self.conditions, self.orders["journey_id"])

    @property
    def days(self) -> float:
        times = pd.concat([self.orders["occurred_at"], self.contacts["occurred_at"]])
        if times.empty:
            return 0.0
        return max(float((times.max() - times.min()).total_seconds()) / 86400.0, 1.0)


def load_analysis(
    events: Any,
    journey: JourneyConfig,
    taxonomy: Taxonomy,
    model: ContactClassifier | None = None,
    trust_given: bool = True,
    contacts: pd.DataFrame | None = None,
) -> ContactAnalysis:
    """Contacts with reasons (``contacts``: already reasoned, e.g. the kept ones of
    :mod:`klantreis.contacts.derived`; else classified now), orders and conditions."""
    if contacts is None:
        contacts = assign_reasons(contacts_frame(events), taxonomy, model, trust_given)
    return ContactAnalysis(
        contacts,
        orders_frame(events, journey.journey_start),
        condition_times(events, journey),
        journey,
        taxonomy,
    )


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
    saving_root_cause_low_per_year: float | None = None
    saving_root_cause_high_per_year: float | None = None
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
    #: Filled by :func:`klantreis.wording.warroom.worded_war_room`, empty from the analysis.
    headline: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ContactSums:
    """What the war room reads of the contacts and orders, summed: per known reason (not
    unknown) its cost and its contacts (indexed by reason, ascending), the contacts, orders,
    cost and unknown contacts in all, the first and last contact and the period's days (see
    :attr:`ContactAnalysis.days`). From the frames (:func:`contact_sums`) or the kept tables
    (:mod:`klantreis.contacts.kept_reports`)."""

    reason_cost: pd.Series
    reason_contacts: pd.Series
    contacts: int
    orders: int
    cost: float
    unknown: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    days: float


def contact_sums(a: ContactAnalysis) -> ContactSums:
    """The :class:`ContactSums` of an analysis's frames (the portable reference)."""
    c = a.contacts.assign(cost=contact_cost(a.contacts, a.journey.contact_costs))
    known = c[c["reason"] != UNKNOWN].groupby("reason")["cost"]
    times = c["occurred_at"]
    return ContactSums(
        reason_cost=known.sum(),
        reason_contacts=known.size(),
        contacts=len(c),
        orders=len(a.orders),
        cost=float(c["cost"].sum()),
        unknown=int((c["reason"] == UNKNOWN).sum()),
        first=times.min() if len(c) else None,
        last=times.max() if len(c) else None,
        days=a.days,
    )


def _row(
    a: WarRoomInputs,
    sums: ContactSums,
    rc: pd.DataFrame,
    reason_id: str,
    rank: int,
    per_year: float,
    lang: str,
) -> WarRoomRow:
    reason = a.taxonomy.reason(reason_id)
    assert reason is not None
    cost = float(sums.reason_cost[reason_id])
    contacts = int(sums.reason_contacts[reason_id])
    row = WarRoomRow(
        rank=rank,
        reason=reason_id,
        name=reason.name(lang),
        category=a.taxonomy.category_of()[reason_id],
        avoidable=reason.avoidable,
        contacts=contacts,
        per_100_orders=round(100.0 * contacts / max(sums.orders, 1), 2),
        cost=round(cost, 2),
        cost_per_year=round(cost * per_year, 2),
        saving_per_year=round(cost * per_year if reason.avoidable else 0.0, 2),
        fix=reason.fix(lang),
    )
    causes = top_causes(rc, reason_id, limit=1)
    if causes:
        _add_cause(a, row, causes[0])
    return row


def attributable_share(p_contacts: float, lift: float) -> float:
    """The share of a reason's contacts a condition explains: p x (lift - 1) / lift, or 0
    when the lift is not above 1 (monotone in the lift, so a lift interval maps to a share
    interval)."""
    return p_contacts * (lift - 1.0) / lift if lift > 1.0 else 0.0


def _add_cause(a: WarRoomInputs, row: WarRoomRow, cause: Any) -> None:
    row.root_cause = cause.condition
    row.lift, row.lift_ci_low, row.lift_ci_high = (
        round(cause.lift, 2),
        round(cause.ci_low, 2),
        round(cause.ci_high, 2),
    )
    row.explained_share = round(cause.attributable, 3)
    row.saving_root_cause_per_year = round(cause.attributable * row.cost_per_year, 2)
    low, high = (attributable_share(cause.p_contacts, x) for x in (cause.ci_low, cause.ci_high))
    row.saving_root_cause_low_per_year = round(low * row.cost_per_year, 2)
    row.saving_root_cause_high_per_year = round(high * row.cost_per_year, 2)
    assert a.causes is not None
    owners = a.causes.owners(row.reason, cause.condition)
    owners = owners[(owners["excess"] > 0) & (owners["ci_low"] > 1)]
    if len(owners):
        top = owners.iloc[0]
        row.owner, row.owner_name = str(top["owner"]), _owner_name(a.journey, str(top["owner"]))
        row.owner_lift = round(float(top["lift"]), 2)
        row.owner_excess_contacts = round(float(top["excess"]), 1)


class WarRoomInputs(Protocol):
    """What the war room reads besides the sums: the configuration and the root causes."""

    journey: JourneyConfig
    taxonomy: Taxonomy
    causes: Causes | None


def build_war_room(
    a: ContactAnalysis, top: int = 10, lang: str = "nl", include_unavoidable: bool = False
) -> WarRoom:
    """The top reasons by yearly cost (avoidable ones only, unless asked)."""
    return war_room_from(a, contact_sums(a), top, lang, include_unavoidable)


def war_room_from(
    a: WarRoomInputs,
    sums: ContactSums,
    top: int = 10,
    lang: str = "nl",
    include_unavoidable: bool = False,
) -> WarRoom:
    """:func:`build_war_room` from the contact sums (the frames' or the kept tables')."""
    per_year = 365.0 / sums.days if sums.days else 0.0
    ranked = sums.reason_cost.sort_values(ascending=False)
    assert a.causes is not None
    rc = a.causes.table()
    rows: list[WarRoomRow] = []
    for reason_id in ranked.index:
        reason = a.taxonomy.reason(str(reason_id))
        if reason is None or not (reason.avoidable or include_unavoidable):
            continue
        rows.append(_row(a, sums, rc, str(reason_id), len(rows) + 1, per_year, lang))
        if len(rows) >= top:
            break
    return WarRoom(
        lang=lang,
        currency=a.journey.currency,
        period_start=sums.first.isoformat() if sums.first is not None else None,
        period_end=sums.last.isoformat() if sums.last is not None else None,
        days=round(sums.days, 1),
        orders=sums.orders,
        contacts=sums.contacts,
        per_100_orders=round(100.0 * sums.contacts / max(sums.orders, 1), 2),
        cost=round(sums.cost, 2),
        cost_per_year=round(sums.cost * per_year, 2),
        unknown_contacts=sums.unknown,
        rows=rows,
    )


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
