"""The single writer of a served store (HTTP ingest), fed by a queue: concurrent API
requests are batched into one transaction (datasette's shape, right for DuckDB too).

It runs the stages of ``klantreis.ingest.pipeline`` (conform, validate, enrich, append),
tuned for many small requests; a request with a rejected row is refused whole (nothing of it
is stored, so nothing is quarantined: the client gets the reasons).

A request ``submit``s its event records (dicts) and awaits the returned future. A large
request (``PREBUILD_ROWS`` or more) has its Arrow table built on the event loop as it is
submitted; small ones are built together later. Requests submitted in one turn of the event
loop are handed over together.

Two threads do the rest, a pipeline of two stages, so that checking one batch overlaps
committing the previous one:

* the *checker* takes everything queued (up to ``max_batch_rows``; under load it also waits,
  at most ``write_queue_max_delay_ms``, while as many requests as its previous batch had
  are still arriving, see :meth:`EventWriter._collect`), builds and validates the small
  requests (per record in Python when every row is plainly valid, else vectorised), and
  validates the prebuilt tables and hashes their keys in one DuckDB statement
  (``validation_reason_sql``: the rules and texts of ``validate_events``), which runs
  without the GIL while the event loop parses the next requests. A request with a rejected
  row is answered with :class:`Rejected` (its reasons per row; nothing of it is stored).
* the *committer* appends the rest in one transaction and resolves the futures only after
  the commit, so an acknowledgement means the events are durable.

A commit costs a few milliseconds of CPU whatever its size (DuckDB), so the number of
commits, not the number of events, sets the writer's cost for small requests; for large
ones the DuckDB insert and commit (about 2-3 us an event) set it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from klantreis.ingest.pipeline import enrich
from klantreis.model.events import conform, derive_event_id, events_from_records
from klantreis.model.journey import JourneyConfig
from klantreis.model.validation import quick_valid, validate_events, validation_reason_sql
from klantreis.store import EventStore
from klantreis.store.keys import KEY64_OF_ID, Keys, event_keys

__all__ = ["EventWriter", "Rejected", "WriteResult"]

log = logging.getLogger(__name__)

#: The batch closes when no request arrived for this long (seconds).
QUIET_GAP = 0.002
#: A request with at least this many events has its Arrow table built on the event loop as
#: it is submitted, while the writer works on earlier batches; the checker then validates
#: and hashes all such tables of a batch in one DuckDB statement. Smaller ones are built
#: together by the checker (one Arrow table per request would cost more than it saves).
PREBUILD_ROWS = 64
#: A batch with fewer rows does not queue behind the commit in progress: the checker keeps
#: gathering requests until the committer is free (a commit costs milliseconds whatever its
#: size, so for small requests fewer commits beat overlapping them). Larger batches are
#: checked at once, overlapping the commit.
PIPELINE_ROWS = 4096
#: Batches up to this many rows are first checked per record (``quick_valid``): cheaper than
#: the vectorised rules until about a thousand rows.
QUICK_ROWS = 512


#: Errors a request's values can cause while it is checked (a time stamp beyond Python's
#: datetime, a number beyond 64 bits, text Arrow cannot hold): the batch is checked again
#: request by request, and the request that still fails is answered 422. Other errors are
#: the server's and reach every request of the batch.
VALUE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    ArithmeticError,
    RecursionError,
    pa.ArrowException,
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
    duckdb.InvalidInputException,
)


@dataclass(frozen=True)
class WriteResult:
    received: int
    stored: int
    duplicates: int


class Rejected(ValueError):
    """Some events of a request are invalid: ``details`` = [{"index", "reason"}]."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__("events rejected")
        self.details = details

    def __str__(self) -> str:
        return f"{len(self.details)} events rejected"


@dataclass
class _Job:
    records: list[dict[str, Any]]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[WriteResult]
    #: Built on submit (large requests only); checked by the writer.
    table: pa.Table | None = None


@dataclass
class _Batch:
    """Checked requests on their way to the committer."""

    jobs: list[_Job]
    rows: pa.Table | None  # the valid requests' rows, enriched (None: nothing to store)
    keys: Keys | None
    verdicts: list[Rejected | None]


class EventWriter:
    """The single writer of one store. ``start()`` it, ``submit`` tables, ``stop()`` it."""

    def __init__(
        self,
        store: EventStore,
        journey: JourneyConfig,
        max_delay_ms: int = 20,
        max_batch_rows: int = 200_000,
    ) -> None:
        self.store = store
        self.journey = journey
        self.max_delay = max(0, max_delay_ms) / 1000
        self.max_batch_rows = max_batch_rows
        self._queue: queue.Queue[list[_Job] | None] = queue.Queue()
        self._pending: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        self._thread: threading.Thread | None = None
        self._committer: threading.Thread | None = None
        #: Checked batches: one waits while the previous one commits.
        self._commits: queue.Queue[_Batch | None] = queue.Queue(maxsize=1)
        self.batches = 0
        self._last_jobs = 0  # requests in the previous batch: about as many come back
        self._cursor: duckdb.DuckDBPyConnection | None = None  # the writer's checks
        #: Ties keep the arrival order (position in the request, then requests as they
        #: came): microseconds since the epoch at start, one up per event, so a restarted
        #: writer continues above the last run unless it took over a million events a second.
        self._arrivals = itertools.count(time.time_ns() // 1000)
        #: When a request last arrived or a batch was last answered, and how many requests
        #: were handed over and answered (``idle_seconds``).
        self._last_busy = time.monotonic()
        self._submitted = 0
        self._answered = 0
        self._answered_lock = threading.Lock()

    def start(self) -> None:
        if self._thread is None:
            self._committer = threading.Thread(
                target=self._commit_run, name="klantreis-committer", daemon=True
            )
            self._committer.start()
            self._thread = threading.Thread(target=self._run, name="klantreis-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            for loop in list(self._pending):  # submitted, not yet handed over: write them too
                self._hand_over(loop)
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
            self._commits.put(None)  # after the checker's last batch
            if self._committer is not None:
                self._committer.join(timeout=30)
                self._committer = None
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def idle_seconds(self) -> float:
        """Seconds since a request last arrived or a batch was last answered, 0 while a
        request waits for its answer (a long commit or checkpoint is not a pause): background
        work (the server's scheduled jobs) waits for a pause in ingest, see
        ``klantreis.web.app.IngestFirstScheduler``."""
        if self._submitted != self._answered:
            return 0.0
        return time.monotonic() - self._last_busy

    def submit(self, records: list[dict[str, Any]]) -> asyncio.Future[WriteResult]:
        """Queue event records; the future resolves after they are committed (or raises
        :class:`Rejected` when one is invalid). A record without an ``event_id`` gets one
        derived from its content, so re-sending it adds nothing.

        Requests submitted during one turn of the event loop reach the writer together (one
        hand-over per turn, not one thread wake-up per request)."""
        if self._thread is None:
            raise RuntimeError("writer is not running")
        self._last_busy = time.monotonic()
        for record in records:
            if not record.get("event_id"):
                record["event_id"] = derive_event_id(
                    "api", json.dumps(record, sort_keys=True, default=str)
                )
            if record.get("source_order") is None:  # after the id: re-sending adds nothing
                record["source_order"] = next(self._arrivals)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WriteResult] = loop.create_future()
        job = _Job(records, loop, future)
        if len(records) >= PREBUILD_ROWS:
            rejected = self._prepare(job)
            if rejected is not None:  # nothing of it is stored: the writer need not see it
                future.set_exception(rejected)
                return future
        self._submitted += 1  # only the event loop counts up (one writer per event loop)
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._hand_over, loop)
        pending.append(job)
        return future

    def _prepare(self, job: _Job) -> Rejected | None:
        """Build a large request's table (on the event loop, while the writer commits);
        a :class:`Rejected` when it cannot be built. The writer checks its rows."""
        built = _build(job.records)
        if isinstance(built, Rejected):
            return built
        job.table = built
        return None

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs = self._pending.pop(loop, None)
        if jobs:
            self._queue.put(jobs)

    # -- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        carry: list[_Job] = []
        while True:
            if carry:
                jobs, carry, stopping = carry, [], False
            else:
                first = self._queue.get()
                if first is None:
                    return
                if not first:  # the committer's "idle" note, with nothing waiting
                    continue
                jobs, stopping = first, False
            if not stopping:
                stopping = self._collect(jobs) or self._gather_while_committing(jobs)
            jobs, carry = _split(jobs, self.max_batch_rows)
            self._write(jobs)
            while stopping and carry:
                jobs, carry = _split(carry, self.max_batch_rows)
                self._write(jobs)
            if stopping:
                return

    def _collect(self, jobs: list[_Job]) -> bool:
        """Add everything queued to ``jobs``; True when ``stop`` was asked.

        Under load, the clients answered by the previous batch send again at once: while
        fewer requests are here than that batch had, the writer waits for more as long as
        they keep coming (a gap of ``QUIET_GAP`` ends it, ``max_delay`` bounds it). It wakes
        when a hand-over arrives, never on a timer, and a lone client never waits."""
        if self._take_queued(jobs):
            return True
        if not self.max_delay or len(jobs) >= self._last_jobs:
            return False
        deadline = time.monotonic() + self.max_delay
        while len(jobs) < self._last_jobs:
            timeout = min(QUIET_GAP, deadline - time.monotonic())
            if timeout <= 0:
                return False
            try:
                more = self._queue.get(timeout=timeout)
            except queue.Empty:
                return False
            if more is None:
                return True
            jobs.extend(more)
            if self._take_queued(jobs):
                return True
        return False

    def _gather_while_committing(self, jobs: list[_Job]) -> bool:
        """While the committer is busy and the batch is small, add requests as they come;
        True when ``stop`` was asked. The committer's note that it is done (an empty
        hand-over on the same queue) ends the wait, so nothing polls."""
        rows = sum(len(job.records) for job in jobs)
        while rows < PIPELINE_ROWS and self._committing():
            more = self._queue.get()
            if more is None:
                return True
            jobs.extend(more)
            rows += sum(len(job.records) for job in more)
        return False

    def _take_queued(self, jobs: list[_Job]) -> bool:
        """Move every queued hand-over to ``jobs``; True when ``stop`` was asked."""
        while True:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                return False
            if more is None:
                return True
            jobs.extend(more)

    def _write(self, jobs: list[_Job]) -> None:
        """Check a batch (this thread); commit it here when it is small and the committer
        is idle, else queue it for the committer (which commits while this thread checks
        the next batch)."""
        # The requests built here come first, then those built on submit: the batch's rows
        # and the per-request counts (first occurrence of an id is the stored one) follow
        # this order.
        jobs = [j for j in jobs if j.table is None] + [j for j in jobs if j.table is not None]
        try:
            batch = self._check_batch(jobs)
        except VALUE_ERRORS as exc:
            if len(jobs) > 1:  # one poisoned request fails only itself: check each alone
                log.warning("a batch of %d requests failed its check (%s)", len(jobs), exc)
                for job in jobs:
                    self._write([job])
                return
            # A value the checks could not handle: the request's fault (422 with the
            # reason), not the server's.
            log.warning("a request failed its check: %r", exc)
            reason = f"the events could not be checked: {type(exc).__name__}: {exc}"[:500]
            rejected: list[WriteResult | Rejected] = [Rejected([{"index": None, "reason": reason}])]
            self._answer(jobs, rejected)
            return
        except Exception as exc:  # every waiting request must hear about the failure
            log.exception("writer failed to check a batch of %d requests", len(jobs))
            self._answer(jobs, [exc] * len(jobs))
            return
        self._last_jobs = len(jobs)
        if sum(len(job.records) for job in jobs) < PIPELINE_ROWS and not self._committing():
            self._commit_and_answer(batch)
        else:
            self._commits.put(batch)

    def _answer(
        self, jobs: list[_Job], outcomes: list[WriteResult | Rejected] | list[Exception]
    ) -> None:
        with self._answered_lock:  # the checker and the committer both answer
            self._answered += len(jobs)
            self._last_busy = time.monotonic()
        _resolve(jobs, outcomes)

    def _committing(self) -> bool:
        """Whether the committer has a batch (in hand or queued)."""
        return bool(self._commits.unfinished_tasks)

    def _commit_run(self) -> None:
        """The committer thread: append each checked batch, then answer its requests."""
        while (batch := self._commits.get()) is not None:
            self._commit_and_answer(batch)
            self._commits.task_done()
            if not self._committing():
                self._queue.put([])  # wakes the checker if it waits for this (an empty hand-over)

    def _commit_and_answer(self, batch: _Batch) -> None:
        try:
            results = self._commit(batch)
        except Exception as exc:  # every waiting request must hear about the failure
            log.exception("writer failed to store a batch of %d requests", len(batch.jobs))
            self._answer(batch.jobs, [exc] * len(batch.jobs))
            return
        self.batches += 1
        self._answer(batch.jobs, results)

    def _check_batch(self, jobs: list[_Job]) -> _Batch:
        """The jobs' valid rows, enriched, with their keys, and a verdict per job (jobs
        built here come first, then those built on submit)."""
        small = [job.records for job in jobs if job.table is None]
        table, verdicts = _validate(small) if small else (None, [])
        pieces, keys = [], []
        if table is not None and table.num_rows:
            pieces.append(table)
            keys.append(event_keys(table.column("event_id")))
        built = [cast(pa.Table, job.table) for job in jobs[len(small) :]]
        if built:
            table, built_keys, built_verdicts = self._check(built)
            verdicts += built_verdicts
            if table.num_rows:
                pieces.append(table)
                keys.append(built_keys)
        if not pieces:
            return _Batch(jobs, None, None, verdicts)
        rows = enrich(pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces), self.journey)
        return _Batch(jobs, rows, keys[0] if len(keys) == 1 else np.concatenate(keys), verdicts)

    def _commit(self, checked: _Batch) -> list[WriteResult | Rejected]:
        """Append a checked batch in one transaction; a result per job."""
        jobs, verdicts, batch = checked.jobs, checked.verdicts, checked.rows
        started = datetime.now(UTC)
        duplicates = 0
        if batch is not None:
            duplicates = self.store.append(batch, keys=checked.keys).duplicates
        if not duplicates:  # the common case: every accepted event is new
            return [
                verdict or WriteResult(len(job.records), len(job.records), 0)
                for job, verdict in zip(jobs, verdicts, strict=True)
            ]
        ids = [
            [str(r["event_id"]) for r in job.records] if verdict is None else []
            for job, verdict in zip(jobs, verdicts, strict=True)
        ]
        repeats = sum(len(i) for i in ids) - len({x for i in ids for x in i})
        # Only when the store already held some of these ids do we look up which (rare).
        existing = (
            self._stored_before(cast(pa.Table, batch), started) if duplicates > repeats else set()
        )
        seen: set[str] = set()
        results: list[WriteResult | Rejected] = []
        for job_ids, verdict in zip(ids, verdicts, strict=True):
            if verdict is not None:
                results.append(verdict)
                continue
            stored = 0
            for event_id in job_ids:
                if event_id not in existing and event_id not in seen:
                    stored += 1
                seen.add(event_id)
            results.append(WriteResult(len(job_ids), stored, len(job_ids) - stored))
        return results

    def _check(self, tables: list[pa.Table]) -> tuple[pa.Table, Keys, list[Rejected | None]]:
        """Validate tables built on submit in one DuckDB statement, which also hashes their
        keys: it runs without the GIL, while the event loop parses the next requests
        (``validation_reason_sql`` has the rules and texts of ``validate_events``). The
        rows of a table with a rejected row are dropped; a verdict per table."""
        _checked = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        if self._cursor is None:
            self._cursor = self.store.cursor()
        # The batch's few distinct kinds are checked here, so that the rule's regular
        # expression runs only for kinds that fail it (``known_kinds`` spares the others).
        kinds = [k for k in pc.unique(_checked.column("kind")).to_pylist() if k is not None]
        rule = validation_reason_sql(known_kinds=kinds)
        sql = f"SELECT {KEY64_OF_ID} AS k, {rule} AS reason FROM _checked"
        result = self._cursor.sql(sql).to_arrow_table()
        keys = np.asarray(pc.fill_null(result.column("k"), 0).to_numpy(), dtype=np.uint64)
        reasons = result.column("reason")
        if reasons.null_count == len(reasons):
            return _checked, keys, [None] * len(tables)
        rejected = [(i, r) for i, r in enumerate(reasons.to_pylist()) if r is not None]
        verdicts, keep = _verdicts([t.num_rows for t in tables], rejected)
        return _checked.filter(pa.array(keep)), keys[keep], verdicts

    def _stored_before(self, batch: pa.Table, started: datetime) -> set[str]:
        """The batch's ids that were stored before this batch's transaction began."""
        cur = self.store.cursor()
        try:
            cur.register("_ids", batch.select(["event_id"]))
            rows = cur.execute(
                "SELECT e.event_id FROM events e JOIN _ids USING (event_id)"
                " WHERE e.ingested_at < ?",
                [started],
            ).fetchall()
        finally:
            cur.close()
        return {r[0] for r in rows}


def _split(jobs: list[_Job], max_rows: int) -> tuple[list[_Job], list[_Job]]:
    """The first jobs up to ``max_rows`` rows (at least one job), and the rest."""
    rows = 0
    for i, job in enumerate(jobs):
        rows += len(job.records)
        if rows > max_rows and i:
            return jobs[:i], jobs[i:]
    return jobs, []


def _build(records: list[dict[str, Any]]) -> pa.Table | Rejected:
    """The records' canonical table, or :class:`Rejected` (no row index) when the values
    cannot be typed."""
    try:
        return conform(events_from_records(cast(list[Mapping[str, Any]], records), "api"))
    except (TypeError, ValueError, OverflowError, pa.ArrowException) as exc:
        return Rejected([{"index": None, "reason": str(exc)}])


def _validate(requests: list[list[dict[str, Any]]]) -> tuple[pa.Table, list[Rejected | None]]:
    """One table for the requests' records, and a verdict per request: the rows of a
    request with a rejected row are dropped (nothing of it is stored)."""
    records = [r for request in requests for r in request]
    table = _build(records)
    if isinstance(table, Rejected):
        if len(requests) > 1:  # find whose it is
            parts = [_validate([request]) for request in requests]
            return pa.concat_tables([t for t, _ in parts]), [v for _, (v,) in parts]
        return conform(pa.table({})), [table]
    if table.num_rows <= QUICK_ROWS and quick_valid(cast(list[Mapping[str, Any]], records), table):
        return table, [None] * len(requests)
    result = validate_events(table)
    if not result.rejected_index:
        return table, [None] * len(requests)
    rejected = zip(result.rejected_index, result.rejected_reason, strict=True)
    verdicts, keep = _verdicts([len(request) for request in requests], rejected)
    return table.filter(pa.array(keep)), verdicts


def _verdicts(
    sizes: list[int], rejected: Iterable[tuple[int, str]]
) -> tuple[list[Rejected | None], npt.NDArray[np.bool_]]:
    """Per request (``sizes``: its rows, in table order), a :class:`Rejected` with the
    reasons of its rejected rows (``rejected``: table row, reason) or None; and which table
    rows to keep (those of requests without a rejected row)."""
    starts = np.cumsum([0, *sizes])
    verdicts: list[Rejected | None] = [None] * len(sizes)
    for i, reason in rejected:
        j = int(np.searchsorted(starts, i, side="right")) - 1
        verdict = verdicts[j] = verdicts[j] or Rejected([])
        verdict.details.append({"index": i - int(starts[j]), "reason": reason})
    keep = np.repeat([v is None for v in verdicts], sizes)
    return verdicts, keep


Outcome = WriteResult | Exception


def _resolve(jobs: list[_Job], outcomes: list[WriteResult | Rejected] | list[Exception]) -> None:
    """Answer every job: one hand-over per event loop (not one per request, each of which
    would wake the loop separately)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[WriteResult], Outcome]]]
    by_loop = {}
    for job, outcome in zip(jobs, outcomes, strict=True):
        by_loop.setdefault(job.loop, []).append((job.future, outcome))
    for loop, pairs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, pairs)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            log.warning("event loop closed before %d requests were answered", len(pairs))


def _settle(pairs: list[tuple[asyncio.Future[WriteResult], Outcome]]) -> None:
    for future, outcome in pairs:
        if future.done():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
