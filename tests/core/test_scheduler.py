"""The scheduler runs due jobs in turn; a failing job is logged and retried, never blocking
the others; stop() ends the thread."""

from __future__ import annotations

import time

import pytest

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


def test_the_app_sends_surveys_only_with_a_secret(tmp_path: object) -> None:
    from pathlib import Path

    from klantreis.app import App
    from klantreis.settings import Settings

    db = str(Path(str(tmp_path)) / "s.duckdb")
    with App(Settings.load(env={}, db_path=db)) as app:
        assert "surveys" not in [j.name for j in app.jobs()]  # no secret_key: said once
    key = "f3c9a1e07b5d4c2a8e6f1b3d9c7a5e2f4b8d6a0c"
    with App(Settings.load(env={}, db_path=db, secret_key=key)) as app:
        job = next(j for j in app.jobs() if j.name == "surveys")
        report = job.run()
        assert report.queued == 0 and report.failed == 0  # type: ignore[attr-defined]
        assert app.store.count("survey_invitations") == 0  # nothing to plan in an empty log


def test_on_change_runs_its_parts_only_after_the_version_moved() -> None:
    from klantreis.scheduler import OnChange

    version, calls = [1], []
    body = OnChange(lambda: version[0], [("a", lambda: calls.append("a"))])
    assert body() is True and calls == ["a"]
    assert body() is False and calls == ["a"] and body.skipped == 1  # nothing new
    version[0] = 2
    assert body() is True and calls == ["a", "a"] and body.turns == 2


def test_on_change_survives_a_failing_part_and_tries_again_next_turn() -> None:
    from klantreis.scheduler import OnChange

    calls: list[str] = []

    def boom() -> None:
        calls.append("boom")
        raise ValueError("disk full")

    body = OnChange(lambda: 1, [("boom", boom), ("ok", lambda: calls.append("ok"))])
    job = Job("kept views", 10, body)
    assert Scheduler([job]).run_due(now=0.0) == ["kept views"]
    assert calls == ["boom", "ok"]  # the part after the failing one ran
    assert job.last_error == "RuntimeError: failed: boom (ValueError: disk full)"
    assert body.errors == {"boom": "ValueError: disk full"}
    with pytest.raises(RuntimeError):
        body()  # the same version, but the last turn was not complete: every part again
    assert calls == ["boom", "ok", "boom", "ok"]


def test_on_change_times_each_part() -> None:
    from klantreis.scheduler import OnChange

    body = OnChange(lambda: 1, [("nap", lambda: time.sleep(0.05)), ("quick", lambda: None)])
    body()
    assert set(body.timings) == {"nap", "quick"}
    assert body.timings["nap"][0] >= 0.05 > body.timings["quick"][0]


def test_a_woken_job_is_due_now_and_a_wake_during_its_turn_brings_another() -> None:
    s: Scheduler
    turns: list[float] = []

    def turn() -> None:
        turns.append(time.monotonic())
        if len(turns) == 1:
            s.wake("kept views")  # new events came while it ran

    job = Job("kept views", 3600, turn)
    s = Scheduler([job, Job("other", 3600, lambda: None)])
    job._due = s.jobs[1]._due = time.monotonic() + 3600
    assert s.run_due() == []
    s.wake("kept views")
    assert s.run_due() == ["kept views"] and len(turns) == 1
    assert s.run_due() == ["kept views"] and len(turns) == 2  # due again right after
    assert s.run_due() == []  # then at its interval
    assert job._due > time.monotonic() + 3000
