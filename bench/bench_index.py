"""Benchmark: the CX index (series, components, movers) on the demo webshop's event log.

``python -m bench.bench_index --orders 100000`` generates the demo (``klantreis.demo``) into a
temporary DuckDB store (or reuses ``--db``), then times, median of ``--runs``:

- the portable path (``fast=False``: four engine queries per call, what every call cost
  before the fast path) for the overview page's default view and a channel filter;
- the fast path (``klantreis.analytics.index_cache``): **cold** (caches cleared before each
  call: the first request after start), **warm** (what every further request pays), a
  filter after the default view (cells cached, drivers cached), and **after an ingest** of
  ``--ingest`` survey answers (incremental refresh of the cells, drivers and result
  recomputed; this appends to the store);
- its parts: the all-history cells query, the driver counts, the version check;
- the plain scan peer ``SELECT count(*), sum(score) FROM events``.

Prints a markdown table with seconds and the ratio to the plain scan.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from klantreis.analytics import cx_index as cxi
from klantreis.analytics import index_cache as ic
from klantreis.analytics import movers as mv
from klantreis.app import App
from klantreis.demo.runner import run_demo
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.settings import Settings

#: The overview page asks for all days (web/pages/index.py).
PAGE_DAYS = 3650


def timed(fn: Callable[[], Any], runs: int, before: Callable[[], Any] | None = None) -> float:
    """Median seconds of ``fn`` over ``runs`` (after one warm-up); ``before`` runs untimed
    before each call."""
    fn()
    times = []
    for _ in range(runs):
        if before:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ingest_answers(app: App, n: int, at: datetime) -> Callable[[], None]:
    """A function appending ``n`` new survey answers at ``at`` (fresh ids each call)."""

    def run() -> None:
        tag = uuid.uuid4().hex[:12]
        rows: list[Mapping[str, Any]] = [
            {
                "event_id": f"bench-{tag}-{i}",
                "occurred_at": at,
                "kind": "survey.response",
                "journey_id": f"bench-{tag}-{i}",
                "touchpoint": "bezorging",
                "channel": "email",
                "metric": "nps",
                "score": float(i % 11),
            }
            for i in range(n)
        ]
        ingest_table(app.store, events_from_records(rows), app.journey, source="bench")

    return run


def cases(app: App, ingest: int) -> dict[str, tuple[Callable[[], Any], Callable[[], Any] | None]]:
    events, journey = app.events_table(), app.journey
    until = cxi.cx_index(events, journey, days=1).until
    assert until is not None
    prev, cur = mv.windows(until, 7)
    holder = {"cache": ic.StoreCache("events", app.store.version)}  # the App's kind of cache
    hit = ic.store_cache(events, holder["cache"])
    assert hit is not None
    con, cache = hit
    email = {"channel": ["email"]}

    def page(**kw: Any) -> Callable[[], Any]:
        return lambda: cxi.cx_index(events, journey, days=PAGE_DAYS, cache=holder["cache"], **kw)

    def clear() -> None:
        holder["cache"] = ic.StoreCache("events", app.store.version)

    def default_view_only() -> None:
        clear()
        page()()

    out = {
        "portable: cx_index, overview page": (page(fast=False), None),
        "portable: cx_index, channel=email": (page(fast=False, filters=email), None),
        "fast: cold, overview page": (page(), clear),
        "fast: warm, overview page": (page(), None),
        "fast: warm, channel=email": (page(filters=email), None),
        "fast: channel=email after the default view": (page(filters=email), default_view_only),
        "part: all-history cells query": (
            lambda: ic.raw_cells(con, "events", journey.timezone),
            None,
        ),
        "part: driver counts": (lambda: mv.collect_facts(events, journey, prev, cur), None),
        "part: version check": (app.store.version, None),
        "part: count and watermark (after a change)": (
            lambda: cache._count_and_watermark(con),
            None,
        ),
        "peer: plain scan": (
            lambda: app.store.query("SELECT count(*), sum(score) FROM events"),
            None,
        ),
    }
    if ingest:
        at = datetime.combine(until, datetime.min.time(), UTC) + timedelta(hours=11)
        out[f"fast: after ingest of {ingest:,} answers"] = (page(), ingest_answers(app, ingest, at))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--ingest",
        type=int,
        default=1000,
        help="answers appended before each 'after ingest' run (0: skip)",
    )
    parser.add_argument(
        "--db",
        default="",
        help="keep/reuse the demo store at this path "
        "(generated when absent; default: a temporary file)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db or Path(tmp) / "bench.duckdb")
        fresh = not db.exists()
        with App(Settings.load(env={}, db_path=str(db))) as app:
            t0 = time.perf_counter()
            if fresh:
                run_demo(app, orders=args.orders)
            how = (
                f"generated and ingested in {time.perf_counter() - t0:.1f} s"
                if fresh
                else f"reused {db}"
            )
            print(f"{app.store.count():,} events ({how}); median of {args.runs} runs\n")
            results = {
                name: timed(fn, args.runs, before)
                for name, (fn, before) in cases(app, args.ingest).items()
            }
    scan = results["peer: plain scan"]
    print("| case | seconds | x plain scan |")
    print("|---|---:|---:|")
    for name, secs in results.items():
        print(f"| {name} | {secs:.3f} | {secs / scan:.1f} |")


if __name__ == "__main__":
    main()
