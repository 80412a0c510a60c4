"""The journeys page's analyses read from the derived views
(:mod:`klantreis.analytics.derived_views`): the same tables and values as the portable
functions they mirror (``discovery.step_stats``, ``step_owners``, ``owner_handovers``,
``promises.promise_rates``, ``at_risk``, ``impact.impact_ranking``), computed by aggregating
per-journey rows instead of the event log.

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

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from klantreis.analytics import stats
from klantreis.analytics.conditions import (
    PROMISE_OUTCOMES,
    Condition,
    HasKind,
    PromiseBroken,
)
from klantreis.analytics.derived_totals import hist_quantile, settled_outcome_sql
from klantreis.analytics.derived_views import SUMS, TROUBLE_KINDS, DerivedViews
from klantreis.analytics.discovery_tables import Activity
from klantreis.analytics.impact import (
    RANK_BY,
    SCORE_METRICS,
    Impact,
    _contact_effect,
    _cost,
)
from klantreis.analytics.promises import _with_rates
from klantreis.analytics.scope import Scope
from klantreis.model.journey import JourneyConfig, Promise

__all__ = [
    "at_risk",
    "default_conditions",
    "impact_ranking",
    "owner_handovers",
    "promise_rates",
    "step_owners",
    "step_stats",
    "supports",
    "trim_scope",
]

_SCOPE_FIELDS = ("period", "as_of", "since", "until", "start", "end", "channels", "segments")


def supports(flt: Scope | None) -> bool:
    """True when the views can answer this scope (window, channels, segments only)."""
    if flt is None:
        return True
    for name in Scope.__dataclass_fields__:
        if name not in _SCOPE_FIELDS and getattr(flt, name) not in (None, ()):
            return False
    return None not in flt.channels and None not in flt.segments


def trim_scope(views: DerivedViews, journey: JourneyConfig, flt: Scope | None) -> Scope | None:
    """``flt`` without its time window when the window holds every journey's first event
    (the page's "all" period still ends at the newest day): the same journeys, and the
    readers (and the journey index) need not select them one by one."""
    if flt is None or not supports(flt):
        return flt
    lo, hi = flt.bounds(journey.timezone)
    if lo is None and hi is None:
        return flt
    views.ensure()
    cur = views.store.cursor()
    try:
        first, last = cur.execute("SELECT min(first_at), max(first_at) FROM dv_journey").fetchall()[
            0
        ]
    finally:
        cur.close()
    if first is None or ((lo is None or lo <= first) and (hi is None or last < hi)):
        return Scope(channels=flt.channels, segments=flt.segments)
    return flt


class _Reader:
    """A read cursor with the scope's journeys as a temp table (when the scope selects)."""

    def __init__(self, views: DerivedViews, journey: JourneyConfig, flt: Scope | None) -> None:
        if not supports(flt):
            raise ValueError("the derived views cannot answer this scope")
        views.ensure()
        self.cur = views.store.cursor()
        self.where = ""
        cond, params = _scope_condition(flt, journey)
        if cond:
            self.cur.execute(
                f"CREATE TEMP TABLE _dv_sel AS SELECT journey_id FROM dv_journey WHERE {cond}",
                params,
            )
            self.where = " AND journey_id IN (SELECT journey_id FROM _dv_sel)"

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cur.close()

    def arrow(self, sql: str, params: Any = None) -> pa.Table:
        rel = self.cur.sql(sql, params=params) if params else self.cur.sql(sql)
        return _utc(rel.to_arrow_table())

    def rows(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        table = self.arrow(sql, params)
        out: list[dict[str, Any]] = table.to_pylist()
        return out


def _utc(table: pa.Table) -> pa.Table:
    """Time stamps typed ``timestamp[us, tz=UTC]`` as the portable functions give them (DuckDB
    says ``Etc/UTC``)."""
    fields = [
        pa.field(f.name, pa.timestamp("us", tz="UTC"), f.nullable)
        if pa.types.is_timestamp(f.type)
        else f
        for f in table.schema
    ]
    schema = pa.schema(fields)
    return table if schema == table.schema else table.cast(schema)


def _scope_condition(flt: Scope | None, journey: JourneyConfig) -> tuple[str, list[Any]]:
    if flt is None:
        return "", []
    parts: list[str] = []
    params: list[Any] = []
    lo, hi = flt.bounds(journey.timezone)
    if lo is not None:
        parts.append("first_at >= ?")
        params.append(lo)
    if hi is not None:
        parts.append("first_at < ?")
        params.append(hi)
    for column, wanted in (("channels", flt.channels), ("segments", flt.segments)):
        if wanted:
            parts.append(f"list_has_any({column}, ?::VARCHAR[])")
            params.append(list(wanted))
    return " AND ".join(parts), params


# -- steps ---------------------------------------------------------------------------------
def _score_groups(
    r: _Reader, metric: str, keys: tuple[str, ...]
) -> dict[tuple[Any, ...], tuple[int, float | None]]:
    """As ``discovery._score_groups``: (answers, score) of ``metric`` per group of ``keys``."""
    cols = ", ".join(keys)
    source = "dv_answers" if r.where else "dv_answer_totals"
    agg = r.arrow(
        f"SELECT {cols}, sum(n)::BIGINT AS n, sum(total) AS total, sum(total_sq) AS total_sq,"
        " sum(promoters)::BIGINT AS promoters, sum(detractors)::BIGINT AS detractors,"
        " sum(top2)::BIGINT AS top2"
        f" FROM {source} WHERE metric = ? AND touchpoint IS NOT NULL{r.where}"
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
    with _Reader(views, journey, flt) as r:
        # unscoped: the kept totals (a few hundred rows) instead of a row per journey x step
        steps, journeys, contacts = (
            (
                "dv_steps",
                "count(*) FILTER (first_of_activity)",
                "sum(contacts) FILTER (first_of_activity)",
            )
            if r.where
            else ("dv_step_totals", "sum(journeys)::BIGINT", "sum(contacts)")
        )
        table = r.arrow(
            f"""
            WITH owners AS (
              SELECT activity, owner, sum(events) AS n FROM {steps}
              WHERE act_by = ?{r.where} GROUP BY ALL),
            totals AS (SELECT activity, sum(n) AS events FROM owners GROUP BY activity),
            usual AS (SELECT activity, first(owner ORDER BY n DESC, owner) AS owner
                      FROM owners WHERE owner IS NOT NULL GROUP BY activity),
            reach AS (
              SELECT activity, {journeys} AS journeys,
                     coalesce({contacts}, 0)::BIGINT AS contacts
              FROM {steps} WHERE act_by = ?{r.where} GROUP BY activity)
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
    with _Reader(views, journey, flt) as r:
        steps = "dv_steps" if r.where else "dv_step_totals"
        own = r.arrow(
            f"SELECT activity, owner, sum(process_events)::BIGINT AS events FROM {steps}"
            f" WHERE act_by = ? AND owner IS NOT NULL{r.where} GROUP BY ALL HAVING events > 0",
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
    with _Reader(views, journey, flt) as r:
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


# -- promises ------------------------------------------------------------------------------
def _now(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _outcome_sql(p: Promise) -> str:
    """One promise's rows classified at ``$now`` (as ``promises._classify``)."""
    grace = int(p.grace_minutes * 60)
    horizon = int(p.at_risk_hours * 3600)
    overdue = int(p.overdue_hours * 3600)
    limit = f"(deadline + INTERVAL {grace} SECOND)"
    outcome = (
        f"CASE WHEN fulfilled_at IS NOT NULL THEN {settled_outcome_sql(p)}"
        f" WHEN $now > {limit} THEN 'undelivered' ELSE 'open' END"
    )
    tp = "'" + p.touchpoint.replace("'", "''") + "'" if p.touchpoint else "promised_touchpoint"
    return f"""
    SELECT journey_id, customer_id, promise_id,
           coalesce(fulfilled_owner, promised_owner) AS owner, {tp} AS touchpoint,
           promised_at, deadline, fulfilled_at, status, outcome,
           CASE status WHEN 'kept' THEN 0.0 WHEN 'broken' THEN
             date_diff('microsecond', deadline, coalesce(fulfilled_at, $now)) / 6e7 END
             AS minutes_late,
           status = 'open' AND deadline <= $now + INTERVAL {horizon} SECOND AS at_risk,
           outcome = 'undelivered' AND deadline >= $now - INTERVAL {overdue} SECOND AS overdue
    FROM (SELECT *, CASE WHEN outcome IN ('late', 'undelivered') THEN 'broken'
                    ELSE outcome END AS status
          FROM (SELECT *, {outcome} AS outcome FROM dv_promise
                WHERE promise_id = '{p.id}' {{where}}))
    """


#: Only unfulfilled promises depend on "now" (at risk, overdue, not delivered yet).
_UNFULFILLED = " AND fulfilled_at IS NULL"


def _outcomes_sql(journey: JourneyConfig, where: str, promise_ids: Sequence[str] = ()) -> str:
    chosen = [p for p in journey.promises if not promise_ids or p.id in promise_ids]
    return " UNION ALL ".join(f"({_outcome_sql(p).format(where=where)})" for p in chosen)


def promise_rates(
    views: DerivedViews,
    journey: JourneyConfig,
    by: str = "owner",
    now: datetime | None = None,
    confidence: float = 0.95,
) -> pa.Table:
    """:func:`klantreis.analytics.promises.promise_rates` (by owner, touchpoint or promise)."""
    if by not in ("owner", "touchpoint", "promise"):
        raise ValueError("by must be owner, touchpoint or promise here")
    if not journey.promises:
        raise ValueError("the journey configuration defines no promises")
    group = "promise_id" if by == "promise" else by
    with _Reader(views, journey, None) as r:
        # fulfilled promises from the kept totals (final), the unfulfilled ones classified now
        table = r.arrow(
            f'SELECT promise_id, {group} AS "group", sum(n)::BIGINT AS journeys,'
            + ", ".join(
                f"coalesce(sum(n) FILTER ({c}), 0)::BIGINT AS {name}"
                for name, c in (
                    ("kept", "status = 'kept'"),
                    ("broken", "status = 'broken'"),
                    ("open", "status = 'open'"),
                    ("late", "outcome = 'late'"),
                    ("undelivered", "outcome = 'undelivered'"),
                )
            )
            + ", sum(minutes_late) FILTER (status = 'broken')"
            " / sum(n) FILTER (status = 'broken') AS mean_minutes_late,"
            " coalesce(sum(at_risk), 0)::BIGINT AS at_risk"
            " FROM (SELECT promise_id, owner, touchpoint, outcome,"
            " CASE outcome WHEN 'late' THEN 'broken' ELSE outcome END AS status, n,"
            " minutes_late, 0 AS at_risk FROM dv_promise_settled"
            " UNION ALL SELECT promise_id, owner, touchpoint, outcome, status, 1, minutes_late,"
            f" at_risk::INTEGER FROM ({_outcomes_sql(journey, _UNFULFILLED)})) GROUP BY ALL",
            {"now": _now(now)},
        )
    return _with_rates(table, confidence).sort_by(
        [("promise_id", "ascending"), ("group", "ascending")]
    )


def at_risk(views: DerivedViews, journey: JourneyConfig, now: datetime | None = None) -> pa.Table:
    """:func:`klantreis.analytics.promises.at_risk` from the views."""
    if not journey.promises:
        raise ValueError("the journey configuration defines no promises")
    with _Reader(views, journey, None) as r:
        table = r.arrow(
            f"SELECT * FROM ({_outcomes_sql(journey, _UNFULFILLED)}) WHERE at_risk OR overdue",
            {"now": _now(now)},
        )
    return table.sort_by([("deadline", "ascending"), ("journey_id", "ascending")])


# -- impact --------------------------------------------------------------------------------
def default_conditions(
    views: DerivedViews, journey: JourneyConfig, now: datetime | None = None
) -> list[Condition]:
    """:func:`klantreis.analytics.impact.default_conditions` from the views."""
    out: list[Condition] = []
    with _Reader(views, journey, None) as r:
        found = (
            r.rows(  # fulfilled late from the kept totals; not delivered (yet) classified now
                "SELECT DISTINCT promise_id, owner, outcome FROM dv_promise_settled"
                " WHERE outcome = 'late' UNION SELECT promise_id, owner, outcome FROM"
                f" ({_outcomes_sql(journey, _UNFULFILLED)}) WHERE status = 'broken'",
                {"now": _now(now)},
            )
            if journey.promises
            else []
        )
        kinds = [
            row["kind"]
            for row in r.rows(
                "SELECT kind FROM dv_kinds GROUP BY kind HAVING sum(n) > 0 ORDER BY kind"
            )
        ]
    for p in journey.promises:
        mine = [row for row in found if row["promise_id"] == p.id]
        out.append(PromiseBroken(p.id, None, now))
        owners = sorted({row["owner"] for row in mine if row["owner"]})
        out += [PromiseBroken(p.id, owner, now) for owner in owners]
        if any(row["outcome"] == "undelivered" for row in mine):
            out += [
                PromiseBroken(p.id, None, now, "late"),
                PromiseBroken(p.id, None, now, "undelivered"),
            ]
    return out + [HasKind(k) for k in kinds]


def _signatures(
    r: _Reader, journey: JourneyConfig, now: datetime, metrics: Sequence[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Journeys in scope grouped by what the conditions look at (each promise's outcome and
    owner, the trouble kinds): contact sums per group, and score sums per group and metric.
    Unscoped: the journeys whose promises are all fulfilled from the kept totals (their
    outcomes are final), the others grouped now."""
    if r.where:
        rows = _grouped(r, journey, now, metrics, r.where.replace(" AND ", " WHERE ", 1), "")
    else:
        r.cur.execute(
            "CREATE OR REPLACE TEMP TABLE _dv_pending AS SELECT DISTINCT journey_id"
            " FROM dv_promise WHERE fulfilled_at IS NULL"
        )
        pending = " journey_id IN (SELECT journey_id FROM _dv_pending)"
        rows = _grouped(r, journey, now, metrics, " WHERE" + pending, " AND" + pending)
        rows += [_settled_row(row) for row in r.rows("SELECT * FROM dv_impact_settled")]
    keys = ["trouble", *(f"{x}{i}" for i in range(len(journey.promises)) for x in "ow")]
    scores = [
        {**{k: row[k] for k in keys}, "metric": m, **{x: row[f"{m}_{x}"] for x in SUMS}}
        for row in rows
        for m in metrics
    ]
    return rows, scores


def _settled_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of ``dv_impact_settled`` as the signature rows :func:`_grouped` gives."""
    out = {k: v for k, v in row.items() if k not in ("outcomes", "owners")}
    for i, (o, w) in enumerate(zip(row["outcomes"], row["owners"], strict=True)):
        out[f"o{i}"], out[f"w{i}"] = o, w
    return out


def _grouped(
    r: _Reader,
    journey: JourneyConfig,
    now: datetime,
    metrics: Sequence[str],
    where: str,
    outcome_where: str,
) -> list[dict[str, Any]]:
    """The journeys ``where`` selects grouped by signature, outcomes classified at ``now``."""
    mask = " + ".join(
        f"list_contains(j.trouble, '{k}')::INTEGER * {1 << b}" for b, k in enumerate(TROUBLE_KINDS)
    )
    joins, cols = [], [f"({mask}) AS trouble"]
    for i, p in enumerate(journey.promises):
        joins.append(
            " LEFT JOIN (SELECT journey_id, outcome, owner FROM"
            f" ({_outcomes_sql(journey, outcome_where, [p.id])}))"
            f" p{i} USING (journey_id)"
        )
        cols += [f"p{i}.outcome" + f" AS o{i}", f"p{i}.owner" + f" AS w{i}"]
    sig = ", ".join(c.split(" AS ")[1] for c in cols)
    sums = ", ".join(
        f"sum(j.{m}_{x})::{'DOUBLE' if x.startswith('total') else 'BIGINT'} AS {m}_{x}"
        for m in metrics
        for x in SUMS
    )
    rows = r.rows(
        f"SELECT {', '.join(cols)}, count(*) AS n, sum(j.contacts)::DOUBLE AS total,"
        f" sum(j.contacts * j.contacts)::DOUBLE AS total_sq, {sums}"
        f" FROM (SELECT * FROM dv_journey{where}) j{''.join(joins)} GROUP BY {sig}",
        {"now": now},
    )
    return rows


def _tests(condition: Condition, journey: JourneyConfig) -> tuple[Any, Any]:
    """(in population, has the condition) as predicates on a signature row."""
    if isinstance(condition, HasKind):
        kind = condition.kind
        if kind not in TROUBLE_KINDS:
            raise ValueError(f"the derived views keep trouble kinds only, not {kind!r}")
        bit = 1 << TROUBLE_KINDS.index(kind)
        return (lambda s: True), (lambda s: bool(s["trouble"] & bit))
    if isinstance(condition, PromiseBroken):
        i = [p.id for p in journey.promises].index(condition.promise_id)
        hit, population = PROMISE_OUTCOMES[condition.outcome]
        owner = condition.owner
        return (
            lambda s: s[f"o{i}"] in population,
            lambda s: s[f"o{i}"] in hit and (owner is None or s[f"w{i}"] == owner),
        )
    raise ValueError(f"the derived views cannot evaluate {condition!r}")


def _summary(rows: list[dict[str, Any]]) -> stats.Summary:
    if not rows:
        return stats.Summary(n=0)
    return stats.Summary(
        n=int(sum(r["n"] for r in rows)),
        total=float(sum(r["total"] or 0.0 for r in rows)),
        total_sq=float(sum(r["total_sq"] or 0.0 for r in rows)),
        promoters=int(sum(r.get("promoters") or 0 for r in rows)),
        detractors=int(sum(r.get("detractors") or 0 for r in rows)),
        top2=int(sum(r.get("top2") or 0 for r in rows)),
    )


def impact_ranking(
    views: DerivedViews,
    journey: JourneyConfig,
    conditions: Sequence[Condition] | None = None,
    flt: Scope | None = None,
    rank_by: str = "contacts",
    alpha: float = 0.05,
    min_answers: int | None = None,
    now: datetime | None = None,
) -> list[Impact]:
    """:func:`klantreis.analytics.impact.impact_ranking` from the views (promise and kind
    conditions)."""
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by must be one of {', '.join(RANK_BY)}")
    min_answers = journey.min_answers if min_answers is None else min_answers
    chosen = list(conditions) if conditions is not None else default_conditions(views, journey, now)
    with _Reader(views, journey, flt) as r:
        contacts, scores = _signatures(r, journey, _now(now), SCORE_METRICS)
    items = []
    for condition in chosen:
        in_pop, has = _tests(condition, journey)
        split = {
            flag: _summary([s for s in contacts if in_pop(s) and bool(has(s)) == flag])
            for flag in (False, True)
        }
        effect = _contact_effect({k: v for k, v in split.items() if v.n}, alpha)
        comparisons = {}
        for m in SCORE_METRICS:
            mine = [s for s in scores if s["metric"] == m and in_pop(s)]
            without = _summary([s for s in mine if not has(s)])
            with_ = _summary([s for s in mine if has(s)])
            comparisons[m] = stats.compare(m, without, with_, alpha, min_answers)
        items.append(
            Impact(
                condition.label, effect.journeys_with, effect.journeys_without, comparisons, effect
            )
        )
    return sorted(items, key=lambda i: (*_cost(i, rank_by), i.condition))
