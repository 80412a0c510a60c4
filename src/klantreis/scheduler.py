"""One in-process scheduler for time-driven work: alert checks, proactive-message rules,
survey sending, SLA escalations.

Each job is a name, an interval and a function. Jobs keep no state of their own: everything
they decide is in the store (events, ledgers, logs) and every job is idempotent, so a restart
simply runs them again and nothing is lost or done twice. A job that raises is logged and
tried again at its next turn; one slow or failing job never stops the others' schedule.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Job", "Scheduler"]

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
            ran.append(job.name)
        return ran

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            self.run_due()
