"""Root causes: which journey conditions are over-represented before a contact of a reason.

A condition is something that became true in a journey at a moment: an event of a kind
happened (``kind:invoice.bounced``), or a promise was broken (``broken:op_tijd_bezorgd``: the
deadline plus grace passed without the fulfilling event). For every reason and condition:

- p_contacts = share of the reason's contacts whose journey had the condition *before* the
  contact; p_journeys = share of all journeys (with an order) that had it by the end of the data;
- lift = p_contacts / p_journeys (a risk ratio), with a CI on the log scale:
  se = sqrt(1/a - 1/n1 + 1/c - 1/n2) (a of n1 contacts, c of n2 journeys). The two groups
  overlap (contacts' journeys are journeys), which makes the interval slightly conservative;
- attributable = p_contacts x (lift - 1) / lift: the share of the reason's contacts the
  condition explains (population attributable fraction); conditions are ranked on it.

For the top condition, ``owner_breakdown`` says which owner (e.g. which carrier) concentrates
it: per owner of the condition's event, the reason's contacts with the condition, the contacts
expected from the owner's share of journeys, the excess, and the owner's lift.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from klantreis.analytics.stats import z_critical
from klantreis.contacts.data import attr_values, events_frame
from klantreis.model.journey import JourneyConfig

__all__ = [
    "EXCLUDED_KINDS",
    "STORE_ORDER",
    "CauseCounts",
    "Causes",
    "FrameCauses",
    "RootCause",
    "cause_table",
    "condition_times",
    "in_store_order",
    "mostly_inside",
    "owner_breakdown",
    "owner_exposure",
    "owner_table",
    "root_causes",
    "top_causes",
]

#: Kinds that are not journey conditions (feedback and the contacts themselves).
EXCLUDED_KINDS = (
    "contact.inbound",
    "contact.outbound",
    "contact.labelled",
    "survey.response",
    "review.posted",
    "social.mention",
    "web.visit",
)


@dataclass(frozen=True)
class RootCause:
    reason: str
    condition: str
    contacts: int
    with_condition: int
    p_contacts: float
    p_journeys: float
    lift: float
    ci_low: float
    ci_high: float
    attributable: float

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


#: The store's order of events: ties of ``occurred_at`` go by source order, then event id
#: (as in the journey index), so "the first event" and its owner are always the same one.
STORE_ORDER = ["occurred_at", "source_order", "event_id"]


def in_store_order(ev: pd.DataFrame) -> pd.DataFrame:
    """``ev`` sorted in the store's order (:data:`STORE_ORDER`; the columns it lacks are
    left out), stably."""
    cols = [c for c in STORE_ORDER if c in ev.columns]
    return ev.sort_values(cols, kind="stable", na_position="last")


def _kind_times(ev: pd.DataFrame, start_kind: str) -> pd.DataFrame:
    e = ev[~ev["kind"].isin([*EXCLUDED_KINDS, start_kind])]
    first = in_store_order(e).drop_duplicates(["journey_id", "kind"])
    return pd.DataFrame(
        {
            "journey_id": first["journey_id"],
            "condition": "kind:" + first["kind"],
            "at": first["occurred_at"],
            "owner": first["owner"],
        }
    )


def _broken_times(ev: pd.DataFrame, journey: JourneyConfig) -> list[pd.DataFrame]:
    out = []
    for pr in journey.promises:
        p = in_store_order(ev[ev["kind"] == pr.promised]).drop_duplicates("journey_id")
        if p.empty:
            continue
        deadline = [attr_values(a, (pr.deadline_attr,))[0] for a in p["attrs"]]
        dl = pd.to_datetime(
            pd.Series(deadline, index=p.index, dtype=object),
            utc=True,
            errors="coerce",
            format="ISO8601",
        ).fillna(p["occurred_at"])
        due = dl + pd.Timedelta(minutes=pr.grace_minutes)
        f = (
            ev[ev["kind"] == pr.fulfilled_by]
            .groupby("journey_id")["occurred_at"]
            .min()
            .rename("done")
        )
        j = pd.DataFrame({"journey_id": p["journey_id"], "due": due, "owner": p["owner"]})
        j = j.join(f, on="journey_id")
        broken = j[j["done"].isna() | (j["done"] > j["due"])]
        out.append(
            pd.DataFrame(
                {
                    "journey_id": broken["journey_id"],
                    "condition": f"broken:{pr.id}",
                    "at": broken["due"],
                    "owner": broken["owner"],
                }
            )
        )
    return out


def condition_times(events: Any, journey: JourneyConfig) -> pd.DataFrame:
    """Per journey and condition, the moment it became true and the owner of that moment
    (the first event in the store's order, :data:`STORE_ORDER`)."""
    t = events.filter(~events.kind.isin(list(EXCLUDED_KINDS)) & events.journey_id.notnull())
    # only what the conditions read: the attributes of promise events only (their deadline)
    promised = list({p.promised for p in journey.promises})
    attrs = ibis.ifelse(t.kind.isin(promised), t.attrs, ibis.null().cast("string"))
    ev = events_frame(
        t.mutate(attrs=attrs),
        None,
        ["journey_id", "kind", "occurred_at", "source_order", "event_id", "owner", "attrs"],
    )
    parts = [_kind_times(ev, journey.journey_start), *_broken_times(ev, journey)]
    out = pd.concat(parts, ignore_index=True)
    for col in ("journey_id", "condition", "owner"):
        out[col] = out[col].astype(object)
    return out


#: The journeys of the population: a sequence or set of ids, or their Arrow array.
Journeys: TypeAlias = Collection[str] | pd.Series | pa.Array


def _population(journeys: Journeys) -> pa.Array:
    """The distinct journey ids as an Arrow array (what ``set(journeys)`` holds; ids are
    never null: they come from the orders, which drop journeys without an id)."""
    if isinstance(journeys, pa.Array):
        arr = journeys
    elif isinstance(journeys, pd.Series):
        arr = pa.array(journeys, from_pandas=True)
    else:
        arr = pa.array(list(journeys), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_null(arr.type):
        arr = arr.cast(pa.string())
    return pc.unique(pc.drop_null(arr))


def _member(values: pd.Series, pop: pa.Array) -> np.ndarray:
    """``values.isin(pop)`` by Arrow's hash set (pandas' own isin on Arrow strings builds a
    Python scalar per id of ``pop``: seconds per call on a million journeys)."""
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if len(pop) == 0 or pa.types.is_null(arr.type):
        return np.zeros(len(values), dtype=bool)
    try:
        value_set = pop if pop.type == arr.type else pop.cast(arr.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        fallback: np.ndarray = values.isin(set(pop.to_pylist())).to_numpy(dtype=bool)
        return fallback
    hit = pc.fill_null(pc.is_in(arr, value_set=value_set), False)
    out: np.ndarray = np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)
    return out


def _lift_ci(
    a: np.ndarray, n1: np.ndarray | float, c: np.ndarray, n2: np.ndarray | float, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n1, n2 = np.float64(n1), np.float64(n2)  # a zero total: inf/nan, not ZeroDivisionError
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = (a / n1) / (c / n2)
        se = np.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n2)
        z = z_critical(confidence)
        return lift, np.exp(np.log(lift) - z * se), np.exp(np.log(lift) + z * se)


def _held_before(contacts: pd.DataFrame, conds: pd.DataFrame) -> pd.DataFrame:
    """One row per (contact, condition) that held before the contact."""
    m = contacts[["contact_id", "journey_id", "reason", "occurred_at"]].merge(
        conds, on="journey_id", how="inner"
    )
    return m[m["at"] < m["occurred_at"]].drop_duplicates(["contact_id", "condition"])


def root_causes(
    contacts: pd.DataFrame,
    conds: pd.DataFrame,
    journeys: Journeys,
    confidence: float = 0.95,
    min_contacts: int = 5,
) -> pd.DataFrame:
    """Every (reason, condition) with lift, CI and attributable share, best first per reason.

    ``journeys``: the ids of all journeys (the population, e.g. those with an order).
    """
    pop = _population(journeys)
    c = contacts[_member(contacts["journey_id"], pop)]
    base = conds[_member(conds["journey_id"], pop)].drop_duplicates(["journey_id", "condition"])
    held = _held_before(c, base)
    counts = CauseCounts(
        held.groupby(["reason", "condition"]).size().rename("with_condition").reset_index(),
        c.groupby("reason").size(),
        base.groupby("condition").size(),
        len(pop),
    )
    groups = base.groupby("condition")["journey_id"]
    sets: dict[str, set[str]] = {}

    def journeys_of(condition: str) -> set[str]:  # built only for the pairs compared
        if condition not in sets:
            sets[condition] = set(groups.get_group(condition))
        return sets[condition]

    def inside(inner: str, outer: str) -> bool:
        return _inside(journeys_of(inner), journeys_of(outer))

    return cause_table(counts, inside, confidence, min_contacts)


@dataclass(frozen=True)
class CauseCounts:
    """What the root-cause table is computed from: per (reason, condition) the contacts with
    the condition before them (``held``: reason, condition, with_condition), contacts per
    reason (``contacts``), journeys per condition (``journeys``) and all journeys (``n``),
    each within the population."""

    held: pd.DataFrame
    contacts: pd.Series
    journeys: pd.Series
    n: int


def cause_table(
    counts: CauseCounts,
    inside: Callable[[str, str], bool],
    confidence: float = 0.95,
    min_contacts: int = 5,
) -> pd.DataFrame:
    """The root-cause table from its counts; ``inside(b, a)``: are (99% of) condition b's
    journeys also a's (see :func:`_preconditions`)."""
    a = counts.held.copy()
    n2 = counts.n
    a["contacts"] = a["reason"].map(counts.contacts)
    a = a[a["contacts"] >= min_contacts]
    if a.empty:
        return pd.DataFrame(columns=[*RootCause.__dataclass_fields__, "precondition_of"])
    cc = a["condition"].map(counts.journeys).to_numpy(float)
    lift, lo, hi = _lift_ci(
        a["with_condition"].to_numpy(float),
        a["contacts"].to_numpy(float),
        cc,
        float(n2),
        confidence,
    )
    a["p_contacts"] = a["with_condition"] / a["contacts"]
    a["p_journeys"] = cc / n2
    a["lift"], a["ci_low"], a["ci_high"] = lift, lo, hi
    a["attributable"] = np.where(lift > 1, a["p_contacts"] * (lift - 1) / lift, 0.0)
    a = a.sort_values(
        ["reason", "attributable", "lift", "condition"],
        ascending=[True, False, False, True],
        kind="stable",
    )
    a = a.reset_index(drop=True)
    a["precondition_of"] = _preconditions(a, inside)
    return a


def _preconditions(
    table: pd.DataFrame, inside: Callable[[str, str], bool], top: int = 6
) -> list[str | None]:
    """Mark a condition that merely precedes a broken promise: the broken promise B's
    journeys lie (99%) inside A's and B has a higher, significant lift — e.g.
    ``kind:return.received`` before ``broken:terugbetaling_binnen_termijn``. The broken promise
    is the root cause; A is only its precondition."""
    out: list[str | None] = [None] * len(table)
    for _, group in table.groupby("reason", sort=False):
        rows = group.head(top)
        for i, a in rows.iterrows():
            for _, b in rows.iterrows():
                if (
                    str(b["condition"]).startswith("broken:")
                    and b["lift"] > a["lift"]
                    and b["condition"] != a["condition"]
                    and b["ci_low"] > 1
                    and inside(str(b["condition"]), str(a["condition"]))
                ):
                    out[int(i)] = str(b["condition"])
                    break
    return out


def _inside(inner: set[str], outer: set[str]) -> bool:
    return mostly_inside(len(inner & outer), len(inner))


def mostly_inside(shared: int, inner: int) -> bool:
    """Do (99% of) the ``inner`` journeys of one condition lie in another (``shared``)?"""
    return shared >= 0.99 * inner


def top_causes(
    table: pd.DataFrame, reason: str, limit: int = 3, min_lift: float = 1.5
) -> list[RootCause]:
    """The reason's conditions with lift >= ``min_lift`` and significantly above 1 (CI), that
    are not mere preconditions, most explaining first."""
    t = table[
        (table["reason"] == reason)
        & (table["ci_low"] > 1)
        & (table["lift"] >= min_lift)
        & table["precondition_of"].isna()
    ].head(limit)
    return [
        RootCause(**{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
        for row in t[list(RootCause.__dataclass_fields__)].to_dict("records")
    ]


def owner_exposure(conds: pd.DataFrame, journeys: Journeys) -> pd.Series:
    """Per owner: the journeys of ``journeys`` with a condition of that owner (the same for
    every reason and condition: compute once, pass to :func:`owner_breakdown`)."""
    owned = conds[conds["owner"].notna()]
    return (
        owned[_member(owned["journey_id"], _population(journeys))]
        .drop_duplicates(["journey_id", "owner"])
        .groupby("owner")
        .size()
    )


def owner_breakdown(
    contacts: pd.DataFrame,
    conds: pd.DataFrame,
    reason: str,
    condition: str,
    journeys: Journeys,
    confidence: float = 0.95,
    exposure: pd.Series | None = None,
) -> pd.DataFrame:
    """Which owner of the condition concentrates the reason's contacts.

    Per owner: contacts (of the reason, with the condition before it), journeys of the
    owner (journeys with any event of that owner), expected contacts if every owner had the
    same rate, the excess and the lift (contacts share / journeys share) with its CI.
    """
    pop = _population(journeys)
    c = contacts[contacts["reason"] == reason]
    c = c[_member(c["journey_id"], pop)]
    cond = conds[conds["condition"] == condition]
    cond = cond[_member(cond["journey_id"], pop)]
    held = _held_before(c, cond)
    per_owner = held.groupby("owner").size().rename("contacts")
    if exposure is None:
        exposure = owner_exposure(conds, pop)
    exposure = exposure[exposure.index.isin(cond["owner"].dropna().unique())]
    return owner_table(per_owner, exposure, confidence)


def owner_table(
    per_owner: pd.Series, exposure: pd.Series, confidence: float = 0.95
) -> pd.DataFrame:
    """The owner breakdown from its counts: contacts per owner (``per_owner``) and journeys
    per owner among the owners of the condition (``exposure``)."""
    out = pd.DataFrame({"journeys": exposure}).join(per_owner.rename("contacts"), how="left")
    out = out.fillna(0)
    total_c, total_j = out["contacts"].sum(), out["journeys"].sum()
    out["expected"] = total_c * out["journeys"] / total_j if total_j else 0.0
    out["excess"] = out["contacts"] - out["expected"]
    lift, lo, hi = _lift_ci(
        out["contacts"].to_numpy(float),
        float(total_c),
        out["journeys"].to_numpy(float),
        float(total_j),
        confidence,
    )
    out["lift"], out["ci_low"], out["ci_high"] = lift, lo, hi
    out["contacts"] = out["contacts"].astype(int)
    out = out.rename_axis("owner").reset_index().sort_values("owner", kind="stable")
    return out.sort_values("excess", ascending=False, ignore_index=True, kind="stable")


class Causes(Protocol):
    """Where the war room gets its root causes from: the frames (:class:`FrameCauses`, the
    portable reference) or the kept tables (``contacts.kept_causes``)."""

    def table(self) -> pd.DataFrame:
        """:func:`root_causes` of the contacts, conditions and orders."""
        ...

    def owners(self, reason: str, condition: str) -> pd.DataFrame:
        """:func:`owner_breakdown` of one reason and condition."""
        ...


class FrameCauses:
    """Root causes from frames: contacts with reasons, ``condition_times`` and the orders'
    journeys (the population)."""

    def __init__(self, contacts: pd.DataFrame, conds: pd.DataFrame, journeys: Journeys) -> None:
        self.contacts, self.conds = contacts, conds
        self.pop = _population(journeys)
        self._exposure: pd.Series | None = None

    def table(self) -> pd.DataFrame:
        return root_causes(self.contacts, self.conds, self.pop)

    def owners(self, reason: str, condition: str) -> pd.DataFrame:
        if self._exposure is None:
            self._exposure = owner_exposure(self.conds, self.pop)
        return owner_breakdown(
            self.contacts, self.conds, reason, condition, self.pop, exposure=self._exposure
        )
