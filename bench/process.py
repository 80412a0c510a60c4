"""Whole-process measurement for the benchmarks: a command as a user runs it, from its start
to its exit (start-up, imports, close and the store's final checkpoint included).

Wall seconds are a monotonic clock read just before the start and just after the child is
reaped; CPU seconds and peak memory are the kernel's accounting of that one child
(``os.wait4``), so each run's peak is its own and not the maximum over earlier children (as
``getrusage(RUSAGE_CHILDREN)`` would give). The command runs as the child of a small
launcher (:data:`_LAUNCHER`), which forks, reaps it and writes those figures: a child
started straight from the benchmark's process would report at least the benchmark's own
peak (Linux keeps the larger of the old and the new memory's peak across ``exec``, and
``subprocess`` starts a child with ``vfork``, so the old memory is the parent's). Peers are
run interleaved, A B A B ..., so both see the same machine load; report medians and the
load average (:func:`load_average`).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
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


#: Forks, runs the command (``argv[2:]``) in the child, reaps it and writes its wall
#: seconds and ``os.wait4`` figures as JSON to the file ``argv[1]``. Its own memory is a
#: fresh interpreter's, so the command's peak starts from that and not the benchmark's.
_LAUNCHER = """
import json, os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as exc:
        print(f"{sys.argv[2]}: {exc}", file=sys.stderr, flush=True)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w", encoding="utf-8") as fh:
    json.dump({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
               "peak_kib": usage.ru_maxrss, "returncode": os.waitstatus_to_exitcode(status)}, fh)
"""


def run_process(argv: Sequence[str], env: Mapping[str, str] | None = None) -> ProcessRun:
    """Run ``argv`` to its exit; its wall time, CPU time and peak RSS (its own)."""
    with tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures.json"
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(figures), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=None if env is None else dict(env),
        )
        out, _ = proc.communicate()
        err.seek(0)
        errors = err.read()[-4000:].decode("utf-8", "replace")
        if not figures.exists():
            raise RuntimeError(f"the launcher of {argv[0]} exited with {proc.returncode}: {errors}")
        found = json.loads(figures.read_text(encoding="utf-8"))
    return ProcessRun(
        wall_s=found["wall_s"],
        cpu_s=found["cpu_s"],
        peak_mib=found["peak_kib"] / 1024,  # KiB on Linux
        returncode=found["returncode"],
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
