"""Scaling benchmark: ingest, journey-index build and a command at one size, each step beside
its peers, every figure a whole process as a user runs it (issue 17).

``python -m bench.bench_scale --parquet demo10m.parquet --store scale10m.duckdb --rounds 3``

The events come from the demo generator (``python -m bench.bench_generate --orders N
--parquet FILE``: ~9.7 events per order); without ``--parquet`` they are generated for
``--orders`` (default 103,000: about 1M events) into a temporary folder, as ``make bench``
runs it. Per step, the commands run interleaved (A B C A B C
...) for ``--rounds`` rounds (no warm-up round: the steps are long), and the median of the
rounds is reported with its min-max; a target counts only in the median. Every command is a
fresh process, timed from start to exit with its own peak RSS (``os.wait4``,
``bench/process.py``): imports, the work, ``close()`` and the store's final checkpoint. The
children of our steps also print their in-process figures (the clock around the call, and
``ru_maxrss`` read after close).

Steps and peers:

- **ingest**: ``klantreis ingest FILE --db NEW`` as a user runs it (the journey index kept,
  ``index_on_ingest``), the same with ``KLANTREIS_INDEX_ON_INGEST=false`` (the events
  stored, what the peer does) and a bare DuckDB
  ``CREATE TABLE t AS SELECT * FROM read_parquet(FILE)`` (no key, no validation).
- **index build**: ``JourneyIndex.rebuild()`` on the ingested store (then its first read,
  which computes the graph's exact quantiles; with ``--baseline-src DIR`` also the same
  build by another checkout's code, for a before/after in the same rounds) against the plain DuckDB window query of the
  directly-follows graph on the same store, polars computing the same graph from the
  Parquet file (lazy scan, sort, shift) and, with ``--pm4py``, pm4py's counts and times
  of each edge (the pandas adapter of ``discover_dfg`` and ``discover_performance_dfg``,
  one pass) on a pandas frame read from the store (load + discover).
- **oningest** (not in the default steps): ``klantreis ingest`` keeping the journey index
  (``index_on_ingest``, the default) plus the first read after it, against the same ingest
  with ``KLANTREIS_INDEX_ON_INGEST=false`` plus the first read that builds the index, and
  against a bare DuckDB insert plus the window query in one process; whole-process wall and
  CPU seconds, and the totals of the medians.
- **command**: ``klantreis journeys dfg --db STORE`` (graph stored by the build) against a
  bare DuckDB query process (``select 1`` on the store, read-only).

Run it under ``nice`` on a shared machine; the load average before and after each step is
printed with the table: at a high load the seconds are inflated and a quiet re-run is needed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.bench_generate import run as generate_demo_parquet
from bench.process import ProcessRun, klantreis_command, load_average, run_process

__all__ = ["main"]

_ORDER = "occurred_at, source_order, event_id"

#: The plain DuckDB window query of the directly-follows graph (what a user would write).
WINDOW_DFG = f"""
SELECT kind, nxt, count(*), avg(dt), median(dt), quantile_cont(dt, 0.9) FROM (
  SELECT kind, lead(kind) OVER w AS nxt,
         date_diff('microsecond', occurred_at, lead(occurred_at) OVER w) / 1e6 AS dt
  FROM events WHERE journey_id IS NOT NULL
  WINDOW w AS (PARTITION BY journey_id ORDER BY {_ORDER}))
WHERE nxt IS NOT NULL GROUP BY ALL
"""

_CHILD_BUILD = """
import json, resource, sys, time
from klantreis.analytics.journey_index import JourneyIndex
from klantreis.store import EventStore
store = EventStore(sys.argv[1])
index = JourneyIndex(store, range_events=int(sys.argv[2]))
if len(sys.argv) > 3:  # parts of a range read side by side from the stored order (0: threads)
    import klantreis.analytics.journey_index as ji
    ji._STORED_PARTS = int(sys.argv[3]) or None
t0, c0 = time.perf_counter(), time.process_time()
result = index.rebuild()
build, cpu = time.perf_counter() - t0, time.process_time() - c0
peak_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
edges = index.dfg().num_rows
first_read = time.perf_counter() - t0
t0 = time.perf_counter()
store.close()
close = time.perf_counter() - t0
print(json.dumps({"seconds": build, "cpu_s": cpu, "first_read_s": first_read, "close_s": close,
                  "journeys": result.journeys, "edges": edges, "peak_build_mib": peak_build,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_CHILD_WINDOW = """
import duckdb, json, sys, time
con = duckdb.connect(sys.argv[1], read_only=True)
if int(sys.argv[3]) > 0:
    con.execute(f"SET memory_limit = '{int(sys.argv[3])}MB'")
t0, c0 = time.perf_counter(), time.process_time()
rows = con.execute(sys.argv[2]).fetchall()
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "edges": len(rows)}))
con.close()
"""

_CHILD_POLARS = """
import json, sys, time
t0 = time.perf_counter()
import polars as pl
keys = ["journey_id", "occurred_at", "source_order", "event_id"]
steps = (
    pl.scan_parquet(sys.argv[1])
    .filter(pl.col("journey_id").is_not_null())
    .select([*keys, "kind"])
    .sort(keys)
    .with_columns(
        nxt=pl.when(pl.col("journey_id").shift(-1) == pl.col("journey_id"))
        .then(pl.col("kind").shift(-1)),
        dt=(pl.col("occurred_at").shift(-1) - pl.col("occurred_at")).dt.total_microseconds()
        / 1e6,
    )
    .filter(pl.col("nxt").is_not_null())
    .group_by(["kind", "nxt"])
    .agg(pl.len().alias("count"), pl.col("dt").mean().alias("mean_s"),
         pl.col("dt").median().alias("median_s"),
         pl.col("dt").quantile(0.9, "linear").alias("p90_s"))
    .collect()
)
print(json.dumps({"seconds": time.perf_counter() - t0, "edges": steps.height}))
"""

#: pm4py's counts and times of each edge in one pass (its pandas adapter under
#: ``discover_dfg`` and ``discover_performance_dfg``): ``discover_dfg`` alone counts the
#: edges without their times, less work than our graph and the other peers.
_CHILD_PM4PY = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import duckdb
import pm4py
from pm4py.algo.discovery.dfg.adapters.pandas.df_statistics import get_dfg_graph
t0 = time.perf_counter()
con = duckdb.connect(sys.argv[1], read_only=True)
frame = con.sql('SELECT journey_id AS "case:concept:name", kind AS "concept:name",'
                ' occurred_at AS "time:timestamp" FROM events WHERE journey_id IS NOT NULL').df()
con.close()
load = time.perf_counter() - t0
counts, times = get_dfg_graph(frame, measure="both", perf_aggregation_key="all")
print(json.dumps({"seconds": time.perf_counter() - t0, "load_s": load, "edges": len(counts)}))
"""

_CHILD_BARE_INGEST = """
import duckdb, json, sys, time
t0 = time.perf_counter()
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE t AS SELECT * FROM read_parquet(?)", [sys.argv[2]]).fetchall()
con.close()
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""

_CHILD_FIRST_READ = """
import json, resource, sys, time
from klantreis.analytics.journey_index import JourneyIndex
from klantreis.store import EventStore
store = EventStore(sys.argv[1])
index = JourneyIndex(store, range_events=int(sys.argv[2]))
if len(sys.argv) > 3:  # parts of a range read side by side from the stored order (0: threads)
    import klantreis.analytics.journey_index as ji
    ji._STORED_PARTS = int(sys.argv[3]) or None
t0, c0 = time.perf_counter(), time.process_time()
mode = index.ensure().mode
refresh = time.perf_counter() - t0
edges = index.dfg().num_rows
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
store.close()
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "refresh_s": refresh, "edges": edges,
                  "full_build": float(mode == "full")}))
"""

_CHILD_BARE_INGEST_WINDOW = """
import duckdb, json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
con = duckdb.connect(sys.argv[1])
con.execute("SET enable_progress_bar = false").fetchall()
con.execute("CREATE TABLE events AS SELECT * FROM read_parquet(?)", [sys.argv[2]]).fetchall()
insert = time.perf_counter() - t0
rows = con.execute(sys.argv[3]).fetchall()
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
con.close()
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "insert_s": insert,
                  "window_s": seconds - insert, "edges": len(rows)}))
"""

_CHILD_BARE_QUERY = """
import duckdb
duckdb.connect(__import__("sys").argv[1], read_only=True).sql("select 1").fetchall()
"""


def _python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def _interleaved(
    commands: Mapping[str, Sequence[str]], rounds: int, before: Mapping[str, Path] | None = None
) -> dict[str, list[tuple[ProcessRun, dict[str, float]]]]:
    """Each command once per round, in turn; ``before`` names a file removed before a
    command's run (a fresh store per ingest). Prints each run as it ends."""
    runs: dict[str, list[tuple[ProcessRun, dict[str, float]]]] = {n: [] for n in commands}
    for i in range(rounds):
        for name, argv in commands.items():
            target = (before or {}).get(name)
            if target is not None:
                _remove_store(target)
            run = run_process(argv)
            if run.returncode != 0:
                raise RuntimeError(f"{name} exited with {run.returncode}: {run.stderr[-800:]}")
            inner = _inner_figures(run.stdout)
            runs[name].append((run, inner))
            print(
                f"  round {i + 1} {name}: {run.wall_s:.2f} s, CPU {run.cpu_s:.2f} s,"
                f" {run.peak_mib:,.0f} MiB"
                f" {inner if inner else ''} (load {load_average()})",
                file=sys.stderr,
                flush=True,
            )
    return runs


def _inner_figures(stdout: str) -> dict[str, float]:
    """The one-line JSON a child of ours prints last (its in-process figures), else {}."""
    lines = stdout.strip().splitlines()
    try:
        found = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) and "seconds" in found else {}


def _cell(values: Sequence[float], fmt: str) -> str:
    med = statistics.median(values)
    if len(values) < 2:
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def _table(step: str, runs: dict[str, list[tuple[ProcessRun, dict[str, float]]]]) -> None:
    print(f"\n**{step}** (load average after: {load_average()})\n")
    print("| command | whole process s | CPU s | peak MiB | in-process s | notes |")
    print("|---|---:|---:|---:|---:|---|")
    for name, rs in runs.items():
        inner = [r for _, r in rs]
        secs = [r["seconds"] for r in inner if "seconds" in r]
        notes = []
        for key in ("first_read_s", "close_s", "load_s", "refresh_s", "insert_s", "window_s"):
            vals = [r[key] for r in inner if key in r]
            if vals:
                notes.append(f"{key.removesuffix('_s').replace('_', ' ')} {_cell(vals, '.2f')} s")
        cpu_in = [r["cpu_s"] for r in inner if "cpu_s" in r]
        if cpu_in:
            notes.append(f"in-process CPU {_cell(cpu_in, '.2f')} s")
        if inner and "full_build" in inner[0]:
            notes.append("built the index" if inner[0]["full_build"] else "index was current")
        if inner and "peak_build_mib" in inner[0]:
            notes.append(f"peak before close {_cell([r['peak_build_mib'] for r in inner], ',.0f')}")
        if inner and "edges" in inner[0]:
            notes.append(f"{int(inner[0]['edges'])} edges")
        print(
            f"| {name} | {_cell([p.wall_s for p, _ in rs], '.2f')}"
            f" | {_cell([p.cpu_s for p, _ in rs], '.2f')}"
            f" | {_cell([p.peak_mib for p, _ in rs], ',.0f')}"
            f" | {_cell(secs, '.2f') if secs else '-'} | {'; '.join(notes)} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parquet", type=Path, default=None, help="demo events (Parquet)")
    parser.add_argument("--store", type=Path, default=None, help="store file to (re)create")
    parser.add_argument("--orders", type=int, default=103_000, help="without --parquet")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", default="ingest,build,command")
    parser.add_argument("--range-events", type=int, default=1_000_000)
    parser.add_argument("--pm4py", action="store_true", help="add pm4py to the build step")
    parser.add_argument("--no-polars", action="store_true")
    parser.add_argument(
        "--peer-memory-mb",
        type=int,
        default=0,
        help="DuckDB memory_limit of the window-query peer (0: DuckDB's default, 80%% of RAM)",
    )
    parser.add_argument(
        "--no-bare-ingest", action="store_true", help="skip the bare DuckDB ingest peer"
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        default=None,
        help="another checkout's src/ (e.g. /work/main/src): the build step also runs its"
        " build, interleaved, for a before/after in the same rounds",
    )
    parser.add_argument(
        "--stored-parts",
        type=int,
        default=None,
        help="the build step also runs the build with each key range cut in this many parts"
        " read side by side when the log is stored in journey order (1: a range read whole,"
        " as before session 13; the default is DuckDB's threads)",
    )
    args, _ = parser.parse_known_args(argv)
    with tempfile.TemporaryDirectory(prefix="klantreis-scale-") as tmp:
        data = args.parquet
        if data is None:
            data = Path(tmp) / "events.parquet"
            generate_demo_parquet(args.orders, 7, data)
        _run(args, data, args.store or Path(tmp) / "scale.duckdb")


def _run(args: argparse.Namespace, data: Path, store: Path) -> None:
    steps = args.steps.split(",")
    print(f"events file {data}; store {store}; load average at start {load_average()}")
    if "ingest" in steps:
        _ingest_step(args, data, store)
    if "oningest" in steps:
        _on_ingest_step(args, data, store)
    if "build" in steps:
        commands = {
            f"journey index build, ranges of {args.range_events:,} events": _python(
                _CHILD_BUILD, str(store), str(args.range_events)
            ),
            "plain DuckDB window query of the graph (peer)": _python(
                _CHILD_WINDOW, str(store), WINDOW_DFG, str(args.peer_memory_mb)
            ),
        }
        if args.baseline_src is not None:  # the same build with other code (e.g. main's)
            commands[f"journey index build, code of {args.baseline_src}"] = [
                "env",
                f"PYTHONPATH={args.baseline_src.resolve()}",
                *_python(_CHILD_BUILD, str(store), str(args.range_events)),
            ]
        if args.stored_parts is not None:  # the same build, ranges cut in other parts
            commands[
                f"journey index build, {args.stored_parts or 'threads'} part(s) per stored range"
            ] = _python(_CHILD_BUILD, str(store), str(args.range_events), str(args.stored_parts))
        if not args.no_polars and importlib.util.find_spec("polars") is not None:
            commands["polars: scan Parquet, sort, shift, group (peer)"] = _python(
                _CHILD_POLARS, str(data)
            )
        if args.pm4py:
            commands["pm4py: store -> pandas -> counts and times of the DFG (peer)"] = _python(
                _CHILD_PM4PY, str(store)
            )
        _table(
            "journey index build (first read after a bulk load)",
            _interleaved(commands, args.rounds),
        )
    if "command" in steps:
        commands = {
            "`klantreis journeys dfg --db STORE` (graph stored)": klantreis_command(
                "journeys", "dfg", "--db", str(store)
            ),
            "bare DuckDB query process (peer)": _python(_CHILD_BARE_QUERY, str(store)),
        }
        _table("command", _interleaved(commands, args.rounds))


def _ingest_step(args: argparse.Namespace, data: Path, store: Path) -> None:
    """``klantreis ingest`` as a user runs it (the journey index kept, the default), the
    same without the index (the peer's work: the events stored) and the bare DuckDB insert;
    the last round's default ingest leaves ``store`` for the later steps."""
    bare = store.with_name(store.stem + "-bare.duckdb")
    plain = store.with_name(store.stem + "-noindex.duckdb")
    ingest = ("ingest", str(data), "--json", "--no-progress", "--db")
    commands = {
        "`klantreis ingest FILE --db STORE` (index kept, the default)": klantreis_command(
            *ingest, str(store)
        ),
        "the same, KLANTREIS_INDEX_ON_INGEST=false (events only, as the peer)": [
            "env",
            "KLANTREIS_INDEX_ON_INGEST=false",
            *klantreis_command(*ingest, str(plain)),
        ],
        "bare DuckDB CREATE TABLE AS read_parquet (peer)": _python(
            _CHILD_BARE_INGEST, str(bare), str(data)
        ),
    }
    names = list(commands)
    if args.no_bare_ingest:
        del commands[names[2]]
    runs = _interleaved(commands, args.rounds, {names[0]: store, names[1]: plain, names[2]: bare})
    _table("ingest", runs)
    for path in (plain, bare):
        _remove_store(path)


def _on_ingest_step(args: argparse.Namespace, data: Path, store: Path) -> None:
    """Ingest with the index kept (``index_on_ingest``, the default) and its first read,
    against ingest without it and the first read that builds, and against a bare DuckDB
    insert plus the window query in one process; totals from the medians."""
    on, off = (store.with_name(f"{store.stem}-{tag}.duckdb") for tag in ("on", "off"))
    bare = store.with_name(store.stem + "-bare.duckdb")
    rng = str(args.range_events)
    ingest = ("ingest", str(data), "--json", "--no-progress")
    commands = {
        "A `klantreis ingest` (index kept, default)": klantreis_command(*ingest, "--db", str(on)),
        "A' first read after it (refresh + graph)": _python(_CHILD_FIRST_READ, str(on), rng),
        "B `klantreis ingest`, KLANTREIS_INDEX_ON_INGEST=false": [
            "env",
            "KLANTREIS_INDEX_ON_INGEST=false",
            *klantreis_command(*ingest, "--db", str(off)),
        ],
        "B' first read after it (full build + graph)": _python(_CHILD_FIRST_READ, str(off), rng),
        "P bare DuckDB insert + window query, one process (peer)": _python(
            _CHILD_BARE_INGEST_WINDOW, str(bare), str(data), WINDOW_DFG
        ),
    }
    names = list(commands)
    runs = _interleaved(commands, args.rounds, {names[0]: on, names[2]: off, names[4]: bare})
    _table("ingest with the index kept, against ingest + build and the bare peer", runs)

    def total(*keys: int) -> tuple[float, float]:
        wall = sum(statistics.median(p.wall_s for p, _ in runs[names[k]]) for k in keys)
        cpu = sum(statistics.median(p.cpu_s for p, _ in runs[names[k]]) for k in keys)
        return wall, cpu

    a, b, peer = total(0, 1), total(2, 3), total(4)
    for label, (wall, cpu) in (("A+A'", a), ("B+B'", b), ("P", peer)):
        print(f"- total {label}: {wall:.2f} s wall, {cpu:.2f} s CPU (whole processes, medians)")
    print(
        f"- A+A' / P: {a[0] / peer[0]:.2f}x wall, {a[1] / peer[1]:.2f}x CPU;"
        f" B+B' / P: {b[0] / peer[0]:.2f}x wall, {b[1] / peer[1]:.2f}x CPU",
        flush=True,
    )
    for path in (on, off, bare):
        _remove_store(path)


def _remove_store(path: Path) -> None:
    """A store file and its write-ahead log, where they exist."""
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
