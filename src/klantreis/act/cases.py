"""Cases: stored in the main store, and every step also an event in the log.

Tables (created by :func:`ensure_schema`, like ``access.accounts``):

- ``cases``: one row per case; ``case_id`` is derived from rule and journey, so evaluating
  the rules again never opens a second case for the same rule and journey;
- ``case_log``: what happened to a case, in order (``seq``): opened, a note, a status change,
  an assignment, an SLA-policy change, an escalation. Notes are kept here only (staff text,
  never in the event log).

Events (through the one ingest pipeline, ``ingest_table``; no personal data: ids, codes and
the owner only; on the customer, with the journey in ``attrs.journey_id`` so that journey
discovery is not mixed with case work): ``case.opened``, ``case.first_action`` (the first *human* action: a note or
a status change; an automatic one never counts), ``case.paused``/``case.resumed`` (entering
or leaving "waiting for the customer / a third party"), ``case.closed`` (with the root-cause
code). Event ids are derived from the case and the log entry, so writing them again stores
nothing new.

Functions that change cases return a :class:`CaseUpdate` with the events to write; with
``write=True`` (the default) they are written at once through ``ingest_table``; the web app
passes ``write=False`` and hands them to its single writer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from klantreis.act.rules import CaseRules
from klantreis.act.sla import ClockState, Pause, clock_arrays, clock_state
from klantreis.ingest.pipeline import Target, ingest_table
from klantreis.model.events import derive_event_id, events_from_records
from klantreis.store import AppendResult, EventStore

__all__ = [
    "CASE_SOURCE",
    "PAUSED_STATUSES",
    "STATUSES",
    "Action",
    "ActionKind",
    "Case",
    "CaseError",
    "CaseUpdate",
    "add_note",
    "apply_actions",
    "assign",
    "case_clocks",
    "case_id_for",
    "change_policy",
    "clocks_for",
    "count_cases",
    "ensure_schema",
    "get_case",
    "list_cases",
    "open_cases",
    "set_status",
    "with_logs",
    "write_events",
]

STATUSES = ("open", "in_progress", "waiting_customer", "waiting_third_party", "closed")
PAUSED_STATUSES = frozenset({"waiting_customer", "waiting_third_party"})
CASE_SOURCE = "case"
MAX_NOTE = 4000

ActionKind = Literal["note", "status", "assign", "policy", "escalated"]


class CaseError(ValueError):
    """A change that cannot be made (unknown case, closed case, unknown status or code)."""


def case_id_for(rule_id: str, journey_id: str) -> str:
    """The one case of a rule and a journey."""
    return "k" + derive_event_id("case", rule_id, journey_id)[:15]


def ensure_schema(store: EventStore) -> None:
    """Create the case tables when missing (idempotent)."""
    with store.transaction() as con:
        con.execute("""CREATE TABLE IF NOT EXISTS cases (
            case_id VARCHAR PRIMARY KEY, rule_id VARCHAR NOT NULL, journey_id VARCHAR NOT NULL,
            customer_id VARCHAR, owner VARCHAR NOT NULL, assignee VARCHAR,
            status VARCHAR NOT NULL, sla VARCHAR NOT NULL, trigger_event_id VARCHAR,
            triggered_at TIMESTAMPTZ, opened_at TIMESTAMPTZ NOT NULL,
            first_action_at TIMESTAMPTZ, closed_at TIMESTAMPTZ, root_cause VARCHAR,
            reassign BOOLEAN NOT NULL DEFAULT false, updated_at TIMESTAMPTZ NOT NULL)""").fetchall()
        con.execute("""CREATE TABLE IF NOT EXISTS case_log (
            case_id VARCHAR NOT NULL, seq INTEGER NOT NULL, happened_at TIMESTAMPTZ NOT NULL,
            action VARCHAR NOT NULL, actor VARCHAR, automatic BOOLEAN NOT NULL DEFAULT false,
            status_from VARCHAR, status_to VARCHAR, note VARCHAR, value VARCHAR,
            PRIMARY KEY (case_id, seq))""").fetchall()
        con.execute("CREATE INDEX IF NOT EXISTS cases_owner ON cases (owner, status)").fetchall()


@dataclass(frozen=True)
class Case:
    case_id: str
    rule_id: str
    journey_id: str
    customer_id: str | None
    owner: str
    assignee: str | None
    status: str
    sla: str
    trigger_event_id: str | None
    triggered_at: datetime | None
    opened_at: datetime
    first_action_at: datetime | None
    closed_at: datetime | None
    root_cause: str | None
    reassign: bool
    updated_at: datetime
    log: tuple[dict[str, Any], ...] = ()

    def pauses(self) -> list[Pause]:
        """The wall-clock intervals spent waiting (from the log; survive policy changes)."""
        out: list[Pause] = []
        began: datetime | None = None
        for entry in self.log:
            if entry["action"] != "status":
                continue
            to_paused = entry["status_to"] in PAUSED_STATUSES
            if to_paused and began is None:
                began = entry["happened_at"]
            elif not to_paused and began is not None:
                out.append(Pause(began, entry["happened_at"]))
                began = None
        if began is not None:
            out.append(Pause(began, None))
        return out

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "log"}
        out["log"] = list(self.log)
        return out


_CASE_COLUMNS = (
    "case_id, rule_id, journey_id, customer_id, owner, assignee, status, sla, trigger_event_id,"
    " triggered_at, opened_at, first_action_at, closed_at, root_cause, reassign, updated_at"
)


@dataclass
class CaseUpdate:
    """What a change did: the cases it touched and the events that record it."""

    case_ids: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    written: AppendResult | None = None


def _event(kind: str, case: dict[str, Any], at: datetime, seq: int, **attrs: Any) -> dict[str, Any]:
    return {
        "event_id": derive_event_id(kind, case["case_id"], seq),
        "occurred_at": at.astimezone(UTC).isoformat(),
        "kind": kind,
        "customer_id": case["customer_id"],
        "owner": case["owner"],
        # The journey in attrs, not in journey_id: a case's steps are work about the journey,
        # not steps of it (journey maps, variants and hand-overs stay the customer's).
        "attrs": {
            "case_id": case["case_id"],
            "rule_id": case["rule_id"],
            "journey_id": case["journey_id"],
            **attrs,
        },
    }


def write_events(target: Target, records: Sequence[dict[str, Any]]) -> AppendResult | None:
    """Write case events through the ingest pipeline (nothing when there are none)."""
    if not records:
        return None
    table = events_from_records(list(records), source=CASE_SOURCE)
    return ingest_table(target.store, table, target.journey, source=CASE_SOURCE)


def _finish(target: Target, update: CaseUpdate, write: bool) -> CaseUpdate:
    if write:
        update.written = write_events(target, update.records)
    return update


# -- opening ------------------------------------------------------------------------------
def open_cases(
    target: Target,
    rules: CaseRules,
    triggers: pa.Table,
    opened_at: datetime | None = None,
    write: bool = True,
) -> CaseUpdate:
    """Open a case for every trigger row (``engine.TRIGGER_SCHEMA``) whose rule and journey
    has none yet; returns the new ones. Idempotent: a known (rule, journey) is skipped.

    ``opened_at`` defaults to each trigger's own time (a case is as old as its cause; the
    demo and a backfill get honest SLA clocks), else now."""
    ensure_schema(target.store)
    rows = triggers.to_pylist()
    now = datetime.now(UTC)
    for r in rows:
        r["case_id"] = case_id_for(r["rule_id"], r["journey_id"])
        r["opened_at"] = opened_at or r["triggered_at"] or now
        rule = rules.rule(r["rule_id"])
        r["sla"] = rule.sla if rule else "standaard"
    update = CaseUpdate()
    if not rows:
        return update
    table = pa.Table.from_pylist(
        [
            {
                k: r[k]
                for k in (
                    "case_id",
                    "rule_id",
                    "journey_id",
                    "customer_id",
                    "owner",
                    "sla",
                    "event_id",
                    "triggered_at",
                    "opened_at",
                )
            }
            for r in rows
        ]
    )
    with target.store.transaction() as con:
        con.register("new_cases", table)
        try:
            new = con.execute(
                """INSERT INTO cases (case_id, rule_id, journey_id, customer_id, owner, status, sla,
                   trigger_event_id, triggered_at, opened_at, updated_at)
                SELECT n.case_id, n.rule_id, n.journey_id, n.customer_id, n.owner, 'open', n.sla,
                   n.event_id, n.triggered_at, n.opened_at, n.opened_at
                FROM new_cases n ANTI JOIN cases c USING (case_id)
                RETURNING case_id"""
            ).fetchall()
            new_ids = {row[0] for row in new}
            if new_ids:
                con.execute(
                    """INSERT INTO case_log (case_id, seq, happened_at, action, automatic, status_to, value)
                    SELECT case_id, 0, opened_at, 'opened', true, 'open', rule_id
                    FROM new_cases WHERE case_id IN (SELECT unnest(?))""",
                    [sorted(new_ids)],
                ).fetchall()
        finally:
            con.unregister("new_cases")
    for r in rows:
        if r["case_id"] in new_ids:
            update.case_ids.append(r["case_id"])
            update.records.append(
                _event("case.opened", r, r["opened_at"], 0, sla=r["sla"], status="open")
            )
    return _finish(target, update, write)


# -- reading ------------------------------------------------------------------------------
def _case_rows(
    store: EventStore, where: str, params: list[Any], limit: int, offset: int = 0
) -> list[Case]:
    rows = store.query(
        f"SELECT {_CASE_COLUMNS} FROM cases WHERE {where}"
        " ORDER BY opened_at DESC, case_id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).to_pylist()
    return [Case(**r) for r in rows]


def get_case(store: EventStore, case_id: str) -> Case | None:
    """One case with its log (oldest entry first); None when unknown."""
    ensure_schema(store)
    found = _case_rows(store, "case_id = ?", [case_id], 1)
    if not found:
        return None
    log = store.query(
        "SELECT seq, happened_at, action, actor, automatic, status_from, status_to, note, value"
        " FROM case_log WHERE case_id = ? ORDER BY seq",
        [case_id],
    ).to_pylist()
    c = found[0]
    return Case(**{**c.as_dict(), "log": tuple(log)})


def list_cases(
    store: EventStore,
    owner: str | None = None,
    assignee: str | None = None,
    status: Iterable[str] | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[Case]:
    """Cases, newest first, filtered by owner, assignee and status (without their logs);
    ``offset`` skips that many (a page)."""
    where, params = _filters(store, owner, assignee, status)
    return _case_rows(store, where, params, limit, offset)


def escalation_candidates(
    store: EventStore, actions: Iterable[str]
) -> list[tuple[Case, tuple[str, ...]]]:
    """Open cases whose first-action clock still runs and that have a ladder step
    (``actions``) left, newest first, each with the steps already fired (sent or held).

    One query: a store with hundreds of thousands of open cases gets the few that can
    still escalate, not every case with its whole log."""
    ensure_schema(store)
    cols = ", ".join(f"c.{c.strip()}" for c in _CASE_COLUMNS.split(","))
    rows = store.query(
        f"SELECT {cols}, coalesce(f.fired, []) AS fired FROM cases c LEFT JOIN ("
        " SELECT case_id, list(DISTINCT value) AS fired FROM case_log"
        " WHERE action = 'escalated' GROUP BY case_id) f ON f.case_id = c.case_id"
        " WHERE c.status = 'open' AND c.first_action_at IS NULL"
        " AND NOT list_has_all(coalesce(f.fired, []), ?::VARCHAR[])"
        " ORDER BY c.opened_at DESC, c.case_id",
        [sorted(set(actions))],
    ).to_pylist()
    return [(Case(**{k: v for k, v in r.items() if k != "fired"}), tuple(r["fired"])) for r in rows]


def count_cases(
    store: EventStore,
    owner: str | None = None,
    assignee: str | None = None,
    status: Iterable[str] | None = None,
) -> int:
    """How many cases :func:`list_cases` would list without a limit."""
    where, params = _filters(store, owner, assignee, status)
    rows = store.query(f"SELECT count(*) AS n FROM cases WHERE {where}", params).to_pylist()
    return int(rows[0]["n"])


def _filters(
    store: EventStore,
    owner: str | None,
    assignee: str | None,
    status: Iterable[str] | None,
) -> tuple[str, list[Any]]:
    ensure_schema(store)
    where: list[str] = ["true"]
    params: list[Any] = []
    if owner is not None:
        where.append("owner = ?")
        params.append(owner)
    if assignee is not None:
        where.append("assignee = ?")
        params.append(assignee)
    if status is not None:
        where.append("list_contains(?, status)")
        params.append(list(status))
    return " AND ".join(where), params


def _logs(store: EventStore, case_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    rows = store.query(
        "SELECT case_id, seq, happened_at, action, actor, automatic, status_from, status_to, note, value"
        " FROM case_log WHERE list_contains(?, case_id) ORDER BY case_id, seq",
        [list(case_ids)],
    ).to_pylist()
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.pop("case_id"), []).append(r)
    return out


def with_logs(store: EventStore, cases: Sequence[Case]) -> list[Case]:
    """The cases with their logs (one query)."""
    logs = _logs(store, [c.case_id for c in cases]) if cases else {}
    return [Case(**{**c.as_dict(), "log": tuple(logs.get(c.case_id, []))}) for c in cases]


# -- clocks -------------------------------------------------------------------------------
def case_clocks(case: Case, rules: CaseRules, now: datetime) -> dict[str, ClockState]:
    """The first-action and the resolution clock of a case with its current SLA policy.

    The first-action clock stops at the first human action and never pauses; the
    resolution clock stops at closure and stands still while the case waits. Pauses come
    from the case's log, so a policy change keeps them."""
    policy = rules.policy(case.sla)
    calendar = rules.business_calendar()
    first = clock_state(
        calendar, policy.first_action_hours, case.opened_at, now, case.first_action_at
    )
    resolution = clock_state(
        calendar, policy.resolution_hours, case.opened_at, now, case.closed_at, case.pauses()
    )
    return {"first_action": first, "resolution": resolution}


def _epoch(at: datetime | None) -> float:
    return float("nan") if at is None else at.timestamp()


def _state(
    target: float, elapsed: float, due: float, stopped: datetime | None, paused: bool
) -> ClockState:
    due_at = None if np.isnan(due) else datetime.fromtimestamp(float(due), UTC)
    return ClockState(target, float(elapsed), due_at, stopped, bool(paused))


def clocks_for(
    store: EventStore, found: Sequence[Case], rules: CaseRules, now: datetime
) -> list[dict[str, ClockState]]:
    """:func:`case_clocks` for many cases at once with the vectorised ``clock_arrays``: one
    query for the pauses (from the case log), numpy for the clocks (a queue of thousands in
    milliseconds). Same numbers as :func:`case_clocks` (a test checks it)."""
    if not found:
        return []
    calendar = rules.business_calendar()
    policies = {sla: rules.policy(sla) for sla in {c.sla for c in found}}
    index = {c.case_id: i for i, c in enumerate(found)}
    rows = store.query(
        "SELECT case_id, happened_at, status_to FROM case_log WHERE action = 'status'"
        " AND list_contains(?, case_id) ORDER BY case_id, seq",
        [list(index)],
    ).to_pylist()
    p_case: list[int] = []
    p_start: list[float] = []
    p_end: list[float] = []
    began: dict[str, datetime] = {}
    for r in rows:
        cid, to_paused = r["case_id"], r["status_to"] in PAUSED_STATUSES
        if to_paused and cid not in began:
            began[cid] = r["happened_at"]
        elif not to_paused and cid in began:
            p_case.append(index[cid])
            p_start.append(began.pop(cid).timestamp())
            p_end.append(r["happened_at"].timestamp())
    for cid, since in began.items():
        p_case.append(index[cid])
        p_start.append(since.timestamp())
        p_end.append(float("nan"))
    started = np.array([c.opened_at.timestamp() for c in found])
    first_t = np.array([policies[c.sla].first_action_hours for c in found], dtype=float)
    res_t = np.array([policies[c.sla].resolution_hours for c in found], dtype=float)
    first_stop = np.array([_epoch(c.first_action_at) for c in found])
    closed = np.array([_epoch(c.closed_at) for c in found])
    at_s = now.timestamp()
    first = clock_arrays(calendar, first_t, started, at_s, first_stop)
    res = clock_arrays(
        calendar,
        res_t,
        started,
        at_s,
        closed,
        np.array(p_case, dtype=np.int64),
        np.array(p_start, dtype=float),
        np.array(p_end, dtype=float),
    )
    return [
        {
            "first_action": _state(
                first_t[i] * 3600, first.elapsed[i], first.due[i], c.first_action_at, False
            ),
            "resolution": _state(
                res_t[i] * 3600, res.elapsed[i], res.due[i], c.closed_at, res.paused[i]
            ),
        }
        for i, c in enumerate(found)
    ]


# -- changing -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """One change to one case: ``note`` (text), ``status`` (value: a status; ``root_cause``
    when closing), ``assign`` (value: a user name or None), ``policy`` (value: an SLA id),
    ``escalated`` (value: the ladder action). ``automatic`` actions (rules, schedulers,
    automatic messages) never count as the first action."""

    case_id: str
    kind: ActionKind
    at: datetime
    actor: str | None = None
    value: str | None = None
    note: str | None = None
    root_cause: str | None = None
    automatic: bool = False


def _check(action: Action, case: dict[str, Any], rules: CaseRules) -> None:
    if case["status"] == "closed" and action.kind != "escalated":
        raise CaseError(f"case '{action.case_id}' is closed")
    if action.kind == "status":
        if action.value not in STATUSES:
            raise CaseError(f"unknown status '{action.value}' (known: {', '.join(STATUSES)})")
        cause = rules.root_cause(action.root_cause) if action.root_cause else None
        if action.value == "closed" and cause is None:
            known = ", ".join(c.id for c in rules.root_causes)
            raise CaseError(f"closing needs a root-cause code (known: {known})")
    if action.kind == "note" and not (action.note or "").strip():
        raise CaseError("a note needs text")
    if action.kind == "note" and len(action.note or "") > MAX_NOTE:
        raise CaseError(f"a note has at most {MAX_NOTE} characters")
    if action.kind == "policy":
        try:
            rules.policy(action.value or "")
        except KeyError as exc:
            raise CaseError(str(exc.args[0])) from None
    if action.at.tzinfo is None:
        raise CaseError("action times must be time-zone aware")


def apply_actions(
    target: Target, rules: CaseRules, actions: Sequence[Action], write: bool = True
) -> CaseUpdate:
    """Apply actions in order, in one transaction; all or nothing (a bad one raises
    ``CaseError`` and changes nothing). Many actions cost a few statements, not a few per
    action: the cases are read once, changed in memory and written back in bulk."""
    ensure_schema(target.store)
    update = CaseUpdate()
    if not actions:
        return update
    ids = sorted({a.case_id for a in actions})
    names = [c.strip() for c in _CASE_COLUMNS.split(",")]
    with target.store.transaction() as con:
        # the ids as a joined table and the last log entry per case grouped once: a
        # correlated max per case over a list made a round on many cases quadratic
        rows = con.execute(
            f"WITH ids AS (SELECT DISTINCT unnest(?::VARCHAR[]) AS case_id),"
            " last AS (SELECT case_id, max(seq) AS seq FROM case_log"
            " WHERE case_id IN (SELECT case_id FROM ids) GROUP BY case_id)"
            f" SELECT {_CASE_COLUMNS}, coalesce(last.seq, 0) AS seq"
            " FROM cases JOIN ids USING (case_id) LEFT JOIN last USING (case_id)",
            [ids],
        ).fetchall()
        cases = {r[0]: dict(zip([*names, "seq"], r, strict=True)) for r in rows}
        log: list[dict[str, Any]] = []
        touched: set[str] = set(update.case_ids)  # membership in a list made this quadratic
        for action in actions:
            case = cases.get(action.case_id)
            if case is None:
                raise CaseError(f"no case '{action.case_id}'")
            _check(action, case, rules)
            case["seq"] += 1
            update.records += _apply(case, action, case["seq"], log)
            if action.case_id not in touched:
                touched.add(action.case_id)
                update.case_ids.append(action.case_id)
        _write_back(con, [cases[i] for i in update.case_ids], names, log)
    return _finish(target, update, write)


_LOG_COLUMNS = (
    "case_id",
    "seq",
    "happened_at",
    "action",
    "actor",
    "automatic",
    "status_from",
    "status_to",
    "note",
    "value",
)


def _write_back(
    con: Any, changed: list[dict[str, Any]], names: list[str], log: list[dict[str, Any]]
) -> None:
    entries = pa.Table.from_pylist(log).select(list(_LOG_COLUMNS))
    states = pa.Table.from_pylist([{k: c[k] for k in names} for c in changed])
    con.register("new_log", entries)
    con.register("new_state", states)
    try:
        con.execute(
            f"INSERT INTO case_log ({', '.join(_LOG_COLUMNS)}) SELECT * FROM new_log"
        ).fetchall()
        sets = ", ".join(f"{k} = s.{k}" for k in names if k != "case_id")
        con.execute(
            f"UPDATE cases SET {sets} FROM new_state s WHERE cases.case_id = s.case_id"
        ).fetchall()
    finally:
        con.unregister("new_log")
        con.unregister("new_state")


def _apply(
    case: dict[str, Any], action: Action, seq: int, log: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    at = action.at
    status_from = case["status"]
    status_to = action.value if action.kind == "status" else None
    log.append(
        {
            "case_id": case["case_id"],
            "seq": seq,
            "happened_at": at,
            "action": action.kind,
            "actor": action.actor,
            "automatic": action.automatic,
            "status_from": status_from if status_to else None,
            "status_to": status_to,
            "note": action.note,
            "value": action.root_cause if status_to == "closed" else action.value,
        }
    )
    events: list[dict[str, Any]] = []
    sets: dict[str, Any] = {"updated_at": at}
    human = not action.automatic and action.kind in ("note", "status")
    if human and case["first_action_at"] is None:
        sets["first_action_at"] = at
        events.append(_event("case.first_action", case, at, seq, status=status_to or status_from))
    if action.kind == "assign":
        sets["assignee"] = action.value
        sets["reassign"] = False
    elif action.kind == "policy":
        sets["sla"] = action.value
    elif action.kind == "escalated" and action.value == "reassign":
        sets["reassign"] = True  # back to the owner's queue, marked for someone else
        sets["assignee"] = None
    elif status_to is not None and status_to != status_from:
        sets["status"] = status_to
        events += _status_events(case, at, seq, status_from, status_to, action.root_cause)
        if status_to == "closed":
            sets["closed_at"] = at
            sets["root_cause"] = action.root_cause
    case.update(sets)
    return events


def _status_events(
    case: dict[str, Any], at: datetime, seq: int, old: str, new: str, root_cause: str | None
) -> list[dict[str, Any]]:
    events = []
    was, now_paused = old in PAUSED_STATUSES, new in PAUSED_STATUSES
    if now_paused and not was:
        events.append(_event("case.paused", case, at, seq, waiting_on=new.removeprefix("waiting_")))
    if was and not now_paused:
        events.append(_event("case.resumed", case, at, seq, status=new))
    if new == "closed":
        events.append(_event("case.closed", case, at, seq, root_cause=root_cause))
    return events


def add_note(
    target: Target,
    rules: CaseRules,
    case_id: str,
    note: str,
    actor: str,
    at: datetime | None = None,
    automatic: bool = False,
    write: bool = True,
) -> CaseUpdate:
    """A note on a case (a human note is the first action when none came before)."""
    action = Action(case_id, "note", at or datetime.now(UTC), actor, note=note, automatic=automatic)
    return apply_actions(target, rules, [action], write)


def set_status(
    target: Target,
    rules: CaseRules,
    case_id: str,
    status: str,
    actor: str,
    at: datetime | None = None,
    root_cause: str | None = None,
    automatic: bool = False,
    write: bool = True,
) -> CaseUpdate:
    """Move a case to ``status``; closing needs a ``root_cause`` code of the rules file."""
    action = Action(
        case_id,
        "status",
        at or datetime.now(UTC),
        actor,
        value=status,
        root_cause=root_cause,
        automatic=automatic,
    )
    return apply_actions(target, rules, [action], write)


def assign(
    target: Target,
    rules: CaseRules,
    case_id: str,
    assignee: str | None,
    actor: str,
    at: datetime | None = None,
    write: bool = True,
) -> CaseUpdate:
    """Give a case to a person (None: back to the owner's queue)."""
    action = Action(case_id, "assign", at or datetime.now(UTC), actor, value=assignee)
    return apply_actions(target, rules, [action], write)


def change_policy(
    target: Target,
    rules: CaseRules,
    case_id: str,
    sla: str,
    actor: str,
    at: datetime | None = None,
    write: bool = True,
) -> CaseUpdate:
    """Apply another SLA policy; the clocks are recomputed with it, pauses kept."""
    action = Action(case_id, "policy", at or datetime.now(UTC), actor, value=sla)
    return apply_actions(target, rules, [action], write)
