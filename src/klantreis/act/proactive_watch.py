"""The proactive signal search, incremental: a run looks only at the journeys that can have a
new signal since the last run.

Every signal of :func:`klantreis.act.proactive.signals` is computed per journey from that
journey's events and ``now``. Between a run at ``last`` and one at ``now`` a journey can get a
new signal only when

- it received events (``ingested_at`` above the last run's watermark), or
- a moment it depends on has passed: the signal time of a promise (``lead_hours`` before its
  deadline) or the time of one of its events (an event rule, a re-promise, or any event
  stored with a time in the future) lies in ``(last, now]``.

A run therefore evaluates the same expressions as the full search, on the events of those
journeys only: the touched ones, the journeys with an event in ``(last, now]``, and those in
``proactive_pending`` whose time has come. ``proactive_pending`` keeps, per promise rule, the
signal times still to come of the promises not fulfilled by then (open promises: a small
table, queried by time range); the rows of the journeys a run looked at are replaced.

``proactive_watch`` keeps the watermark, the last ``now``, the number of events and a
fingerprint of the rules and promises. A full search (and a rebuilt ``proactive_pending``)
runs when there is no state, the rules or promises changed, events were removed (erasure) or
the clock went back. :func:`klantreis.act.proactive.run` (the full search) is the reference:
a test checks both store the same decisions after random appends and clock moves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from klantreis.act.proactive import (
    Decision,
    MayContact,
    ProactiveConfig,
    decide_new,
    promise_candidates,
    signals,
)
from klantreis.analytics.backend import duckdb_events
from klantreis.model.journey import JourneyConfig
from klantreis.store import AppendResult, EventStore

__all__ = ["WatchRun", "fingerprint", "run_since"]

_DDL = (
    "CREATE TABLE IF NOT EXISTS proactive_watch (watermark TIMESTAMPTZ, last_now TIMESTAMPTZ,"
    " events BIGINT, config VARCHAR)",
    "CREATE TABLE IF NOT EXISTS proactive_pending (rule_id VARCHAR, journey_id VARCHAR,"
    " signal_at TIMESTAMPTZ)",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_IN = "IN (SELECT unnest(?::VARCHAR[]))"


@dataclass(frozen=True)
class WatchRun:
    """One run: ``full`` or ``incremental``, the journeys looked at (all for a full run:
    ``None``), the new decisions and what storing them did."""

    mode: Literal["full", "incremental"]
    journeys: int | None
    decisions: list[Decision] = field(default_factory=list)
    stored: AppendResult = field(default_factory=lambda: AppendResult(0, 0, 0, 0))


def fingerprint(config: ProactiveConfig, journey: JourneyConfig) -> str:
    """What a kept search depends on: the rules and the journey configuration's promises."""
    parts = [r.model_dump_json() for r in config.rules] + [
        p.model_dump_json() for p in journey.promises
    ]
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _column(table: pa.Table, name: str) -> list[Any]:
    values: list[Any] = table.column(name).to_pylist()
    return values


def run_since(
    store: EventStore,
    journey: JourneyConfig,
    config: ProactiveConfig,
    now: datetime | None = None,
    may_contact: MayContact | None = None,
) -> WatchRun:
    """Find the signals that appeared since the last run, decide them and store the decisions
    (the same decisions as :func:`klantreis.act.proactive.run`)."""
    now = _utc(now or datetime.now(UTC))
    config_fp = fingerprint(config, journey)
    with store.transaction() as con:
        for ddl in _DDL:
            con.execute(ddl).fetchall()
        state = con.execute("SELECT watermark, last_now, events, config FROM proactive_watch")
        saved = state.fetchall()
    # appends are serialised: one still running started after every committed one, so its
    # events get an ingested_at above this mark and the next run sees them
    mark_row = store.query("SELECT max(ingested_at) AS m, count(*) AS n FROM events").to_pylist()
    mark, n = mark_row[0]["m"] or _EPOCH, int(mark_row[0]["n"])
    events = duckdb_events(store)
    full = (
        not saved
        or saved[0][3] != config_fp
        or int(saved[0][2]) > n
        or _utc(saved[0][1]) > now
        or _utc(saved[0][0]) > mark
    )
    if full:
        found = signals(events, journey, config, now)
        decisions, stored = decide_new(store, journey, config, found, may_contact)
        pending = _pending(events, journey, config, now)
        looked: list[str] | None = None
    else:
        watermark, last = _utc(saved[0][0]), _utc(saved[0][1])
        looked = _journeys_to_look_at(store, watermark, mark, last, now)
        sub = _events_of(events, looked)
        found = signals(sub, journey, config, now) if looked else _empty(events, journey)
        decisions, stored = decide_new(store, journey, config, found, may_contact, looked)
        pending = _pending(sub, journey, config, now) if looked else None
    with store.transaction() as con:
        if looked is None:
            con.execute("DELETE FROM proactive_pending").fetchall()
        else:
            con.execute(
                f"DELETE FROM proactive_pending WHERE signal_at <= ? OR journey_id {_IN}",
                [now, looked],
            ).fetchall()
        if pending is not None and pending.num_rows:
            con.register("_proactive_pending_new", pending)
            try:
                con.execute(
                    "INSERT INTO proactive_pending SELECT rule_id, journey_id, signal_at"
                    " FROM _proactive_pending_new"
                ).fetchall()
            finally:
                con.unregister("_proactive_pending_new")
        con.execute("DELETE FROM proactive_watch").fetchall()
        con.execute(
            "INSERT INTO proactive_watch VALUES (?, ?, ?, ?)", [mark, now, n, config_fp]
        ).fetchall()
    return WatchRun(
        "full" if looked is None else "incremental",
        None if looked is None else len(looked),
        decisions,
        stored,
    )


def _journeys_to_look_at(
    store: EventStore, watermark: datetime, mark: datetime, last: datetime, now: datetime
) -> list[str]:
    """Touched since the watermark, an event in ``(last, now]``, or a kept promise signal
    time in ``(last, now]``."""
    rows = store.query(
        """SELECT journey_id FROM events
           WHERE ingested_at > ? AND ingested_at <= ? AND journey_id IS NOT NULL
           UNION
           SELECT journey_id FROM events
           WHERE occurred_at > ? AND occurred_at <= ? AND journey_id IS NOT NULL
           UNION
           SELECT journey_id FROM proactive_pending WHERE signal_at > ? AND signal_at <= ?""",
        [watermark, mark, last, now, last, now],
    )
    return sorted(_column(rows, "journey_id"))


def _events_of(events: ir.Table, journeys: Sequence[str]) -> ir.Table:
    """The events of ``journeys``, read once (a look-up with a literal list, which uses the
    zone maps) and kept in memory for the rules' expressions."""
    backend: Any = events._find_backend()
    needed = backend.con.sql(
        f"SELECT * FROM {events.get_name()} WHERE journey_id {_IN}", params=[list(journeys)]
    ).to_arrow_table()
    backend.con.register("_proactive_scope", needed)
    return backend.table("_proactive_scope")


def _empty(events: ir.Table, journey: JourneyConfig) -> pa.Table:
    return signals(events, journey, ProactiveConfig(), _EPOCH)  # no rules: no query


def _pending(
    events: ir.Table, journey: JourneyConfig, config: ProactiveConfig, now: datetime
) -> pa.Table:
    """Per active promise rule: the signal times after ``now`` of the promises in ``events``
    not fulfilled by then."""
    parts = []
    for rule in config.rules:
        if rule.active and rule.signal == "promise":
            out = promise_candidates(events, journey, rule, now)
            parts.append(
                out.filter(out.signal_at > ibis.literal(now)).select(
                    rule_id=ibis.literal(rule.id),
                    journey_id=out.journey_id,
                    signal_at=out.signal_at,
                )
            )
    schema = pa.schema(
        [
            ("rule_id", pa.string()),
            ("journey_id", pa.string()),
            ("signal_at", pa.timestamp("us", "UTC")),
        ]
    )
    if not parts:
        return schema.empty_table()
    union = parts[0] if len(parts) == 1 else ibis.union(*parts)
    return union.to_pyarrow().cast(schema)
