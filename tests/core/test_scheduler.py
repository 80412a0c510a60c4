"""The scheduler runs due jobs in turn; a failing job is logged and retried, never blocking
the others; stop() ends the thread."""

from __future__ import annotations

import time

from klantreis.scheduler import Job, Scheduler


def test_due_jobs_run_and_a_failure_does_not_stop_the_others() -> None:
    calls: list[str] = []

    def boom() -> None:
        calls.append("boom")
        raise RuntimeError("carrier API down")

    jobs = [Job("boom", 10, boom), Job("ok", 10, lambda: calls.append("ok"))]
    s = Scheduler(jobs)
    assert s.run_due(now=0.0) == ["boom", "ok"]
    assert calls == ["boom", "ok"]
    assert jobs[0].last_error == "RuntimeError: carrier API down" and jobs[1].last_error is None
    assert s.run_due(now=time.monotonic()) == []  # not due again for 10 s
    assert s.run_due(now=time.monotonic() + 11) == ["boom", "ok"]
    assert jobs[0].runs == 2


def test_the_thread_runs_jobs_and_stops() -> None:
    ticks: list[float] = []
    s = Scheduler([Job("tick", 0.05, lambda: ticks.append(time.monotonic()))], tick=0.02)
    s.start()
    deadline = time.monotonic() + 10
    while len(ticks) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    s.stop()
    assert len(ticks) >= 3
    count = len(ticks)
    time.sleep(0.2)
    assert len(ticks) == count  # stopped
