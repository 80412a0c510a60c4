"""The journeys page's step statistics, step owners and hand-overs read from the derived views
(:mod:`klantreis.analytics.derived_views`): the same tables and values as the portable
functions they mirror (``discovery.step_stats``, ``step_owners``, ``owner_handovers``,
``promises.promise_rates``, ``at_risk``, ``impact.impact_ranking``), computed by aggregating
per-journey rows instead of the event log. Promises and impact are in
:mod:`klantreis.analytics.derived_promises`; what both share (scopes, the reader) in
:mod:`klantreis.analytics.derived_scope`.

A scope is read from ``dv_journey`` (the period's window on the journey's first event, the
channels and segments of its events). Scopes the views cannot answer (stages, owners,
touchpoints, ...: :func:`supports`) are for the portable functions; callers check first.
Unscoped reads come from the kept totals (:mod:`klantreis.analytics.derived_totals`): a few
hundred rows merged per batch, plus, for promises and impact, the unfulfilled promises
classified at ``now`` (the only part that depends on it).

Where each rule lives. The portable Ibis functions are the rules: they define the product's
numbers on every engine (DuckDB, Spark) and are what docs/journeys.md describes. The SQL here
and in ``derived_views``/``derived_totals`` is a DuckDB-only restatement of them for speed,
never a second definition: the property test ``tests/analytics/test_derived_views.py``
compares every reader with its rule after random append sequences, so changing one side
alone fails it. Restated rules and their homes:

- promise outcome (kept/late/not delivered/open, grace, at risk, overdue):
  ``promises._classify``; here :func:`_outcome_sql`, whose "kept or late" of a fulfilled
  promise is :func:`~klantreis.analytics.derived_totals.settled_outcome_sql`, the one SQL
  home that the kept totals use too;
- what a broken/late/not-delivered condition counts (``conditions.PROMISE_OUTCOMES``): used
  as is (:func:`_tests`);
- impact effects (contact difference, score comparisons): ``impact._contact_effect`` and
  ``stats.compare``, called with the sums (no restatement);
- step statistics, step owners, hand-overs: ``discovery.step_stats``, ``step_owners``,
  ``owner_handovers``; the per-journey parts in ``derived_views`` (``_STEPS_SQL``,
  ``_HANDOVERS_SQL``);
- scores: ``stats.estimate_arrays`` on the sums (no restatement).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from klantreis.analytics import stats
from klantreis.analytics.derived_scope import Reader, supports, trim_scope
from klantreis.analytics.derived_totals import hist_quantile
from klantreis.analytics.derived_views import DerivedViews
from klantreis.analytics.discovery_tables import Activity
from klantreis.analytics.scope import Scope
from klantreis.model.journey import JourneyConfig

__all__ = [
    "owner_handovers",
    "step_owners",
    "step_stats",
    "supports",
    "trim_scope",
]


# -- steps ---------------------------------------------------------------------------------
def _source(r: Reader, per_journey: str, totals: str, days: str) -> tuple[str, str]:
    """Where a read of steps or answers comes from, and its condition: the per-day totals
    when they answer the scope exactly (a window of whole days), the per-journey rows for
    other scopes, the all-history totals unscoped."""
    if r.days is not None:
        return days, r.days
    return (per_journey, r.where) if r.where else (totals, "")


def _score_groups(
    r: Reader, metric: str, keys: tuple[str, ...]
) -> dict[tuple[Any, ...], tuple[int, float | None]]:
    """As ``discovery._score_groups``: (answers, score) of ``metric`` per group of ``keys``."""
    cols = ", ".join(keys)
    source, where = _source(r, "dv_answers", "dv_answer_totals", "dv_answer_days")
    agg = r.arrow(
        f"SELECT {cols}, sum(n)::BIGINT AS n, sum(total) AS total, sum(total_sq) AS total_sq,"
        " sum(promoters)::BIGINT AS promoters, sum(detractors)::BIGINT AS detractors,"
        " sum(top2)::BIGINT AS top2"
        f" FROM {source} WHERE metric = ? AND touchpoint IS NOT NULL{where}"
        f" GROUP BY {cols}",
        [metric],
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


def step_stats(
    views: DerivedViews,
    journey: JourneyConfig,
    flt: Scope | None = None,
    activity: Activity = "kind",
    metric: str = "csat",
) -> pa.Table:
    """:func:`klantreis.analytics.discovery.step_stats` from the views."""
    with Reader(views, journey, flt) as r:
        # kept totals (per day for a window, else all history) unless the scope selects
        # journeys one by one: a few hundred rows instead of a row per journey x step
        steps, where = _source(r, "dv_steps", "dv_step_totals", "dv_step_days")
        journeys, contacts = (
            ("count(*) FILTER (first_of_activity)", "sum(contacts) FILTER (first_of_activity)")
            if steps == "dv_steps"
            else ("sum(journeys)::BIGINT", "sum(contacts)")
        )
        table = r.arrow(
            f"""
            WITH owners AS (
              SELECT activity, owner, sum(events) AS n FROM {steps}
              WHERE act_by = ?{where} GROUP BY ALL),
            totals AS (SELECT activity, sum(n) AS events FROM owners GROUP BY activity),
            usual AS (SELECT activity, first(owner ORDER BY n DESC, owner) AS owner
                      FROM owners WHERE owner IS NOT NULL GROUP BY activity),
            reach AS (
              SELECT activity, {journeys} AS journeys,
                     coalesce({contacts}, 0)::BIGINT AS contacts
              FROM {steps} WHERE act_by = ?{where} GROUP BY activity)
            SELECT t.activity, u.owner, t.events::BIGINT AS events, reach.journeys,
                   reach.contacts
            FROM totals t LEFT JOIN usual u ON t.activity = u.activity
            JOIN reach ON t.activity = reach.activity
            """,
            [activity, activity],
        ).sort_by([("events", "descending"), ("activity", "ascending")])
        scores = {k[0]: v for k, v in _score_groups(r, metric, ("touchpoint",)).items()}
    kind_tp = journey.touchpoint_for_kind()
    rows = []
    for row in table.to_pylist():
        tp = row["activity"] if activity == "touchpoint" else kind_tp.get(row["activity"] or "")
        n, score = scores.get(tp or "", (0, None))
        rows.append(
            {
                "activity": row["activity"],
                "owner": row["owner"],
                "events": row["events"],
                "journeys": row["journeys"],
                "contacts_per_100": 100.0 * row["contacts"] / row["journeys"],
                "touchpoint": tp,
                "score_n": n,
                "score": score,
            }
        )
    return pa.Table.from_pylist(rows, schema=_STEP_SCHEMA)


def step_owners(
    views: DerivedViews,
    journey: JourneyConfig,
    flt: Scope | None = None,
    activity: Activity = "kind",
    metric: str = "csat",
) -> pa.Table:
    """:func:`klantreis.analytics.discovery.step_owners` from the views."""
    with Reader(views, journey, flt) as r:
        steps, where = _source(r, "dv_steps", "dv_step_totals", "dv_step_days")
        own = r.arrow(
            f"SELECT activity, owner, sum(process_events)::BIGINT AS events FROM {steps}"
            f" WHERE act_by = ? AND owner IS NOT NULL{where} GROUP BY ALL HAVING events > 0",
            [activity],
        ).sort_by([("activity", "ascending"), ("events", "descending"), ("owner", "ascending")])
        scores = _score_groups(r, metric, ("touchpoint", "owner"))
    kind_tp = journey.touchpoint_for_kind()
    rows = []
    for row in own.to_pylist():
        tp = row["activity"] if activity == "touchpoint" else kind_tp.get(row["activity"] or "")
        n, score = scores.get((tp, row["owner"]), (0, None))
        rows.append({**row, "score_n": n, "score": score})
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


_HANDOVER_SCHEMA = pa.schema(
    [
        ("from_owner", pa.string()),
        ("to_owner", pa.string()),
        ("journeys", pa.int64()),
        ("count", pa.int64()),
        ("mean_s", pa.float64()),
        ("median_s", pa.float64()),
        ("p90_s", pa.float64()),
    ]
)


def owner_handovers(
    views: DerivedViews, journey: JourneyConfig, flt: Scope | None = None
) -> pa.Table:
    """:func:`klantreis.analytics.discovery.owner_handovers` from the views. Unscoped, from
    the kept wait histogram: counts and means exact, median and p90 within
    :data:`~klantreis.analytics.derived_totals.ALPHA` (relative) of the exact values."""
    with Reader(views, journey, flt) as r:
        if r.where:
            table = r.arrow(
                "SELECT owner AS from_owner, next_owner AS to_owner,"
                " count(*) FILTER (first_of_pair) AS journeys, count(wait_s) AS count,"
                " avg(wait_s) AS mean_s, quantile_cont(wait_s, 0.5) AS median_s,"
                " quantile_cont(wait_s, 0.9) AS p90_s"
                f" FROM dv_handovers WHERE true{r.where} GROUP BY ALL"
            )
        else:
            table = _handovers_from_hist(r.rows("SELECT * FROM dv_wait_hist"))
    return table.sort_by(
        [("count", "descending"), ("from_owner", "ascending"), ("to_owner", "ascending")]
    )


def _handovers_from_hist(rows: list[dict[str, Any]]) -> pa.Table:
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        pairs.setdefault((row["owner"], row["next_owner"]), []).append(row)
    out = []
    for (a, b), buckets in pairs.items():
        n = sum(x["n"] for x in buckets)
        hist = [(x["bucket"], x["n"]) for x in buckets]
        out.append(
            {
                "from_owner": a,
                "to_owner": b,
                "journeys": sum(x["journeys"] for x in buckets),
                "count": n,
                "mean_s": sum(x["wait_s"] for x in buckets) / n,
                "median_s": hist_quantile(hist, 0.5),
                "p90_s": hist_quantile(hist, 0.9),
            }
        )
    return pa.Table.from_pylist(out, schema=_HANDOVER_SCHEMA)
