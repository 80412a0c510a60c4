"""Triggers from the event log: which events start a survey's clock, and the invitations
they plan.

A survey's trigger says "``delay`` after an event of kind ``after``" (``1d`` after
``delivery.completed``, ``24h`` after ``contact.inbound``, after ``refund.paid``), on
conditions on the journey (``trigger.when``: the trigger event's owner, channel and
touchpoint, the customer segment, a promise kept/broken/late/undelivered) and for a sampled
share of the eligible triggers. Planning writes one ledger row per (survey, trigger event):

- ``planned`` with ``send_at`` = trigger time + delay, ``expires_at`` = ``send_at`` +
  ``expires`` (an invitation not sent by then is not sent at all);
- ``suppressed`` with reason ``not_matching`` (the conditions say no) or ``not_sampled``.

Sampling is deterministic: a trigger is in the sample when the first 32 bits of
``md5(survey_id, customer_id, trigger_event_id)`` as a fraction of 2^32 are below ``sample``.
The hash is seeded per survey and customer (and the trigger, so that every trigger of a
returning customer has the same chance): planning again gives the same sample, and the rows
are the same rows (the invitation id comes from the survey and the trigger event).

A promise still open at planning time does not exclude the trigger: its outcome is decided
when the invitation is due (:func:`journey_facts`, used at send time), when open counts as not
matching. Planning is one set-based SQL statement per survey over the whole log (``plan``) or
over a new ingest batch (``plan(..., batch=...)``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from klantreis.listen import ledger
from klantreis.model.journey import JourneyConfig
from klantreis.model.survey import Survey, SurveyConfig
from klantreis.store.duckdb_store import EventStore

__all__ = ["PlanResult", "journey_facts", "plan", "plan_survey", "sample_fraction"]

_SEP = "chr(31)"


@dataclass(frozen=True)
class PlanResult:
    """What planning one survey did: trigger events seen and the new ledger rows by status."""

    survey_id: str
    triggers: int
    new: int
    planned: int
    not_sampled: int
    not_matching: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def sample_fraction(survey_id: str, customer_id: str, trigger_event_id: str) -> float:
    """The trigger's place in ``[0, 1)``: in the sample when below the survey's ``sample``
    (the same hash the planning SQL computes)."""
    import hashlib

    text = f"{survey_id}\x1f{customer_id}\x1f{trigger_event_id}"
    return int(hashlib.md5(text.encode()).hexdigest()[:8], 16) / 2**32


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _promise_table(
    store: EventStore, journey: JourneyConfig, promise_id: str, now: datetime
) -> pa.Table:
    """journey_id -> outcome (kept/late/undelivered/open) of one promise, as of ``now``."""
    from klantreis.analytics.backend import duckdb_events
    from klantreis.analytics.promises import promise_outcomes_expr

    out = promise_outcomes_expr(duckdb_events(store), journey, [promise_id], now)
    return out.select("journey_id", "outcome").to_pyarrow()


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(expr: str, values: list[str]) -> str:
    return f"{expr} IN ({', '.join(_quote(v) for v in values)})"


def _promise_match(survey: Survey, open_matches: bool) -> str:
    cond = survey.trigger.when.promise
    if cond is None:
        return "true"
    wanted = {
        "kept": ["kept"],
        "broken": ["late", "undelivered"],
        "late": ["late"],
        "undelivered": ["undelivered"],
        "any": ["kept", "late", "undelivered", "open"],
    }[cond.status]
    if open_matches:
        wanted = [*wanted, "open"]
    return f"coalesce({_in('p.outcome', wanted)}, false)"


def _conditions(survey: Survey, open_matches: bool) -> str:
    """The trigger's journey conditions as a SQL predicate on ``t`` (the trigger event),
    ``s`` (its journey's start: ``segment``) and ``p`` (the promise outcome)."""
    when = survey.trigger.when
    parts = [_promise_match(survey, open_matches)]
    for column in ("owner", "channel", "touchpoint"):
        values = getattr(when, column)
        if values:
            parts.append(f"coalesce({_in('t.' + column, values)}, false)")
    if when.segment:
        segment = "coalesce(json_extract_string(t.attrs, '$.segment'), s.segment)"
        parts.append(f"coalesce({_in(segment, when.segment)}, false)")
    return " AND ".join(parts)


def _starts_sql(journey: JourneyConfig) -> str:
    return (
        "SELECT journey_id, min(json_extract_string(attrs, '$.segment')) AS segment,"
        " min(attrs) AS attrs FROM events"
        f" WHERE kind = {_quote(journey.journey_start)} AND journey_id IS NOT NULL"
        " AND journey_id IN (SELECT journey_id FROM trig) GROUP BY journey_id"
    )


def plan_survey(
    store: EventStore,
    survey: Survey,
    journey: JourneyConfig,
    now: datetime,
    since: datetime | None = None,
    batch: pa.Table | None = None,
) -> PlanResult:
    """Plan ``survey``'s invitations from the trigger events (of the whole log, or of
    ``batch``: the events of a new ingest batch) that happened from ``since`` up to ``now``."""
    now = _utc(now)
    trigger = survey.trigger
    delay = trigger.delay_td.total_seconds()
    expires = trigger.expires_td.total_seconds()
    source = "_batch" if batch is not None else "events"
    _batch = batch  # read by DuckDB's replacement scan
    _promise = (
        _promise_table(store, journey, trigger.when.promise.id, now)
        if trigger.when.promise
        else pa.table(
            {"journey_id": pa.array([], pa.string()), "outcome": pa.array([], pa.string())}
        )
    )
    params: list[Any] = [trigger.after, now]
    since_sql = ""
    if since is not None:
        since_sql = " AND occurred_at >= ?"
        params.append(_utc(since))
    sid = _quote(survey.id)
    tmp = f"_plan_{uuid.uuid4().hex[:10]}"
    touchpoint = _quote(survey.touchpoint) if survey.touchpoint else "t.touchpoint"
    channel = _quote(survey.channels[0]) if survey.channels else "NULL"
    cand = f"""
        CREATE TEMP TABLE {tmp} AS
        WITH trig AS (
            SELECT event_id, customer_id, journey_id, touchpoint, owner, channel, lang,
                   occurred_at, attrs
            FROM {source}
            WHERE kind = ? AND customer_id IS NOT NULL AND occurred_at <= ?{since_sql}
        ), starts AS ({_starts_sql(journey)})
        SELECT 'inv_' || substr(sha256({sid} || {_SEP} || t.event_id), 1, 24) AS invitation_id,
               t.customer_id, t.journey_id, t.event_id AS trigger_event_id,
               {touchpoint} AS touchpoint, t.owner, {channel} AS channel,
               t.occurred_at + to_microseconds({int(delay * 1e6)}) AS send_at,
               CASE WHEN NOT ({_conditions(survey, True)}) THEN 'not_matching'
                    WHEN ('0x' || substr(md5({sid} || {_SEP} || t.customer_id || {_SEP}
                          || t.event_id), 1, 8))::UBIGINT / 4294967296.0 >= {trigger.sample!r}
                    THEN 'not_sampled' END AS reason,
               t.lang
        FROM trig t LEFT JOIN starts s USING (journey_id) LEFT JOIN _promise p USING (journey_id)
    """
    with store.transaction() as con:
        con.execute(cand, params).fetchall()
        try:
            triggers = con.execute(f"SELECT count(*) FROM {tmp}").fetchall()[0][0]
            con.execute(
                f"DELETE FROM {tmp} WHERE invitation_id IN"
                " (SELECT invitation_id FROM survey_invitations)"
            ).fetchall()
            counts = dict(
                con.execute(
                    f"SELECT coalesce(reason, 'planned'), count(*) FROM {tmp} GROUP BY ALL"
                ).fetchall()
            )
            con.execute(
                f"""INSERT INTO survey_invitations (invitation_id, survey_id, customer_id,
                        journey_id, trigger_event_id, touchpoint, owner, channel, send_at,
                        status, reason, origin, lang, planned_at, expires_at)
                    SELECT invitation_id, {sid}, customer_id, journey_id, trigger_event_id,
                        touchpoint, owner, channel, send_at,
                        CASE WHEN reason IS NULL THEN 'planned' ELSE 'suppressed' END, reason,
                        'system', lang, ?, send_at + to_microseconds({int(expires * 1e6)})
                    FROM {tmp}""",
                [now],
            ).fetchall()
        finally:
            con.execute(f"DROP TABLE IF EXISTS {tmp}").fetchall()
    return PlanResult(
        survey.id,
        int(triggers),
        int(sum(counts.values())),
        int(counts.get("planned", 0)),
        int(counts.get("not_sampled", 0)),
        int(counts.get("not_matching", 0)),
    )


def plan(
    store: EventStore,
    config: SurveyConfig,
    journey: JourneyConfig,
    now: datetime,
    since: datetime | None = None,
    batch: pa.Table | None = None,
) -> list[PlanResult]:
    """Plan every active survey (see :func:`plan_survey`). Without ``since``, triggers whose
    invitation would have expired by ``now`` are left alone (``since`` = ``now`` - delay -
    expires, per survey); ``since`` given plans from then on."""
    ledger.ensure_schema(store)
    results = []
    for survey in config.surveys:
        if not survey.active:
            continue
        start = since
        if start is None:
            start = _utc(now) - survey.trigger.delay_td - survey.trigger.expires_td
        results.append(plan_survey(store, survey, journey, now, start, batch))
    return results


# -- facts at send time ------------------------------------------------------------------


def _attr_sql(attr: str) -> str:
    columns = {"customer_id", "journey_id", "touchpoint", "channel", "owner", "kind", "lang"}
    own = f"t.{attr}" if attr in columns else f"json_extract_string(t.attrs, '$.{attr}')"
    return f"coalesce({own}, json_extract_string(s.attrs, '$.{attr}'))"


def journey_facts(
    store: EventStore,
    survey: Survey,
    journey: JourneyConfig,
    due: pa.Table,
    now: datetime,
    attrs: list[str],
) -> dict[str, dict[str, Any]]:
    """For due invitations of ``survey`` (``due``: invitation_id, customer_id, journey_id,
    trigger_event_id): whether the journey still matches ``trigger.when`` (an open promise
    no longer does), whether an ``unless`` event or a ``survey.response`` of the customer
    followed the trigger (up to ``now``), and the values of ``attrs`` (trigger event, else its
    journey's start event). Keyed by invitation id; one query per survey and batch."""
    now = _utc(now)
    _due = due  # read by DuckDB's replacement scan
    _promise = (
        _promise_table(store, journey, survey.trigger.when.promise.id, now)
        if survey.trigger.when.promise
        else pa.table(
            {"journey_id": pa.array([], pa.string()), "outcome": pa.array([], pa.string())}
        )
    )
    unless = survey.trigger.unless
    cancel = "false"
    if unless:
        cancel = f"""EXISTS (SELECT 1 FROM later l WHERE {_in("l.kind", unless)}
                     AND l.occurred_at > t.occurred_at
                     AND (l.journey_id = t.journey_id
                          OR (t.journey_id IS NULL AND l.customer_id = t.customer_id)))"""
    attr_cols = "".join(f", {_attr_sql(a)} AS attr_{i}" for i, a in enumerate(attrs))
    kinds = [*unless, "survey.response"]
    sql = f"""
        WITH trig AS (
            SELECT d.invitation_id, e.* FROM _due d JOIN events e ON e.event_id = d.trigger_event_id
        ), later AS (
            SELECT kind, customer_id, journey_id, occurred_at FROM events
            WHERE {_in("kind", kinds)} AND occurred_at <= ?
              AND (journey_id IN (SELECT journey_id FROM trig)
                   OR customer_id IN (SELECT customer_id FROM trig))
        ), starts AS ({_starts_sql(journey)})
        SELECT t.invitation_id, ({_conditions(survey, False)}) AS matching,
               {cancel} AS cancelled,
               EXISTS (SELECT 1 FROM later l WHERE l.kind = 'survey.response'
                       AND l.customer_id = t.customer_id AND l.occurred_at > t.occurred_at)
                   AS answered_elsewhere{attr_cols}
        FROM trig t LEFT JOIN starts s USING (journey_id) LEFT JOIN _promise p USING (journey_id)
    """
    cur = store.cursor()
    try:
        rows = cur.execute(sql, [now]).fetchall()
    finally:
        cur.close()
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        values = {a: row[4 + i] for i, a in enumerate(attrs)}
        out[row[0]] = {
            "matching": bool(row[1]),
            "cancelled": bool(row[2]),
            "answered_elsewhere": bool(row[3]),
            "attrs": values,
        }
    return out


def trigger_window(survey: Survey) -> timedelta:
    """How far back planning looks by default: delay + expires."""
    return survey.trigger.delay_td + survey.trigger.expires_td
