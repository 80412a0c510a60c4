"""Derived views of the journeys page, kept per journey in the store's DuckDB and refreshed
incrementally: only the journeys that received events since the last refresh are recomputed.

Why: the portable Ibis functions (impact, hand-overs, step statistics, promise rates, at-risk
lists) read the whole event log on every call: 20-30 s on 10M events. Each of them is an
aggregation of per-journey parts, so these tables keep the per-journey parts, and a refresh
deletes and recomputes the rows of the touched journeys only (time proportional to the batch,
like the journey index of :mod:`klantreis.analytics.journey_index`). The reads
(:mod:`klantreis.analytics.derived_reads`) aggregate the tables at query time, so scopes,
``now`` and exact quantiles stay exact. The portable functions remain the reference; a
property test checks both agree after random append sequences.

Tables (all derived, safe to drop; one row per journey unless said):

- ``dv_journey``: first event time, channels, segments, inbound contacts, trouble kinds, and
  the answer sums per metric (what impact compares, without a join);
- ``dv_answers``: per journey x metric x touchpoint x owner: the sums a score needs;
- ``dv_steps``: per journey x activity type (kind, touchpoint) x activity x owner: events and
  process events (not feedback, with an owner), and on the first row of each activity the
  journey's inbound contacts (so "journeys passing a step" needs no DISTINCT or join); a
  refresh adds a batch's counts to the kept rows of the step groups it reaches;
- ``dv_handovers``: per hand-over along the journey's owner sequence: owners and wait, and
  whether it is the journey's first of that pair (journeys per pair without DISTINCT);
- ``dv_promise``: per journey x promise: first promise, its deadline, first fulfilment, owners;
- ``dv_kinds``: events per trouble kind in the whole log (journey-less events too);
- ``dv_state``: events seen, ingested-at watermark, layout version, configuration
  fingerprint, and one version counter per view, bumped only when a refresh changed its rows.

The per-view counters (``versions()``) let page caches keep a result while the views it reads
are unchanged (e.g. a new survey answer does not touch the hand-overs).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from klantreis.analytics.derived_totals import totals_for
from klantreis.analytics.journey_index import DEFAULT_RANGE_EVENTS, _key_ranges
from klantreis.analytics.touched_events import done as touched_done
from klantreis.analytics.touched_events import journey_events as touched_journey_events
from klantreis.analytics.touched_events import rows_of, touched_events
from klantreis.model.journey import JourneyConfig
from klantreis.store import EventStore
from klantreis.store.memory import memory_limit

__all__ = [
    "FEEDBACK_KINDS",
    "PENDING",
    "TROUBLE_KINDS",
    "VIEWS",
    "DerivedViews",
    "ViewRefresh",
]

log = logging.getLogger(__name__)

#: Bump when a table below changes: views of another layout are dropped and rebuilt (5: a
#: full build writes every view in journey-id order, so a refresh's scans skip row groups).
LAYOUT = 5
#: Bump when a kept total (``derived_totals``) or an extra table changes: they are summed again
#: from the per-journey views (no scan of the log for the totals). 3: the pending journeys.
TOTALS_LAYOUT = 3
#: As :data:`klantreis.analytics.journeys.FEEDBACK_KINDS` (a test checks they are equal).
FEEDBACK_KINDS = (
    "survey.response",
    "review.posted",
    "social.mention",
    "contact.inbound",
    "contact.outbound",
)
#: As :data:`klantreis.analytics.impact.TROUBLE_KINDS` (a test checks they are equal).
TROUBLE_KINDS = ("delivery.failed", "payment.failed", "invoice.bounced", "return.requested")
CONTACT_KIND = "contact.inbound"
#: The views with a version counter (``dv_kinds`` counts with ``journey``).
VIEWS = ("journey", "answers", "steps", "handovers", "promise")
_ORDER = "occurred_at, source_order, event_id"


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


#: The metrics whose answer sums ``dv_journey`` keeps per journey (``stats.METRICS``; a test
#: checks they are equal), and the sums.
SCORE_METRICS = ("nps", "ces", "csat", "stars")
SUMS = ("n", "total", "total_sq", "promoters", "detractors", "top2")
_SUM_SQL = {
    "n": "count(*)",
    "total": "sum(score)",
    "total_sq": "sum(score * score)",
    "promoters": "count(*)",
    "detractors": "count(*)",
    "top2": "count(*)",
}
_SUM_FILTER = {
    "promoters": " AND score >= 9",
    "detractors": " AND score <= 6",
    "top2": " AND score >= 4",
}


def _answer_sums() -> tuple[str, str]:
    """The DDL columns and the aggregates of the per-metric answer sums of ``dv_journey``."""
    ddl, agg = [], []
    for m in SCORE_METRICS:
        for s in SUMS:
            typ = "DOUBLE" if s.startswith("total") else "BIGINT"
            ddl.append(f"{m}_{s} {typ}")
            cond = f"kind = 'survey.response' AND metric = '{m}' AND score IS NOT NULL"
            agg.append(f"coalesce({_SUM_SQL[s]} FILTER ({cond}{_SUM_FILTER.get(s, '')}), 0)")
    return ", ".join(ddl), ",\n       ".join(agg)


_SUMS_DDL, _SUMS_AGG = _answer_sums()
#: The per-metric answer sums over answers only (``kind`` and ``score`` already filtered),
#: named as ``dv_journey``'s columns.
_ANSWER_SUMS_BY_METRIC = ", ".join(
    f"{_SUM_SQL[x]} FILTER (metric = '{m}'{_SUM_FILTER.get(x, '')}) AS {m}_{x}"
    for m in SCORE_METRICS
    for x in SUMS
)

_DDL = {
    "journey": "journey_id VARCHAR, first_at TIMESTAMPTZ, channels VARCHAR[],"
    " segments VARCHAR[], contacts BIGINT, trouble VARCHAR[], " + _SUMS_DDL,
    "answers": "journey_id VARCHAR, metric VARCHAR, touchpoint VARCHAR, owner VARCHAR,"
    " n BIGINT, total DOUBLE, total_sq DOUBLE, promoters BIGINT, detractors BIGINT,"
    " top2 BIGINT",
    "steps": "journey_id VARCHAR, act_by VARCHAR, activity VARCHAR, owner VARCHAR, events BIGINT,"
    " process_events BIGINT, first_of_activity BOOLEAN, contacts BIGINT",
    "handovers": "journey_id VARCHAR, owner VARCHAR, next_owner VARCHAR,"
    " next_at TIMESTAMPTZ, wait_s DOUBLE, first_of_pair BOOLEAN",
    "promise": "journey_id VARCHAR, promise_id VARCHAR, customer_id VARCHAR,"
    " promised_at TIMESTAMPTZ, deadline TIMESTAMPTZ, promised_owner VARCHAR,"
    " promised_touchpoint VARCHAR, fulfilled_at TIMESTAMPTZ, fulfilled_owner VARCHAR",
}
_STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS dv_state (events BIGINT, watermark TIMESTAMPTZ,"
    " layout INTEGER, config VARCHAR, " + ", ".join(f"v_{v} BIGINT" for v in VIEWS) + ")",
    "CREATE TABLE IF NOT EXISTS dv_kinds (kind VARCHAR, n BIGINT)",
    "CREATE TABLE IF NOT EXISTS dv_totals_state (layout INTEGER, config VARCHAR)",
)

#: An event's segment (``attrs.segment``). The JSON is parsed only where the text can hold
#: the key: as written (``segment``) or with an escape (``\\u``) — the same values, without
#: parsing every event's attributes (most have no segment; a fifth of a refresh's CPU).
_SEGMENT = (
    "CASE WHEN strpos(attrs, 'segment') > 0 OR strpos(attrs, '\\u') > 0"
    " THEN try(json_extract_string(attrs, '$.segment')) END"
)

_JOURNEY_SQL = f"""
SELECT journey_id, min(occurred_at),
       coalesce(list(DISTINCT channel ORDER BY channel) FILTER (channel IS NOT NULL), []),
       coalesce(list(DISTINCT seg ORDER BY seg) FILTER (seg IS NOT NULL), []),
       count(*) FILTER (kind = '{CONTACT_KIND}'),
       coalesce(list(DISTINCT kind ORDER BY kind)
                FILTER (kind IN ({_quoted(TROUBLE_KINDS)})), []),
       {_SUMS_AGG}
FROM (SELECT *, {_SEGMENT} AS seg FROM {{src}} WHERE journey_id IS NOT NULL)
GROUP BY journey_id
"""

#: ``_JOURNEY_SQL`` over a batch (decision 105): the same columns, cheaper on ~100,000 new
#: events of ~30,000 journeys. The answer sums are taken over the answers alone (about one
#: event in nine) and joined, not filtered 24 times over every event; the channel and
#: segment lists are sorted after the grouping. Over a 100,000-event sample of 10M events:
#: 0.32-0.36 -> 0.27-0.29 CPU s. A rebuild keeps ``_JOURNEY_SQL`` (the property tests
#: compare the two).
_JOURNEY_BATCH_SQL = f"""
SELECT j.*, {", ".join(f"coalesce(a.{m}_{x}, 0)" for m in SCORE_METRICS for x in SUMS)}
FROM (SELECT journey_id, min(occurred_at),
             list_sort(list_distinct(list(channel))),
             list_sort(list_distinct(list(seg))),
             count(*) FILTER (kind = '{CONTACT_KIND}'),
             coalesce(list(DISTINCT kind ORDER BY kind)
                      FILTER (kind IN ({_quoted(TROUBLE_KINDS)})), [])
      FROM (SELECT journey_id, occurred_at, channel, kind, {_SEGMENT} AS seg
            FROM {{src}} WHERE journey_id IS NOT NULL)
      GROUP BY journey_id) j
LEFT JOIN (SELECT journey_id, {_ANSWER_SUMS_BY_METRIC}
           FROM {{src}}
           WHERE journey_id IS NOT NULL AND kind = 'survey.response' AND score IS NOT NULL
           GROUP BY journey_id) a USING (journey_id)
"""

_ANSWERS_SQL = """
SELECT journey_id, metric, touchpoint, owner, count(*), sum(score), sum(score * score),
       count(*) FILTER (score >= 9), count(*) FILTER (score <= 6), count(*) FILTER (score >= 4)
FROM {src}
WHERE journey_id IS NOT NULL AND kind = 'survey.response' AND score IS NOT NULL
      AND metric IS NOT NULL
GROUP BY ALL
"""

#: Events and process events per journey x activity type x activity x owner (``per``; ``g``:
#: per kind and touchpoint) of the events in ``{src}``: ``dv_steps``' counts, of a whole
#: journey (``_STEPS_SQL``) or of a batch (``_BATCH_STEPS_SQL``).
_STEP_COUNTS = f"""g AS (
  SELECT journey_id, kind, touchpoint, owner, count(*) AS events,
         count(*) FILTER (owner IS NOT NULL AND kind NOT IN ({_quoted(FEEDBACK_KINDS)}))
           AS process_events
  FROM {{src}} WHERE journey_id IS NOT NULL GROUP BY ALL),
per AS (
  SELECT journey_id, 'kind' AS act_by, kind AS activity, owner, sum(events) AS events,
         sum(process_events) AS process_events FROM g GROUP BY ALL
  UNION ALL
  SELECT journey_id, 'touchpoint', touchpoint, owner, sum(events), sum(process_events)
  FROM g GROUP BY ALL)"""
_STEPS_SQL = f"""
WITH {_STEP_COUNTS},
c AS (SELECT journey_id, coalesce(sum(events) FILTER (kind = '{CONTACT_KIND}'), 0) AS contacts
      FROM g GROUP BY journey_id)
SELECT p.journey_id, p.act_by, p.activity, p.owner, p.events, p.process_events,
       row_number() OVER (PARTITION BY p.journey_id, p.act_by, p.activity
                          ORDER BY p.owner NULLS FIRST) = 1,
       c.contacts
FROM per p JOIN c USING (journey_id)
"""

_HANDOVERS_SQL = f"""
WITH ev AS (
  SELECT journey_id, owner, occurred_at FROM {{src}}
  WHERE journey_id IS NOT NULL AND owner IS NOT NULL
        AND kind NOT IN ({_quoted(FEEDBACK_KINDS)})),
firsts AS (SELECT journey_id, owner, min(occurred_at) AS first_at FROM ev GROUP BY ALL),
seq AS (
  SELECT journey_id, owner, lead(owner) OVER w AS next_owner, lead(first_at) OVER w AS next_at
  FROM firsts WINDOW w AS (PARTITION BY journey_id ORDER BY first_at, owner))
SELECT s.journey_id, s.owner, s.next_owner, s.next_at,
       date_diff('microsecond', max(e.occurred_at), s.next_at) / 1e6,
       row_number() OVER (PARTITION BY s.journey_id, s.owner, s.next_owner
                          ORDER BY s.next_at) = 1
FROM seq s JOIN ev e
  ON e.journey_id = s.journey_id AND e.owner = s.owner AND e.occurred_at <= s.next_at
WHERE s.next_owner IS NOT NULL
GROUP BY s.journey_id, s.owner, s.next_owner, s.next_at
"""

_PROMISE_SQL = f"""
WITH pr AS (
  SELECT journey_id,
         first(customer_id ORDER BY {_ORDER}) AS customer_id,
         min(occurred_at) AS promised_at,
         first(coalesce(TRY_CAST(try(json_extract_string(attrs, '$.{{attr}}')) AS TIMESTAMPTZ),
                        occurred_at) ORDER BY {_ORDER}) AS deadline,
         first(owner ORDER BY {_ORDER}) AS promised_owner,
         first(touchpoint ORDER BY {_ORDER}) AS promised_touchpoint
  FROM {{src}} WHERE journey_id IS NOT NULL AND kind = $promised
  GROUP BY journey_id),
ff AS (
  SELECT journey_id, min(occurred_at) AS fulfilled_at,
         first(owner ORDER BY {_ORDER}) AS fulfilled_owner
  FROM {{src}} WHERE journey_id IS NOT NULL AND kind = $fulfilled
  GROUP BY journey_id)
SELECT pr.journey_id, $promise_id, pr.customer_id, pr.promised_at, pr.deadline,
       pr.promised_owner, pr.promised_touchpoint, ff.fulfilled_at, ff.fulfilled_owner
FROM pr LEFT JOIN ff USING (journey_id)
"""

#: Kept beside the views (dropped with them on a layout change): the filter menus' values
#: (channels and segments of answers) and the newest event and answer times.
_EXTRA_DDL = {
    "dv_options": "field VARCHAR, value VARCHAR",
    "dv_newest": "newest_at TIMESTAMPTZ, newest_answer_at TIMESTAMPTZ",
}
#: The journeys with an unfulfilled promise ("pending"): their ``dv_journey`` and every one of
#: their ``dv_promise`` rows, kept apart so the unscoped impact, promise rates and at-risk
#: reads (whose outcomes depend on "now") read a few thousand rows, not a scan and semi-join
#: of every journey's rows per view. Maintained with the views (full build per range, and
#: per refresh: the touched journeys' rows deleted, their new rows added when pending).
PENDING = {"journey": "dv_pending_journey", "promise": "dv_pending_promise"}
_PENDING_SQL = (
    "INSERT INTO {table} SELECT * FROM {src} WHERE journey_id IN"
    " (SELECT journey_id FROM {promise} WHERE fulfilled_at IS NULL)"
)
_OPTIONS_SQL = """
SELECT DISTINCT field, value FROM (
  SELECT 'channels' AS field, channel AS value FROM {src} WHERE metric IS NOT NULL
  UNION ALL
  SELECT 'segments', try(json_extract_string(attrs, '$.segment')) FROM {src}
  WHERE metric IS NOT NULL)
WHERE value IS NOT NULL AND value <> ''
"""

#: What a refresh reads of the batch's new events (``_dv_new``): the journeys whose
#: order-dependent views must be recomputed, the filter menus.
_NEW_COLUMNS = "journey_id, kind, touchpoint, owner, occurred_at, metric, score, channel, attrs"
#: The events that can change an order-dependent view: a journey is recomputed from all its
#: events only for a view whose rows its new events can move (hand-overs: process events with
#: an owner; promises: their kinds); the other touched journeys keep their rows.
_HANDOVER_EVENTS = f"owner IS NOT NULL AND kind NOT IN ({_quoted(FEEDBACK_KINDS)})"
#: The touched journeys whose hand-overs a batch can move (decision 98): those with new
#: process events with an owner, except where every such event comes after the journey's
#: last kept one and its owner already handed over or took over in the journey. Then no
#: owner's first time moves, no hand-over is added, and each wait's last event before the
#: next owner's first is a kept one: the rows stay as they are. ``{src}``: the touched
#: journeys' events, the batch's included: those ingested after the watermark ``?``.
_HANDED_SQL = f"""
CREATE OR REPLACE TEMP TABLE {{handed}} AS
WITH nw AS (SELECT journey_id, owner, occurred_at FROM _dv_new
            WHERE journey_id IS NOT NULL AND {_HANDOVER_EVENTS}),
old AS (SELECT journey_id, owner, max(occurred_at) AS last_at FROM {{src}}
        WHERE ingested_at <= ? AND {_HANDOVER_EVENTS}
          AND journey_id IN (SELECT journey_id FROM nw)
        GROUP BY ALL),
lastj AS (SELECT journey_id, max(last_at) AS last_at FROM old GROUP BY ALL)
SELECT DISTINCT n.journey_id FROM nw n
LEFT JOIN lastj l ON l.journey_id = n.journey_id
LEFT JOIN old o ON o.journey_id = n.journey_id AND o.owner = n.owner
WHERE l.last_at IS NULL OR n.occurred_at <= l.last_at OR o.owner IS NULL
"""
#: A touched journey's ``dv_journey`` row from its old row and the row of its new events
#: alone (``_JOURNEY_SQL`` over the batch): every column is order-independent (a minimum,
#: sorted distinct lists, counts and sums), so the batch's ~100,000 events are read instead
#: of the touched journeys' whole history (2.7x as many on the bench's batch). Each side has
#: at most one row per journey, so the two are joined on the key, not grouped (a batch of the
#: newest events touches 36,343 journeys: 0.20-0.25 -> 0.12-0.14 CPU s), and a list is merged
#: only when both sides have values (each side's list is already sorted and distinct).
_JOURNEY_COLUMNS = "journey_id, first_at, channels, segments, contacts, trouble, " + ", ".join(
    f"{m}_{x}" for m in SCORE_METRICS for x in SUMS
)


def _list_merged(column: str) -> str:
    """The union of the old (``o``) and the batch's (``b``) sorted distinct lists."""
    o, b = f"o.{column}", f"b.{column}"
    return (
        f"CASE WHEN len(coalesce({b}, [])) = 0 THEN coalesce({o}, [])"
        f" WHEN len(coalesce({o}, [])) = 0 THEN {b}"
        f" ELSE list_sort(list_distinct(list_concat({o}, {b}))) END"
    )


_JOURNEY_MERGE_SQL = (
    "SELECT journey_id, least(o.first_at, b.first_at), "
    + ", ".join(_list_merged(c) for c in ("channels", "segments"))
    + ", coalesce(o.contacts, 0) + coalesce(b.contacts, 0), "
    + _list_merged("trouble")
    + ", "
    + ", ".join(
        f"coalesce(o.{m}_{x}, 0) + coalesce(b.{m}_{x}, 0)" for m in SCORE_METRICS for x in SUMS
    )
    + f" FROM ({{new}}) b({_JOURNEY_COLUMNS}) FULL JOIN _dv_old_journey o USING (journey_id)"
)
#: The touched journeys whose hand-overs a refresh recomputes.
_HANDED = "_dv_handed"
#: ``dv_steps`` after a batch, without the touched journeys' history (decision 82): every
#: column is order-independent (sums per step key; the first flag ranks the owners of an
#: activity; the journey's contacts), so a step group's new rows are its kept rows plus the
#: batch's. Only the rows of the groups the batch reaches are taken out, and every row of the
#: journeys whose other rows move too ("whole": new inbound contacts, on every row; an event
#: before the kept first event, which moves the journey's day in ``dv_step_days``). The
#: batch's rows per step key (``_STEPS_SQL``'s ``per``, over the new events):
_BATCH_STEPS_SQL = (
    "CREATE OR REPLACE TEMP TABLE _dv_batch_steps AS WITH "
    + _STEP_COUNTS.format(src="_dv_new")
    + " SELECT * FROM per"
)
#: The touched journeys whose every ``dv_steps`` row is taken out: their contacts or their
#: first event time (an event before the kept first one) moved.
_WHOLE_SQL = """
CREATE OR REPLACE TEMP TABLE _dv_whole AS
SELECT journey_id FROM _dv_cur_journey c JOIN _dv_old_journey o USING (journey_id)
WHERE c.contacts IS DISTINCT FROM o.contacts OR c.first_at IS DISTINCT FROM o.first_at
"""
#: The kept rows a batch changes (of the touched journeys' rows, ``{old}``).
_STEPS_TAKEN_SQL = """
SELECT o.* FROM ({old}) o
LEFT JOIN (SELECT DISTINCT journey_id, act_by, activity FROM _dv_batch_steps) g
  ON o.journey_id = g.journey_id AND o.act_by = g.act_by
     AND o.activity IS NOT DISTINCT FROM g.activity
WHERE g.journey_id IS NOT NULL OR o.journey_id IN (SELECT journey_id FROM _dv_whole)
"""
#: The new rows of those groups: kept rows plus the batch's, the first flag ranked again, the
#: journey's contacts from its merged ``dv_journey`` row (the same count).
_STEPS_MERGE_SQL = """
SELECT m.journey_id, m.act_by, m.activity, m.owner, m.events, m.process_events,
       row_number() OVER (PARTITION BY m.journey_id, m.act_by, m.activity
                          ORDER BY m.owner NULLS FIRST) = 1,
       j.contacts
FROM (SELECT journey_id, act_by, activity, owner, sum(events)::BIGINT AS events,
             sum(process_events)::BIGINT AS process_events
      FROM (SELECT journey_id, act_by, activity, owner, events, process_events
            FROM _dv_old_steps
            UNION ALL
            FROM _dv_batch_steps)
      GROUP BY ALL) m
JOIN _dv_cur_journey j USING (journey_id)
"""


@dataclass(frozen=True)
class ViewRefresh:
    """What a refresh did: ``mode`` current, incremental or full; ``changed``: the views whose
    rows changed (their version counters were bumped)."""

    mode: str
    journeys: int
    events: int
    changed: tuple[str, ...] = ()


def config_fingerprint(journey: JourneyConfig) -> str:
    """What of the journey configuration the views depend on: the promises."""
    parts = [(p.id, p.promised, p.fulfilled_by, p.deadline_attr) for p in journey.promises]
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or []).fetchall()


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(_rows(con, sql)[0][0])


def _checksum(con: duckdb.DuckDBPyConnection, table: str) -> tuple[Any, ...]:
    """An order-independent fingerprint of a table's rows (as a multiset): one scan, where
    ``EXCEPT ALL`` both ways hashed and compared every row twice (seconds for 100k journeys)."""
    return tuple(_rows(con, f"SELECT count(*), sum(hash(t))::HUGEINT FROM {table} t")[0])


class DerivedViews:
    """The derived views of one store. Cheap to create; ``ensure()`` brings them up to date.

    ``version`` (the store's fingerprint) lets ``ensure()`` skip its transaction while the
    store is unchanged. A full build runs one journey-key range of about ``range_events``
    events at a time (the ``index_range_events`` setting) under DuckDB's memory limit
    ``memory_mb`` (``index_memory_mb``; 0: DuckDB's own, 80% of the machine's memory, which
    a one-shot build of 100M events filled; under 1 GiB the one-shot build failed after
    2,000 s)."""

    def __init__(
        self,
        store: EventStore,
        journey: JourneyConfig,
        version: Callable[[], Hashable] | None = None,
        memory_mb: int = 0,
        range_events: int = DEFAULT_RANGE_EVENTS,
    ) -> None:
        if range_events < 1:
            raise ValueError(f"range_events must be at least 1, not {range_events}")
        self.store, self.journey, self.version = store, journey, version
        self.memory_mb, self.range_events = memory_mb, range_events
        self.config = config_fingerprint(journey)
        self.totals = totals_for(journey, TROUBLE_KINDS)
        self._lock = threading.Lock()
        self._current: tuple[Hashable, dict[str, int]] | None = None

    # -- maintenance -----------------------------------------------------------------------
    def ensure(self) -> ViewRefresh:
        """Refresh when events arrived since the last refresh (else do nothing)."""
        with self._lock:
            seen = self.version() if self.version is not None else None
            if seen is not None and self._current is not None and self._current[0] == seen:
                return ViewRefresh("current", 0, 0)
            result = self._ensure()
            if seen is not None:
                self._current = (seen, self._read_versions())
            return result

    def versions(self) -> dict[str, int]:
        """The version counter of every view, refreshed first."""
        self.ensure()
        with self._lock:
            if self._current is not None:
                return dict(self._current[1])
            return self._read_versions()

    def _read_versions(self) -> dict[str, int]:
        cur = self.store.cursor()
        try:
            cols = ", ".join(f"v_{v}" for v in VIEWS)
            row = cur.execute(f"SELECT {cols} FROM dv_state").fetchall()
        finally:
            cur.close()
        return dict(zip(VIEWS, (int(v) for v in row[0]), strict=True)) if row else {}

    def _ensure(self) -> ViewRefresh:
        with self.store.transaction() as con:
            state = self._state(con)
            n = _count(con, "SELECT count(*) FROM events")
            if state and not self._totals_current(con):
                self._sum_totals(con)  # e.g. after an upgrade: from the views, not the log
            if state and int(state[0]) == n:
                return ViewRefresh("current", 0, n)
            if not state or n < int(state[0]):  # events were removed (erasure): rebuild
                return self._full(con, n, bump=VIEWS)
            return self._incremental(con, n, state[1])

    def rebuild(self) -> ViewRefresh:
        """Drop and rebuild every view (e.g. after a bulk load)."""
        with self._lock:
            self._current = None
            with self.store.transaction() as con:
                self._state(con)
                return self._full(con, _count(con, "SELECT count(*) FROM events"), VIEWS)

    def _state(self, con: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
        """The saved state; views of another layout or configuration are dropped first."""
        for ddl in _STATE_DDL:
            _rows(con, ddl)
        rows = _rows(con, "SELECT events, watermark, layout, config FROM dv_state")
        if rows and (rows[0][2] != LAYOUT or rows[0][3] != self.config):
            for table in (
                *(f"dv_{v}" for v in VIEWS),
                *_EXTRA_DDL,
                *PENDING.values(),
                *(t.table for t in self.totals),
            ):
                _rows(con, f"DROP TABLE IF EXISTS {table}")
            rows = []
        for view, columns in _DDL.items():
            _rows(con, f"CREATE TABLE IF NOT EXISTS dv_{view} ({columns})")
        for table, columns in self._extra_ddl().items():
            _rows(con, f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        for total in self.totals:
            _rows(con, total.ddl())
        return rows[0] if rows else None

    def _fill(
        self,
        con: duckdb.DuckDBPyConnection,
        src: str,
        prefix: str,
        ordered: bool = False,
        views: tuple[str, ...] = VIEWS,
    ) -> None:
        """Insert the rows of every journey in ``src`` (the event log, or the events of the
        touched journeys) into the views named ``prefix`` + view; ``ordered`` (a full build):
        in journey-id order, so that the row groups' min/max let a refresh's scans of the
        touched key range skip the others (dv_steps unordered: 0.9 s CPU per 100k-event
        refresh for the old rows; ordered, a fraction)."""
        order = " ORDER BY journey_id" if ordered else ""

        def insert(view: str, sql: str, params: Any = None) -> None:
            _rows(con, f"INSERT INTO {prefix}{view} SELECT * FROM ({sql}){order}", params)

        sql = {
            "journey": _JOURNEY_SQL.format(src=src),
            "answers": _ANSWERS_SQL.format(src=src),
            "steps": _STEPS_SQL.format(src=src),
            "handovers": _HANDOVERS_SQL.format(src=src),
        }
        for view in views:
            if view in sql:
                insert(view, sql[view])
        for p in self.journey.promises if "promise" in views else ():
            insert(
                "promise",
                _PROMISE_SQL.format(src=src, attr=p.deadline_attr),
                {"promised": p.promised, "fulfilled": p.fulfilled_by, "promise_id": p.id},
            )

    def _merge_totals(self, con: duckdb.DuckDBPyConnection, new: str, old: str | None) -> None:
        """Add the contributions of the views ``new`` + view and take away those of ``old`` +
        view (None: the totals are summed afresh from ``new``)."""
        for total in self.totals:
            parts = [(total.rows_sql.format(**{v: f"{new}{v}" for v in VIEWS}), 1)]
            if old is None:
                _rows(con, f"DELETE FROM {total.table}")
            else:
                parts.append((total.rows_sql.format(**{v: f"{old}{v}" for v in VIEWS}), -1))
            _rows(con, total.merge_into_sql(parts))

    def _totals_config(self) -> str:
        parts = [(TOTALS_LAYOUT, TROUBLE_KINDS, self.journey.timezone)] + [
            (p.id, p.grace_minutes, p.touchpoint) for p in self.journey.promises
        ]
        return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()

    def _totals_current(self, con: duckdb.DuckDBPyConnection) -> bool:
        rows = _rows(con, "SELECT layout, config FROM dv_totals_state")
        return bool(rows) and rows[0] == (TOTALS_LAYOUT, self._totals_config())

    def _sum_totals(self, con: duckdb.DuckDBPyConnection) -> None:
        """The kept totals summed afresh from the views, and the extra tables from the log
        (both made anew: their layout may have changed)."""
        self._reset_totals(con)
        self._merge_totals(con, "dv_", None)
        self._add_pending(con, {v: f"dv_{v}" for v in PENDING})
        self._fill_extras(con)

    def _reset_totals(self, con: duckdb.DuckDBPyConnection) -> None:
        """The kept totals and the extra tables dropped and made anew, empty."""
        for total in self.totals:
            _rows(con, f"DROP TABLE IF EXISTS {total.table}")
            _rows(con, total.ddl())
        for table, columns in self._extra_ddl().items():
            _rows(con, f"DROP TABLE IF EXISTS {table}")
            _rows(con, f"CREATE TABLE {table} ({columns})")

    @staticmethod
    def _extra_ddl() -> dict[str, str]:
        """The tables kept beside the views and totals: the extras and the pending rows."""
        return {**_EXTRA_DDL, **{table: _DDL[view] for view, table in PENDING.items()}}

    @staticmethod
    def _add_pending(con: duckdb.DuckDBPyConnection, views: dict[str, str]) -> None:
        """The rows of the pending journeys among ``views`` (view -> table or subquery)."""
        for view, table in PENDING.items():
            _rows(con, _PENDING_SQL.format(table=table, src=views[view], promise=views["promise"]))

    def _fill_extras(self, con: duckdb.DuckDBPyConnection) -> None:
        """The extra tables from the log (small aggregates), and the totals marked current."""
        _rows(con, f"INSERT INTO dv_options {_OPTIONS_SQL.format(src='events')}")
        _rows(
            con,
            "INSERT INTO dv_newest SELECT max(occurred_at),"
            " max(occurred_at) FILTER (metric IS NOT NULL) FROM events",
        )
        _rows(con, "DELETE FROM dv_totals_state")
        _rows(
            con, "INSERT INTO dv_totals_state VALUES (?, ?)", [TOTALS_LAYOUT, self._totals_config()]
        )

    def _full(self, con: duckdb.DuckDBPyConnection, n: int, bump: tuple[str, ...]) -> ViewRefresh:
        """Every view built afresh from the log under ``memory_mb``, one journey-key range at
        a time (:func:`klantreis.analytics.journey_index._key_ranges`: a journey is never
        split, so each range's rows are those of a one-shot build), each range committed on
        its own (``con`` is inside the caller's ``store.transaction()``, which holds the
        store's lock throughout, so no append runs in between). Per range the views' rows
        are appended in journey-id order and added to the kept totals, so no query holds
        more than one range (the one-shot build's sorts, windows and the totals' joins held
        the whole log). The state is marked unfinished first and saved last: a build that
        stops half-way is rebuilt by the next read, its version counters kept."""
        with memory_limit(con, self.memory_mb):
            return self._full_in_ranges(con, n, bump)

    def _full_in_ranges(
        self, con: duckdb.DuckDBPyConnection, n: int, bump: tuple[str, ...]
    ) -> ViewRefresh:
        _rows(con, "UPDATE dv_state SET layout = -1")  # unfinished: the next read rebuilds
        for view, columns in _DDL.items():  # dropped, not deleted: no dead rows to scan
            _rows(con, f"DROP TABLE IF EXISTS dv_{view}")
            _rows(con, f"CREATE TABLE dv_{view} ({columns})")
        _rows(con, "DELETE FROM dv_kinds")
        self._reset_totals(con)
        ranges = _key_ranges(con, n, self.range_events)
        for i, (where, params) in enumerate(ranges, start=1):
            _commit(con)
            self._build_range(con, _inline(where, params))
            log.debug("derived views: key range %d of %d built", i, len(ranges))
        _commit(con)
        self._fill_extras(con)
        _rows(
            con,
            "INSERT INTO dv_kinds SELECT kind, count(*) FROM events"
            f" WHERE kind IN ({_quoted(TROUBLE_KINDS)}) GROUP BY kind",
        )
        journeys = _count(con, "SELECT count(*) FROM dv_journey")
        self._save_state(con, n, None, bump)
        log.info(
            "derived views rebuilt: %d events, %d journeys, %d key ranges",
            n,
            journeys,
            len(ranges),
        )
        return ViewRefresh("full", journeys, n, bump)

    def _build_range(self, con: duckdb.DuckDBPyConnection, where: str) -> None:
        """The rows of the journeys that ``where`` (constants, so the scans skip the row
        groups outside the range) selects, appended to every view in journey-id order, and
        their contributions added to the kept totals."""
        self._fill(con, f"(SELECT * FROM events WHERE journey_id IS NOT NULL{where})", "dv_", True)
        views = {v: f"(SELECT * FROM dv_{v} WHERE journey_id IS NOT NULL{where})" for v in VIEWS}
        for total in self.totals:
            _rows(con, total.merge_into_sql([(total.rows_sql.format(**views), 1)]))
        self._add_pending(con, views)

    def _incremental(
        self, con: duckdb.DuckDBPyConnection, n: int, watermark: object
    ) -> ViewRefresh:
        _rows(
            con,
            f"CREATE OR REPLACE TEMP TABLE _dv_new AS SELECT {_NEW_COLUMNS}"
            " FROM events WHERE ingested_at > ?",
            [watermark],
        )
        try:
            src, ids, bounds = touched_events(con, watermark, "views")
            changed = self._replace_affected(con, src, ids, bounds, watermark)
            kinds = _rows(
                con,
                "SELECT kind, count(*) FROM _dv_new"
                f" WHERE kind IN ({_quoted(TROUBLE_KINDS)}) GROUP BY kind",
            )
            if kinds:
                _rows(
                    con,
                    "INSERT INTO dv_kinds VALUES " + ", ".join("(?, ?)" for _ in kinds),
                    [x for row in kinds for x in row],
                )
                changed = tuple(dict.fromkeys((*changed, "journey")))
            self._add_options(con)
            journeys = _count(con, f"SELECT count(*) FROM {ids}")
            expected = touched_journey_events(con)  # counted once for the batch's refreshes
        finally:
            _rows(con, "DROP TABLE IF EXISTS _dv_new")
            touched_done(con)
        # the kept step totals count every journey event (a few dozen rows; summing dv_steps
        # would scan ~20M rows per refresh on 10M events)
        viewed = _count(
            con, "SELECT coalesce(sum(events), 0) FROM dv_step_totals WHERE act_by = 'kind'"
        )
        if viewed != expected:
            log.warning("derived views out of step (%d != %d); rebuilding", viewed, expected)
            return self._full(con, n, VIEWS)
        self._save_state(con, n, watermark, changed)
        return ViewRefresh("incremental", journeys, n, changed)

    @staticmethod
    def _add_options(con: duckdb.DuckDBPyConnection) -> None:
        """The batch's new filter values and newest times (both only grow between rebuilds)."""
        _rows(
            con,
            f"INSERT INTO dv_options SELECT * FROM ({_OPTIONS_SQL.format(src='_dv_new')})"
            " EXCEPT SELECT field, value FROM dv_options",
        )
        _rows(
            con,
            "UPDATE dv_newest SET"
            " newest_at = greatest(newest_at, (SELECT max(occurred_at) FROM _dv_new)),"
            " newest_answer_at = greatest(newest_answer_at,"
            " (SELECT max(occurred_at) FROM _dv_new WHERE metric IS NOT NULL))",
        )

    def _replace_affected(
        self,
        con: duckdb.DuckDBPyConnection,
        src: str,
        ids: str,
        bounds: list[Any],
        watermark: object,
    ) -> tuple[str, ...]:
        """Recompute the rows of the journeys ``ids`` (within ``bounds``) from their events in
        ``src`` (read once, shared with the journey index's refresh:
        :mod:`klantreis.analytics.touched_events`) and merge the difference into the totals;
        the views whose rows changed. ``dv_journey`` and ``dv_steps`` are merged from their
        kept rows and the batch's new events instead (order-independent sums; for
        ``dv_steps`` only the step groups the batch reaches, decision 82). Every scan of a view gets the touched key range as
        constants (row groups outside it are skipped: the views are built in journey order),
        and old rows are deleted by row id (a second scan by journey id cost as much as the
        first: 0.7 s CPU on dv_steps)."""
        # hand-overs: only the journeys whose new events can move them are taken out (no
        # total reads them with another view), so their scan skips the rest of the key range;
        # new events after the journey's last kept one, of owners it had, move none (98)
        _rows(con, _HANDED_SQL.format(handed=_HANDED, src=src), [watermark])
        scope = dict.fromkeys(VIEWS, (ids, bounds))
        handed = _rows(con, f"SELECT min(journey_id), max(journey_id) FROM {_HANDED}")[0]
        scope["handovers"] = (_HANDED, list(handed))
        for view in VIEWS:
            if view != "steps":
                _take_out(con, view, *scope[view])
        self._fill(con, src, "_dv_cur_", views=("answers",))
        batch = _JOURNEY_BATCH_SQL.format(src="_dv_new")
        _rows(con, f"INSERT INTO _dv_cur_journey {_JOURNEY_MERGE_SQL.format(new=batch)}")
        # the step rows from the kept rows of the groups the batch reaches plus the batch's
        # (the touched journeys' whole history: 2.7x the events on the bench's batch)
        _rows(con, _BATCH_STEPS_SQL)
        _rows(con, _WHOLE_SQL)
        _take_out(con, "steps", *scope["steps"], taken=_STEPS_TAKEN_SQL)
        _rows(con, f"INSERT INTO _dv_cur_steps {_STEPS_MERGE_SQL}")
        self._recompute(con, src)
        changed = []
        for view in VIEWS:
            new, old = f"_dv_cur_{view}", f"_dv_old_{view}"
            _rows(con, f"INSERT INTO dv_{view} SELECT * FROM {new}")
            if _checksum(con, old) != _checksum(con, new):
                changed.append(view)
        self._merge_totals(con, "_dv_cur_", "_dv_old_")
        for table in PENDING.values():
            _rows(con, f"DELETE FROM {table} WHERE journey_id IN (SELECT journey_id FROM {ids})")
        self._add_pending(con, {v: f"_dv_cur_{v}" for v in PENDING})
        for view in VIEWS:
            for temp in (f"_dv_cur_{view}", f"_dv_old_{view}"):
                _rows(con, f"DROP TABLE IF EXISTS {temp}")
        for temp in (_HANDED, "_dv_batch_steps", "_dv_whole"):
            _rows(con, f"DROP TABLE IF EXISTS {temp}")
        return tuple(changed)

    def _recompute(self, con: duckdb.DuckDBPyConnection, src: str) -> None:
        """The order-dependent views' new rows: recomputed from the touched events ``src``
        for the journeys whose new events can move them. Hand-overs: only those journeys
        were taken out. Promises: every touched journey's rows were (the impact totals and
        the pending rows read them beside ``dv_journey``'s), the others keep theirs."""
        self._fill(
            con,
            f"(SELECT * FROM {src} WHERE journey_id IN (SELECT journey_id FROM {_HANDED}))",
            "_dv_cur_",
            views=("handovers",),
        )
        kinds = tuple(
            dict.fromkeys(k for p in self.journey.promises for k in (p.promised, p.fulfilled_by))
        )
        where = f"kind IN ({_quoted(kinds)})" if kinds else "false"
        redo = f"SELECT journey_id FROM _dv_new WHERE journey_id IS NOT NULL AND {where}"
        self._fill(
            con,
            f"(SELECT * FROM {src} WHERE journey_id IN ({redo}))",
            "_dv_cur_",
            views=("promise",),
        )
        _rows(
            con,
            "INSERT INTO _dv_cur_promise SELECT * FROM _dv_old_promise"
            f" WHERE journey_id NOT IN ({redo})",
        )

    # -- kept values ------------------------------------------------------------------------
    def newest(self) -> tuple[datetime | None, datetime | None]:
        """The newest event's and the newest answer's time (refreshed first)."""
        self.ensure()
        rows = self._read("SELECT newest_at, newest_answer_at FROM dv_newest")
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def options(self) -> dict[str, list[str]]:
        """The channels and segments of answers, sorted (the filter menus; refreshed first)."""
        self.ensure()
        rows = self._read("SELECT field, value FROM dv_options")
        return {f: sorted(v for k, v in rows if k == f) for f in ("channels", "segments")}

    def _read(self, sql: str) -> list[tuple[Any, ...]]:
        cur = self.store.cursor()
        try:
            return cur.execute(sql).fetchall()
        finally:
            cur.close()

    def _save_state(
        self,
        con: duckdb.DuckDBPyConnection,
        n: int,
        watermark: object,
        bump: tuple[str, ...],
    ) -> None:
        old = _rows(con, "SELECT " + ", ".join(f"v_{v}" for v in VIEWS) + " FROM dv_state")
        counters = dict(zip(VIEWS, old[0], strict=True)) if old else dict.fromkeys(VIEWS, 0)
        for view in bump:
            counters[view] = int(counters[view]) + 1
        _rows(con, "DELETE FROM dv_state")
        _rows(
            con,
            "INSERT INTO dv_state SELECT ?, coalesce(max(ingested_at),"
            " TIMESTAMPTZ '1970-01-01 00:00:00+00'), ?, ?, "
            + ", ".join("?" for _ in VIEWS)
            + " FROM events",
            [n, LAYOUT, self.config, *(counters[v] for v in VIEWS)],
        )


def _take_out(
    con: duckdb.DuckDBPyConnection,
    view: str,
    ids: str,
    bounds: list[Any],
    taken: str = "{old}",
) -> None:
    """The kept rows of ``view`` of the journeys ``ids`` (within ``bounds``) that ``taken``
    selects of them (``{old}``: all) moved to ``_dv_old_`` + view and deleted by row id (a
    second scan by journey id cost as much as the first: 0.7 s CPU on dv_steps), and an empty
    ``_dv_cur_`` + view made for the new rows."""
    old = rows_of(f"dv_{view}", "rowid AS _dv_rid, *", ids)
    _rows(
        con,
        f"CREATE OR REPLACE TEMP TABLE _dv_old_{view} AS {taken.format(old=old)}",
        bounds,
    )
    _rows(con, f"DELETE FROM dv_{view} WHERE rowid IN (SELECT _dv_rid FROM _dv_old_{view})")
    _rows(con, f"ALTER TABLE _dv_old_{view} DROP COLUMN _dv_rid")
    _rows(con, f"CREATE OR REPLACE TEMP TABLE _dv_cur_{view} AS FROM _dv_old_{view} LIMIT 0")


def _commit(con: duckdb.DuckDBPyConnection) -> None:
    """Commit the caller's transaction and begin the next one (a full build's step)."""
    _rows(con, "COMMIT")
    _rows(con, "BEGIN TRANSACTION")


def _inline(where: str, params: list[object]) -> str:
    """A key-range condition of :func:`_key_ranges` with its parameters as SQL literals (the
    promise query's parameters are named; DuckDB does not mix them with ``?``)."""
    parts = where.split("?")
    if len(parts) != len(params) + 1:
        raise ValueError(f"{len(params)} parameters for {len(parts) - 1} places")
    literals = ["'" + str(p).replace("'", "''") + "'" for p in params]
    return "".join(part + lit for part, lit in zip(parts[:-1], literals, strict=True)) + parts[-1]
