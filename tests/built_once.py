"""A file built once per test run and shared by every worker (see :func:`built_once`)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = ["built_once"]


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """The file ``name``, made by ``build(path)`` once per run -- under pytest-xdist once for
    all workers, behind a lock file in their shared temporary folder (this run's, not other
    runs'). Callers only read it, or copy it first."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, shared by the workers
    path = root / name
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            building = root / f"{path.stem}.{os.getpid()}{path.suffix}"
            build(building)
            building.rename(path)
    return path
