"""One background training at a time per web app, with its state and progress: used by the
contact-reason models page (``pages/contacts_models.py``) and the text models page
(``pages/comments_labels.py``).

``start(job, fields)`` refuses (409) while a training runs, else runs ``job(progress)`` in a
daemon thread. ``status()`` says ``idle``, ``running`` (with the stage and the fraction done),
``done`` (with what the job returned, e.g. the new version) or ``failed`` (with the reason).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from klantreis.web.envelope import ApiError, ok_response
from klantreis.web.pagekit import require_role

__all__ = ["BackgroundTraining", "Job", "Progress", "add_status_route"]

log = logging.getLogger(__name__)

#: ``progress(stage, fraction_done)``, as the trainers report it.
Progress = Callable[[str, float], None]
#: A training: called with a progress callback; returns the fields of the ``done`` state.
Job = Callable[[Progress], dict[str, Any]]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class BackgroundTraining:
    """One training at a time in a daemon thread named ``name``. ``overall(stage, done)``
    turns a stage's fraction into the whole training's (kept from going backwards); without
    it the stage's own fraction is shown."""

    def __init__(self, name: str, overall: Callable[[str, float], float] | None = None) -> None:
        self.name = name
        self.overall = overall
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {"state": "idle"}
        self._thread: threading.Thread | None = None

    def status(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._status)

    @property
    def running(self) -> bool:
        with self._lock:
            return bool(self._status["state"] == "running")

    def start(self, job: Job, fields: dict[str, Any]) -> dict[str, Any]:
        """Run ``job`` in the background; ``fields`` describe it in the status (who, what)."""
        with self._lock:
            if self._status["state"] == "running":
                raise ApiError(409, "a training is already running; wait for it", "conflict")
            self._status = {
                "state": "running",
                "started_at": _now(),
                "finished_at": None,
                "version": None,
                "error": None,
                "stage": None,
                "progress": 0.0,
                **fields,
            }
            self._thread = threading.Thread(
                target=self._run, args=(job,), name=self.name, daemon=True
            )
            self._thread.start()
            return dict(self._status)

    def _progress(self, stage: str, done: float) -> None:
        fraction = max(0.0, min(1.0, done))
        with self._lock:
            if self.overall is not None:
                previous = float(self._status.get("progress") or 0.0)
                fraction = max(previous, self.overall(stage, fraction))
            self._status.update(stage=stage, progress=round(fraction, 3))

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running training (for tests and shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self, job: Job) -> None:
        update: dict[str, Any]
        try:
            update = {"state": "done", "progress": 1.0, **job(self._progress)}
        except Exception as exc:  # reported in the status, not raised into nowhere
            log.warning("training (%s) failed", self.name, exc_info=True)
            update = {"state": "failed", "error": str(exc) or type(exc).__name__}
        with self._lock:
            self._status.update(update, finished_at=_now())


def add_status_route(
    router: APIRouter,
    path: str,
    summary: str,
    trainer_of: Callable[[Request], BackgroundTraining],
    roles: tuple[str, ...],
) -> None:
    """``GET path``: the state and progress of the app's training (``trainer_of(request)``),
    for the given roles."""

    def train_status(request: Request) -> Response:
        return ok_response(trainer_of(request).status())

    router.add_api_route(
        path,
        train_status,
        methods=["GET"],
        tags=["pages"],
        summary=summary,
        dependencies=[Depends(require_role(*roles))],
    )
