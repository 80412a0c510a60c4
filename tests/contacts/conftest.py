"""Fixtures shared by the contacts tests."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.built_once import built_once

from klantreis.app import App
from klantreis.settings import Settings

#: The end of the contacts tests' small demo (:func:`demo1500_seed5`).
DEMO_NOW = datetime(2026, 11, 20, 14, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo1500_seed5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``run_demo(app, 1500, seed=5, days=60, now=DEMO_NOW)`` in a store file, without kept
    tables, made once per run (under pytest-xdist once for all workers) for the modules that
    read or extend it: open a copy (:func:`demo1500_seed5_copy`)."""
    from klantreis.demo.runner import run_demo

    def build(path: Path) -> None:
        with App(Settings.load(env={}, db_path=str(path))) as app:
            run_demo(app, 1500, seed=5, days=60, now=DEMO_NOW)

    return built_once(tmp_path_factory, "demo1500-seed5.duckdb", build)


@pytest.fixture(scope="session")
def demo4000_seed7(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``run_demo(app, orders=4000, seed=7)`` in a store file, made once per run (under
    pytest-xdist once for all workers): the demo whose contacts test_demo.py trains and
    checks the classifier on, and test_predict_paths.py trains the model it compares the
    prediction paths with. Open a copy (:func:`store_copy`)."""
    from klantreis.demo.runner import run_demo

    def build(path: Path) -> None:
        with App(Settings.load(env={}, db_path=str(path))) as app:
            run_demo(app, orders=4000, seed=7)

    return built_once(tmp_path_factory, "demo4000-seed7.duckdb", build)


def store_copy(store: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A fresh copy of a shared store file such as :func:`demo1500_seed5`'s or
    :func:`demo4000_seed7`'s (the tests may write to it)."""
    path = tmp_path_factory.mktemp(name) / "demo.duckdb"
    shutil.copyfile(store, path)
    return path


#: The name the seed-5 demo's modules import.
demo1500_seed5_copy = store_copy
