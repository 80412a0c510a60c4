"""Demo generator benchmark: events/s of ``generate_demo`` on one core, optionally written to
Parquet (what ``make bench`` of the ingest area can then read).

``python -m bench.bench_generate --orders 1050000`` (about 10M events)

Prints a markdown table: orders, events, seconds, events/s and peak RSS of this process.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import pyarrow.parquet as pq

from klantreis.demo.generator import generate_demo
from klantreis.model.events import EVENT_SCHEMA

__all__ = ["main"]


def run(orders: int, seed: int, parquet: Path | None) -> dict[str, float]:
    writer = pq.ParquetWriter(parquet, EVENT_SCHEMA) if parquet else None
    events = 0
    began = time.perf_counter()
    try:
        for table in generate_demo(orders, seed):
            events += table.num_rows
            if writer is not None:
                writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    seconds = time.perf_counter() - began
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "orders": orders,
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds,
        "peak_mib": peak_mib,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_050_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--parquet", type=Path, default=None, help="Also write the events to this Parquet file."
    )
    args, _ = parser.parse_known_args(argv)
    r = run(args.orders, args.seed, args.parquet)
    print("| orders | events | seconds | events/s | peak RSS |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {r['orders']:,} | {r['events']:,} | {r['seconds']:.1f} | "
        f"{r['events_per_s']:,.0f} | {r['peak_mib']:,.0f} MiB |"
    )


if __name__ == "__main__":
    main()
