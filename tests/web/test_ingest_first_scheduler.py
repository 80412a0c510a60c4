"""The server's scheduled jobs wait for a pause in event ingest (bounded), and the writer
says how long it has been idle: 0 while a request waits for its answer."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from klantreis.app import App
from klantreis.ingest.writer import EventWriter
from klantreis.scheduler import Job
from klantreis.web.app import IngestFirstScheduler


class _Writer:
    """A writer whose idle time the test sets."""

    def __init__(self, idle: float) -> None:
        self.idle = idle

    def idle_seconds(self) -> float:
        return self.idle


def _scheduler(jobs: list[Job], idle: float, at_most: float) -> tuple[IngestFirstScheduler, Any]:
    writer = _Writer(idle)
    s = IngestFirstScheduler(jobs, cast(EventWriter, writer), quiet=1.0, at_most=at_most)
    for job in jobs:
        job._due = time.monotonic() - 0.01  # due now
    return s, writer


def test_due_jobs_wait_while_ingest_streams_and_run_in_the_pause() -> None:
    calls: list[str] = []
    jobs = [Job("alerts", 300, lambda: calls.append("alerts"))]
    s, writer = _scheduler(jobs, idle=0.0, at_most=60)
    assert s.run_due() == [] and calls == [] and s.deferred == 1
    assert s.run_due() == [] and s.deferred == 2  # still streaming
    writer.idle = 1.5  # a pause of more than a second
    assert s.run_due() == ["alerts"] and calls == ["alerts"]
    assert s.run_due() == []  # not due again for 300 s
    assert s.deferred == 2


def test_a_job_waits_at_most_its_bound_and_brings_the_due_ones_along() -> None:
    calls: list[str] = []
    jobs = [
        Job("alerts", 300, lambda: calls.append("alerts")),
        Job("outbox", 0.05, lambda: calls.append("outbox")),  # its interval bounds its wait
    ]
    s, _ = _scheduler(jobs, idle=0.0, at_most=0.2)
    assert s.run_due() == []
    time.sleep(0.08)  # outbox has waited longer than its interval: everything due runs
    assert s.run_due() == ["alerts", "outbox"]
    assert calls == ["alerts", "outbox"]


def test_nothing_due_is_not_counted_as_waiting() -> None:
    jobs = [Job("alerts", 300, lambda: None)]
    s, _ = _scheduler(jobs, idle=0.0, at_most=60)
    jobs[0]._due = time.monotonic() + 300
    assert s.run_due() == [] and s.deferred == 0
    assert s.run_due(now=time.monotonic() + 301) == ["alerts"]  # an explicit time: no waiting


def test_the_writer_is_busy_while_a_request_waits_and_idle_after_its_answer(app: App) -> None:
    writer = EventWriter(app.store, app.journey, max_delay_ms=0)
    writer.start()
    seen: list[float] = []

    async def run() -> None:
        future = writer.submit(
            [{"event_id": "e1", "occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit"}]
        )
        seen.append(writer.idle_seconds())  # submitted, not answered yet
        await future

    try:
        time.sleep(0.05)
        assert writer.idle_seconds() >= 0.05  # nothing submitted yet: idle since start
        asyncio.run(run())
        time.sleep(0.05)
        assert writer.idle_seconds() >= 0.05  # answered, then quiet
    finally:
        writer.stop()
    assert seen == [0.0]
    assert app.store.count() == 1
