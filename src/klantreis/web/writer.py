"""One writer thread per store, fed by a queue: concurrent API requests are batched into one
transaction (datasette's shape, right for DuckDB too).

A request validates its events itself, then ``submit``s the valid table and awaits the
returned future; the writer collects what arrives within ``write_queue_max_delay_ms`` (or
until ``max_batch_rows``), enriches and appends it in one transaction, and resolves every
future only after the commit, so an acknowledgement means the events are durable.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

from klantreis.model.journey import JourneyConfig
from klantreis.services.ingest import enrich
from klantreis.store import EventStore

__all__ = ["WriteResult", "EventWriter"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteResult:
    received: int
    stored: int
    duplicates: int


@dataclass
class _Job:
    table: pa.Table
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[WriteResult]


class EventWriter:
    """The single writer of one store. ``start()`` it, ``submit`` tables, ``stop()`` it."""

    def __init__(self, store: EventStore, journey: JourneyConfig, max_delay_ms: int = 20,
                 max_batch_rows: int = 200_000) -> None:
        self.store = store
        self.journey = journey
        self.max_delay = max(0, max_delay_ms) / 1000
        self.max_batch_rows = max_batch_rows
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.batches = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="klantreis-writer",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def submit(self, table: pa.Table) -> asyncio.Future[WriteResult]:
        """Queue validated events; the future resolves after they are committed."""
        if self._thread is None:
            raise RuntimeError("writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WriteResult] = loop.create_future()
        self._queue.put(_Job(table, loop, future))
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
        jobs, rows = [first], first.table.num_rows
        deadline = time.monotonic() + self.max_delay
        while rows < self.max_batch_rows:
            remaining = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=remaining) if remaining > 0 \
                    else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
            rows += job.table.num_rows
        return jobs, False

    def _write(self, jobs: list[_Job]) -> None:
        try:
            results = self._append(jobs)
        except Exception as exc:  # every waiting request must hear about the failure
            log.exception("writer failed to store a batch of %d requests", len(jobs))
            for job in jobs:
                job.loop.call_soon_threadsafe(_set_exception, job.future, exc)
            return
        self.batches += 1
        for job, result in zip(jobs, results, strict=True):
            job.loop.call_soon_threadsafe(_set_result, job.future, result)

    def _append(self, jobs: list[_Job]) -> list[WriteResult]:
        tables = [j.table for j in jobs]
        batch = enrich(pa.concat_tables(tables), self.journey)
        existing = self._existing_ids(batch)
        self.store.append(batch)
        seen: Counter[str] = Counter()
        results = []
        for table in tables:
            ids = table.column("event_id").to_pylist()
            stored = 0
            for event_id in ids:
                if event_id not in existing and seen[event_id] == 0:
                    stored += 1
                seen[event_id] += 1
            results.append(WriteResult(len(ids), stored, len(ids) - stored))
        return results

    def _existing_ids(self, batch: pa.Table) -> set[str]:
        cur = self.store.cursor()
        try:
            cur.register("_ids", batch.select(["event_id"]))
            rows = cur.execute("SELECT e.event_id FROM events e JOIN _ids USING (event_id)"
                               ).fetchall()
        finally:
            cur.close()
        return {r[0] for r in rows}


def _set_result(future: asyncio.Future[WriteResult], result: WriteResult) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[WriteResult], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
