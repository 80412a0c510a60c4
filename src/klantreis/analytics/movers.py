"""Movers of the CX index: who moved it, by how many index points, and the operational fact
behind it (a promise broken 312 times at VlotBezorgd); :mod:`klantreis.wording` words it.

The change of the index between two windows is split over the groups of a dimension
(touchpoint, owner or channel) so that the contributions add up exactly to the total change
(see ``docs/cx-index.md``). With ``a`` a group's share of the index weight, ``S`` its score
and ``C`` the composite score, window 0 (before) and 1 (after), B the base score::

    contribution = 100 / B * ( mean(a) * (S1 - S0)                 # its score moved
                             + (a1 - a0) * (mean(S) - mean(C)) )   # its weight moved

The second term sums to zero over groups when all scores are equal, so a group only gains
or loses points for a change of weight when it is better or worse than the average.

This module is engine-free except :func:`collect_facts`, which counts the drivers (broken
promises, failed/bounced events, inbound contacts) with Ibis in the engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from klantreis.analytics.backend import json_text
from klantreis.analytics.periods import utc_bound
from klantreis.model.journey import JourneyConfig, Promise

__all__ = [
    "FAILURE_SUFFIXES",
    "Facts",
    "Mover",
    "MoversResult",
    "collect_facts",
    "day_bounds",
    "decompose",
    "windows",
]

#: Event kinds ending in one of these count as operational failures of their touchpoint.
FAILURE_SUFFIXES = ("failed", "bounced", "cancelled", "rejected")
CONTACT_KIND = "contact.inbound"
UTC_TS = dt.Timestamp(timezone="UTC")
#: How far before the windows a promise may have been made and still be counted.
PROMISE_LOOKBACK = timedelta(days=30)


@dataclass(frozen=True)
class Mover:
    """One group's contribution to the change of the index between two windows.

    ``delta_points`` = ``score_effect`` + ``mix_effect`` in index points; ``score_before`` /
    ``score_after`` are its 0-100 scores (None when it had no answers), ``n_*`` its answers;
    ``p_value`` tests score_after - score_before (z-test; None when untestable) and
    ``significant`` is p < ALPHA.
    ``driver`` is the operational fact behind it: ``{"type": "promise" | "events" |
    "contacts" | "score", "key", "count", "previous", "total", "owner", "score_before",
    "score_after", "n_before", "n_after"}``. Its sentence is written by
    :func:`klantreis.wording.mover_sentence` (names from the journey configuration).
    """

    dimension: str
    key: str
    delta_points: float
    score_effect: float
    mix_effect: float
    score_before: float | None
    score_after: float | None
    n_before: int
    n_after: int
    p_value: float | None
    significant: bool
    driver: dict[str, Any]


@dataclass(frozen=True)
class MoversResult:
    """Movers between ``previous`` and ``current`` (inclusive day ranges of ``window_days``).

    ``total_change`` = ``index_after`` - ``index_before``; within each dimension the movers'
    ``delta_points`` add up to it; ``p_value`` tests it (z-test of the two windows' weighted
    mean scores; the base is taken as fixed). ``by_dimension`` holds every group, largest move first;
    ``top`` the ``limit`` largest touchpoint movers (the headline list).
    """

    window_days: int
    current: tuple[date, date]
    previous: tuple[date, date]
    index_before: float | None
    index_after: float | None
    total_change: float | None
    p_value: float | None
    significant: bool
    by_dimension: dict[str, list[Mover]]
    top: list[Mover]


def windows(until: date, window: int) -> tuple[tuple[date, date], tuple[date, date]]:
    """(previous, current): two adjacent windows of ``window`` days, current ending ``until``."""
    cur = (until - timedelta(days=window - 1), until)
    prev = (cur[0] - timedelta(days=window), cur[0] - timedelta(days=1))
    return prev, cur


# -- decomposition --------------------------------------------------------------------------
#: Columns of a cell frame that add up over days and groups: weighted points ``wp``,
#: weighted answers ``wn``, answers ``n``, and for the variance ``w2ss`` (sum of w^2 x^2),
#: ``w2p`` (sum of w^2 x) and ``w2n`` (sum of w^2).
SUM_COLUMNS = ("wp", "wn", "n", "w2ss", "w2p", "w2n")
Z95 = 1.959963984540054
#: A change is called significant below this p-value.
ALPHA = 0.05


def standard_error(sums: Any) -> Any:
    """Standard error of the weighted mean score ``wp / wn``, from the SUM_COLUMNS of a
    DataFrame (or a dict of DataFrames): sqrt(sum w^2 (x - m)^2) / sum w, times
    sqrt(n / (n - 1)); NaN below 2 answers."""
    wn = sums["wn"].where(sums["wn"] > 0)
    m = sums["wp"] / wn
    ss = (sums["w2ss"] - 2 * m * sums["w2p"] + m * m * sums["w2n"]).clip(lower=0)
    n = sums["n"].astype(float)
    return (ss * n / (n - 1).where(n > 1)) ** 0.5 / wn


def p_value(diff: float, se0: float, se1: float) -> float | None:
    """Two-sided p-value of a difference of two independent means (normal approximation)."""
    if any(math.isnan(x) for x in (diff, se0, se1)):
        return None
    se = math.hypot(se0, se1)
    if se == 0:
        return 1.0 if diff == 0 else 0.0
    return math.erfc(abs(diff) / se / math.sqrt(2))


def _window_groups(cells: pd.DataFrame, keys: list[str], span: tuple[date, date]) -> pd.DataFrame:
    """Weighted points ``wp``, weighted answers ``wn`` and answers ``n`` per group in a span."""
    inside = cells[(cells["day"] >= span[0]) & (cells["day"] <= span[1])]
    return inside.groupby(keys)[list(SUM_COLUMNS)].sum()


def decompose(
    cells: pd.DataFrame,
    keys: list[str],
    previous: tuple[date, date],
    current: tuple[date, date],
    base_score: float,
) -> pd.DataFrame:
    """Split the index change between two windows over the groups of ``keys``.

    ``cells`` has a ``day`` column, the key columns and ``wp`` (weighted points), ``wn``
    (weighted answers), ``n`` (answers). Returns one row per group with ``delta``,
    ``score_effect``, ``mix_effect``, ``s0``, ``s1`` (scores, NaN when absent), ``n0``, ``n1``
    and ``p_value`` (z-test of s1 - s0; None when untestable); empty when either window has
    no weighted answers.
    """
    g0 = _window_groups(cells, keys, previous)
    g1 = _window_groups(cells, keys, current)
    g0["se"], g1["se"] = standard_error(g0), standard_error(g1)
    w0, w1 = float(g0["wn"].sum()), float(g1["wn"].sum())
    if w0 <= 0 or w1 <= 0 or base_score <= 0:
        return pd.DataFrame(
            columns=["delta", "score_effect", "mix_effect", "s0", "s1", "n0", "n1", "p_value"]
        )
    df = g0.join(g1, how="outer", lsuffix="0", rsuffix="1")
    ses = df[["se0", "se1"]]
    df = df.fillna(0.0)
    df = df[(df["wn0"] > 0) | (df["wn1"] > 0)]
    c_mean = (float(g0["wp"].sum()) / w0 + float(g1["wp"].sum()) / w1) / 2
    s0 = df["wp0"] / df["wn0"].where(df["wn0"] > 0)
    s1 = df["wp1"] / df["wn1"].where(df["wn1"] > 0)
    a0, a1 = df["wn0"] / w0, df["wn1"] / w1
    f0, f1 = s0.fillna(s1), s1.fillna(s0)
    scale = 100.0 / base_score
    out = pd.DataFrame(
        {
            "score_effect": scale * (a0 + a1) / 2 * (f1 - f0),
            "mix_effect": scale * (a1 - a0) * ((f0 + f1) / 2 - c_mean),
            "s0": s0,
            "s1": s1,
            "n0": df["n0"].astype(int),
            "n1": df["n1"].astype(int),
            "p_value": [
                p_value(b - a, e0, e1)
                for a, b, e0, e1 in zip(
                    s0, s1, ses["se0"].reindex(df.index), ses["se1"].reindex(df.index), strict=True
                )
            ],
        }
    )
    out["delta"] = out["score_effect"] + out["mix_effect"]
    return out.sort_values("delta", key=lambda s: -s.abs())


# -- drivers --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Facts:
    """Operational counts in the two windows, per (key, owner): ``key`` is a promise id or an
    event kind; owner '' when the event has none."""

    current: dict[tuple[str, str], int]
    previous: dict[tuple[str, str], int]

    def count(self, key: str, owner: str | None = None, current: bool = True) -> int:
        src = self.current if current else self.previous
        return sum(v for (k, o), v in src.items() if k == key and (owner is None or o == owner))

    def by_owner(self, key: str) -> dict[str, int]:
        return {o: v for (k, o), v in self.current.items() if k == key}


def day_bounds(first: date, last: date, zone: str) -> tuple[datetime, datetime]:
    """UTC instants of local midnight starting ``first`` and ending ``last`` (exclusive)."""
    lo, hi = utc_bound(first, zone), utc_bound(last + timedelta(days=1), zone)
    assert lo is not None and hi is not None
    return lo, hi


def failure_kinds(journey: JourneyConfig) -> list[str]:
    """Kinds in the journey's touchpoints that are operational failures (see FAILURE_SUFFIXES)."""
    return sorted(
        {
            k
            for tp in journey.touchpoints
            for k in tp.kinds
            if k.rsplit(".", 1)[-1] in FAILURE_SUFFIXES
        }
    )


def _split(rows: list[dict[str, Any]], key_col: str) -> Facts:
    cur: dict[tuple[str, str], int] = {}
    prev: dict[tuple[str, str], int] = {}
    for r in rows:
        target = cur if r["is_current"] else prev
        k = (str(r[key_col]), r["owner"] or "")
        target[k] = target.get(k, 0) + int(r["count"])
    return Facts(cur, prev)


def _kind_counts(
    events: ibis.Table,
    kinds: list[str],
    start: datetime,
    middle: datetime,
    end: datetime,
    owners: Sequence[str] | None,
) -> list[dict[str, Any]]:
    t = events.filter(
        events.kind.isin(kinds), events.occurred_at >= start, events.occurred_at < end
    )
    if owners:
        t = t.filter(t.owner.isin(list(owners)))
    t = t.mutate(is_current=t.occurred_at >= middle)
    agg = t.group_by(["kind", "owner", "is_current"]).aggregate(count=t.count())
    rows: list[dict[str, Any]] = agg.to_pyarrow().to_pylist()
    return rows


def _broken_promises(
    events: ibis.Table, promise: Promise, start: datetime, middle: datetime, end: datetime
) -> ibis.Table:
    """Per (owner, is_current): promises broken in [start, end), as of ``end``.

    The rules of :mod:`klantreis.analytics.promises`: the journey's first ``promised`` event
    sets the deadline (``attrs[deadline_attr]``, else its own time), its first
    ``fulfilled_by`` event fulfils it; broken = fulfilled after deadline + grace, or not
    fulfilled by ``end`` while deadline + grace has passed. It broke at the fulfilment (or
    the deadline when unfulfilled); owner = the fulfilling event's owner, else the promised
    event's. Written with ``json_text`` so it runs natively on DuckDB and Spark.
    """
    recent = events.filter(
        events.journey_id.notnull(),
        events.occurred_at >= start - PROMISE_LOOKBACK,
        events.occurred_at < end,
    )
    p = recent.filter(recent.kind == promise.promised)
    deadline = ibis.coalesce(json_text(p, promise.deadline_attr).try_cast(UTC_TS), p.occurred_at)
    p = p.group_by("journey_id").aggregate(
        deadline=deadline.argmin(p.occurred_at), promised_owner=p.owner.argmin(p.occurred_at)
    )
    f = recent.filter(recent.kind == promise.fulfilled_by)
    f = f.group_by("journey_id").aggregate(
        fulfilled_at=f.occurred_at.min(), fulfilled_owner=f.owner.argmin(f.occurred_at)
    )
    j = p.left_join(f, "journey_id")
    limit = j.deadline + ibis.interval(seconds=int(promise.grace_minutes * 60))
    broke_at = ibis.coalesce(j.fulfilled_at, j.deadline)
    j = j.filter(
        ibis.coalesce(j.fulfilled_at, ibis.literal(end, type=UTC_TS)) > limit,
        broke_at >= start,
        broke_at < end,
    )
    return j.select(
        owner=ibis.coalesce(j.fulfilled_owner, j.promised_owner), is_current=broke_at >= middle
    )


def _promise_counts(
    events: ibis.Table,
    journey: JourneyConfig,
    start: datetime,
    middle: datetime,
    end: datetime,
    owners: Sequence[str] | None,
) -> list[dict[str, Any]]:
    """Broken promises per promise, owner and window, in one query."""
    parts = []
    for promise in journey.promises:
        broken = _broken_promises(events, promise, start, middle, end)
        if owners:
            broken = broken.filter(broken.owner.isin(list(owners)))
        parts.append(
            broken.group_by(["owner", "is_current"])
            .aggregate(count=broken.count())
            .mutate(promise_id=ibis.literal(promise.id))
        )
    rows: list[dict[str, Any]] = ibis.union(*parts).to_pyarrow().to_pylist()
    return rows


def collect_facts(
    events: ibis.Table,
    journey: JourneyConfig,
    previous: tuple[date, date],
    current: tuple[date, date],
    owners: Sequence[str] | None = None,
) -> Facts:
    """Count broken promises (per promise id), failure kinds and inbound contacts (per kind),
    per owner, in both windows (local days of the journey's time zone). ``owners`` restricts
    to events of those owners."""
    start, end = day_bounds(previous[0], current[1], journey.timezone)
    middle, _ = day_bounds(current[0], current[1], journey.timezone)
    rows = [
        {**r, "key": r["kind"]}
        for r in _kind_counts(
            events, [*failure_kinds(journey), CONTACT_KIND], start, middle, end, owners
        )
    ]
    if journey.promises:
        rows += [
            {**r, "key": r["promise_id"]}
            for r in _promise_counts(events, journey, start, middle, end, owners)
        ]
    return _split(rows, "key")


# -- movers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoverContext:
    """What building movers needs besides the numbers: config and facts."""

    journey: JourneyConfig
    facts: Facts
    #: Per owner: its touchpoints, largest same-signed contribution first.
    owner_touchpoints: Mapping[str, list[str]]


def driver_candidates(journey: JourneyConfig, touchpoint: str) -> list[tuple[str, str]]:
    """(type, key) of the facts that can explain a touchpoint, most telling first."""
    tp = journey.touchpoint(touchpoint)
    kinds = tp.kinds if tp else []
    out = [("promise", p.id) for p in journey.promises if p.touchpoint == touchpoint]
    out += [("events", k) for k in kinds if k.rsplit(".", 1)[-1] in FAILURE_SUFFIXES]
    out += [("contacts", k) for k in kinds if k == CONTACT_KIND]
    return out


def _owner_named(ctx: MoverContext, touchpoint: str, owner: str) -> bool:
    """Name the owner in a touchpoint's sentence when it is a partner or not the default."""
    tp = ctx.journey.touchpoint(touchpoint)
    kind = next((o.type for o in ctx.journey.owners if o.id == owner), "team")
    return bool(owner) and (kind == "partner" or tp is None or tp.owner != owner)


def _fact_driver(ctx: MoverContext, touchpoint: str, owner: str | None) -> dict[str, Any] | None:
    for typ, key in driver_candidates(ctx.journey, touchpoint):
        total = ctx.facts.count(key, owner)
        previous = ctx.facts.count(key, owner, current=False)
        if total == 0 and previous == 0:
            continue
        named = owner
        count = total
        if owner is None:
            per_owner = ctx.facts.by_owner(key)
            # the owner with the most; a tie goes to the first name (dict order differs
            # between the kept counts and the reference: a test found it)
            top = min(per_owner, key=lambda o: (-per_owner[o], o)) if per_owner else ""
            if top and _owner_named(ctx, touchpoint, top):
                named = top
                count = per_owner[top]
                previous = ctx.facts.count(key, top, current=False)
        return {
            "type": typ,
            "key": key,
            "touchpoint": touchpoint,
            "count": count,
            "previous": previous,
            "total": total,
            "owner": named,
        }
    return None


def _driver(ctx: MoverContext, dimension: str, key: str) -> dict[str, Any] | None:
    if dimension == "touchpoint":
        return _fact_driver(ctx, key, None)
    if dimension == "owner":
        for tp in ctx.owner_touchpoints.get(key, []):
            found = _fact_driver(ctx, tp, key)
            if found:
                return found
    return None


def make_mover(ctx: MoverContext, dimension: str, key: str, row: Mapping[str, Any]) -> Mover:
    """One Mover from a row of :func:`decompose`, with its driver."""
    s0 = None if pd.isna(row["s0"]) else round(float(row["s0"]), 2)
    s1 = None if pd.isna(row["s1"]) else round(float(row["s1"]), 2)
    score = {
        "score_before": s0,
        "score_after": s1,
        "n_before": int(row["n0"]),
        "n_after": int(row["n1"]),
    }
    driver = _driver(ctx, dimension, key) or {"type": "score", "key": "score"}
    return Mover(
        dimension=dimension,
        key=key,
        delta_points=_round(row["delta"]),
        score_effect=_round(row["score_effect"]),
        mix_effect=_round(row["mix_effect"]),
        score_before=s0,
        score_after=s1,
        n_before=int(row["n0"]),
        n_after=int(row["n1"]),
        p_value=_p(row["p_value"]),
        significant=_significant(row["p_value"]),
        driver={**driver, **score},
    )


def _p(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 4)


def _significant(value: Any) -> bool:
    return value is not None and not pd.isna(value) and float(value) < ALPHA


def _round(value: Any) -> float:
    return round(float(value), 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def owner_touchpoints(
    pairs: pd.DataFrame, owner_deltas: Mapping[str, float]
) -> dict[str, list[str]]:
    """Per owner its touchpoints ordered by contribution in the direction the owner moved.

    ``pairs`` is :func:`decompose` over ("owner", "touchpoint")."""
    out: dict[str, list[tuple[float, str]]] = {}
    for (owner, touchpoint), row in pairs.iterrows():
        sign = 1.0 if owner_deltas.get(owner, 0.0) >= 0 else -1.0
        out.setdefault(owner, []).append((-sign * float(row["delta"]), touchpoint))
    return {o: [tp for _, tp in sorted(v)] for o, v in out.items()}
