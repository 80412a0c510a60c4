"""XES and CSV export of a demo store: ``python -m bench.bench_export --orders 300000``.

Builds a demo store (``--orders`` orders, ~10 events each) in a temporary folder, or uses
``--db`` (opened read-only), then runs each export in a child process so that every row has
its own time, CPU time and peak RSS: the DuckDB path (XML and CSV built in SQL, the default)
and, with ``--python``, the portable path (rows formatted in Python, what other engines use).

Prints a markdown table, with the load average before each run (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["main"]

_CHILD = """
import json, resource, sys, time
from klantreis.analytics.backend import duckdb_events
from klantreis import export
from klantreis.store import EventStore

db, fmt, path, out = sys.argv[1:5]
events = duckdb_events(EventStore(db, read_only=True))
began, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
if path == "python":
    write = export._portable_xes if fmt == "xes" else export._portable_csv
    with open(out, "w", encoding="utf-8", newline="") as fh:
        result = write(events, fh, 20_000)
else:
    result = export.export_log(events, out, fmt)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({
    "events": result.events,
    "seconds": time.perf_counter() - began,
    "cpu": r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime,
    "peak_mib": r1.ru_maxrss / 1024,
}))
"""


def build_store(path: Path, orders: int, seed: int) -> int:
    from klantreis.app import App
    from klantreis.demo.generator import generate_demo
    from klantreis.ingest.pipeline import ingest_table
    from klantreis.settings import Settings

    with App(Settings.load(env={}, db_path=str(path))) as app:
        for table in generate_demo(orders, seed):
            ingest_table(app.store, table, app.journey, source="demo")
        return int(app.store.count())


def run(db: Path, fmt: str, path: str, out: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(db), fmt, path, str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["mib"] = out.stat().st_size / 2**20
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", type=Path, default=None, help="existing store (read-only)")
    parser.add_argument("--python", action="store_true", help="also time the portable path")
    args, _ = parser.parse_known_args(argv)
    with tempfile.TemporaryDirectory(prefix="klantreis-export-") as tmp:
        db = args.db
        if db is None:
            db = Path(tmp) / "demo.duckdb"
            build_store(db, args.orders, args.seed)
        print("| format | path | events | seconds | events/s | CPU s | peak RSS | file | load |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for fmt in ("xes", "csv"):
            for path in ("duckdb", "python") if args.python else ("duckdb",):
                load = os.getloadavg()[0]
                r = run(db, fmt, path, Path(tmp) / f"log.{fmt}")
                print(
                    f"| {fmt} | {path} | {r['events']:,.0f} | {r['seconds']:.2f} | "
                    f"{r['events'] / r['seconds']:,.0f} | {r['cpu']:.2f} | "
                    f"{r['peak_mib']:,.0f} MiB | {r['mib']:,.0f} MiB | {load:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
