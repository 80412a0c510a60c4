"""The refresh after an ingest alone, step by step: on a copy of a prepared store, view
``/journeys`` once (restart), ingest ``--events`` events as ``bench_views`` does (new ids on
existing journeys, one day later), then time the journey index's refresh, the derived views'
refresh and the page's reads apart (wall and CPU seconds of the process, DuckDB's threads
included; load average beside them).

``nice -n 10 env PYTHONPATH=src:. python -m bench.profile_refresh --db STORE``

``--statements N`` also prints the N costliest statements of the two refreshes (wall and CPU
seconds per statement shape, summed over its runs, and how many statements ran in all).

Run it with ``PYTHONPATH=/work/main/src:.`` for another checkout's code (interleave).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.bench_views import BATCH, _new_events, _settings
from bench.process import load_average

__all__ = ["main", "print_spent"]

#: The modules whose ``_rows(con, sql, params)`` runs the refreshes' statements.
_MODULES = (
    "klantreis.analytics.derived_views",
    "klantreis.analytics.touched_events",
    "klantreis.analytics.journey_index",
)


@contextmanager
def _statements(top: int) -> Iterator[None]:
    """Time every statement the refreshes run through their modules' ``_rows`` (wall, CPU of
    the process), grouped by the statement's shape (literals and temp names folded)."""
    import importlib

    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    saved: list[tuple[Any, Callable[..., Any]]] = []

    def timed(inner: Callable[..., Any]) -> Callable[..., Any]:
        def run(con: Any, sql: str, params: Any = None) -> Any:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return inner(con, sql, params)
            finally:
                shape = re.sub(r"'[^']*'|\b\d+\b", "?", " ".join(sql.split()))[:110]
                row = spent[shape]
                row[0] += time.perf_counter() - t0
                row[1] += time.process_time() - c0
                row[2] += 1

        return run

    for name in _MODULES:
        module = importlib.import_module(name)
        original = getattr(module, "_rows")  # noqa: B009 (a private name, patched here only)
        saved.append((module, original))
        setattr(module, "_rows", timed(original))  # noqa: B010
    try:
        yield
    finally:
        for module, original in saved:
            setattr(module, "_rows", original)  # noqa: B010
        print_spent("statements", spent, top)


def print_spent(title: str, spent: dict[str, list[float]], top: int | None = None) -> None:
    """Print ``spent`` (label -> [wall s, CPU s, calls]), the costliest ``top`` by CPU."""
    rows = sorted(spent.items(), key=lambda kv: -kv[1][1])
    total = [sum(v[i] for v in spent.values()) for i in range(3)]
    print(f"{title}: {int(total[2])} calls, wall {total[0]:.3f} s, CPU {total[1]:.3f} s")
    for label, (wall, cpu, n) in rows[:top]:
        print(f"  CPU {cpu:.3f} wall {wall:.3f} x{int(n)}  {label}")


def main(argv: list[str] | None = None) -> None:
    from fastapi.testclient import TestClient

    from klantreis.access import accounts
    from klantreis.app import App
    from klantreis.ingest.pipeline import ingest_table
    from klantreis.model.events import events_from_records
    from klantreis.web import create_app

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="/work/bench-data/demo10m-prepared.duckdb")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--statements", type=int, default=0, help="print the N costliest")
    parser.add_argument(
        "--batch",
        choices=("first-ids", "newest"),
        default="first-ids",
        help="which events the batch copies, as bench_views' --batch",
    )
    args = parser.parse_args(argv)
    BATCH[0] = args.batch
    with tempfile.TemporaryDirectory(prefix="klantreis-refresh-", dir="/tmp") as tmp:
        db = Path(tmp) / "store.duckdb"
        shutil.copy(args.db, db)
        with App(_settings(db)) as app:
            accounts.add_user(app.store, "ana", "analyst", "analyst-pass-1")
            token, _ = accounts.create_token(app.store, ["read"], user="ana")
            headers = {"Authorization": f"Bearer {token}"}
            with TestClient(create_app(app)) as client:

                def timed(name: str, call: object) -> None:
                    t0, c0 = time.perf_counter(), time.process_time()
                    call()  # type: ignore[operator]
                    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                    print(f"{name}: {wall:.3f} s, CPU {cpu:.3f} s (load {load_average()})")

                def view() -> None:
                    client.get("/api/v1/journeys", headers=headers).raise_for_status()

                timed("first view after restart", view)
                rows = _new_events(app, args.events, "refresh").to_pylist()
                table = events_from_records(rows, source="bench")
                timed(
                    f"ingest of {args.events:,}",
                    lambda: ingest_table(app.store, table, app.journey, source="bench"),
                )
                with _statements(args.statements) if args.statements else _nothing():
                    timed("journey index refresh", app.journey_index)
                    timed("derived views refresh", app.derived_views)
                timed("page reads (views current)", view)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


if __name__ == "__main__":
    main(sys.argv[1:])
