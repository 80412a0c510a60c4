"""One writer thread per store, fed by a queue: concurrent API requests are batched into one
transaction (datasette's shape, right for DuckDB too).

A request ``submit``s its event records (dicts) and awaits the returned future. Requests
submitted in one turn of the event loop are handed to the writer together. The writer takes
everything queued (up to ``max_batch_rows``; under load it also waits, at most
``write_queue_max_delay_ms``, while as many requests as its previous batch had are still
arriving, see :meth:`EventWriter._collect`), builds one Arrow table for all of it and
validates it (per record in Python for small batches when every row is plainly valid,
else vectorised: 1,000 events cost about what one does), answers requests with a rejected
row with :class:`Rejected` (their reasons per row; nothing of theirs is stored), enriches
and appends the rest in one transaction, and resolves their futures only after the
commit, so an acknowledgement means the events are durable.

A commit costs a few milliseconds of CPU whatever its size (DuckDB), so the number of
commits, not the number of events, sets the writer's cost for small requests.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import pyarrow as pa

from klantreis.model.events import conform, events_from_records, quick_valid, validate_events
from klantreis.model.journey import JourneyConfig
from klantreis.services.ingest import enrich
from klantreis.store import EventStore

__all__ = ["EventWriter", "Rejected", "WriteResult"]

log = logging.getLogger(__name__)

#: The batch closes when no request arrived for this long (seconds).
QUIET_GAP = 0.002
#: A request with at least this many events has its table built on the event loop as it is
#: submitted (alongside the writer committing the previous batch); smaller ones are built
#: together by the writer (one Arrow table per request would cost more than it saves).
PREBUILD_ROWS = 64
#: Batches up to this many rows are first checked per record (``quick_valid``): cheaper than
#: the vectorised rules until about a thousand rows.
QUICK_ROWS = 512


@dataclass(frozen=True)
class WriteResult:
    received: int
    stored: int
    duplicates: int


class Rejected(ValueError):
    """Some events of a request are invalid: ``details`` = [{"index", "reason"}]."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(details)} events rejected")
        self.details = details


@dataclass
class _Job:
    records: list[dict[str, Any]]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[WriteResult]
    table: pa.Table | None = None


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
        self.batches = 0
        self._last_jobs = 0  # requests in the previous batch: about as many come back

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="klantreis-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            for loop in list(self._pending):  # submitted, not yet handed over: write them too
                self._hand_over(loop)
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def submit(self, records: list[dict[str, Any]]) -> asyncio.Future[WriteResult]:
        """Queue event records; the future resolves after they are committed (or raises
        :class:`Rejected` when one is invalid).

        Requests submitted during one turn of the event loop reach the writer together (one
        hand-over per turn, not one thread wake-up per request)."""
        if self._thread is None:
            raise RuntimeError("writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WriteResult] = loop.create_future()
        table = _prebuild(records) if len(records) >= PREBUILD_ROWS else None
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._hand_over, loop)
        pending.append(_Job(records, loop, future, table))
        return future

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
                jobs, stopping = first, False
            if not stopping:
                stopping = self._collect(jobs)
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
        try:
            results = self._append(jobs)
        except Exception as exc:  # every waiting request must hear about the failure
            log.exception("writer failed to store a batch of %d requests", len(jobs))
            _resolve(jobs, [exc] * len(jobs))
            return
        self.batches += 1
        self._last_jobs = len(jobs)
        _resolve(jobs, results)

    def _validate(self, jobs: list[_Job]) -> tuple[pa.Table, list[Rejected | None]]:
        """One table for all jobs' records; rows of jobs with a rejected row are dropped."""
        try:
            table = _build(jobs)
        except (TypeError, ValueError, OverflowError, pa.ArrowException) as exc:
            if len(jobs) > 1:
                return self._validate_each(jobs)
            return conform(pa.table({})), [Rejected([{"index": None, "reason": str(exc)}])]
        verdicts: list[Rejected | None] = [None] * len(jobs)
        if table.num_rows <= QUICK_ROWS and quick_valid(
            [r for job in jobs for r in job.records], table
        ):
            return table, verdicts
        result = validate_events(table)
        if not result.rejected_index:
            return table, verdicts
        owner = [j for j, job in enumerate(jobs) for _ in job.records]
        starts = [0]
        for job in jobs:
            starts.append(starts[-1] + len(job.records))
        for i, reason in zip(result.rejected_index, result.rejected_reason, strict=True):
            j = owner[i]
            if verdicts[j] is None:
                verdicts[j] = Rejected([])
            verdicts[j].details.append({"index": i - starts[j], "reason": reason})  # type: ignore[union-attr]
        keep = pa.array([verdicts[j] is None for j in owner], pa.bool_())
        return table.filter(keep), verdicts

    def _validate_each(self, jobs: list[_Job]) -> tuple[pa.Table, list[Rejected | None]]:
        tables, verdicts = [], []
        for job in jobs:
            table, (verdict,) = self._validate([job])
            tables.append(table)
            verdicts.append(verdict)
        return pa.concat_tables(tables), verdicts

    def _append(self, jobs: list[_Job]) -> list[WriteResult | Rejected]:
        table, verdicts = self._validate(jobs)
        batch = enrich(table, self.journey)
        started = datetime.now(UTC)
        duplicates = self.store.append(batch).duplicates if batch.num_rows else 0
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
        existing = self._stored_before(batch, started) if duplicates > repeats else set()
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


def _prebuild(records: list[dict[str, Any]]) -> pa.Table | None:
    try:
        return conform(events_from_records(cast(list[Mapping[str, Any]], records), source="api"))
    except (TypeError, ValueError, OverflowError, pa.ArrowException):
        return None  # the writer builds it again and reports the reason


def _build(jobs: list[_Job]) -> pa.Table:
    """One table for all jobs: prebuilt tables as they are, the other jobs' records built
    together, in job order."""
    pieces: list[pa.Table] = []
    pending: list[Mapping[str, Any]] = []
    for job in jobs:
        if job.table is None:
            pending.extend(job.records)
            continue
        if pending:
            pieces.append(conform(events_from_records(pending, source="api")))
            pending = []
        pieces.append(job.table)
    if pending or not pieces:
        pieces.append(conform(events_from_records(pending, source="api")))
    return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces).combine_chunks()


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
