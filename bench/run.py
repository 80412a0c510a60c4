"""Run the benchmarks: ``make bench`` (all) or ``make bench BENCH_ARGS="--only ingest"``.

Each ``bench/bench_<area>.py`` has ``main(argv) -> None`` that prints a markdown table.
Results, with the machine and the command, are recorded by hand in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import platform
import sys
import time
from pathlib import Path

AREAS = [
    "ingest",
    "cli",
    "pages",
    "metrics",
    "journeys",
    "scale",
    "index",
    "web",
    "classifier",
    "generate",
    "export",
    "text",
    "outbox",
    "directory",
    "listen",
]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu
            )
    except OSError:
        model = cpu
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated areas: " + ", ".join(AREAS))
    args, rest = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING)
    areas = [a for a in args.only.split(",") if a] or AREAS
    print(f"# klantreis benchmarks\n\nmachine: {machine()}\n")
    for area in areas:
        path = Path(__file__).with_name(f"bench_{area}.py")
        if not path.exists():
            print(f"## {area}: no benchmark module\n")
            continue
        module = importlib.import_module(f"bench.bench_{area}")
        print(f"## {area}\n")
        t0 = time.perf_counter()
        module.main(rest)
        print(f"\n({area}: {time.perf_counter() - t0:.1f} s wall)\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
