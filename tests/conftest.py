"""Shared fixtures: a fresh App per test (in memory or in a temporary file)."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.built_once import built_once

from klantreis.app import App
from klantreis.settings import Settings

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def app() -> Iterator[App]:
    """A fresh in-memory App with the built-in webshop journey."""
    a = App(Settings.load(env={}, db_path=":memory:"))
    yield a
    a.close()


@pytest.fixture
def file_app(tmp_path: Path) -> Iterator[App]:
    """A fresh App whose store is a DuckDB file in a temporary folder."""
    a = App(Settings.load(env={}, db_path=str(tmp_path / "store.duckdb")))
    yield a
    a.close()


@pytest.fixture(scope="session")
def demo30k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The demo with its proactive-message pilot, ``run_demo(app, orders=30_000, seed=7)``
    (about 20 CPU s), and what that run returned (its ``DemoSummary``), made once per run
    for the tests that read the pilot's experiment (tests/demo/test_demo_pilot.py,
    tests/web/test_proactive_page.py): copy the store before opening it."""
    from klantreis.demo.runner import run_demo

    def build(path: Path) -> None:
        with App(Settings.load(env={}, db_path=str(path))) as app:
            summary = run_demo(app, orders=30_000, seed=7)
        (path.parent / "demo30k.summary").write_bytes(pickle.dumps(summary))

    path = built_once(tmp_path_factory, "demo30k.duckdb", build)
    return path, pickle.loads((path.parent / "demo30k.summary").read_bytes())


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    """Tests hash at a low scrypt cost (production: N=2^17, see accounts.SCRYPT_COST);
    tests/web/test_accounts.py checks the real cost and the re-hash on login."""
    from klantreis.access import accounts

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(accounts.SCRYPT_COST, "n", 2**10)
        yield


#: Files measured as the longest (whole file, 2 workers): `--dist loadfile` hands these out
#: first. xdist's own order (most tests first) starts a one-test file such as Banking77 last,
#: and the run then waits for it on one worker. Stale entries only change the order.
LONGEST_FILES = (
    "tests/web/test_layout_a11y.py",
    "tests/analytics/test_derived_views.py",
    "tests/journeys/test_pm4py_parity.py",
    "tests/contacts/test_banking77.py",
    "tests/contacts/test_web_models.py",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With ``--dist loadfile``: the longest files first, then xdist's order (most tests first)."""
    if config.getoption("dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):  # type: ignore[misc]
        ordered = False

        def _assign_work_unit(self, node: object) -> None:
            # The queue is complete before the first unit is handed out; reorder it once
            # (the workers' collections stay as they are: units name tests by index).
            if not self.ordered:
                self.ordered = True
                units = sorted(self.workqueue.items(), key=lambda kv: _rank(kv[0]))
                self.workqueue.clear()
                self.workqueue.update(units)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)


def _rank(scope: str) -> int:
    return LONGEST_FILES.index(scope) if scope in LONGEST_FILES else len(LONGEST_FILES)


#: Seconds per test file (setup + call + teardown), summed as the reports arrive (under
#: xdist on the controller), and per worker: the end of every run lists the longest files,
#: the critical path of ``--dist loadfile``.
_FILE_SECONDS: dict[str, float] = {}
_WORKER_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration
    worker = getattr(getattr(report, "node", None), "gateway", None)
    name = getattr(worker, "id", "main")
    _WORKER_SECONDS[name] = _WORKER_SECONDS.get(name, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FILE_SECONDS or terminalreporter.config.getoption("collectonly"):
        return
    longest = sorted(_FILE_SECONDS.items(), key=lambda kv: -kv[1])[:15]
    terminalreporter.write_sep("=", "longest files (s, setup + call + teardown)")
    for path, seconds in longest:
        terminalreporter.write_line(f"{seconds:8.1f}  {path}")
    busy = ", ".join(f"{w} {s:.0f}" for w, s in sorted(_WORKER_SECONDS.items()))
    terminalreporter.write_line(f"seconds per worker: {busy}")
