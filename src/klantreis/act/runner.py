"""Running the case rules and the escalation ladder against a store.

- :func:`evaluate_cases`: the rules over the whole log, or over the journeys an ingest batch
  touched (``journeys=``); opens the missing cases (idempotent) and writes ``case.opened``.
- :func:`cases_for_batch`: the same for the journeys of one ingested batch (an Arrow table of
  events), the incremental path an ingest hook or a scheduler calls.
- :func:`run_escalations`: the ladder steps due now for every open case, each fired once,
  alerts held back beyond the team's daily budget; returns what to send (sending is the
  outbox's job).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from klantreis.act.cases import (
    Action,
    CaseUpdate,
    apply_actions,
    clocks_for,
    ensure_schema,
    escalation_candidates,
    open_cases,
)
from klantreis.act.engine import rule_triggers
from klantreis.act.rules import CaseRules
from klantreis.act.sla import AlertBudget, due_escalations
from klantreis.analytics.backend import duckdb_events
from klantreis.ingest.pipeline import Target

__all__ = ["Alert", "CaseRun", "cases_for_batch", "evaluate_cases", "run_escalations"]


@dataclass
class CaseRun:
    """What one evaluation did: rule matches (one per rule and journey) and new cases."""

    triggered: int = 0
    opened: list[str] = field(default_factory=list)
    update: CaseUpdate | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"triggered": self.triggered, "opened": len(self.opened)}


def evaluate_cases(
    target: Target,
    rules: CaseRules,
    journeys: list[str] | None = None,
    now: datetime | None = None,
    write: bool = True,
) -> CaseRun:
    """Evaluate the enabled rules (in full, or for ``journeys`` only) and open the cases
    that do not exist yet. Running it again opens nothing new."""
    ensure_schema(target.store)
    triggers = rule_triggers(duckdb_events(target.store), rules, target.journey, journeys, now)
    update = open_cases(target, rules, triggers, write=write)
    return CaseRun(triggers.num_rows, update.case_ids, update)


def cases_for_batch(
    target: Target, rules: CaseRules, batch: pa.Table, now: datetime | None = None
) -> CaseRun:
    """Evaluate the rules for the journeys in ``batch`` (events just ingested) only."""
    if batch.num_rows == 0 or "journey_id" not in batch.column_names:
        return CaseRun()
    journeys = [j for j in pc.unique(batch["journey_id"]).to_pylist() if j is not None]
    if not journeys:
        return CaseRun()
    return evaluate_cases(target, rules, journeys, now)


@dataclass(frozen=True)
class Alert:
    """An escalation alert to send: to the owner's team or its lead (``to``)."""

    case_id: str
    owner: str
    action: str
    to: str | None
    at: datetime
    #: The case's rule (for the alert's sentence) and the ladder step's share of the
    #: first-action target that was reached.
    rule_id: str = ""
    fraction: float = 0.0


def run_escalations(
    target: Target, rules: CaseRules, now: datetime | None = None, write: bool = True
) -> list[Alert]:
    """Fire the ladder steps due now on open cases' first-action clocks (each once) and
    return the alerts that fit the daily budget per team; held ones are logged as held."""
    now = now or datetime.now(UTC)
    ensure_schema(target.store)
    store = target.store
    budget = AlertBudget(rules.escalation.alert_budget_per_team_per_day, _used_today(store, now))
    ladder = rules.escalation.steps()
    actions: list[Action] = []
    alerts: list[Alert] = []
    found = escalation_candidates(store, [s.action for s in ladder])
    clocks = clocks_for(store, [c for c, _ in found], rules, now)  # vectorised
    for (case, fired), clock in zip(found, clocks, strict=True):
        for esc in due_escalations(
            case.case_id, case.owner, clock["first_action"], fired, now.date(), ladder
        ):
            sent = budget.take(esc)
            actions.append(
                Action(
                    case.case_id,
                    "escalated",
                    now,
                    "klantreis",
                    esc.step.action,
                    note="sent" if sent else "held",
                    automatic=True,
                )
            )
            if sent and esc.step.action != "reassign":
                lead = rules.escalation.team_leads.get(case.owner)
                to = case.owner if esc.step.action == "owner" else (lead or case.owner)
                alerts.append(
                    Alert(
                        case.case_id,
                        case.owner,
                        esc.step.action,
                        to,
                        now,
                        case.rule_id,
                        esc.step.fraction,
                    )
                )
    for start, end in _chunks([a.case_id for a in actions], ESCALATION_CHUNK_CASES):
        apply_actions(target, rules, actions[start:end], write)
    return alerts


#: Cases whose escalation steps are applied per transaction: a first round over a backlog
#: (280,000 open cases after a bulk load) would otherwise hold the store's write lock, and
#: with it every ingest request, for minutes.
ESCALATION_CHUNK_CASES = 5_000


def _chunks(case_ids: list[str], cases: int) -> list[tuple[int, int]]:
    """Slices of ``case_ids`` (grouped by case) with at most ``cases`` cases each, a case's
    entries never split."""
    out: list[tuple[int, int]] = []
    start, seen = 0, 0
    for i, cid in enumerate(case_ids):
        if i and cid != case_ids[i - 1]:
            seen += 1
            if seen == cases:
                out.append((start, i))
                start, seen = i, 0
    if case_ids:
        out.append((start, len(case_ids)))
    return out


def _used_today(store: Any, now: datetime) -> dict[tuple[str, Any], int]:
    rows = store.query(
        "SELECT c.owner, count(*) AS n FROM case_log l JOIN cases c USING (case_id)"
        " WHERE l.action = 'escalated' AND l.note = 'sent' AND l.value <> 'reassign'"
        " AND CAST(l.happened_at AS DATE) = ? GROUP BY c.owner",
        [now.date()],
    ).to_pylist()
    return {(r["owner"], now.date()): int(r["n"]) for r in rows}
