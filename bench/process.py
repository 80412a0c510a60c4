"""Whole-process measurement for the benchmarks: a command as a user runs it, from its start
to its exit (start-up, imports, close and the store's final checkpoint included).

Wall seconds are a monotonic clock read just before the start and just after the child is
reaped; CPU seconds and peak memory are the kernel's accounting of that one child
(``os.wait4``), so each run's peak is its own and not the maximum over earlier children (as
``getrusage(RUSAGE_CHILDREN)`` would give). Peers are run interleaved, A B A B ..., so both
see the same machine load; report medians and the load average (:func:`load_average`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessRun", "interleaved", "klantreis_command", "load_average", "run_process"]


@dataclass(frozen=True)
class ProcessRun:
    wall_s: float
    cpu_s: float
    peak_mib: float
    returncode: int
    stdout: str
    stderr: str


def run_process(argv: Sequence[str], env: Mapping[str, str] | None = None) -> ProcessRun:
    """Run ``argv`` to its exit; its wall time, CPU time and peak RSS (its own)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=None if env is None else dict(env),
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        errors = err.read()[-4000:].decode("utf-8", "replace")
    return ProcessRun(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_mib=usage.ru_maxrss / 1024,  # KiB on Linux
        returncode=proc.returncode,
        stdout=out.decode("utf-8", "replace"),
        stderr=errors,
    )


def interleaved(
    commands: Mapping[str, Sequence[str]], rounds: int, warmup: int = 1
) -> dict[str, list[ProcessRun]]:
    """Each command once per round, in turn, after ``warmup`` uncounted rounds."""
    runs: dict[str, list[ProcessRun]] = {name: [] for name in commands}
    for i in range(warmup + rounds):
        for name, argv in commands.items():
            run = run_process(argv)
            if run.returncode != 0:
                raise RuntimeError(f"{name} exited with {run.returncode}: {run.stderr[-500:]}")
            if i >= warmup:
                runs[name].append(run)
    return runs


def median(runs: Sequence[ProcessRun], field: str) -> float:
    return float(statistics.median(getattr(r, field) for r in runs))


def klantreis_command(*args: str) -> list[str]:
    """``klantreis ARGS`` with this interpreter (the console script's own code)."""
    script = Path(sys.executable).with_name("klantreis")
    if script.exists():
        return [sys.executable, str(script), *args]
    return [sys.executable, "-c", "from klantreis.cli.main import cli; cli()", *args]


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"
