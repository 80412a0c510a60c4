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

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, TypeAlias

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
    "RootCause",
    "condition_times",
    "owner_breakdown",
    "owner_exposure",
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


def _kind_times(ev: pd.DataFrame, start_kind: str) -> pd.DataFrame:
    e = ev[~ev["kind"].isin([*EXCLUDED_KINDS, start_kind])]
    first = e.sort_values("occurred_at").drop_duplicates(["journey_id", "kind"])
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
        p = ev[ev["kind"] == pr.promised].sort_values("occurred_at").drop_duplicates("journey_id")
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
    """Per journey and condition, the moment it became true and the owner of that moment."""
    t = events.filter(~events.kind.isin(list(EXCLUDED_KINDS)) & events.journey_id.notnull())
    # only what the conditions read: the attributes of promise events only (their deadline)
    promised = list({p.promised for p in journey.promises})
    attrs = ibis.ifelse(t.kind.isin(promised), t.attrs, ibis.null().cast("string"))
    ev = events_frame(
        t.mutate(attrs=attrs), None, ["journey_id", "kind", "occurred_at", "owner", "attrs"]
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
    n2 = len(pop)
    base = conds[_member(conds["journey_id"], pop)].drop_duplicates(["journey_id", "condition"])
    c_counts = base.groupby("condition").size()
    held = _held_before(c, base)
    a = held.groupby(["reason", "condition"]).size().rename("with_condition").reset_index()
    n1 = c.groupby("reason").size()
    a["contacts"] = a["reason"].map(n1)
    a = a[a["contacts"] >= min_contacts]
    if a.empty:
        return pd.DataFrame(columns=[*RootCause.__dataclass_fields__, "precondition_of"])
    cc = a["condition"].map(c_counts).to_numpy(float)
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
    a = a.sort_values(["reason", "attributable", "lift"], ascending=[True, False, False])
    a = a.reset_index(drop=True)
    a["precondition_of"] = _preconditions(a, base)
    return a


def _preconditions(table: pd.DataFrame, base: pd.DataFrame, top: int = 6) -> list[str | None]:
    """Mark a condition that merely precedes a broken promise: the broken promise B's
    journeys lie (99%) inside A's and B has a higher, significant lift — e.g.
    ``kind:return.received`` before ``broken:terugbetaling_binnen_termijn``. The broken promise
    is the root cause; A is only its precondition."""
    groups = base.groupby("condition")["journey_id"]
    sets: dict[str, set[str]] = {}

    def journeys_of(condition: str) -> set[str]:  # built only for the pairs compared
        if condition not in sets:
            sets[condition] = set(groups.get_group(condition))
        return sets[condition]

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
                    and _inside(journeys_of(b["condition"]), journeys_of(a["condition"]))
                ):
                    out[int(i)] = str(b["condition"])
                    break
    return out


def _inside(inner: set[str], outer: set[str]) -> bool:
    return len(inner & outer) >= 0.99 * len(inner)


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
    out = pd.DataFrame({"journeys": exposure}).join(per_owner, how="left").fillna(0)
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
    return out.reset_index(names="owner").sort_values("excess", ascending=False, ignore_index=True)
