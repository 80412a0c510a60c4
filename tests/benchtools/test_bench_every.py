"""bench/bench_every.py: every page and command as a fresh process, with a time limit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from bench import bench_every

from klantreis.app import App
from klantreis.settings import Settings


def test_a_run_past_its_limit_is_killed_with_its_children() -> None:
    code = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    wall, _cpu, _peak, exit_code, _out, _err = bench_every._run([sys.executable, "-c", code], 2)
    assert exit_code == bench_every.KILLED_TIME
    assert wall < 30


def test_a_run_is_stopped_when_the_machine_runs_low_on_memory() -> None:
    code = "import time; time.sleep(60)"
    floor = bench_every.available_mib() + 1_000_000  # more than this machine has
    row = bench_every._measure("kept", "greedy", [sys.executable, "-c", code], 60, floor)
    assert row.outcome.startswith("stopped at ")
    assert row.wall_s < 30


def test_a_run_above_the_memory_floor_runs_to_its_end() -> None:
    row = bench_every._measure("command", "small", [sys.executable, "-c", "print(1)"], 60, 1.0)
    assert row.outcome == "ok, 1 lines"


def test_a_failing_run_is_recorded_with_its_last_error_line() -> None:
    code = "import sys; print('first', file=sys.stderr); sys.exit('the last line')"
    row = bench_every._measure("command", "failing", [sys.executable, "-c", code], 60)
    assert row.outcome == "exit 1: the last line"
    assert row.peak_mib > 0


def test_a_route_without_its_id_in_the_store_is_skipped() -> None:
    assert bench_every._fill("/api/v1/cases/{case}", {"case": None}) is None
    assert bench_every._fill("/api/v1/cases/{case}", {"case": "c1"}) == "/api/v1/cases/c1"


@pytest.mark.slow
def test_one_page_is_measured_as_a_fresh_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "store.duckdb"
    App(Settings.load(env={}, db_path=str(db))).close()
    bench_every.main(["--db", str(db), "--groups", "page", "--only", "health", "--timeout", "300"])
    table = [line for line in capsys.readouterr().out.splitlines() if "/api/v1/health" in line]
    assert len(table) == 1
    assert table[0].endswith("| ok |")
