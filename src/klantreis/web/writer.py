"""One writer thread per store, fed by a queue: concurrent API requests are batched into one
transaction (datasette's shape, right for DuckDB too).

A request ``submit``s its event records (dicts) and awaits the returned future. The writer
collects what arrives within ``write_queue_max_delay_ms`` (or until ``max_batch_rows``),
builds and validates one Arrow table for all of it (validating 1,000 events at once costs
about what one event alone does), answers requests with a rejected row with
:class:`Rejected` (their reasons per row; nothing of theirs is stored), enriches and appends
the rest in one transaction, and resolves their futures only after the commit, so an
acknowledgement means the events are durable.
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

from klantreis.model.events import conform, events_from_records, validate_events
from klantreis.model.journey import JourneyConfig
from klantreis.services.ingest import enrich
from klantreis.store import EventStore

__all__ = ["EventWriter", "Rejected", "WriteResult"]

log = logging.getLogger(__name__)

#: The batch closes when no request arrived for this long (seconds).
QUIET_GAP = 0.002
#: How often the collecting writer looks at the queue (seconds).
NAP = 0.0005
#: A request with at least this many events has its table built on the event loop as it is
#: submitted (alongside the writer committing the previous batch); smaller ones are built
#: together by the writer (one Arrow table per request would cost more than it saves).
PREBUILD_ROWS = 64


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
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self._last_jobs = 0  # requests in the previous batch: about as many come back

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="klantreis-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def submit(self, records: list[dict[str, Any]]) -> asyncio.Future[WriteResult]:
        """Queue event records; the future resolves after they are committed (or raises
        :class:`Rejected` when one is invalid)."""
        if self._thread is None:
            raise RuntimeError("writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WriteResult] = loop.create_future()
        table = _prebuild(records) if len(records) >= PREBUILD_ROWS else None
        self._queue.put(_Job(records, loop, future, table))
        return future

    # -- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs, stopping = self._collect(first)
            self._write(jobs)
            if stopping:
                return

    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        """Requests that arrive while the batch fills: until ``max_delay`` after the first,
        ``max_batch_rows``, a quiet gap of ``QUIET_GAP`` seconds with nothing new, or as
        many requests as the previous batch had (clients waiting on it tend to send again).

        The thread naps (``NAP``) and then takes everything queued, rather than waking for
        every request: under load that is one wake-up per nap, not one per request (each
        wake-up competes with the event loop for the GIL)."""
        jobs, rows = [first], len(first.records)
        deadline = time.monotonic() + self.max_delay
        last_arrival = time.monotonic()
        while True:
            now = time.monotonic()
            closing = now >= deadline or now - last_arrival >= QUIET_GAP
            if not closing:
                time.sleep(min(NAP, deadline - now))
            got, stopping = self._drain(jobs, self.max_batch_rows - rows)
            if stopping:
                return jobs, True
            if got:
                last_arrival = time.monotonic()
                rows += got
            full = rows >= self.max_batch_rows
            if closing or full or 1 < self._last_jobs <= len(jobs):
                return jobs, False

    def _drain(self, jobs: list[_Job], room: int) -> tuple[int, bool]:
        """Move queued jobs to ``jobs`` until ``room`` rows are taken: (rows taken, whether
        ``stop`` was asked)."""
        got = 0
        while got < room:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return got, True
            jobs.append(job)
            got += len(job.records)
        return got, False

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
        result = validate_events(table)
        verdicts: list[Rejected | None] = [None] * len(jobs)
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
