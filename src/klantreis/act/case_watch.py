"""The ``cases`` job, incremental: evaluate the case rules for the journeys that can have a new
match since the last run, instead of the whole log.

A case rule matches per journey, from that journey's events, its customer's other events
(repeat contacts) and ``now`` (a promise becomes "not delivered" once its deadline + grace has
passed). Between a run at ``last`` and one at ``now`` a journey can get a new match only when

- it, or another journey of its customer, received events (``ingested_at`` above the
  watermark), or
- one of its open promises passed its deadline + grace in ``(last, now]`` (kept in
  ``case_pending``: the due times still to come of the promises not yet fulfilled), or
- one of its events has a time in ``(last, now]`` (events stored ahead of time).

Those journeys go through :func:`klantreis.act.runner.evaluate_cases` (``journeys=``), the
same path as an ingest batch. The state (``case_watch``): watermark, last ``now``, number of
events and a fingerprint of the rules and promises; without it, after a change of either,
after an erasure or when the clock went back, the run is a full evaluation (the reference: a
test checks both open the same cases after random appends and clock moves).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from klantreis.act.rules import CaseRules
from klantreis.act.runner import CaseRun, evaluate_cases
from klantreis.analytics.backend import duckdb_events
from klantreis.analytics.promises import promise_outcomes_expr
from klantreis.ingest.pipeline import Target
from klantreis.model.journey import JourneyConfig

__all__ = ["CaseWatchRun", "cases_since"]

_DDL = (
    "CREATE TABLE IF NOT EXISTS case_watch (watermark TIMESTAMPTZ, last_now TIMESTAMPTZ,"
    " events BIGINT, config VARCHAR)",
    "CREATE TABLE IF NOT EXISTS case_pending (journey_id VARCHAR, due_at TIMESTAMPTZ)",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_IN = "IN (SELECT unnest(?::VARCHAR[]))"
_PENDING = pa.schema([("journey_id", pa.string()), ("due_at", pa.timestamp("us", "UTC"))])


@dataclass(frozen=True)
class CaseWatchRun:
    """One run: ``full`` or ``incremental``, the journeys evaluated (``None``: all) and what
    the evaluation did."""

    mode: Literal["full", "incremental"]
    journeys: int | None
    run: CaseRun


def _fingerprint(rules: CaseRules, journey: JourneyConfig) -> str:
    parts = [rules.model_dump_json()] + [p.model_dump_json() for p in journey.promises]
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def cases_since(target: Target, rules: CaseRules, now: datetime | None = None) -> CaseWatchRun:
    """Open the cases the rules find since the last run (the same cases a full evaluation
    would open)."""
    store, journey = target.store, target.journey
    now = _utc(now or datetime.now(UTC))
    config = _fingerprint(rules, journey)
    with store.transaction() as con:
        for ddl in _DDL:
            con.execute(ddl).fetchall()
        saved = con.execute("SELECT watermark, last_now, events, config FROM case_watch").fetchall()
    # appends are serialised: one still running gets an ingested_at above this mark
    row = store.query("SELECT max(ingested_at) AS m, count(*) AS n FROM events").to_pylist()[0]
    mark, n = row["m"] or _EPOCH, int(row["n"])
    full = (
        not saved
        or saved[0][3] != config
        or int(saved[0][2]) > n
        or _utc(saved[0][1]) > now
        or _utc(saved[0][0]) > mark
    )
    looked: list[str] | None = None
    if full:
        run = evaluate_cases(target, rules, now=now)
        pending = _pending(duckdb_events(store), journey, now)
    else:
        looked = _journeys_to_look_at(store, _utc(saved[0][0]), mark, _utc(saved[0][1]), now)
        run = evaluate_cases(target, rules, looked, now) if looked else CaseRun()
        pending = _pending(_events_of(store, looked), journey, now) if looked else None
    with store.transaction() as con:
        if looked is None:
            con.execute("DELETE FROM case_pending").fetchall()
        else:
            con.execute(
                f"DELETE FROM case_pending WHERE due_at <= ? OR journey_id {_IN}", [now, looked]
            ).fetchall()
        if pending is not None and pending.num_rows:
            con.register("_case_pending_new", pending)
            try:
                con.execute("INSERT INTO case_pending SELECT * FROM _case_pending_new").fetchall()
            finally:
                con.unregister("_case_pending_new")
        con.execute("DELETE FROM case_watch").fetchall()
        con.execute("INSERT INTO case_watch VALUES (?, ?, ?, ?)", [mark, now, n, config]).fetchall()
    return CaseWatchRun(
        "full" if looked is None else "incremental", None if full else len(looked or []), run
    )


def _journeys_to_look_at(
    store: Any, watermark: datetime, mark: datetime, last: datetime, now: datetime
) -> list[str]:
    new = store.query(
        "SELECT DISTINCT journey_id, customer_id FROM events"
        " WHERE ingested_at > ? AND ingested_at <= ?",
        [watermark, mark],
    )
    customers = sorted({c for c in new.column("customer_id").to_pylist() if c is not None})
    journeys = {j for j in new.column("journey_id").to_pylist() if j is not None}
    rows = store.query(
        f"""SELECT journey_id FROM events
            WHERE customer_id {_IN} AND journey_id IS NOT NULL
            UNION
            SELECT journey_id FROM events
            WHERE occurred_at > ? AND occurred_at <= ? AND journey_id IS NOT NULL
            UNION
            SELECT journey_id FROM case_pending WHERE due_at > ? AND due_at <= ?""",
        [customers, last, now, last, now],
    )
    journeys.update(rows.column("journey_id").to_pylist())
    return sorted(journeys)


def _events_of(store: Any, journeys: Sequence[str]) -> ir.Table:
    events = duckdb_events(store)
    backend: Any = events._find_backend()
    needed = backend.con.sql(
        f"SELECT * FROM events WHERE journey_id {_IN}", params=[list(journeys)]
    ).to_arrow_table()
    backend.con.register("_case_watch_scope", needed)
    table: ir.Table = backend.table("_case_watch_scope")
    return table


def _pending(events: ir.Table, journey: JourneyConfig, now: datetime) -> pa.Table:
    """The moments after ``now`` at which a promise in ``events`` not fulfilled (yet) turns
    "not delivered": its deadline + grace."""
    parts = []
    for p in journey.promises:
        out = promise_outcomes_expr(events, journey, [p.id], now)
        due = out.deadline + ibis.interval(seconds=int(p.grace_minutes * 60))
        out = out.filter(out.fulfilled_at.isnull()).mutate(due_at=due)
        parts.append(out.filter(out.due_at > ibis.literal(now)).select("journey_id", "due_at"))
    if not parts:
        return _PENDING.empty_table()
    union = parts[0] if len(parts) == 1 else ibis.union(*parts)
    return union.to_pyarrow().cast(_PENDING)
