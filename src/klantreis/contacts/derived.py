"""The inbound contacts with their reasons, kept in the store's DuckDB: classified once, when
a contact arrives (or when a new model version is taken into use), never per page view.

Why: the contact pages read :func:`klantreis.contacts.data.contacts_frame` (parse every
contact's attributes, join the latest human labels) and
:func:`klantreis.contacts.labels.assign_reasons` (classify every text) on every view: on a
10M-event log that is 300k texts per view. These tables keep the result; a refresh reads only
the events ingested since the last one (new contacts are parsed and classified, new labels
re-reason the contacts they name), so its time follows the batch. The portable functions
stay the reference: a property test checks the kept rows equal them after random appends.

Tables (derived, safe to drop):

- ``dc_contacts``: one row per ``contact.inbound`` event: its columns, ``contact_id``,
  ``given_reason``, ``response_minutes``, ``resolved``, the latest ``label``, and ``reason``,
  ``confidence``, ``reason_source`` as :func:`~klantreis.contacts.labels.assign_reasons` gives
  them (``trust_given``), the classifier's ``suggestion`` (its best reason) and
  ``model_confidence`` for every contact without a label when it was classified (source-given
  ones too: the labelling queue reads its candidates from them, lowest first, instead of
  classifying every contact per view, ≥ 19 GiB at 100M events), and ``ord`` (the order the
  log holds them in);
- ``dc_labels``: the latest human label per contact id (and its time);
- ``dc_state``: events seen, ``ingested_at`` watermark, layout, the classifier in use (a
  trained model's version or the cold start, with the taxonomy's reasons) and a version
  counter bumped whenever the rows change. Another classifier re-reasons every row that is
  not labelled or given by the source; a count check (rows = contacts in the log) rebuilds;
- ``dc_rewrites``: the version counter of the last change that rewrote kept rows (labels,
  another classifier, a build) and the version it was saved with. Between two versions
  with the same last rewrite only contacts were appended (``ord`` from the earlier count
  on): the held counts then read only those (:meth:`ContactViews.cause_frame_with_id`).
  A table of its own, so code that does not keep it still writes ``dc_state``; after such
  code moved the version the rows are known to be unchanged only since that version.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from klantreis.analytics.derived_views import _commit
from klantreis.analytics.journey_index import DEFAULT_RANGE_EVENTS
from klantreis.analytics.touched_events import _stored
from klantreis.contacts.data import (
    CONTACT_KIND,
    LABEL_KIND,
    contact_rows,
    label_rows,
    latest_labels,
)
from klantreis.contacts.held_counts import FrameId
from klantreis.contacts.kept_gaps import KeptGaps
from klantreis.model.journey import JourneyConfig
from klantreis.store import EventStore
from klantreis.store.memory import memory_limit

if TYPE_CHECKING:
    from klantreis.contacts.classifier import ColdStart, ContactClassifier
    from klantreis.contacts.context import ContactsContext

__all__ = ["COLUMNS", "CauseSource", "ContactViews", "ContactsRefresh", "scope_where"]

log = logging.getLogger(__name__)

#: Bump when a table below changes: tables of another layout are rebuilt.
LAYOUT = 2
_EVENT_COLS = (
    "event_id",
    "occurred_at",
    "customer_id",
    "journey_id",
    "touchpoint",
    "channel",
    "owner",
    "lang",
    "text",
)
_TYPES = {
    "event_id": "VARCHAR",
    "occurred_at": "TIMESTAMPTZ",
    "customer_id": "VARCHAR",
    "journey_id": "VARCHAR",
    "touchpoint": "VARCHAR",
    "channel": "VARCHAR",
    "owner": "VARCHAR",
    "lang": "VARCHAR",
    "text": "VARCHAR",
    "contact_id": "VARCHAR",
    "given_reason": "VARCHAR",
    "response_minutes": "DOUBLE",
    "resolved": "BOOLEAN",
    "label": "VARCHAR",
    "reason": "VARCHAR",
    "confidence": "DOUBLE",
    "reason_source": "VARCHAR",
    "suggestion": "VARCHAR",
    "model_confidence": "DOUBLE",
    "ord": "BIGINT",
}
#: The columns of ``dc_contacts``, in order.
COLUMNS = tuple(_TYPES)
#: Of them, what only the labelling queue reads (not in :meth:`ContactViews.frame`).
_QUEUE_ONLY = ("suggestion", "model_confidence")
_DDL = (
    "CREATE TABLE IF NOT EXISTS dc_contacts ("
    + ", ".join(f"{c} {t}" for c, t in _TYPES.items())
    + ")",
    "CREATE TABLE IF NOT EXISTS dc_labels (contact_id VARCHAR, label VARCHAR,"
    " labelled_at TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS dc_state (events BIGINT, watermark TIMESTAMPTZ,"
    " layout INTEGER, classifier VARCHAR, version BIGINT)",
    "CREATE TABLE IF NOT EXISTS dc_rewrites (rewritten BIGINT, version BIGINT)",
)
#: The version of the kept rows' last rewrite, when ``dc_rewrites`` is in step with
#: ``dc_state`` (saved with its version), else the version itself (no rewrite known since).
_REWRITTEN = "coalesce(r.rewritten, s.version)"
_STATE = "FROM dc_state s LEFT JOIN dc_rewrites r ON r.version = s.version"
#: Contacts per frame when a new classifier reasons the kept contacts again (its memory).
CHUNK_ROWS = 200_000
#: Contacts per part when the unknown ones are read (:meth:`ContactViews.unknown`): the
#: classifier holds ~6 KB per text it reasons (1.2 GiB for 200,000).
UNKNOWN_ROWS = 50_000
_SELECT = "SELECT " + ", ".join(_EVENT_COLS) + ", attrs FROM events WHERE kind = ? {where}"


class ContactsRefresh:
    """What a refresh did: ``mode`` current, incremental or full; contacts added and
    contacts whose reason was set again."""

    def __init__(self, mode: str, added: int = 0, reasoned: int = 0) -> None:
        self.mode, self.added, self.reasoned = mode, added, reasoned

    def __repr__(self) -> str:
        return f"ContactsRefresh({self.mode!r}, added={self.added}, reasoned={self.reasoned})"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or []).fetchall()


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pd.DataFrame:
    rel = con.sql(sql, params=params) if params else con.sql(sql)
    df = rel.to_arrow_table().to_pandas()
    if "occurred_at" in df:
        df["occurred_at"] = pd.to_datetime(df["occurred_at"], utc=True)
    return df


class ContactViews:
    """The kept contacts of one store, classified with the App's contacts context (its
    taxonomy and the trained model in use, else the cold start). A full build reads the log
    in ranges of ``range_events`` stored events (the ``index_range_events`` setting), each
    committed, under DuckDB's memory limit ``memory_mb`` (``index_memory_mb``; 0: DuckDB's
    own), and so does the repeat gaps' full build after it."""

    def __init__(
        self,
        store: EventStore,
        journey: JourneyConfig,
        contacts: ContactsContext,
        version: Callable[[], Hashable] | None = None,
        memory_mb: int = 0,
        range_events: int = DEFAULT_RANGE_EVENTS,
    ) -> None:
        if range_events < 1:
            raise ValueError(f"range_events must be at least 1, not {range_events}")
        self.store, self.journey, self.contacts = store, journey, contacts
        self.memory_mb, self.range_events = memory_mb, range_events
        self.version = version if version is not None else store.version
        self._lock = threading.Lock()
        self._current: tuple[Hashable, str, int] | None = None
        #: The kept previous contact of each contact (the repeat counts).
        self.gaps = KeptGaps(store)
        self._warm = False

    # -- the classifier ------------------------------------------------------------------
    def _fingerprint(self) -> str:
        """The classifier in use (a trained model's version, else the cold start) and the
        taxonomy's reasons, without loading either."""
        reasons = ",".join(self.contacts.taxonomy.reason_ids())
        name = f"model:{self.contacts.registry.current() or 'cold'}"
        return hashlib.blake2b(f"{name}|{reasons}".encode(), digest_size=8).hexdigest()

    def _classifier(self) -> ContactClassifier | ColdStart:
        """The trained model in use, else the cold start (loaded only when a text needs it)."""
        model = self.contacts.model()
        return model if model is not None else self.contacts.cold_start()

    def warm(self) -> bool:
        """Make the classifier in use ready, once, when the kept contacts hold a contact
        (True when it classified): a process's first classification fits the cold start
        and loads the compiled kernels of a batch's path (2-3 CPU s on 10M events'
        taxonomy, then 1-2 for the kernels; later ones cost
        ~0.1 CPU s per 2,000 texts). A server's kept-views job calls it, so the first batch
        of contacts after a start does not pay it inside a page's refresh."""
        with self._lock:
            if self._warm:
                return False
            cur = self.store.cursor()
            try:
                held = cur.execute("SELECT count(*) FROM (FROM dc_contacts LIMIT 1)").fetchall()
            except duckdb.Error:  # no kept contacts yet
                return False
            finally:
                cur.close()
            if not held[0][0]:
                return False
            from klantreis.contacts.classifier import COMPILED_FROM

            # as many texts as take the compiled path, as a batch's refresh does: its
            # kernels' first call loads them (2.0 CPU s at load 20 in a fresh /contacts
            # after 100,000 events, h-fresh4); one text took the other path only
            self._classifier().predict(["warm"] * COMPILED_FROM)
            self._warm = True
            return True

    # -- maintenance ---------------------------------------------------------------------
    def ensure(self) -> ContactsRefresh:
        """Refresh when events arrived or the classifier changed (else do nothing)."""
        with self._lock:
            fingerprint, classifier = self._fingerprint(), self._classifier
            seen = self.version()
            if self._current is not None and self._current[:2] == (seen, fingerprint):
                return ContactsRefresh("current")
            with self.store.transaction() as con:
                result = self._ensure(con, fingerprint, classifier)
                counter = int(_rows(con, "SELECT version FROM dc_state")[0][0])
            self._follow_gaps(result.mode == "full")
            self._current = (seen, fingerprint, counter)
            return result

    def counter(self) -> int:
        """The version counter of the kept contacts (refreshed first): page caches key on it."""
        self.ensure()
        with self._lock:
            assert self._current is not None
            return self._current[2]

    def rebuild(self) -> ContactsRefresh:
        """Drop and rebuild the tables (e.g. after a bulk load)."""
        with self._lock:
            self._current = None
            fingerprint, classifier = self._fingerprint(), self._classifier
            with self.store.transaction() as con:
                self._state(con)
                result = self._full(con, fingerprint, classifier)
            self._follow_gaps(True)
            return result

    def _follow_gaps(self, full: bool) -> None:
        """The repeat gaps follow the same batch; after a full build of the contacts they
        are built afresh too (a window over every contact), under ``memory_mb``."""
        if not full:
            self.gaps.ensure()
            return
        with self.store.write_lock(), memory_limit(self.store.con, self.memory_mb):
            self.gaps.ensure()

    def _state(self, con: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
        for ddl in _DDL:
            _rows(con, ddl)
        columns = _rows(
            con,
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'dc_contacts'"
            " AND schema_name = current_schema() AND database_name = current_database()"
            " ORDER BY column_index",
        )
        if tuple(c for (c,) in columns) != COLUMNS:  # another layout: made anew (full build)
            _rows(con, "DROP TABLE dc_contacts")
            _rows(con, _DDL[0])
            _rows(con, "UPDATE dc_state SET layout = -1")
        rows = _rows(con, "SELECT events, watermark, layout, classifier, version FROM dc_state")
        return rows[0] if rows else None

    def _ensure(
        self, con: duckdb.DuckDBPyConnection, fingerprint: str, classifier: Any
    ) -> ContactsRefresh:
        state = self._state(con)
        n = int(_rows(con, "SELECT count(*) FROM events")[0][0])
        if state is None or state[2] != LAYOUT:
            return self._full(con, fingerprint, classifier)
        result = ContactsRefresh("current")
        if int(state[0]) != n:
            result = self._incremental(con, n, state, classifier)
            if result.mode == "full":
                return self._full(con, fingerprint, classifier)
        if state[3] != fingerprint:
            reasoned = self._reclassify(con, classifier)
            self._save(con, n, None, fingerprint, bump=True, rewrite=True)
            return ContactsRefresh("reclassified", result.added, reasoned)
        return result

    def _full(
        self, con: duckdb.DuckDBPyConnection, fingerprint: str, classifier: Any
    ) -> ContactsRefresh:
        """Every table built afresh under ``memory_mb``, the contacts one range of the log at
        a time, each committed (``con`` is inside the caller's ``store.transaction()``, which
        holds the store's lock throughout: no append runs in between); the state marked
        unfinished first and saved last (a build that stops half-way is rebuilt by the next
        read)."""
        with memory_limit(con, self.memory_mb):
            _rows(con, "UPDATE dc_state SET layout = -1")  # unfinished: the next read rebuilds
            _rows(con, "DROP TABLE dc_contacts")  # dropped, not deleted: no dead rows to scan
            _rows(con, _DDL[0])
            _rows(con, "DELETE FROM dc_labels")
            labels = label_rows(_frame(con, _SELECT.format(where=""), [LABEL_KIND]))
            self._merge_labels(con, labels)
            added = self._insert_all(con, classifier)
            n = int(_rows(con, "SELECT count(*) FROM events")[0][0])
            self._save(con, n, "max", fingerprint, bump=True, rewrite=True)
        log.info("kept contacts rebuilt: %d contacts", added)
        return ContactsRefresh("full", added, added)

    def _insert_all(self, con: duckdb.DuckDBPyConnection, classifier: Any) -> int:
        """Every inbound contact parsed, labelled, classified and appended, one range of
        ``range_events`` stored rows of the log at a time, in the log's order (the row ids as
        constants: DuckDB skips the row groups outside a range), each range committed. A
        frame of them all held 7.5 GB at 100M events (2.9M contacts); a temporary table of
        them all numbered by a window, 6.7 GiB."""
        table = _stored(con)
        top = int(_rows(con, f"SELECT coalesce(max(rowid) + 1, 0) FROM {table}")[0][0])
        select = (
            "SELECT " + ", ".join(_EVENT_COLS) + f", attrs FROM {table} WHERE kind = ?"
            " AND rowid >= ? AND rowid < ? ORDER BY rowid"
        )
        added = 0
        for low in range(0, top, self.range_events):
            _commit(con)
            chunk = _frame(con, select, [CONTACT_KIND, low, low + self.range_events])
            added += self._insert(con, chunk, added, classifier)
        _commit(con)
        return added

    def _incremental(
        self, con: duckdb.DuckDBPyConnection, n: int, state: tuple[Any, ...], classifier: Any
    ) -> ContactsRefresh:
        mark = state[1]
        added_events = int(
            _rows(con, "SELECT count(*) FROM events WHERE ingested_at > ?", [mark])[0][0]
        )
        if int(state[0]) + added_events != n:
            log.warning("kept contacts out of step (%d + %d != %d)", state[0], added_events, n)
            return ContactsRefresh("full")
        where = "AND ingested_at > ?"
        labels = label_rows(_frame(con, _SELECT.format(where=where), [LABEL_KIND, mark]))
        relabelled = self._merge_labels(con, labels)
        reasoned = self._relabel(con, relabelled)
        contacts = _frame(con, _SELECT.format(where=where), [CONTACT_KIND, mark])
        start = int(_rows(con, "SELECT coalesce(max(ord) + 1, 0) FROM dc_contacts")[0][0])
        added = self._insert(con, contacts, start, classifier)
        kept = int(_rows(con, "SELECT count(*) FROM dc_contacts")[0][0])
        logged = int(_rows(con, "SELECT count(*) FROM events WHERE kind = ?", [CONTACT_KIND])[0][0])
        if kept != logged:
            log.warning("kept contacts out of step (%d != %d); rebuilding", kept, logged)
            return ContactsRefresh("full")
        bump, rewrite = bool(added or reasoned), bool(reasoned)
        self._save(con, n, "max", str(state[3]), bump=bump, rewrite=rewrite)
        return ContactsRefresh("incremental", added, reasoned + added)

    def _merge_labels(self, con: duckdb.DuckDBPyConnection, labels: pd.DataFrame) -> list[str]:
        """Add new label rows; the contact ids whose latest label they changed."""
        if labels.empty:
            return []
        ids = sorted(set(labels["contact_id"]))
        con.register("_dc_ids", pa.table({"contact_id": ids}))
        try:
            old = _frame(
                con,
                "SELECT contact_id, label, labelled_at FROM dc_labels"
                " WHERE contact_id IN (SELECT contact_id FROM _dc_ids)",
            )
            _rows(con, "DELETE FROM dc_labels WHERE contact_id IN (SELECT contact_id FROM _dc_ids)")
        finally:
            con.unregister("_dc_ids")
        both = pd.concat([old, labels], ignore_index=True)
        both["labelled_at"] = pd.to_datetime(both["labelled_at"], utc=True)
        latest = latest_labels(both)[["contact_id", "label", "labelled_at"]]
        con.register("_dc_latest", pa.Table.from_pandas(latest, preserve_index=False))
        try:
            _rows(con, "INSERT INTO dc_labels SELECT * FROM _dc_latest")
        finally:
            con.unregister("_dc_latest")
        return ids

    def _relabel(self, con: duckdb.DuckDBPyConnection, ids: list[str]) -> int:
        """Kept contacts named by new labels take their latest label as reason."""
        if not ids:
            return 0
        con.register("_dc_ids", pa.table({"contact_id": ids}))
        try:
            changed = _rows(
                con,
                "SELECT count(*) FROM dc_contacts c JOIN dc_labels l USING (contact_id)"
                " WHERE c.contact_id IN (SELECT contact_id FROM _dc_ids)",
            )[0][0]
            _rows(
                con,
                "UPDATE dc_contacts SET label = l.label, reason = l.label, confidence = 1.0,"
                " reason_source = 'label' FROM dc_labels l"
                " WHERE dc_contacts.contact_id = l.contact_id"
                " AND dc_contacts.contact_id IN (SELECT contact_id FROM _dc_ids)",
            )
        finally:
            con.unregister("_dc_ids")
        return int(changed)

    def _insert(
        self, con: duckdb.DuckDBPyConnection, events: pd.DataFrame, start: int, classifier: Any
    ) -> int:
        """Parse, label and classify new contact events and append them."""
        if events.empty:
            return 0
        df = contact_rows(events).drop(columns=["attrs"])
        ids = sorted(set(df["contact_id"]))
        con.register("_dc_ids", pa.table({"contact_id": ids}))
        try:
            labels = _frame(
                con,
                "SELECT contact_id, label FROM dc_labels"
                " WHERE contact_id IN (SELECT contact_id FROM _dc_ids)",
            )
        finally:
            con.unregister("_dc_ids")
        df = df.merge(labels.astype(object), on="contact_id", how="left")
        df = self._reasons(df, classifier)
        df["given_reason"] = [g if isinstance(g, str) else None for g in df["given_reason"]]
        df["label"] = [v if isinstance(v, str) else None for v in df["label"]]
        df["ord"] = range(start, start + len(df))
        table = pa.Table.from_pandas(df[list(COLUMNS)], preserve_index=False)
        table = table.cast(pa.schema([(c, _arrow_type(t)) for c, t in _TYPES.items()]))
        con.register("_dc_new", table)
        try:
            _rows(con, "INSERT INTO dc_contacts SELECT * FROM _dc_new")
        finally:
            con.unregister("_dc_new")
        return len(df)

    def _reasons(self, df: pd.DataFrame, classifier: Any) -> pd.DataFrame:
        """``reason``, ``confidence``, ``reason_source`` as ``assign_reasons`` (trust_given),
        and the classifier's ``suggestion``/``model_confidence`` (the labelling queue's) of
        every contact without a label: only labelled contacts are not classified."""
        known = set(self.contacts.taxonomy.reason_ids())
        # plain lists, not a column and ``.iloc`` per contact: 0.047-0.066 -> 0.007 CPU s
        # for a 100,000-event batch's 2,356 contacts (h-fresh4, reasons_t.py)
        labels, givens = df["label"].tolist(), df["given_reason"].tolist()
        labelled = [isinstance(v, str) and bool(v) for v in labels]
        given = [
            not lab and isinstance(g, str) and g in known
            for lab, g in zip(labelled, givens, strict=True)
        ]
        todo = [i for i in range(len(df)) if not labelled[i]]
        texts = df["text"].fillna("").tolist()
        preds = classifier().predict([texts[i] for i in todo]) if todo else []
        reason: list[Any] = [None] * len(df)
        conf: list[float] = [1.0] * len(df)
        source: list[str] = [""] * len(df)
        best: list[str | None] = [None] * len(df)
        model: list[float | None] = [None] * len(df)
        for i in range(len(df)):
            if labelled[i]:
                reason[i], source[i] = labels[i], "label"
            elif given[i]:
                reason[i], source[i] = givens[i], "source"
        for i, p in zip(todo, preds, strict=True):
            best[i], model[i] = p.best, p.confidence
            if not given[i]:
                reason[i], conf[i], source[i] = p.reason, p.confidence, p.method
        return df.assign(
            reason=reason,
            confidence=conf,
            reason_source=source,
            suggestion=best,
            model_confidence=model,
        )

    def _reclassify(self, con: duckdb.DuckDBPyConnection, classifier: Any) -> int:
        """Classify again every kept contact without a label: its queue suggestion, and the
        reason of those neither labelled nor source-given (how many), ``CHUNK_ROWS``
        numbers (``ord``) at a time."""
        top = int(_rows(con, "SELECT coalesce(max(ord) + 1, 0) FROM dc_contacts")[0][0])
        return sum(
            self._reclassify_some(con, classifier, low, low + CHUNK_ROWS)
            for low in range(0, top, CHUNK_ROWS)
        )

    def _reclassify_some(
        self, con: duckdb.DuckDBPyConnection, classifier: Any, low: int, high: int
    ) -> int:
        df = _frame(
            con,
            "SELECT ord, text, reason_source IN ('label', 'source') AS kept"
            " FROM dc_contacts WHERE label IS NULL AND ord >= ? AND ord < ?",
            [low, high],
        )
        if df.empty:
            return 0
        preds = classifier().predict(df["text"].fillna("").tolist())
        new = pa.table(
            {
                "ord": pa.array(df["ord"], pa.int64()),
                "kept": pa.array(df["kept"], pa.bool_()),
                "reason": [p.reason for p in preds],
                "confidence": pa.array([p.confidence for p in preds], pa.float64()),
                "reason_source": [p.method for p in preds],
                "suggestion": [p.best for p in preds],
            }
        )
        con.register("_dc_new", new)
        try:
            _rows(
                con,
                "UPDATE dc_contacts SET suggestion = n.suggestion,"
                " model_confidence = n.confidence,"
                " reason = CASE WHEN n.kept THEN dc_contacts.reason ELSE n.reason END,"
                " confidence = CASE WHEN n.kept THEN dc_contacts.confidence"
                " ELSE n.confidence END,"
                " reason_source = CASE WHEN n.kept THEN dc_contacts.reason_source"
                " ELSE n.reason_source END FROM _dc_new n WHERE dc_contacts.ord = n.ord",
            )
        finally:
            con.unregister("_dc_new")
        return int((~df["kept"].astype(bool)).sum())

    def _save(
        self,
        con: duckdb.DuckDBPyConnection,
        n: int,
        mark: str | None,
        fingerprint: str,
        bump: bool,
        rewrite: bool = False,
    ) -> None:
        """The state after a refresh; ``rewrite``: kept rows were changed, not only
        appended (``dc_rewrites``)."""
        old = _rows(con, "SELECT version, watermark FROM dc_state")
        rewritten = _rows(con, f"SELECT {_REWRITTEN} {_STATE}")
        # a first build (or one after the tables were dropped) starts the counter at the
        # time in microseconds: never a counter an earlier build of the store had
        first = time.time_ns() // 1000
        version = (int(old[0][0]) if old else first) + (1 if bump else 0)
        watermark = old[0][1] if old and mark is None else None
        _rows(con, "DELETE FROM dc_state")
        _rows(
            con,
            "INSERT INTO dc_state SELECT ?, coalesce(?, max(ingested_at),"
            " TIMESTAMPTZ '1970-01-01 00:00:00+00'), ?, ?, ? FROM events",
            [n, watermark, LAYOUT, fingerprint, version],
        )
        _rows(con, "DELETE FROM dc_rewrites")
        last = version if rewrite or not rewritten else rewritten[0][0]
        _rows(con, "INSERT INTO dc_rewrites VALUES (?, ?)", [last, version])

    # -- reads ---------------------------------------------------------------------------
    def frame(
        self,
        since: Any = None,
        until: Any = None,
        channels: tuple[str | None, ...] = (),
        with_text: bool = False,
    ) -> pd.DataFrame:
        """The kept contacts with ``occurred_at`` in [since, until) and (when given) on one
        of ``channels``, oldest first: the frame of ``assign_reasons(contacts_frame(...))``
        (``text`` only ``with_text``)."""
        self.ensure()
        cols = [
            c for c in COLUMNS if c != "ord" and c not in _QUEUE_ONLY and (with_text or c != "text")
        ]
        where, params = scope_where(since, until, channels)
        cur = self.store.cursor()
        try:
            df = _frame(
                cur,
                f"SELECT {', '.join(cols)} FROM dc_contacts WHERE {' AND '.join(where)}"
                " ORDER BY occurred_at, ord",
                params,
            )
        finally:
            cur.close()
        if not with_text:
            df["text"] = None
        df["kind"] = CONTACT_KIND
        for col in ("label", "given_reason", "resolved"):
            df[col] = df[col].astype(object).where(df[col].notna(), None)
        return df

    def cause_frame(
        self, since: Any = None, until: Any = None, channels: tuple[str | None, ...] = ()
    ) -> pd.DataFrame:
        """Of :meth:`frame`, only what the kept root causes read (contact id, journey,
        reason, time), in its order: a quarter of its columns, no text parsed into objects."""
        return self.cause_frame_with_id(since, until, channels)[0].drop(columns="ord")

    def cause_frame_with_id(
        self, since: Any = None, until: Any = None, channels: tuple[str | None, ...] = ()
    ) -> tuple[pd.DataFrame, FrameId]:
        """:meth:`cause_frame` (with each row's ``ord``) and its identity, read in one
        transaction: ``rows``, the version of the kept rows' last rewrite (``dc_rewrites``),
        the classifier and the frame's bounds; ``top``, the number the next contact gets.
        The rows change only with a rewrite (labels, another classifier, a rebuild; a build
        after the tables were dropped starts the counter anew, never at an earlier value) or
        by new contacts (``ord`` from ``top`` on); events that bring no contact leave both."""
        self.ensure()
        where, params = scope_where(since, until, channels)
        cur = self.store.cursor()
        try:
            cur.begin()
            try:
                ident = CauseSource(since, until, channels).identity(cur)
                df = _frame(
                    cur,
                    f"{_CAUSE_ROWS} WHERE {' AND '.join(where)} ORDER BY occurred_at, ord",
                    params,
                )
            finally:
                cur.rollback()
        finally:
            cur.close()
        return df, ident

    def cause_source(
        self, since: Any = None, until: Any = None, channels: tuple[str | None, ...] = ()
    ) -> CauseSource:
        """The frame of :meth:`cause_frame_with_id`, not read: the kept contacts brought up
        to date, and a :class:`CauseSource` the held counts read in SQL (only the rows they
        need; the whole frame was 0.10-0.15 CPU s per view at 228k contacts)."""
        self.ensure()
        return CauseSource(since, until, channels)

    def reason_page(
        self,
        reason: str,
        since: Any = None,
        until: Any = None,
        channels: tuple[str | None, ...] = (),
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the kept contacts of ``reason`` in [since, until) (on ``channels``, as
        :meth:`frame`), newest first (at one time the larger contact id first), with contact
        id, journey, customer, time, channel and text, and how many there are in all (the
        order of :func:`klantreis.contacts.reports.reason_page` on the log). Two queries on the
        kept table, so the memory follows ``limit``, not the contacts (read whole with their
        texts: >9 GB at 100M events)."""
        self.ensure()
        where, params = scope_where(since, until, channels)
        cond = " AND ".join([*where, "reason = ?"])
        params.append(reason)
        cur = self.store.cursor()
        try:
            counted = cur.execute(f"SELECT count(*) FROM dc_contacts WHERE {cond}", params)
            total = int(counted.fetchall()[0][0])
            cur.execute(
                f"SELECT {', '.join(_PAGE_COLS)} FROM dc_contacts WHERE {cond}"
                " ORDER BY occurred_at DESC, contact_id DESC, ord DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            rows = cur.fetchall()
        finally:
            cur.close()
        return [dict(zip(_PAGE_COLS, row, strict=True)) for row in rows], total

    def queue(self, limit: int, max_confidence: float = 1.0) -> pd.DataFrame:
        """The labelling queue's candidates (refreshed first): the ``limit`` contacts without
        a label whose classifier confidence is at most ``max_confidence``, lowest first (then
        the oldest, the smaller contact id), with contact id, time, channel, text,
        suggestion and confidence; one query with a ``LIMIT``, so the memory follows
        ``limit``, not the contacts (classifying them all per view: ≥ 19 GiB at 100M)."""
        self.ensure()
        cur = self.store.cursor()
        try:
            return _frame(
                cur,
                "SELECT contact_id, occurred_at, channel, text, suggestion,"
                " model_confidence AS confidence FROM dc_contacts"
                " WHERE label IS NULL AND model_confidence <= ?"
                " ORDER BY model_confidence, occurred_at, contact_id, ord LIMIT ?",
                [max_confidence, limit],
            )
        finally:
            cur.close()

    def unknown(self) -> pd.DataFrame:
        """The kept contacts with a text that no reason fits when the source system's reasons
        are not trusted (``reason`` unknown in ``assign_reasons(..., trust_given=False)``, the
        new reasons' clusters): a labelled or classified contact by its kept reason, a
        source-given one by the classifier's kept best reason and confidence (not classified
        again: 126 CPU s at 100M events); ``UNKNOWN_ROWS`` numbers (``ord``) at a time, in
        one snapshot, so the memory follows the unknown contacts, not all (a frame of every
        contact: ≥ 6.7 GiB at 100M events). Contact id, time, text and reason, oldest first
        (the frame's order)."""
        from klantreis.contacts.taxonomy import UNKNOWN

        self.ensure()
        parts = []
        cur = self.store.cursor()
        try:
            cur.begin()
            try:
                top = int(_rows(cur, "SELECT coalesce(max(ord) + 1, 0) FROM dc_contacts")[0][0])
                for low in range(0, top, UNKNOWN_ROWS):
                    df = _frame(
                        cur,
                        "SELECT contact_id, occurred_at, text, reason, ord,"
                        " reason_source = 'source' AS given, suggestion, model_confidence"
                        " FROM dc_contacts WHERE text IS NOT NULL AND ord >= ? AND ord < ?"
                        " AND (reason_source = 'source' OR reason = ?)",
                        [low, low + UNKNOWN_ROWS, UNKNOWN],
                    )
                    if df["given"].any():
                        df["reason"] = self._untrusted(df)
                    parts.append(df[df["reason"] == UNKNOWN][list(_UNKNOWN_COLS)])
            finally:
                cur.rollback()
        finally:
            cur.close()
        if not parts:
            return pd.DataFrame(columns=["contact_id", "occurred_at", "text", "reason"])
        out = pd.concat(parts, ignore_index=True)
        out = out.sort_values(["occurred_at", "ord"], kind="stable", ignore_index=True)
        return out.drop(columns="ord")

    def _untrusted(self, df: pd.DataFrame) -> Any:
        """The reasons of ``df``'s contacts with the source's reasons not trusted: a
        source-given contact gets the classifier's own reason, from its kept best reason and
        confidence (the classifier in use classified it, ``suggestion``), or classified
        again when those are missing."""
        clf = self._classifier()
        reasons = df["reason"].to_numpy(object).copy()
        given = df["given"].to_numpy(bool)
        best = df["suggestion"].to_numpy(object)
        conf = df["model_confidence"].to_numpy(float, na_value=np.nan)
        kept = given & pd.notna(best) & ~np.isnan(conf)
        reasons[kept] = [clf.reason_of(b, c) for b, c in zip(best[kept], conf[kept], strict=True)]
        again = given & ~kept
        if again.any():
            texts = df["text"].to_numpy(object)[again].tolist()
            reasons[again] = [p.reason for p in clf.predict(texts)]
        return reasons

    def texts(self, contact_ids: list[str]) -> dict[str, str | None]:
        """The text of each of ``contact_ids`` (the few a page shows)."""
        cur = self.store.cursor()
        try:
            rows = cur.execute(
                "SELECT contact_id, text FROM dc_contacts WHERE contact_id IN (SELECT unnest(?))",
                [contact_ids],
            ).fetchall()
        finally:
            cur.close()
        return {str(k): v for k, v in rows}


#: The columns of an unknown contact (:meth:`ContactViews.unknown`).
_UNKNOWN_COLS = ("contact_id", "occurred_at", "text", "reason", "ord")
#: The columns of one listed contact (:meth:`ContactViews.reason_page`).
_PAGE_COLS = ("contact_id", "journey_id", "customer_id", "occurred_at", "channel", "text")


#: The columns of the kept contacts the held counts read.
_CAUSE_ROWS = "SELECT contact_id, journey_id, reason, occurred_at, ord FROM dc_contacts"


@dataclass(frozen=True)
class CauseSource:
    """The kept contacts' cause frame (:meth:`ContactViews.cause_frame_with_id`) of
    [``since``, ``until``) on ``channels`` as a
    :class:`~klantreis.contacts.held_counts.FrameSource`: its identity and its rows are read
    on the held counts' connection, in their transaction."""

    since: Any = None
    until: Any = None
    channels: tuple[str | None, ...] = ()

    def identity(self, con: duckdb.DuckDBPyConnection) -> FrameId:
        """``rows``: the version of the kept rows' last rewrite (``dc_rewrites``), the
        classifier and the frame's bounds; ``top``: the number the next contact gets."""
        state = _rows(con, f"SELECT {_REWRITTEN}, s.classifier {_STATE}")[0]
        top = _rows(con, "SELECT coalesce(max(ord) + 1, 0) FROM dc_contacts")[0][0]
        return FrameId(repr((state, self.since, self.until, self.channels)), int(top))

    def rows(self) -> tuple[str, dict[str, Any]]:
        """The frame's rows (no order) with named parameters (``src_0``, ...)."""
        where, params = scope_where(self.since, self.until, self.channels)
        parts = " AND ".join(where).split("?")
        sql = parts[0] + "".join(f"$src_{i}{part}" for i, part in enumerate(parts[1:]))
        return f"{_CAUSE_ROWS} WHERE {sql}", {f"src_{i}": p for i, p in enumerate(params)}


def scope_where(
    since: Any, until: Any, channels: tuple[str | None, ...]
) -> tuple[list[str], list[Any]]:
    """Conditions and parameters on ``dc_contacts``: ``occurred_at`` in [since, until) (each
    when given) and (when given) the channel one of ``channels`` (None: no channel)."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if since is not None:
        where.append("occurred_at >= ?")
        params.append(since)
    if until is not None:
        where.append("occurred_at < ?")
        params.append(until)
    wanted = [c for c in channels if c is not None]
    if channels:
        parts = ["channel IN (SELECT unnest(?))"] if wanted else []
        if None in channels:
            parts.append("channel IS NULL")
        where.append("(" + (" OR ".join(parts) or "FALSE") + ")")
        if wanted:
            params.append(wanted)
    return where, params


def _arrow_type(sql: str) -> pa.DataType:
    return {
        "VARCHAR": pa.string(),
        "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
        "DOUBLE": pa.float64(),
        "BOOLEAN": pa.bool_(),
        "BIGINT": pa.int64(),
    }[sql]
