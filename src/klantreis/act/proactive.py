"""Proactive messages before the customer asks — each rule an experiment with a holdout.

A rule turns a risk signal in the event log into a message: a promise about to break with no
delivery yet (``signal = "promise"`` with ``lead_hours`` before the deadline; a negative lead is
*after* the deadline, e.g. a refund overdue), a delivery estimate that slipped (``repromise``:
a later ``promised`` event with a later deadline), or an event such as ``invoice.bounced``
(``event``). Every signal is decided once, in this order:

1. **eligible?** the customer may get a service message on the rule's channel (consent and
   contact details, asked of the directory). Ineligible signals stay out of the experiment —
   randomising them would dilute the message arm with people who never got one.
2. **arm**: a randomised holdout (10% by default) gets no message. The draw is a hash of the
   rule's salt, the rule and the journey: stable (re-running never moves a journey between
   arms), uniform, and independent of anything about the order. A new salt is a new experiment.

What happens becomes an event in the log (``proactive.sent``, ``proactive.held_out``,
``proactive.ineligible``; ids only, event ids derived from rule and journey so deciding twice
stores nothing new). The journey is in ``attrs.journey_id``, not ``journey_id``: a decision is
not a step of the customer's journey, so journey maps, variants and hand-overs are unchanged. The effect is then an ordinary query — :func:`holdout_report` compares
the arms on the rule's outcome (e.g. "waar is mijn pakket?" contacts within 7 days) with a 95%
interval; without a holdout it reports no "contacts avoided" at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from klantreis.analytics.promises import promise_outcomes_expr
from klantreis.analytics.stats import Summary, compare
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import derive_event_id, events_from_records
from klantreis.model.journey import JourneyConfig, _Strict
from klantreis.model.tomlfile import ConfigFileError, parse_toml_model
from klantreis.store import AppendResult, EventStore

__all__ = [
    "ARMS",
    "ProactiveConfig",
    "ProactiveConfigError",
    "Rule",
    "arm_of",
    "decide",
    "decide_new",
    "holdout_report",
    "load_proactive_config",
    "parse_proactive_config",
    "promise_candidates",
    "record",
    "signals",
]

Arm = Literal["message", "holdout", "ineligible"]
ARMS: tuple[Arm, ...] = ("message", "holdout", "ineligible")
KIND_OF_ARM = {
    "message": "proactive.sent",
    "holdout": "proactive.held_out",
    "ineligible": "proactive.ineligible",
}
ARM_OF_KIND = {v: k for k, v in KIND_OF_ARM.items()}
#: SQL: the event is a decision. The range first: DuckDB skips the row groups outside it (by
#: their min/max) before it reads ``attrs``; an ``IN`` list alone is only an optional filter
#: there, so every row's ``attrs`` was read (at 100M events: 9 CPU s and 3 GB of cache).
_DECISION_KINDS = (
    f"kind BETWEEN '{min(KIND_OF_ARM.values())}' AND '{max(KIND_OF_ARM.values())}'"
    f" AND kind IN ({', '.join(repr(k) for k in KIND_OF_ARM.values())})"
)
#: (customer_id, purpose, channel) -> (may we, reason when not)
MayContact = Callable[[str, str, str], tuple[bool, str | None]]
_ID = r"^[a-z][a-z0-9_]*$"


class ProactiveConfigError(ConfigFileError):
    """A proactive-messages file that cannot be used; ``problems`` lists every reason."""


class Rule(_Strict):
    id: str = Field(pattern=_ID)
    name_nl: str
    name_en: str
    signal: Literal["promise", "repromise", "event"]
    #: For ``promise``/``repromise``: a promise id of the journey configuration.
    promise: str | None = None
    #: For ``event``: the event kind that is the signal.
    kind: str | None = None
    #: Only signals whose owner (e.g. the carrier) is one of these (empty: any owner).
    owners: list[str] = Field(default_factory=list)
    #: For ``promise``: hours before the deadline (negative: after it) the signal fires.
    lead_hours: float = 4.0
    #: The share of eligible signals that gets no message (the control group).
    holdout: float = Field(default=0.10, ge=0, lt=1)
    #: Part of the arm draw; a new salt starts a new experiment.
    salt: str = "1"
    #: Signals before this date are not acted on (when the experiment started).
    start: date | None = None
    channel: Literal["email", "sms", "whatsapp", "push"] = "email"
    #: The contact reasons the message should make unnecessary (empty: every inbound contact).
    outcome_reasons: list[str] = Field(default_factory=list)
    outcome_days: int = Field(default=7, ge=1, le=90)
    subject: dict[str, str] = Field(default_factory=dict)
    text: dict[str, str] = Field(default_factory=dict)
    active: bool = True

    @model_validator(mode="after")
    def _signal(self) -> Rule:
        if self.signal in ("promise", "repromise") and not self.promise:
            raise ValueError(f"rule '{self.id}': signal '{self.signal}' needs a promise")
        if self.signal == "event" and not self.kind:
            raise ValueError(f"rule '{self.id}': signal 'event' needs a kind")
        if not self.text:
            raise ValueError(f"rule '{self.id}' needs a message text (text = {{ nl = '...' }})")
        return self

    def name(self, lang: str) -> str:
        return self.name_nl if lang.startswith("nl") else self.name_en


class ProactiveConfig(_Strict):
    rules: list[Rule] = Field(default_factory=list, alias="rule")

    @model_validator(mode="after")
    def _unique(self) -> ProactiveConfig:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule id(s): {', '.join(dupes)}")
        return self

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def parse_proactive_config(
    text: str, path: str = "<proactive>", journey: JourneyConfig | None = None
) -> ProactiveConfig:
    config = parse_toml_model(text, path, ProactiveConfig, ProactiveConfigError)
    if journey is not None:
        known = {p.id for p in journey.promises}
        owners = {o.id for o in journey.owners}
        problems = [
            f"rule '{r.id}': unknown promise '{r.promise}'"
            for r in config.rules
            if r.promise and r.promise not in known
        ] + [
            f"rule '{r.id}': unknown owner '{o}'"
            for r in config.rules
            for o in r.owners
            if o not in owners
        ]
        if problems:
            raise ProactiveConfigError(path, problems)
    return config


def load_proactive_config(
    path: str | Path, journey: JourneyConfig | None = None
) -> ProactiveConfig:
    p = Path(path)
    if not p.exists():
        raise ProactiveConfigError(str(p), ["file not found"])
    return parse_proactive_config(p.read_text(encoding="utf-8"), str(p), journey)


# -- the arm draw ---------------------------------------------------------------------------
def _uniform(salt: str, rule_id: str, journey_id: str) -> float:
    digest = hashlib.sha256(f"{salt}\x1f{rule_id}\x1f{journey_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def arm_of(rule: Rule, journey_id: str) -> Arm:
    """``holdout`` or ``message`` for an eligible signal: stable per (salt, rule, journey)."""
    return "holdout" if _uniform(rule.salt, rule.id, journey_id) < rule.holdout else "message"


# -- signals ----------------------------------------------------------------------------------
_SIGNAL_COLUMNS = [
    "rule_id",
    "journey_id",
    "customer_id",
    "signal_at",
    "owner",
    "touchpoint",
    "deadline",
]


def promise_candidates(
    events: ir.Table, journey: JourneyConfig, rule: Rule, now: datetime
) -> ir.Table:
    """The promises of ``rule`` not fulfilled by their signal time (``lead_hours`` before the
    deadline), whatever ``now``: a signal once its signal time has come."""
    assert rule.promise
    out = promise_outcomes_expr(events, journey, [rule.promise], now)
    signal_at = out.deadline - ibis.interval(seconds=int(rule.lead_hours * 3600))
    out = out.mutate(signal_at=signal_at)
    return out.filter(out.fulfilled_at.isnull() | (out.fulfilled_at > out.signal_at))


def _promise_signals(events: ir.Table, journey: JourneyConfig, rule: Rule, now: datetime) -> Any:
    out = promise_candidates(events, journey, rule, now)
    return out.filter(out.signal_at <= ibis.literal(now)).select(
        rule_id=ibis.literal(rule.id),
        journey_id=out.journey_id,
        customer_id=out.customer_id,
        signal_at=out.signal_at,
        owner=out.owner,
        touchpoint=out.touchpoint,
        deadline=out.deadline,
    )


def _repromise_signals(events: ir.Table, journey: JourneyConfig, rule: Rule, now: datetime) -> Any:
    promise = next(p for p in journey.promises if p.id == rule.promise)
    out = promise_outcomes_expr(events, journey, [promise.id], now)
    ev = events.filter(events.kind == promise.promised)
    later = ev.join(out, ev.journey_id == out.journey_id).filter(
        lambda t: t.occurred_at > t.promised_at
    )
    later = later.filter(later.fulfilled_at.isnull() | (later.fulfilled_at > later.occurred_at))
    firsts = later.group_by(later.journey_id).aggregate(
        signal_at=later.occurred_at.min(),
        customer_id=later.customer_id.arbitrary(),
        owner=later.owner.arbitrary(),
        touchpoint=later.touchpoint_right.arbitrary(),
        deadline=later.deadline.arbitrary(),
    )
    return firsts.filter(firsts.signal_at <= ibis.literal(now)).select(
        rule_id=ibis.literal(rule.id),
        journey_id=firsts.journey_id,
        customer_id=firsts.customer_id,
        signal_at=firsts.signal_at,
        owner=firsts.owner,
        touchpoint=firsts.touchpoint,
        deadline=firsts.deadline,
    )


def _event_signals(events: ir.Table, rule: Rule, now: datetime) -> Any:
    ev = events.filter((events.kind == rule.kind) & events.journey_id.notnull())
    ev = ev.filter(ev.occurred_at <= ibis.literal(now))
    firsts = ev.group_by(ev.journey_id).aggregate(
        signal_at=ev.occurred_at.min(),
        customer_id=ev.customer_id.argmin(ev.occurred_at),
        owner=ev.owner.argmin(ev.occurred_at),
        touchpoint=ev.touchpoint.argmin(ev.occurred_at),
    )
    return firsts.select(
        rule_id=ibis.literal(rule.id),
        journey_id=firsts.journey_id,
        customer_id=firsts.customer_id,
        signal_at=firsts.signal_at,
        owner=firsts.owner,
        touchpoint=firsts.touchpoint,
        deadline=ibis.null("timestamp('UTC')"),
    )


def signals(
    events: ir.Table,
    journey: JourneyConfig,
    config: ProactiveConfig,
    now: datetime | None = None,
) -> pa.Table:
    """Every risk signal of every active rule up to ``now``: rule_id, journey_id, customer_id,
    signal_at, owner, deadline (one per rule and journey: the first)."""
    now = now or datetime.now(UTC)
    parts = []
    for rule in config.rules:
        if not rule.active:
            continue
        if rule.signal == "promise":
            expr = _promise_signals(events, journey, rule, now)
        elif rule.signal == "repromise":
            expr = _repromise_signals(events, journey, rule, now)
        else:
            expr = _event_signals(events, rule, now)
        if rule.owners:
            expr = expr.filter(expr.owner.isin(rule.owners))
        if rule.start is not None:
            start = datetime.combine(rule.start, datetime.min.time(), UTC)
            expr = expr.filter(expr.signal_at >= ibis.literal(start))
        table = expr.to_pyarrow()
        parts.append(table.select(_SIGNAL_COLUMNS).cast(_SIGNAL_SCHEMA))
    if not parts:
        return _SIGNAL_SCHEMA.empty_table()
    return pa.concat_tables(parts).sort_by(
        [("signal_at", "ascending"), ("journey_id", "ascending")]
    )


_SIGNAL_SCHEMA = pa.schema(
    [
        ("rule_id", pa.string()),
        ("journey_id", pa.string()),
        ("customer_id", pa.string()),
        ("signal_at", pa.timestamp("us", "UTC")),
        ("owner", pa.string()),
        ("touchpoint", pa.string()),
        ("deadline", pa.timestamp("us", "UTC")),
    ]
)


# -- deciding and recording --------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    rule_id: str
    journey_id: str
    customer_id: str
    signal_at: datetime
    owner: str | None
    arm: Arm
    reason: str | None = None
    touchpoint: str | None = None


def decide(
    found: pa.Table, config: ProactiveConfig, may_contact: MayContact | None = None
) -> list[Decision]:
    """Eligibility first (consent and contact details for a service message), then the arm."""
    out = []
    for row in found.to_pylist():
        rule = config.rule(row["rule_id"])
        assert rule is not None
        ok, reason = (
            may_contact(row["customer_id"], "service", rule.channel)
            if may_contact
            else (True, None)
        )
        arm: Arm = arm_of(rule, row["journey_id"]) if ok else "ineligible"
        out.append(
            Decision(
                rule.id,
                row["journey_id"],
                row["customer_id"],
                row["signal_at"],
                row["owner"],
                arm,
                None if ok else (reason or "no_consent"),
                row["touchpoint"],
            )
        )
    return out


def decision_records(
    decisions: Sequence[Decision], config: ProactiveConfig
) -> list[Mapping[str, Any]]:
    """The events of ``decisions`` (ids only; the event id is derived from rule and journey)."""
    records: list[Mapping[str, Any]] = []
    for d in decisions:
        rule = config.rule(d.rule_id)
        assert rule is not None
        attrs: dict[str, Any] = {
            "rule": d.rule_id,
            "arm": d.arm,
            "salt": rule.salt,
            "journey_id": d.journey_id,
        }
        if d.reason:
            attrs["reason"] = d.reason
        records.append(
            {
                "event_id": derive_event_id("proactive", rule.salt, d.rule_id, d.journey_id),
                "occurred_at": d.signal_at,
                "kind": KIND_OF_ARM[d.arm],
                "customer_id": d.customer_id,
                # the journey goes in attrs: a decision is not a step of the customer's
                # journey (maps, variants and hand-overs stay as they were)
                "journey_id": None,
                "channel": rule.channel if d.arm == "message" else None,
                "owner": d.owner,
                "touchpoint": d.touchpoint,
                "attrs": attrs,
            }
        )
    return records


def record(
    store: EventStore,
    journey: JourneyConfig,
    decisions: Sequence[Decision],
    config: ProactiveConfig,
) -> AppendResult:
    """Store the decisions as events through the one ingest pipeline (idempotent)."""
    records = decision_records(decisions, config)
    if not records:
        return AppendResult(0, 0, 0, 0)
    return ingest_table(store, events_from_records(records, "proactive"), journey, "proactive")


def message_for(rule: Rule, lang: str, journey_id: str) -> tuple[str, str]:
    """(subject, text) of ``rule`` in ``lang`` (fallback: nl, en, any); ``{order}`` is the
    order number (the journey id: no personal data)."""
    from klantreis.model.survey import text_in

    names = rule.subject or {"nl": rule.name_nl, "en": rule.name_en}
    subject = text_in(names, lang, "nl")
    return subject, text_in(rule.text, lang, "nl").replace("{order}", journey_id)


# -- the effect ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArmResult:
    arm: str
    journeys: int
    contacts: int
    per_100: float | None
    with_contact: int


@dataclass(frozen=True)
class RuleReport:
    """One rule's experiment: message arm against the holdout.

    ``diff_per_100`` = contacts per 100 signals, message minus holdout, with its 95% interval
    (Welch); ``avoided`` = the contacts the messages avoided (-diff x message journeys) and
    ``saved`` the money, each with the interval carried through. All ``None`` — with
    ``reason`` — when there is no holdout or too few signals in an arm.
    """

    rule_id: str
    arms: dict[str, ArmResult]
    diff_per_100: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    significant: bool
    avoided: float | None
    avoided_low: float | None
    avoided_high: float | None
    saved: float | None
    saved_low: float | None
    saved_high: float | None
    cost_per_contact: float | None
    #: Of the messaged journeys with a promise: the share whose promise was then kept.
    false_alarms: int | None
    false_alarm_rate: float | None
    #: NPS after the signal, message arm minus holdout, with its interval.
    nps_diff: float | None
    nps_ci_low: float | None
    nps_ci_high: float | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "arms"}
        out["arms"] = {k: v.__dict__ for k, v in self.arms.items()}
        return out


def _decisions_frame(store: EventStore, rule: Rule) -> pa.Table:
    return store.query(
        f"""SELECT json_extract_string(attrs, '$.journey_id') AS journey_id,
                   any_value(customer_id) AS customer_id,
                   min(occurred_at) AS signal_at, any_value(kind) AS kind
            FROM events
            WHERE {_DECISION_KINDS}
              AND json_extract_string(attrs, '$.rule') = ?
              AND json_extract_string(attrs, '$.salt') = ?
            GROUP BY 1""",
        [rule.id, rule.salt],
    )


def _outcomes(store: EventStore, rule: Rule) -> pa.Table:
    """Per decided journey: outcome contacts within the window, their cost, a later NPS.

    The decided journeys' key range and first signal are read first (in the same
    transaction) and bound the contacts' and answers' scans as constants, so DuckDB skips
    the row groups outside them, and with no decision reads none (the joins read every
    inbound contact with its ``attrs`` and every NPS answer: 3.3 GiB at 100M events with no
    decision at all)."""
    reasons = rule.outcome_reasons
    reason_filter = (
        "AND json_extract_string(c.attrs, '$.reason') IN (" + ", ".join("?" for _ in reasons) + ")"
        if reasons
        else ""
    )
    decided = f"""
        SELECT json_extract_string(attrs, '$.journey_id') AS journey_id,
               min(occurred_at) AS signal_at, any_value(kind) AS kind
        FROM events
        WHERE {_DECISION_KINDS} AND json_extract_string(attrs, '$.rule') = ?
          AND json_extract_string(attrs, '$.salt') = ?
        GROUP BY 1
    """
    cur = store.cursor()
    try:
        cur.execute("BEGIN TRANSACTION").fetchall()
        lo, hi, since = cur.execute(
            f"SELECT min(journey_id), max(journey_id), min(signal_at) FROM ({decided})",
            [rule.id, rule.salt],
        ).fetchall()[0]
        near = (  # every decided journey and its signal lie inside: constants for the scans
            f"journey_id BETWEEN {_literal(lo)} AND {_literal(hi)}"
            f" AND occurred_at >= {_literal(since)}"
        )
        sql = f"""
            WITH d AS ({decided}), c AS (
                SELECT d.journey_id, count(c.event_id) AS contacts,
                       list(c.channel) FILTER (WHERE c.event_id IS NOT NULL) AS channels
                FROM d LEFT JOIN (SELECT * FROM events WHERE {near}) c
                  ON c.journey_id = d.journey_id AND c.kind = 'contact.inbound'
                 AND c.occurred_at >= d.signal_at
                 AND c.occurred_at < d.signal_at + INTERVAL {int(rule.outcome_days)} DAY
                 {reason_filter}
                GROUP BY d.journey_id
            ), s AS (
                SELECT d.journey_id, arg_min(s.score, s.occurred_at) AS nps
                FROM d JOIN (SELECT * FROM events WHERE {near}) s
                  ON s.journey_id = d.journey_id AND s.metric = 'nps' AND s.score IS NOT NULL
                 AND s.occurred_at >= d.signal_at
                GROUP BY d.journey_id
            )
            SELECT d.journey_id, d.kind, c.contacts, c.channels, s.nps
            FROM d JOIN c USING (journey_id) LEFT JOIN s USING (journey_id)
            ORDER BY d.journey_id
        """
        table = cur.sql(sql, params=[rule.id, rule.salt, *reasons]).to_arrow_table()
        cur.execute("COMMIT").fetchall()
        return table
    finally:
        cur.close()


def _literal(value: Any) -> str:
    """A journey id or an instant as an SQL constant (NULL for none)."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return "TIMESTAMPTZ '" + value.isoformat() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def _kept_after(
    store: EventStore, journey: JourneyConfig, rule: Rule, journey_ids: list[str]
) -> np.ndarray:
    if rule.signal != "promise" or not journey_ids:
        return np.zeros(len(journey_ids), dtype=bool)
    from klantreis.analytics.backend import duckdb_events

    out = (
        promise_outcomes_expr(duckdb_events(store), journey, [rule.promise or ""])
        .select("journey_id", "outcome")
        .to_pyarrow()
    )
    outcome = dict(
        zip(out.column("journey_id").to_pylist(), out.column("outcome").to_pylist(), strict=True)
    )
    return np.array([outcome.get(j) == "kept" for j in journey_ids])


def holdout_report(
    store: EventStore,
    journey: JourneyConfig,
    rule: Rule,
    confidence: float = 0.95,
    min_per_arm: int = 30,
) -> RuleReport:
    """The rule's experiment from the log: contacts per 100 signals per arm, the difference
    with its interval, contacts avoided and money saved (``None`` without a holdout)."""
    table = _outcomes(store, rule)
    arm = np.array([ARM_OF_KIND[k] for k in table.column("kind").to_pylist()])
    contacts = table.column("contacts").to_numpy(zero_copy_only=False).astype(float)
    nps = np.array([np.nan if v is None else v for v in table.column("nps").to_pylist()], float)
    journey_ids = table.column("journey_id").to_pylist()
    arms: dict[str, ArmResult] = {}
    for name in ARMS:
        sel = arm == name
        n = int(sel.sum())
        total = float(contacts[sel].sum())
        arms[name] = ArmResult(
            name,
            n,
            int(total),
            100.0 * total / n if n else None,
            int((contacts[sel] > 0).sum()),
        )
    m, h = arm == "message", arm == "holdout"
    costs = journey.contact_costs
    channels = [c or [] for c in table.column("channels").to_pylist()]
    spent = [costs.get(ch, np.nan) for i in np.nonzero(h | m)[0] for ch in channels[i] if ch]
    known = [c for c in spent if not np.isnan(c)]
    cost = (
        float(np.mean(known))
        if known
        else (float(np.mean(list(costs.values()))) if costs else None)
    )
    kept = _kept_after(store, journey, rule, journey_ids)
    n_m = int(m.sum())
    false_alarms = int((kept & m).sum()) if rule.signal == "promise" else None
    empty = dict(
        diff_per_100=None,
        ci_low=None,
        ci_high=None,
        p_value=None,
        significant=False,
        avoided=None,
        avoided_low=None,
        avoided_high=None,
        saved=None,
        saved_low=None,
        saved_high=None,
        nps_diff=None,
        nps_ci_low=None,
        nps_ci_high=None,
    )
    common = dict(
        rule_id=rule.id,
        arms=arms,
        cost_per_contact=cost,
        false_alarms=false_alarms,
        false_alarm_rate=(false_alarms / n_m if false_alarms is not None and n_m else None),
    )
    if not h.any():
        return RuleReport(**common, **empty, reason="no_holdout")  # type: ignore[arg-type]
    if h.sum() < min_per_arm or m.sum() < min_per_arm:
        return RuleReport(**common, **empty, reason="too_few")  # type: ignore[arg-type]
    alpha = 1 - confidence
    per100 = contacts * 100.0
    cmp = compare(
        "ces", Summary.from_scores(per100[h]), Summary.from_scores(per100[m]), alpha, min_per_arm
    )
    diff, low, high = cmp.diff, cmp.ci_low, cmp.ci_high
    avoided = avoided_low = avoided_high = None
    if diff is not None and low is not None and high is not None:
        avoided = -diff / 100.0 * n_m
        avoided_low, avoided_high = -high / 100.0 * n_m, -low / 100.0 * n_m
    saved = saved_low = saved_high = None
    if avoided is not None and cost is not None:
        saved, saved_low, saved_high = avoided * cost, avoided_low * cost, avoided_high * cost  # type: ignore[operator]
    nps_m, nps_h = nps[m & ~np.isnan(nps)], nps[h & ~np.isnan(nps)]
    nps_cmp = compare(
        "nps", Summary.from_scores(nps_h), Summary.from_scores(nps_m), alpha, min_per_arm
    )
    return RuleReport(
        **common,  # type: ignore[arg-type]
        diff_per_100=diff,
        ci_low=low,
        ci_high=high,
        p_value=cmp.p_value,
        significant=cmp.significant,
        avoided=avoided,
        avoided_low=avoided_low,
        avoided_high=avoided_high,
        saved=saved,
        saved_low=saved_low,
        saved_high=saved_high,
        nps_diff=nps_cmp.diff,
        nps_ci_low=nps_cmp.ci_low,
        nps_ci_high=nps_cmp.ci_high,
        reason=None,
    )


def run(
    store: EventStore,
    journey: JourneyConfig,
    config: ProactiveConfig,
    now: datetime | None = None,
    may_contact: MayContact | None = None,
) -> tuple[list[Decision], AppendResult]:
    """Find the signals up to ``now``, decide the new ones, store the decisions."""
    from klantreis.analytics.backend import duckdb_events

    found = signals(duckdb_events(store), journey, config, now)
    return decide_new(store, journey, config, found, may_contact)


def decide_new(
    store: EventStore,
    journey: JourneyConfig,
    config: ProactiveConfig,
    found: pa.Table,
    may_contact: MayContact | None = None,
    journeys: Sequence[str] | None = None,
) -> tuple[list[Decision], AppendResult]:
    """Decide and store the signals of ``found`` not decided before (for the same rule and
    salt); ``journeys``: the journeys ``found`` was searched in (None: all of them)."""
    done = _decided_keys(store, journeys)
    salts = {r.id: r.salt for r in config.rules}
    pairs = zip(
        found.column("rule_id").to_pylist(), found.column("journey_id").to_pylist(), strict=True
    )
    keep = [i for i, (r, j) in enumerate(pairs) if (r, salts[r], j) not in done]
    decisions = decide(found.take(pa.array(keep, pa.int64())), config, may_contact)
    return decisions, record(store, journey, decisions, config)


def _decided_keys(
    store: EventStore, journeys: Sequence[str] | None = None
) -> set[tuple[str, str, str]]:
    sql = (
        "SELECT DISTINCT json_extract_string(attrs, '$.rule') AS rule,"
        " json_extract_string(attrs, '$.salt') AS salt,"
        " json_extract_string(attrs, '$.journey_id') AS journey_id"
        f" FROM events WHERE {_DECISION_KINDS}"
    )
    params: list[Any] = []
    if journeys is not None:
        if not journeys:
            return set()
        sql += " AND json_extract_string(attrs, '$.journey_id') IN (SELECT unnest(?::VARCHAR[]))"
        params.append(list(journeys))
    rows = store.query(sql, params).to_pylist()
    return {(r["rule"], r["salt"], r["journey_id"]) for r in rows}
