"""How much of a journey-index build runs on one thread, beside the window-query peer: a
figure a shared machine does not blur (issue 17).

``python -m bench.bench_build_threads --db STORE --rounds 3 --baseline-src /work/main/src``

On a loaded machine a process gets its share of the cores whatever its number of threads,
so the wall seconds of a one-thread build and of a two-thread query come out alike and say
nothing about a quiet machine. Here every statement of ``JourneyIndex.rebuild()`` is timed
with the CPU seconds of each of the process's threads (``/proc/self/task/*/stat``): the
**busiest thread's** seconds, summed over the statements, are what the build needs at
least on as many idle cores as DuckDB has threads (its critical path), and their ratio to
the CPU seconds of all threads is how far it uses them. The peer (the plain DuckDB window
query of ``bench_scale``) is one statement: its busiest thread's seconds, a lower bound
that favours the peer. Per round: this checkout's build, the baseline's (``--baseline-src``),
the peer, each a fresh process, on the same store (rebuilt in place: use a copy). Reports
medians with min-max and the load average.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from bench.bench_scale import WINDOW_DFG
from bench.process import load_average, run_process

__all__ = ["main"]

#: Per-thread CPU ticks of this process (utime + stime from /proc), shared by the children.
_TICKS = """
import os
HZ = os.sysconf("SC_CLK_TCK")
def ticks():
    out = {}
    for t in os.listdir("/proc/self/task"):
        try:
            f = open(f"/proc/self/task/{t}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[t] = int(f[11]) + int(f[12])
    return out
def busiest(before, after):
    return max(after[t] - before.get(t, 0) for t in after) / HZ
"""

_CHILD_BUILD = (
    _TICKS
    + """
import json, sys, time
import klantreis.analytics.journey_index as ji
from klantreis.store import EventStore
rows, crit, steps = ji._rows, [0.0], {}
def timed(con, sql, params=None):
    b, c0 = ticks(), time.process_time()
    try:
        return rows(con, sql, params)
    finally:
        one = busiest(b, ticks())
        crit[0] += one
        if "journey_steps_build SELECT" in " ".join(sql.split()):
            steps["busiest"] = steps.get("busiest", 0.0) + one
            steps["cpu"] = steps.get("cpu", 0.0) + time.process_time() - c0
ji._rows = timed
store = EventStore(sys.argv[1])
t0, c0 = time.perf_counter(), time.process_time()
ji.JourneyIndex(store).rebuild()
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
c1 = time.process_time()
store.close()
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "busiest_s": crit[0],
                  "steps_cpu_s": steps.get("cpu", 0.0), "steps_busiest_s": steps.get("busiest", 0.0),
                  "close_cpu_s": time.process_time() - c1}))
"""
)

_CHILD_PEER = (
    _TICKS
    + """
import duckdb, json, sys, time
con = duckdb.connect(sys.argv[1], read_only=True)
b, t0, c0 = ticks(), time.perf_counter(), time.process_time()
con.execute(sys.argv[2]).fetchall()
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "busiest_s": busiest(b, ticks())}))
con.close()
"""
)

_FIELDS = ("cpu_s", "busiest_s", "steps_cpu_s", "steps_busiest_s", "close_cpu_s", "wall_s")


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{med:.2f} ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else f"{med:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True, help="a store (a copy: rebuilt)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-src", type=Path, default=None, help="e.g. /work/main/src")
    args = parser.parse_args(argv)
    py = [sys.executable, "-c"]
    commands = {"build (this checkout)": [*py, _CHILD_BUILD, str(args.db)]}
    if args.baseline_src is not None:
        commands[f"build ({args.baseline_src})"] = [
            "env",
            f"PYTHONPATH={args.baseline_src.resolve()}",
            *py,
            _CHILD_BUILD,
            str(args.db),
        ]
    commands["peer: plain DuckDB window query"] = [*py, _CHILD_PEER, str(args.db), WINDOW_DFG]
    print(f"store {args.db}; load average at start {load_average()}")
    found: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
    for i in range(args.rounds):
        for name, command in commands.items():
            run = run_process(command)
            if run.returncode != 0:
                raise RuntimeError(f"{name} exited with {run.returncode}: {run.stderr[-800:]}")
            figures = json.loads(run.stdout.strip().splitlines()[-1])
            found[name].append(figures)
            print(f"  round {i + 1} {name}: {figures} (load {load_average()})", file=sys.stderr)
    print(f"\n(in-process seconds; load average after: {load_average()})\n")
    print("| | CPU s | busiest thread s | steps CPU s | steps busiest s | close CPU s | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, runs in found.items():
        cells = [_cell([r[f] for r in runs if f in r]) for f in _FIELDS]
        print(f"| {name} | {' | '.join(cells)} |")
    peer = statistics.median(r["busiest_s"] for r in found["peer: plain DuckDB window query"])
    for name, runs in found.items():
        if "busiest_s" in runs[0] and name.startswith("build"):
            ratio = statistics.median(r["busiest_s"] for r in runs) / peer
            print(f"- {name}: busiest thread / peer's {ratio:.2f}x")


if __name__ == "__main__":
    main()
