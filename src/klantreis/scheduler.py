"""One in-process scheduler for time-driven work: alert checks, proactive-message rules,
survey sending, SLA escalations.

Each job is a name, an interval and a function. Jobs keep no state of their own: everything
they decide is in the store (events, ledgers, logs) and every job is idempotent, so a restart
simply runs them again and nothing is lost or done twice. A job that raises is logged and
tried again at its next turn; one slow or failing job never stops the others' schedule.

:class:`OnChange` is the body of a job that only has work after the store changed (the
server's "kept views" job): a turn without new events reads one version and returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

__all__ = ["Job", "OnChange", "Scheduler"]

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    every_seconds: float
    run: Callable[[], object]
    #: When it last finished, how long it took, and the last error (for the admin page).
    last_run: float | None = None
    last_seconds: float | None = None
    last_error: str | None = None
    runs: int = 0
    _due: float = field(default=0.0, repr=False)
    #: When :meth:`Scheduler.wake` last asked for a turn now (monotonic seconds).
    _woken: float = field(default=0.0, repr=False)


class Scheduler:
    """Runs ``jobs`` on one daemon thread; ``start()``/``stop()`` follow the web app's life."""

    def __init__(self, jobs: Sequence[Job], tick: float = 1.0) -> None:
        self.jobs = list(jobs)
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.jobs:
            now = time.monotonic()
            for job in self.jobs:
                job._due = now + min(job.every_seconds, 5.0)  # let the server come up first
            self._thread = threading.Thread(target=self._loop, name="klantreis-scheduler")
            self._thread.daemon = True
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self, name: str) -> None:
        """Make the job called ``name`` due now instead of at its interval (its turn still
        comes on the scheduler's thread, within a tick, and in the server waits for a pause
        in ingest). A wake during the job's turn makes it due again right after."""
        at = time.monotonic()
        for job in self.jobs:
            if job.name == name:
                job._woken = at
                job._due = min(job._due, at)

    def run_due(self, now: float | None = None) -> list[str]:
        """Run every job that is due (in order); returns the names that ran."""
        ran = []
        for job in self.jobs:
            at = time.monotonic() if now is None else now
            if at < job._due or self._stop.is_set():
                continue
            began = time.monotonic()
            try:
                job.run()
                job.last_error = None
            except Exception as exc:  # one job's failure must not stop the others
                job.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("scheduled job %s failed", job.name)
            job.last_seconds = time.monotonic() - began
            job.last_run = time.time()
            job.runs += 1
            job._due = time.monotonic() + job.every_seconds
            if job._woken > began:  # woken while it ran: the turn may have missed that
                job._due = job._woken
            ran.append(job.name)
        return ran

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            self.run_due()


class OnChange:
    """A job's body that runs its named ``parts`` in order when ``version()`` differs from
    the version read at the start of its last complete turn; otherwise it only reads the
    version. The version is read *before* the parts, so events that arrive during a turn
    make the next turn run again. A part that raises is logged and the others still run;
    such a turn is not complete, so the next one runs every part again (a part that is
    already current costs its own version check), and the turn raises at its end naming
    the failed parts (the job's ``last_error``)."""

    def __init__(
        self, version: Callable[[], Hashable], parts: Sequence[tuple[str, Callable[[], object]]]
    ) -> None:
        self.version = version
        self.parts = list(parts)
        #: Turns that ran the parts, and turns that found nothing new (for logs, tests and
        #: benchmarks); the last turn's failures by part name.
        self.turns = 0
        self.skipped = 0
        self.errors: dict[str, str] = {}
        #: The last turn's wall and CPU seconds per part (CPU of the whole process: other
        #: threads' work in the same seconds counts too).
        self.timings: dict[str, tuple[float, float]] = {}
        self._done: Hashable = None
        self._seen = False

    @property
    def done(self) -> Hashable:
        """The version read at the start of the last complete turn (what the parts are
        current with, at least); None before one."""
        return self._done if self._seen else None

    def __call__(self) -> bool:
        """One turn: True when the parts ran."""
        version = self.version()
        if self._seen and version == self._done:
            self.skipped += 1
            return False
        errors, timings = {}, {}
        for name, part in self.parts:
            began, cpu = time.perf_counter(), time.process_time()
            try:
                part()
            except Exception as exc:  # one part's failure must not stop the others
                errors[name] = f"{type(exc).__name__}: {exc}"
                log.exception("%s failed", name)
            timings[name] = (time.perf_counter() - began, time.process_time() - cpu)
        self.timings = timings
        self.turns += 1
        self.errors = errors
        self._seen, self._done = not errors, version
        if errors:  # the job's ``last_error`` names the parts that failed
            raise RuntimeError("failed: " + "; ".join(f"{k} ({v})" for k, v in errors.items()))
        return True
