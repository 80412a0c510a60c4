"""Benchmark: the CX index (series, components, movers) on the demo webshop's event log.

``python -m bench.bench_index --orders 100000`` generates the demo (``klantreis.demo``) into a
temporary DuckDB store, then times, warm, median of ``--runs``:

- ``cx_index``: the library call the index page makes (90 days, with movers and drivers);
- ``cx_index`` with a channel filter, without movers, and ``index_movers`` alone;
- its parts: the answer cells query, the driver counts (events + promises);
- the plain scan peer ``SELECT count(*), sum(score) FROM events``.

Prints a markdown table with seconds and the ratio to the plain scan.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from klantreis.analytics import cx_index as cxi
from klantreis.analytics import movers as mv
from klantreis.app import App
from klantreis.demo.runner import run_demo
from klantreis.settings import Settings


def timed(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cases(app: App) -> dict[str, Callable[[], Any]]:
    events, journey = app.events_table(), app.journey
    until = cxi.cx_index(events, journey, days=1).until
    assert until is not None
    prev, cur = mv.windows(until, 7)
    answers = cxi._answers(events, journey, {})
    plan = cxi._plan((until, until), until, 90, None, {}, 7)
    return {
        "cx_index (90 days, movers, drivers)": lambda: cxi.cx_index(events, journey),
        "cx_index, channel=email": lambda: cxi.cx_index(
            events, journey, filters={"channel": ["email"]}),
        "cx_index, with_movers=False": lambda: cxi.cx_index(events, journey,
                                                            with_movers=False),
        "index_movers alone": lambda: cxi.index_movers(events, journey),
        "part: answer cells query": lambda: cxi._daily_cells(answers, plan.spans, journey),
        "part: driver counts": lambda: mv.collect_facts(events, journey, prev, cur),
        "peer: plain scan": lambda: app.store.query(
            "SELECT count(*), sum(score) FROM events"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", default="", help="keep/reuse the demo store at this path "
                        "(generated when absent; default: a temporary file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db or Path(tmp) / "bench.duckdb")
        fresh = not db.exists()
        with App(Settings.load(env={}, db_path=str(db))) as app:
            t0 = time.perf_counter()
            if fresh:
                run_demo(app, orders=args.orders)
            how = f"generated and ingested in {time.perf_counter() - t0:.1f} s" if fresh \
                else f"reused {db}"
            print(f"{app.store.count():,} events ({how}); warm, median of {args.runs} runs\n")
            results = {name: timed(fn, args.runs) for name, fn in cases(app).items()}
    scan = results["peer: plain scan"]
    print("| case | seconds | x plain scan |")
    print("|---|---:|---:|")
    for name, secs in results.items():
        print(f"| {name} | {secs:.3f} | {secs / scan:.1f} |")


if __name__ == "__main__":
    main()
