"""Benchmark: NPS/CES/CSAT by day x touchpoint on a large event log (DuckDB).

``python -m bench.bench_metrics --events 10000000`` generates canonical events straight into a
DuckDB file with SQL (about 30% survey answers with metrics nps/ces/csat, 9 touchpoints, two
years, in time order as a log grows), then times, warm, median of ``--runs``:

- ``score_table``: the library call (Ibis compile + engine + stats in Python);
- its parts: Ibis compile only, the compiled SQL run directly, the statistics in Python;
- a hand-written SQL peer doing the same grouping;
- the plain scan peer ``SELECT count(*), sum(score) FROM events``.

Prints a markdown table with seconds and the ratio to the plain scan.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import ibis

from klantreis.analytics import metrics, stats
from klantreis.app import default_journey_config

TOUCHPOINTS = [
    "website",
    "bestellen",
    "betalen",
    "verzending",
    "bezorging",
    "factuur",
    "retour",
    "klantenservice",
    "reviews",
]
KINDS = [
    "web.visit",
    "order.placed",
    "payment.completed",
    "shipment.handed_over",
    "delivery.completed",
    "invoice.sent",
    "contact.inbound",
]
METRICS = ["nps", "ces", "csat"]


def generate_sql(n: int) -> str:
    """One INSERT ... SELECT producing ``n`` canonical events over two years."""
    tps = "[" + ", ".join(f"'{t}'" for t in TOUCHPOINTS) + "]"
    kinds = "[" + ", ".join(f"'{k}'" for k in KINDS) + "]"
    span_us = 730 * 86_400 * 1_000_000
    return f"""
    CREATE OR REPLACE TABLE events AS
    WITH base AS (
        SELECT i, CAST(hash(i) % 1000000007 AS BIGINT) AS h, (hash(i) % 10) < 3 AS survey,
               CAST(hash(i) // 10 % 3 AS BIGINT) AS m
        FROM range({n}) t(i))
    SELECT
        'e' || i AS event_id,
        TIMESTAMPTZ '2024-01-01 00:00:00+00'
            + to_microseconds(CAST(i * ({span_us} / {n}) AS BIGINT)) AS occurred_at,
        'c' || (h % 500000) AS customer_id,
        'o' || (i // 8) AS journey_id,
        CASE WHEN survey THEN 'survey.response' ELSE {kinds}[1 + h // 7 % {len(KINDS)}] END AS kind,
        {tps}[1 + h // 31 % {len(TOUCHPOINTS)}] AS touchpoint,
        ['email', 'web', 'app'][1 + h // 101 % 3] AS channel,
        NULL::VARCHAR AS owner,
        CASE WHEN survey THEN ['nps', 'ces', 'csat'][1 + m] END AS metric,
        CASE WHEN NOT survey THEN NULL
             WHEN m = 0 THEN CAST(h // 1009 % 11 AS DOUBLE)
             WHEN m = 1 THEN CAST(1 + h // 1009 % 7 AS DOUBLE)
             ELSE CAST(1 + h // 1009 % 5 AS DOUBLE) END AS score,
        NULL::VARCHAR AS text, 'nl' AS lang,
        CASE WHEN h % 10 = 9 THEN '{{"segment": "vast"}}' END AS attrs,
        'bench' AS source
    FROM base ORDER BY i
    """


def peer_sql() -> str:
    """The same grouping written by hand (what the library should be close to)."""
    return """
    SELECT metric, CAST(timezone('Europe/Amsterdam', occurred_at) AS DATE) AS period,
           touchpoint, count(score) AS n, sum(score) AS total, sum(score * score) AS total_sq,
           sum(CASE WHEN score >= 9 THEN 1 ELSE 0 END) AS promoters,
           sum(CASE WHEN score <= 6 THEN 1 ELSE 0 END) AS detractors,
           sum(CASE WHEN score >= 4 THEN 1 ELSE 0 END) AS top2
    FROM events WHERE metric IN ('nps', 'ces', 'csat') AND score IS NOT NULL
    GROUP BY ALL
    """


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    fn()  # warm
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def build_store(path: Path, n: int) -> float:
    con = duckdb.connect(str(path))
    t0 = time.perf_counter()
    con.execute(generate_sql(n)).fetchall()
    con.execute("CHECKPOINT").fetchall()
    con.close()
    return time.perf_counter() - t0


def measure(con: duckdb.DuckDBPyConnection, runs: int) -> list[tuple[str, float, str]]:
    journey = default_journey_config()
    events = ibis.duckdb.from_connection(con).table("events")

    def library() -> Any:
        return metrics.score_table(
            events, METRICS, by=["touchpoint"], period="day", journey=journey
        )

    def summary_expr() -> Any:
        return metrics.summary_expr(
            events, METRICS, by=["touchpoint"], period="day", journey=journey
        )

    compiled = ibis.to_sql(summary_expr())
    lib_s, table = timed(library, runs)
    compile_s, _ = timed(lambda: ibis.to_sql(summary_expr()), runs)
    exec_s, summ = timed(lambda: con.sql(str(compiled)).to_arrow_table(), runs)
    frame = metrics.summarize(events, METRICS, by=["touchpoint"], period="day", journey=journey)
    stats_s, _ = timed(
        lambda: [
            stats.estimate_arrays(
                m,
                {
                    f: frame.loc[frame.metric == m, f].to_numpy(float)
                    for f in metrics.SUMMARY_FIELDS
                },
            )
            for m in METRICS
        ],
        runs,
    )
    peer_s, _ = timed(lambda: con.sql(peer_sql()).to_arrow_table(), runs)
    scan_s, _ = timed(lambda: con.sql("SELECT count(*), sum(score) FROM events").fetchall(), runs)
    groups = f"{len(table):,} groups"
    logging.getLogger(__name__).debug("peer rows %s", len(table))
    return [
        ("score_table nps+ces+csat by day x touchpoint", lib_s, groups),
        ("  of which: Ibis compile", compile_s, ""),
        ("  of which: compiled SQL in DuckDB", exec_s, f"{summ.num_rows:,} rows"),
        ("  of which: statistics in Python (numpy/scipy)", stats_s, ""),
        ("hand-written SQL peer (same grouping, timezone() per row)", peer_s, ""),
        ("plain scan: count(*), sum(score)", scan_s, "peer"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--db", default="", help="DuckDB file to (re)use; default: temporary")
    args, _ = parser.parse_known_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "bench_metrics.duckdb"
        gen_s = build_store(path, args.events) if not (args.db and path.exists()) else 0.0
        con = duckdb.connect(str(path), read_only=True, config={"threads": args.threads})
        rows = measure(con, args.runs)
        con.close()
    scan = rows[-1][1]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{args.events:,} events, {args.threads} DuckDB threads, median of {args.runs} warm"
        f" runs (generation {f'{gen_s:.1f} s' if gen_s else 'reused file'}; load average during the run: {load})\n"
    )
    print("| what | seconds | x plain scan | note |\n|---|---:|---:|---|")
    for name, secs, note in rows:
        print(f"| {name} | {secs:.3f} | {secs / scan:.1f} | {note} |")


if __name__ == "__main__":
    main()
