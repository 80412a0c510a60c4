"""Ingest benchmark: synthetic canonical events from Parquet and CSV into a fresh file store.

``python -m bench.bench_ingest --events 1000000 --formats parquet,csv --repeat 3``

Each ingest runs in its own subprocess, next to the bare DuckDB peer
``INSERT INTO t SELECT * FROM read_parquet(...)`` into a table without keys, run right after
ours (``--repeat N`` alternates N pairs and reports the median of each, so both see the same
machine load). Prints a markdown table: events/s, seconds, CPU seconds of the timed part
(all threads; steadier than wall time on a shared machine), peak RSS, and the ratio of wall
times (and of CPU times) to the bare insert.

Two figures per run: **in-process** (the child's own clock around the ingest call, and its
``ru_maxrss`` read twice: right after the call, and *after* ``close()`` and the store's final
checkpoint, which is the peak reported; the close's own seconds are printed beside it) and
**whole process** (start to exit, as a user runs it: imports, the ingest, ``close()`` and the
final checkpoint; peak RSS from ``os.wait4`` of that child, see ``bench/process.py``).
Targets are judged on the whole process, in the median of the rounds. The ``klantreis
ingest`` CLI row is the command itself (CSV and Parquet).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from bench.process import klantreis_command, load_average, run_process

__all__ = ["generate", "main"]

_KINDS = [
    "web.visit",
    "order.placed",
    "payment.completed",
    "shipment.handed_over",
    "delivery.completed",
    "contact.inbound",
    "survey.response",
    "invoice.sent",
]


def generate(path: Path, events: int, fmt: str) -> None:
    """Synthetic canonical events (deterministic), written by DuckDB straight to disk."""
    kinds = "[" + ", ".join(f"'{k}'" for k in _KINDS) + "]"
    query = f"""
        SELECT 'ev-' || lpad(i::VARCHAR, 10, '0') AS event_id,
               TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i * 3) AS occurred_at,
               'c' || (i % 200000)::VARCHAR AS customer_id,
               'o' || (i // 6)::VARCHAR AS journey_id,
               {kinds}[1 + i % 8] AS kind,
               NULL::VARCHAR AS touchpoint,
               ['web', 'email', 'phone', 'app'][1 + i % 4] AS channel,
               NULL::VARCHAR AS owner,
               CASE WHEN i % 8 = 6 THEN 'nps' END AS metric,
               CASE WHEN i % 8 = 6 THEN (i % 11)::DOUBLE END AS score,
               CASE WHEN i % 8 = 5 THEN 'Waar blijft mijn pakket? Bestelling ' || i END AS text,
               CASE WHEN i % 8 IN (5, 6) THEN 'nl' END AS lang,
               CASE WHEN i % 8 = 5 THEN '{{"reason": "waar_is_mijn_pakket", "resolved": true}}'
                    ELSE '{{"amount": ' || (i % 500)::VARCHAR || '}}' END AS attrs,
               'bench' AS source
        FROM range({events}) r(i)"""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'").fetchall()
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
    con.execute(f"COPY ({query}) TO '{path}' ({options})").fetchall()
    con.close()


_CHILD_INGEST = """
import json, sys, time
import klantreis
import klantreis.ingest.runner as runner
runner.PARQUET_SQL = sys.argv[3] == "sql"
app = klantreis.open(sys.argv[1])
t0, c0 = time.perf_counter(), time.process_time()
s = app.ingest_paths([sys.argv[2]], progress=False)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
import resource
before_close = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t1 = time.perf_counter()
app.close()
close_s = time.perf_counter() - t1
print(json.dumps({"seconds": dt, "stored": s.events_stored, "quarantined": s.quarantined,
                  "error": [f.error for f in s.failed], "cpu": cpu, "close_s": close_s,
                  "peak_before_close_mib": before_close,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_CHILD_BARE = """
import duckdb, json, sys, time
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE t AS SELECT * FROM read_parquet(?) LIMIT 0", [sys.argv[2]]).fetchall()
t0, c0 = time.perf_counter(), time.process_time()
con.execute("INSERT INTO t SELECT * FROM read_parquet(?)", [sys.argv[2]]).fetchall()
con.execute("CHECKPOINT").fetchall()
n = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
import resource
before_close = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t1 = time.perf_counter()
con.close()
close_s = time.perf_counter() - t1
print(json.dumps({"seconds": dt, "stored": n, "quarantined": 0, "cpu": cpu,
                  "close_s": close_s, "peak_before_close_mib": before_close,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_child(code: str, *args: str) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter; its JSON result (in-process figures: its own
    clock and peak RSS before close) plus the whole process's ``process_s``, ``process_cpu``
    and ``process_peak_mib`` (start to exit, close and checkpoint included)."""
    run = run_process([sys.executable, "-c", code, *args])
    if run.returncode != 0:
        raise subprocess.CalledProcessError(run.returncode, code, run.stdout, run.stderr)
    result: dict[str, float] = json.loads(run.stdout.strip().splitlines()[-1])
    result.update(process_s=run.wall_s, process_cpu=run.cpu_s, process_peak_mib=run.peak_mib)
    return result


def run_cli(store: Path, data: Path) -> dict[str, float]:
    """``klantreis ingest DATA --db STORE --json`` as a user runs it (whole process only)."""
    argv = klantreis_command("ingest", str(data), "--db", str(store), "--json", "--no-progress")
    run = run_process(argv)
    if run.returncode != 0:
        raise subprocess.CalledProcessError(run.returncode, argv, run.stdout, run.stderr)
    summary = json.loads(run.stdout[run.stdout.index("{") :])
    stored = summary["totals"]["events_stored"]
    return {
        "seconds": run.wall_s,
        "cpu": run.cpu_s,
        "peak_mib": run.peak_mib,
        "stored": stored,
        "process_s": run.wall_s,
        "process_cpu": run.cpu_s,
        "process_peak_mib": run.peak_mib,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--formats", default="parquet,csv")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="pairs (ours, bare) per Parquet run; the median is reported",
    )
    parser.add_argument(
        "--batch-path",
        action="store_true",
        help="also run Parquet through the batch path (the SQL fast path turned off)",
    )
    args = parser.parse_args(argv)
    rows: list[tuple[str, dict[str, float], float]] = []
    with tempfile.TemporaryDirectory(prefix="klantreis-bench-") as tmp:
        folder = Path(tmp)
        for fmt in [f for f in args.formats.split(",") if f]:
            rows += _bench_format(folder, fmt, args.events, args.repeat, args.batch_path)
        _print_table(args.events, rows, args.repeat)


def _bench_format(
    folder: Path, fmt: str, events: int, repeat: int, batch_path: bool
) -> list[tuple[str, dict[str, float], float]]:
    """Generate the file, then run (ours[, batch path], bare) ``repeat`` times in turn."""
    data = folder / f"events.{fmt}"
    t0 = time.perf_counter()
    generate(data, events, fmt)
    gen_s = time.perf_counter() - t0
    parquet = fmt == "parquet"
    kinds = [("sql", f"klantreis ingest {fmt} (App.ingest_paths)")]
    if parquet and batch_path:
        kinds.append(("batch", "klantreis ingest parquet, batch path (before)"))
    runs: dict[str, list[dict[str, float]]] = {}
    for i in range(repeat):
        for mode, _ in kinds:
            store = folder / f"s-{fmt}-{mode}-{i}.duckdb"
            runs.setdefault(mode, []).append(run_child(_CHILD_INGEST, str(store), str(data), mode))
        cli = run_cli(folder / f"s-{fmt}-cli-{i}.duckdb", data)
        runs.setdefault("cli", []).append(cli)
        if parquet:
            bare = run_child(_CHILD_BARE, str(folder / f"bare-{i}.duckdb"), str(data))
            runs.setdefault("bare", []).append(bare)
    rows = [(name, _median(runs[mode]), gen_s) for mode, name in kinds]
    rows.append((f"`klantreis ingest` CLI, {fmt}", _median(runs["cli"]), gen_s))
    if parquet:
        rows.append(("bare INSERT ... SELECT FROM read_parquet", _median(runs["bare"]), gen_s))
    return rows


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds (seconds, memory and the rest alike: a target
    holds only if it holds in the median)."""
    numeric = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    return {k: statistics.median(r[k] for r in runs if k in r) for k in numeric}


def _print_table(
    events: int, rows: list[tuple[str, dict[str, float], float]], repeat: int = 1
) -> None:
    bare = next((r for name, r, _ in rows if name.startswith("bare")), None)
    print(
        f"events: {events:,} (median of {repeat} alternating round(s));"
        f" load average {load_average()}\n"
    )
    print(
        "| run | in-process s | events/s | CPU s | close s | peak MiB before close"
        " | peak MiB after close | **whole process s** | whole CPU s"
        " | **whole-process peak MiB** | stored | x bare (wall) | x bare (CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r, _ in rows:
        rate = events / r["seconds"]
        ratio = f"{bare['seconds'] / r['seconds']:.2f}" if bare else "-"
        cpu_ratio = f"{bare['cpu'] / r['cpu']:.2f}" if bare and r.get("cpu") else "-"
        print(
            f"| {name} | {r['seconds']:.2f} | {rate:,.0f} | {r.get('cpu', 0):.1f}"
            f" | {r.get('close_s', float('nan')):.2f}"
            f" | {r.get('peak_before_close_mib', float('nan')):,.0f} | {r['peak_mib']:,.0f}"
            f" | {r['process_s']:.2f} | {r['process_cpu']:.1f}"
            f" | {r['process_peak_mib']:,.0f} | {int(r['stored']):,} | {ratio} | {cpu_ratio} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
