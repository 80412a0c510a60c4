"""Process discovery over the event log: directly-follows graph, variants, start and end
activities, and hand-overs between owners.

Every function is written once in Ibis (portable: DuckDB and Spark). ``discover`` can take a
:class:`~klantreis.analytics.journey_index.JourneyIndex` for the same answers from a
pre-ordered step table in DuckDB (the 10M-event speed target); the tests check both agree.

Durations are in seconds: ``mean_s``, ``median_s`` and ``p90_s`` (continuous quantiles) of the
time from one event to the next in the same journey.

>>> # doctest: +SKIP
>>> d = discover(app.events_table(), app.journey)
>>> d.dfg.to_pylist()[0]
{'source': 'order.placed', 'target': 'payment.completed', 'count': 9120, ...}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from klantreis.analytics import stats
from klantreis.analytics.discovery_tables import (
    Discovery,
    finish_variants,
    sort_activity_counts,
    sort_edges,
)
from klantreis.analytics.journeys import (
    FEEDBACK_KINDS,
    Activity,
    apply_filter,
    journey_events,
    journey_level_only,
    paths,
    selected_journeys,
    steps,
)
from klantreis.analytics.scope import Scope
from klantreis.model.journey import JourneyConfig

if TYPE_CHECKING:
    from klantreis.analytics.journey_index import JourneyIndex

__all__ = [
    "Discovery",
    "dfg",
    "discover",
    "end_activities",
    "handovers",
    "owner_handovers",
    "owner_handovers_expr",
    "start_activities",
    "step_owners",
    "step_stats",
    "variants",
]


def _duration_stats(value: ir.FloatingColumn) -> dict[str, ir.Value]:
    return {
        "count": value.count(),
        "mean_s": value.mean(),
        "median_s": value.median(),
        "p90_s": value.quantile(0.9),
    }


def dfg_expr(events: ir.Table, activity: Activity = "kind") -> ir.Table:
    """Directly-follows edges of (already filtered) events: source, target, count, durations."""
    s = steps(events, activity)
    s = s.filter(s.next_at.notnull())
    out = s.group_by(source=s.activity, target=s.next_activity).aggregate(
        count=s.count(),
        mean_s=s.wait_s.mean(),
        median_s=s.wait_s.median(),
        p90_s=s.wait_s.quantile(0.9),
    )
    return out.order_by([ibis.desc("count"), "source", "target"])


def dfg(
    events: ir.Table,
    journey: JourneyConfig,
    flt: Scope | None = None,
    activity: Activity = "kind",
) -> pa.Table:
    """The directly-follows graph of the selected journeys."""
    return sort_edges(dfg_expr(apply_filter(events, journey, flt), activity).to_pyarrow())


def variants_expr(events: ir.Table, activity: Activity = "kind") -> ir.Table:
    """Variants of (already filtered) journeys: variant (list of activities) and count."""
    p = paths(events, activity)
    return p.group_by("variant").aggregate(count=p.count())


def variants(
    events: ir.Table,
    journey: JourneyConfig,
    flt: Scope | None = None,
    activity: Activity = "kind",
    top: int | None = 20,
) -> pa.Table:
    """The most frequent paths with their count and share of the selected journeys."""
    ev = apply_filter(events, journey, flt)
    total = int(ev.journey_id.nunique().to_pyarrow().as_py() or 0)
    table = variants_expr(ev, activity).to_pyarrow()
    return finish_variants(table, total, top)


def _edge_activities(events: ir.Table, activity: Activity, first: bool) -> pa.Table:
    """How many journeys start (``first``) or end with each activity, most first."""
    s = steps(events, activity)
    s = s.filter(s.seq == 0) if first else s.filter(s.next_at.isnull())
    out = s.group_by("activity").aggregate(count=s.count())
    return sort_activity_counts(out.to_pyarrow())


def start_activities(
    events: ir.Table,
    journey: JourneyConfig,
    flt: Scope | None = None,
    activity: Activity = "kind",
) -> pa.Table:
    """How many journeys start with each activity."""
    ev = apply_filter(events, journey, flt)
    return _edge_activities(ev, activity, first=True)


def end_activities(
    events: ir.Table,
    journey: JourneyConfig,
    flt: Scope | None = None,
    activity: Activity = "kind",
) -> pa.Table:
    """How many journeys end with each activity."""
    ev = apply_filter(events, journey, flt)
    return _edge_activities(ev, activity, first=False)


def handovers_expr(events: ir.Table, exclude_kinds: tuple[str, ...] = FEEDBACK_KINDS) -> ir.Table:
    """Consecutive process events of a journey whose owner changes, with the waiting time.

    Feedback and contacts (``exclude_kinds``) are skipped: a survey about the delivery is not a
    hand-over to the carrier. Events without an owner are skipped too.
    """
    ev = events.filter(events.owner.notnull())
    if exclude_kinds:
        ev = ev.filter(~ev.kind.isin(list(exclude_kinds)))
    s = steps(ev, "kind")
    s = s.filter(s.next_owner.notnull() & (s.owner != s.next_owner))
    return s.select(
        "journey_id",
        "owner",
        "next_owner",
        "activity",
        "next_activity",
        "occurred_at",
        "next_at",
        "wait_s",
    )


def handovers(
    events: ir.Table,
    journey: JourneyConfig,
    flt: Scope | None = None,
    exclude_kinds: tuple[str, ...] = FEEDBACK_KINDS,
    range_events: int | None = None,
    memory_mb: int = 0,
) -> pa.Table:
    """Hand-overs between owners: from_owner, to_owner, count, waiting times in seconds.

    With ``range_events`` on DuckDB the hand-overs are found one journey-key range of about
    that many events at a time (a journey is never split) under DuckDB's memory limit
    ``memory_mb``, and only their owners and waits are kept for the totals: the same rows
    (the window over every journey's events went past 5.7 GiB at 100M events)."""
    selected = apply_filter(events, journey, flt)
    backend = events._find_backend()
    if range_events is not None and backend.name == "duckdb":
        table = _handovers_in_ranges(backend.con, selected, exclude_kinds, range_events, memory_mb)
    else:
        h = handovers_expr(selected, exclude_kinds)
        out = h.group_by(from_owner=h.owner, to_owner=h.next_owner).aggregate(
            journeys=h.journey_id.nunique(), **_duration_stats(h.wait_s)
        )
        table = out.to_pyarrow()
    return table.sort_by(
        [("count", "descending"), ("from_owner", "ascending"), ("to_owner", "ascending")]
    )


#: The totals of :func:`handovers` over the kept owners and waits of every key range (the
#: aggregates Ibis compiles :func:`_duration_stats` to; journeys per range add up: a journey
#: lies in one range); the median and p90 from ``_kr_ho_quantiles`` (one hand-over at a time).
_HANDOVER_TOTALS = """
SELECT w.owner AS from_owner, w.next_owner AS to_owner, any_value(j.journeys) AS journeys,
       count(w.wait_s) AS count, avg(w.wait_s) AS mean_s,
       any_value(q.median_s) AS median_s, any_value(q.p90_s) AS p90_s
FROM _kr_ho_waits w
JOIN (SELECT owner, next_owner, CAST(sum(journeys) AS BIGINT) AS journeys
      FROM _kr_ho_journeys GROUP BY ALL) j
  ON j.owner = w.owner AND j.next_owner = w.next_owner
JOIN _kr_ho_quantiles q ON q.owner = w.owner AND q.next_owner = w.next_owner
GROUP BY w.owner, w.next_owner
"""
#: The exact median and p90 of one hand-over's waits (``quantile_cont`` holds every wait of
#: the group it counts, so the groups are counted one at a time: the memory of the largest
#: hand-over's waits, not of all of them).
_HANDOVER_QUANTILES = """
INSERT INTO _kr_ho_quantiles
SELECT $owner, $next_owner, quantile_cont(wait_s, 0.5), quantile_cont(wait_s, 0.9)
FROM _kr_ho_by_pair WHERE pair = $pair
"""
#: The waits numbered by hand-over and stored in that order, so that each hand-over's
#: statement reads its own row groups only (an integer: string statistics keep 8 bytes,
#: which ``carrier:...`` owners share).
_HANDOVER_BY_PAIR = """
CREATE OR REPLACE TEMP TABLE _kr_ho_by_pair AS
SELECT p.pair, w.wait_s FROM _kr_ho_waits w
JOIN (SELECT owner, next_owner, row_number() OVER (ORDER BY owner, next_owner) AS pair
      FROM (SELECT DISTINCT owner, next_owner FROM _kr_ho_waits)) p
  ON p.owner = w.owner AND p.next_owner = w.next_owner
ORDER BY p.pair
"""


def _handovers_in_ranges(
    con: Any, selected: ir.Table, exclude_kinds: tuple[str, ...], range_events: int, mb: int
) -> pa.Table:
    from klantreis.analytics.journey_index import _key_ranges
    from klantreis.store.memory import memory_limit

    n = int(con.execute("SELECT count(*) FROM events").fetchall()[0][0])
    try:
        with memory_limit(con, mb):
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _kr_ho_waits"
                " (owner VARCHAR, next_owner VARCHAR, wait_s DOUBLE)"
            ).fetchall()
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _kr_ho_journeys"
                " (owner VARCHAR, next_owner VARCHAR, journeys BIGINT)"
            ).fetchall()
            for where, params in _key_ranges(con, n, range_events):
                part = selected
                if "<" in where:
                    part = part.filter(part.journey_id < params[-1])
                if ">=" in where:
                    part = part.filter(part.journey_id >= params[0])
                h = handovers_expr(part, exclude_kinds)
                sql = ibis.to_sql(h.select("journey_id", "owner", "next_owner", "wait_s"))
                con.execute(f"CREATE OR REPLACE TEMP TABLE _kr_ho_range AS {sql}").fetchall()
                con.execute(
                    "INSERT INTO _kr_ho_waits SELECT owner, next_owner, wait_s FROM _kr_ho_range"
                ).fetchall()
                con.execute(
                    "INSERT INTO _kr_ho_journeys SELECT owner, next_owner,"
                    " count(DISTINCT journey_id) FROM _kr_ho_range GROUP BY ALL"
                ).fetchall()
            _handover_quantiles(con)
            return con.sql(_HANDOVER_TOTALS).to_arrow_table()
    finally:
        for table in (
            "_kr_ho_range",
            "_kr_ho_waits",
            "_kr_ho_journeys",
            "_kr_ho_quantiles",
            "_kr_ho_by_pair",
        ):
            con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()


def _handover_quantiles(con: Any) -> None:
    """``_kr_ho_quantiles``: per hand-over (owner, next owner) the exact median and p90 of
    its waits, one hand-over per statement (all at once held every wait: 3.3 GiB at 100M
    events, past DuckDB's memory limit, which does not spill them)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _kr_ho_quantiles"
        " (owner VARCHAR, next_owner VARCHAR, median_s DOUBLE, p90_s DOUBLE)"
    ).fetchall()
    con.execute(_HANDOVER_BY_PAIR).fetchall()
    pairs = con.execute(
        "SELECT DISTINCT owner, next_owner FROM _kr_ho_waits ORDER BY owner, next_owner"
    ).fetchall()
    for pair, (owner, next_owner) in enumerate(pairs, start=1):
        _pair_quantiles(con, pair, owner, next_owner)


def _pair_quantiles(con: Any, pair: int, owner: str, next_owner: str) -> None:
    """Add the median and p90 of one hand-over's waits to ``_kr_ho_quantiles``."""
    params = {"pair": pair, "owner": owner, "next_owner": next_owner}
    con.execute(_HANDOVER_QUANTILES, params).fetchall()


def owner_handovers_expr(
    events: ir.Table, exclude_kinds: tuple[str, ...] = FEEDBACK_KINDS
) -> ir.Table:
    """Hand-overs along each journey's owner sequence: the owners in the order of their first
    event in the journey, and from each owner to the next one.

    An owner's later events (finance sending the invoice while the parcel waits for the
    carrier) do not start a new hand-over, so interleaved work of an unrelated owner does not
    hide the real hand-over (warehouse -> carrier). ``wait_s`` is the time from the giving
    owner's last event before the hand-over to the receiving owner's first event.
    Feedback and contacts (``exclude_kinds``) and events without an owner are skipped.
    """
    ev = journey_events(events).filter(lambda t: t.owner.notnull())
    if exclude_kinds:
        ev = ev.filter(~ev.kind.isin(list(exclude_kinds)))
    first = ev.group_by("journey_id", "owner").aggregate(first_at=ev.occurred_at.min())
    w = ibis.window(group_by=first.journey_id, order_by=[first.first_at, first.owner])
    seq = first.mutate(next_owner=first.owner.lead().over(w), next_at=first.first_at.lead().over(w))
    seq = seq.filter(seq.next_owner.notnull())
    own = ev.select(j_id=ev.journey_id, j_owner=ev.owner, j_at=ev.occurred_at)
    joined = seq.join(own, [seq.journey_id == own.j_id, seq.owner == own.j_owner])
    joined = joined.filter(joined.j_at <= joined.next_at)
    out = joined.group_by("journey_id", "owner", "next_owner", "next_at").aggregate(
        last_at=joined.j_at.max()
    )
    return out.mutate(
        wait_s=out.next_at.delta(out.last_at, unit="microsecond").cast("float64") / 1e6
    )


def owner_handovers(
    events: ir.Table,
    journey: JourneyConfig,
    flt: Scope | None = None,
    exclude_kinds: tuple[str, ...] = FEEDBACK_KINDS,
) -> pa.Table:
    """Hand-overs between owners per owner sequence (see :func:`owner_handovers_expr`):
    from_owner, to_owner, journeys, count, waiting times in seconds; most frequent first."""
    h = owner_handovers_expr(apply_filter(events, journey, flt), exclude_kinds)
    out = h.group_by(from_owner=h.owner, to_owner=h.next_owner).aggregate(
        journeys=h.journey_id.nunique(), **_duration_stats(h.wait_s)
    )
    return out.to_pyarrow().sort_by(
        [("count", "descending"), ("from_owner", "ascending"), ("to_owner", "ascending")]
    )


def discover(
    events: ir.Table,
    journey: JourneyConfig,
    flt: Scope | None = None,
    activity: Activity = "kind",
    top: int | None = 20,
    index: JourneyIndex | None = None,
) -> Discovery:
    """Graph, variants, start and end activities of the selected journeys.

    With an ``index`` and a journey-level filter, the answer comes from the index's
    pre-ordered steps (same numbers, much faster on large logs).
    """
    flt = flt or Scope()
    if index is not None and journey_level_only(flt):
        chosen = selected_journeys(events, journey, flt)
        return index.discover(activity=activity, top=top, journeys=chosen)
    ev = apply_filter(events, journey, flt)
    total = int(ev.journey_id.nunique().to_pyarrow().as_py() or 0)
    return Discovery(
        journeys=total,
        dfg=sort_edges(dfg_expr(ev, activity).to_pyarrow()),
        variants=finish_variants(variants_expr(ev, activity).to_pyarrow(), total, top),
        start=_edge_activities(ev, activity, True),
        end=_edge_activities(ev, activity, False),
    )


def _score_groups(
    events: ir.Table, metric: str, keys: tuple[str, ...]
) -> dict[tuple[Any, ...], tuple[int, float | None]]:
    """Per group of ``keys`` asked about: (answers, score) of ``metric`` (stats' scale and
    rules)."""
    sv = events.filter(
        (events.kind == "survey.response")
        & (events.metric == metric)
        & events.score.notnull()
        & events.touchpoint.notnull()
    )
    agg = (
        sv.group_by(list(keys))
        .aggregate(
            n=sv.count(),
            total=sv.score.sum(),
            total_sq=(sv.score * sv.score).sum(),
            promoters=(sv.score >= 9).sum(),
            detractors=(sv.score <= 6).sum(),
            top2=(sv.score >= 4).sum(),
        )
        .to_pyarrow()
    )
    if not agg.num_rows:
        return {}
    fields = {
        k: agg.column(k).to_numpy(zero_copy_only=False).astype(float)
        for k in ("n", "total", "total_sq", "promoters", "detractors", "top2")
    }
    est = stats.estimate_arrays(metric, fields, min_answers=1)
    groups = zip(*(agg.column(k).to_pylist() for k in keys), strict=True)
    return {
        g: (int(n), None if v != v else float(v))
        for g, n, v in zip(groups, fields["n"], est["value"], strict=True)
    }


def _touchpoint_scores(events: ir.Table, metric: str) -> dict[str, tuple[int, float | None]]:
    """Per touchpoint asked about: (answers, score) of ``metric``."""
    return {k[0]: v for k, v in _score_groups(events, metric, ("touchpoint",)).items()}


def step_owners(
    events: ir.Table,
    journey: JourneyConfig,
    flt: Scope | None = None,
    activity: Activity = "kind",
    metric: str = "csat",
) -> pa.Table:
    """Every owner of each step (three carriers deliver), most events first, with the
    ``metric`` score of the step's touchpoint for that owner's answers.

    Columns: activity, owner, events, score_n, score (None without answers).
    """
    ev = apply_filter(events, journey, flt)
    process = ev.filter(~ev.kind.isin(list(FEEDBACK_KINDS)) & ev.owner.notnull())
    own = (
        process.group_by(activity=process[activity], owner=process.owner)
        .aggregate(events=process.count())
        .to_pyarrow()
        .sort_by([("activity", "ascending"), ("events", "descending"), ("owner", "ascending")])
    )
    scores = _score_groups(ev, metric, ("touchpoint", "owner"))
    kind_tp = journey.touchpoint_for_kind()
    rows = []
    for r in own.to_pylist():
        tp = r["activity"] if activity == "touchpoint" else kind_tp.get(r["activity"] or "")
        n, score = scores.get((tp, r["owner"]), (0, None))
        rows.append({**r, "score_n": n, "score": score})
    schema = pa.schema(
        [
            ("activity", pa.string()),
            ("owner", pa.string()),
            ("events", pa.int64()),
            ("score_n", pa.int64()),
            ("score", pa.float64()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def step_stats(
    events: ir.Table,
    journey: JourneyConfig,
    flt: Scope | None = None,
    activity: Activity = "kind",
    metric: str = "csat",
) -> pa.Table:
    """Per activity: events, journeys passing it, their inbound contacts per 100 journeys,
    its usual owner (the most frequent), and the ``metric`` score of its touchpoint.

    Columns: activity, owner, events, journeys, contacts_per_100, touchpoint, score_n, score.
    """
    ev = apply_filter(events, journey, flt)
    act = ev[activity]
    owners = ev.group_by(activity=act, owner=ev.owner).aggregate(n=ev.count())
    totals = owners.group_by("activity").aggregate(events=owners.n.sum())
    known = owners.filter(owners.owner.notnull())
    rank = ibis.row_number().over(
        group_by=known.activity, order_by=[ibis.desc(known.n), known.owner]
    )
    usual = known.mutate(rank=rank).filter(lambda t: t["rank"] == 0).select("activity", "owner")
    per_act = totals.left_join(usual, "activity").drop("activity_right")
    pairs = ev.select("journey_id", activity=act).distinct()
    contacts = ev.filter(ev.kind == "contact.inbound")
    contacts = contacts.group_by("journey_id").aggregate(k=contacts.count())
    j = pairs.left_join(contacts, "journey_id")
    reach = j.group_by("activity").aggregate(journeys=j.count(), contacts=j.k.fill_null(0).sum())
    table = (
        per_act.inner_join(reach, "activity")
        .to_pyarrow()
        .sort_by([("events", "descending"), ("activity", "ascending")])
    )
    scores = _touchpoint_scores(ev, metric)
    kind_tp = journey.touchpoint_for_kind()
    rows = []
    for r in table.to_pylist():
        tp = r["activity"] if activity == "touchpoint" else kind_tp.get(r["activity"] or "")
        n, score = scores.get(tp or "", (0, None))
        rows.append(
            {
                "activity": r["activity"],
                "owner": r["owner"],
                "events": r["events"],
                "journeys": r["journeys"],
                "contacts_per_100": 100.0 * r["contacts"] / r["journeys"],
                "touchpoint": tp,
                "score_n": n,
                "score": score,
            }
        )
    return pa.Table.from_pylist(rows, schema=_STEP_SCHEMA)


_STEP_SCHEMA = pa.schema(
    [
        ("activity", pa.string()),
        ("owner", pa.string()),
        ("events", pa.int64()),
        ("journeys", pa.int64()),
        ("contacts_per_100", pa.float64()),
        ("touchpoint", pa.string()),
        ("score_n", pa.int64()),
        ("score", pa.float64()),
    ]
)
