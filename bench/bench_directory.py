"""Directory look-ups: ``python -m bench.bench_directory --customers 1000000``.

Fills a directory file in SQL (``--customers`` contacts with an e-mail address, consent
records for every second one — one in seven of them an objection — and a suppression for
every hundredth address), then times ``may_contact`` for 300 random customers per purpose
and one ``decisions`` call for 10,000. Prints a markdown table with the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from klantreis.directory import Directory

__all__ = ["main"]


def _fill(d: Directory, n: int) -> None:
    with d._transaction() as con:
        con.execute(
            "INSERT INTO contacts SELECT 'c' || range, 'p' || range || '@example.org', NULL,"
            " NULL, 'nl', 'bench', now() FROM range(?)",
            [n],
        ).fetchall()
        con.execute(
            "INSERT INTO consents (customer_id, purpose, granted, source, given_at, recorded_at)"
            " SELECT 'c' || range, 'surveys', range % 7 <> 0, 'bench', now(), now()"
            " FROM range(0, ?, 2)",
            [n],
        ).fetchall()
        con.execute(
            "INSERT INTO suppressions SELECT sha256('p' || range || '@example.org'), 'bench',"
            " now() FROM range(0, ?, 100)",
            [n],
        ).fetchall()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    n = args.customers
    rng = random.Random(14)
    print("| call | customers | p50 | p99 | load |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, Directory.open(Path(tmp) / "d.duckdb") as d:
        _fill(d, n)
        for purpose in ("surveys", "service"):
            load = os.getloadavg()[0]
            times = []
            for _ in range(300):
                cid = f"c{rng.randrange(n)}"
                t0 = time.perf_counter()
                d.may_contact(cid, purpose, "email")
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            print(
                f"| may_contact, {purpose} | {n:,} | {times[150]:.2f} ms |"
                f" {times[296]:.2f} ms | {load:.1f} |"
            )
        ids = [f"c{rng.randrange(n)}" for _ in range(10_000)]
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        d.decisions(ids, "surveys", "email")
        took = time.perf_counter() - t0
        print(f"| decisions for 10,000 | {n:,} | {took:.2f} s in all | | {load:.1f} |")


if __name__ == "__main__":
    main()
