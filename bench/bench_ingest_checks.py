"""CPU of the request checks of ``POST /api/v1/events`` on the event loop (parse the body,
check each record is a flat-enough JSON object), per 1,000 events, in this process: a
load-independent part of the HTTP ingest figure (``bench_web``), which a loaded machine
cannot measure.

``python -m bench.bench_ingest_checks [--before OLD/src] [--rounds 7]``

With ``--before``, the same function of another checkout (e.g. ``git archive main src | tar
-x -C /tmp/old``) runs on the same bodies, interleaved round by round.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from bench.bench_web import make_event

__all__ = ["main"]

_ROUTE = "klantreis/web/routes/ingest.py"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", help="the src folder of another checkout, run alongside")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=100, help="bodies of 1,000 events")
    args = parser.parse_args(argv)
    import klantreis.web.routes.ingest as current

    versions = {"this checkout": current}
    if args.before:
        versions = {"before": _load(Path(args.before) / _ROUTE, "ingest_before"), **versions}
    rng, end = random.Random(7), datetime.now(UTC)
    bodies = [
        json.dumps([make_event(b * 1000 + i, rng, end) for i in range(1000)]).encode()
        for b in range(args.requests)
    ]
    ms: dict[str, list[float]] = {name: [] for name in versions}
    for _ in range(args.rounds):
        for name, module in versions.items():
            started = time.process_time()
            for body in bodies:
                module._records(body, 10_000, 64)
            ms[name].append((time.process_time() - started) / len(bodies) * 1e3)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, values in ms.items():
        print(
            f"{name}: median {statistics.median(values):.3f} ms CPU per 1,000 events"
            f" (min {min(values):.3f}, max {max(values):.3f}, {args.rounds} rounds)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
