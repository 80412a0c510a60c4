"""Kept totals of the derived views (:mod:`klantreis.analytics.derived_views`): small tables
that hold what the unscoped journeys page reads, merged per ingest batch.

The per-journey views hold one row per journey (or journey x step); aggregating them costs a
scan of millions of rows per request. Every total here is a sum over per-journey rows, so a
batch changes it by (new rows of the touched journeys) - (their old rows): a refresh adds the
difference, in time proportional to the batch. The per-journey rows stay the source (a full
build sums them; scoped reads still aggregate them).

- ``dv_step_totals``: per activity type x activity x owner: events, process events, journeys
  passing the step and their inbound contacts (step statistics and step owners);
- ``dv_answer_totals``: per metric x touchpoint x owner: the sums a score needs;
- ``dv_step_days`` and ``dv_answer_days``: the same per local day of the journey's first event
  (the configuration's time zone), so a period window of whole days (the page's periods) is a
  sum over its days, exact like the per-journey rows, without a scan of them;
- ``dv_wait_hist``: per hand-over pair x wait bucket: hand-overs, journeys, summed waits. The
  buckets are logarithmic (:data:`ALPHA`): a median or p90 read from them is within a relative
  error of ``ALPHA`` of the exact ``quantile_cont`` (a DDSketch-like histogram; count and mean
  are exact);
- ``dv_promise_settled``: per promise x owner x touchpoint x outcome, the promises whose
  outcome is final (fulfilled: kept or late; it no longer depends on "now"): how many, and
  their summed minutes late. Unfulfilled promises (open or not delivered, which depends on
  "now") are classified per request from ``dv_promise`` (few rows);
- ``dv_impact_settled``: per signature of what the impact conditions look at (trouble kinds,
  each promise's final outcome and owner), the journeys all of whose promises are fulfilled:
  how many, their contact sums and answer sums. Journeys with an unfulfilled promise are
  grouped per request.

The promise rules (grace) come from :func:`settled_outcome_sql`, the one home of "kept or
late" that the per-request classification (``derived_reads``) uses too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type hints only: the kept graph's reader imports no pydantic
    from klantreis.model.journey import JourneyConfig, Promise

__all__ = [
    "ALPHA",
    "BUCKET_SQL",
    "TOTALS",
    "Total",
    "bucket_value",
    "hist_quantile",
    "settled_outcome_sql",
    "totals_for",
]

#: Relative accuracy of the wait histogram's quantiles (1%).
ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LN_GAMMA = math.log(GAMMA)

_SCORE_SUMS = ("n", "total", "total_sq", "promoters", "detractors", "top2")
_METRICS = ("nps", "ces", "csat", "stars")


@dataclass(frozen=True)
class Total:
    """A kept total: ``table`` (``keys`` + ``sums``), and the SQL of each journey's
    contribution rows from the per-journey tables (``{journey}``, ``{steps}``, ...)."""

    name: str
    keys: tuple[str, ...]
    key_types: tuple[str, ...]
    sums: tuple[str, ...]
    sum_types: tuple[str, ...]
    rows_sql: str
    #: the per-journey views the contribution is made of
    reads: tuple[str, ...]

    @property
    def table(self) -> str:
        return f"dv_{self.name}"

    def ddl(self) -> str:
        cols = [
            f"{c} {t}"
            for c, t in zip(
                (*self.keys, *self.sums), (*self.key_types, *self.sum_types), strict=True
            )
        ]
        return f"CREATE TABLE IF NOT EXISTS {self.table} ({', '.join(cols)})"

    def merge_into_sql(self, parts: Sequence[tuple[str, int]]) -> str:
        """One ``MERGE`` that adds each ``(contribution SQL, sign)`` to the kept rows: the
        contributions are summed per key first (the difference a batch makes), matched rows
        are updated (or deleted when their count, the first sum, reaches zero), new keys
        inserted; rows whose count is zero are left out. The rest of the table is not
        rewritten (a refresh used to read, delete and insert every row, four statements)."""
        keys, sums = self.keys, self.sums
        signed = []
        for sql, sign in parts:
            cols = ", ".join(f"{'-' if sign < 0 else ''}{s} AS {s}" for s in sums)
            signed.append(f"SELECT {', '.join(keys)}, {cols} FROM ({sql})")
        summed = ", ".join(
            f"sum({s})::{t} AS {s}" for s, t in zip(sums, self.sum_types, strict=True)
        )
        moved = " OR ".join(f"{s} <> 0" for s in sums)
        on = " AND ".join(f"t.{k} IS NOT DISTINCT FROM d.{k}" for k in keys)
        first = sums[0]
        return (
            f"MERGE INTO {self.table} t USING (SELECT * FROM (SELECT {', '.join(keys)},"
            f" {summed} FROM ({' UNION ALL '.join(signed)}) GROUP BY ALL) WHERE {moved}) d"
            f" ON {on}"
            f" WHEN MATCHED AND t.{first} + d.{first} = 0 THEN DELETE"
            f" WHEN MATCHED THEN UPDATE SET {', '.join(f'{s} = t.{s} + d.{s}' for s in sums)}"
            f" WHEN NOT MATCHED AND d.{first} <> 0 THEN INSERT VALUES"
            f" ({', '.join(f'd.{c}' for c in (*keys, *sums))})"
        )


def settled_outcome_sql(p: Promise) -> str:
    """'kept' or 'late' of a fulfilled promise row of ``dv_promise`` (the grace rule)."""
    grace = int(p.grace_minutes * 60)
    return (
        f"CASE WHEN fulfilled_at <= deadline + INTERVAL {grace} SECOND THEN 'kept' ELSE 'late' END"
    )


def _promise_tp(p: Promise) -> str:
    return "'" + p.touchpoint.replace("'", "''") + "'" if p.touchpoint else "promised_touchpoint"


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _promise_rows(journey: JourneyConfig) -> str:
    parts = [
        f"SELECT promise_id, coalesce(fulfilled_owner, promised_owner) AS owner,"
        f" {_promise_tp(p)} AS touchpoint, {settled_outcome_sql(p)} AS outcome, 1 AS n,"
        f" CASE WHEN {settled_outcome_sql(p)} = 'late' THEN"
        " date_diff('microsecond', deadline, fulfilled_at) / 6e7 ELSE 0.0 END AS minutes_late"
        f" FROM {{promise}} WHERE promise_id = {_quoted(p.id)} AND fulfilled_at IS NOT NULL"
        for p in journey.promises
    ]
    return " UNION ALL ".join(parts) if parts else _EMPTY_PROMISE


_EMPTY_PROMISE = (
    "SELECT NULL::VARCHAR AS promise_id, NULL::VARCHAR AS owner, NULL::VARCHAR AS touchpoint,"
    " NULL::VARCHAR AS outcome, 0 AS n, 0.0 AS minutes_late WHERE false"
)


def _impact_rows(journey: JourneyConfig, trouble_kinds: Sequence[str]) -> str:
    mask = " + ".join(
        f"list_contains(j.trouble, {_quoted(k)})::INTEGER * {1 << b}"
        for b, k in enumerate(trouble_kinds)
    )
    joins, outcomes, owners = [], [], []
    for i, p in enumerate(journey.promises):
        joins.append(
            f" LEFT JOIN (SELECT journey_id, {settled_outcome_sql(p)} AS o,"
            " coalesce(fulfilled_owner, promised_owner) AS w FROM {promise}"
            f" WHERE promise_id = {_quoted(p.id)}) p{i} USING (journey_id)"
        )
        outcomes.append(f"p{i}.o")
        owners.append(f"p{i}.w")
    sums = ", ".join(f"j.{m}_{x} AS {m}_{x}" for m in _METRICS for x in _SCORE_SUMS)
    lists = (
        f"[{', '.join(outcomes)}]::VARCHAR[] AS outcomes, [{', '.join(owners)}]::VARCHAR[] AS owners"
        if outcomes
        else "[]::VARCHAR[] AS outcomes, []::VARCHAR[] AS owners"
    )
    return (
        f"SELECT ({mask or '0'})::INTEGER AS trouble, {lists}, 1 AS n,"
        " j.contacts::DOUBLE AS total, (j.contacts * j.contacts)::DOUBLE AS total_sq,"
        f" {sums} FROM {{journey}} j{''.join(joins)}"
        " WHERE j.journey_id NOT IN"
        " (SELECT journey_id FROM {promise} WHERE fulfilled_at IS NULL)"
    )


def bucket_value(bucket: int | None) -> float:
    """The value a wait bucket stands for (0 for the bucket of no wait): within ``ALPHA``
    (relative) of every wait in it."""
    if bucket is None:
        return 0.0
    return 2 * GAMMA**bucket / (GAMMA + 1)


BUCKET_SQL = f"CASE WHEN wait_s > 0 THEN ceil(ln(wait_s) / {_LN_GAMMA!r})::INTEGER END"


def hist_quantile(buckets: Sequence[tuple[int | None, int]], q: float) -> float | None:
    """``quantile_cont(q)`` estimated from ``(bucket, count)`` rows (any order): the order
    statistics either side of ``q * (n - 1)`` taken as their buckets' values, interpolated
    as ``quantile_cont`` does."""
    rows = sorted(((b if b is not None else -(2**31), c) for b, c in buckets if c > 0))
    n = sum(c for _, c in rows)
    if n == 0:
        return None
    h = q * (n - 1)
    lo, frac = math.floor(h), h - math.floor(h)

    def value_at(k: int) -> float:
        seen = 0
        for b, c in rows:
            seen += c
            if k < seen:
                return bucket_value(None if b == -(2**31) else b)
        raise AssertionError("rank beyond the histogram")

    low = value_at(lo)
    return low if frac == 0 else low + frac * (value_at(min(lo + 1, n - 1)) - low)


def totals_for(journey: JourneyConfig, trouble_kinds: Sequence[str]) -> tuple[Total, ...]:
    """The kept totals of this configuration (the promise totals depend on its promises)."""
    score_types = tuple("DOUBLE" if s.startswith("total") else "BIGINT" for s in _SCORE_SUMS)
    impact_sums = tuple(f"{m}_{x}" for m in _METRICS for x in _SCORE_SUMS)
    zone = _quoted(journey.timezone)
    day = f"CAST(timezone({zone}, j.first_at) AS DATE) AS day"
    return (
        Total(
            "step_days",
            ("day", "act_by", "activity", "owner"),
            ("DATE", "VARCHAR", "VARCHAR", "VARCHAR"),
            ("events", "process_events", "journeys", "contacts"),
            ("BIGINT",) * 4,
            f"SELECT {day}, s.act_by, s.activity, s.owner, s.events, s.process_events,"
            " s.first_of_activity::BIGINT AS journeys,"
            " CASE WHEN s.first_of_activity THEN s.contacts ELSE 0 END AS contacts"
            " FROM {steps} s JOIN {journey} j USING (journey_id)",
            ("steps", "journey"),
        ),
        Total(
            "answer_days",
            ("day", "metric", "touchpoint", "owner"),
            ("DATE", "VARCHAR", "VARCHAR", "VARCHAR"),
            _SCORE_SUMS,
            score_types,
            f"SELECT {day}, a.metric, a.touchpoint, a.owner,"
            f" {', '.join('a.' + x for x in _SCORE_SUMS)}"
            " FROM {answers} a JOIN {journey} j USING (journey_id)",
            ("answers", "journey"),
        ),
        Total(
            "step_totals",
            ("act_by", "activity", "owner"),
            ("VARCHAR",) * 3,
            ("events", "process_events", "journeys", "contacts"),
            ("BIGINT",) * 4,
            "SELECT act_by, activity, owner, events, process_events,"
            " first_of_activity::BIGINT AS journeys,"
            " CASE WHEN first_of_activity THEN contacts ELSE 0 END AS contacts FROM {steps}",
            ("steps",),
        ),
        Total(
            "answer_totals",
            ("metric", "touchpoint", "owner"),
            ("VARCHAR",) * 3,
            _SCORE_SUMS,
            score_types,
            f"SELECT metric, touchpoint, owner, {', '.join(_SCORE_SUMS)} FROM {{answers}}",
            ("answers",),
        ),
        Total(
            "wait_hist",
            ("owner", "next_owner", "bucket"),
            ("VARCHAR", "VARCHAR", "INTEGER"),
            ("n", "journeys", "wait_s"),
            ("BIGINT", "BIGINT", "DOUBLE"),
            f"SELECT owner, next_owner, {BUCKET_SQL} AS bucket, 1 AS n,"
            " first_of_pair::BIGINT AS journeys, wait_s FROM {handovers}",
            ("handovers",),
        ),
        Total(
            "promise_settled",
            ("promise_id", "owner", "touchpoint", "outcome"),
            ("VARCHAR",) * 4,
            ("n", "minutes_late"),
            ("BIGINT", "DOUBLE"),
            _promise_rows(journey),
            ("promise",),
        ),
        Total(
            "impact_settled",
            ("trouble", "outcomes", "owners"),
            ("INTEGER", "VARCHAR[]", "VARCHAR[]"),
            ("n", "total", "total_sq", *impact_sums),
            ("BIGINT", "DOUBLE", "DOUBLE", *(t for _ in _METRICS for t in score_types)),
            _impact_rows(journey, trouble_kinds),
            ("journey", "promise"),
        ),
    )


TOTALS = (
    "step_days",
    "answer_days",
    "step_totals",
    "answer_totals",
    "wait_hist",
    "promise_settled",
    "impact_settled",
)
