"""The kept conditions' full build (``contacts.conditions``): CPU and wall seconds, and the
cost of the refresh after an ingest of 1 event, on a store opened for writing (copy it first:
the build replaces the store's kept conditions).

``nice /usr/bin/time -v python -m bench.bench_conditions --db COPY [--memory-mb 256]
[--range-events 250000]``

Peak memory is the process's (``/usr/bin/time -v``: maximum resident set size). Runs on code
without the key ranges too (a baseline: ``--memory-mb`` is then ignored).
"""

from __future__ import annotations

import argparse
import inspect
import resource
import time
from pathlib import Path
from typing import Any

from bench.process import load_average

__all__ = ["main"]

SECRET = "bench-secret-key-0123456789abcdef"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_mb() -> float:
    """The process's peak resident memory so far (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(what: str, fn: Any) -> Any:
    c0, t0 = _cpu(), time.perf_counter()
    result = fn()
    print(f"{what}: {time.perf_counter() - t0:.2f} s wall, {_cpu() - c0:.2f} s CPU ({result})")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--memory-mb", type=int, default=None, help="default: the setting's")
    parser.add_argument("--range-events", type=int, default=None, help="default: the setting's")
    args = parser.parse_args(argv)
    from klantreis.app import App
    from klantreis.contacts.conditions import ConditionViews
    from klantreis.ingest.pipeline import ingest_table
    from klantreis.model.events import events_from_records
    from klantreis.settings import Settings

    print("load before", load_average())
    with App(Settings.load(env={}, db_path=str(args.db), secret_key=SECRET)) as app:
        with app.store.transaction() as con:  # an earlier run's event: every run sees one log
            con.execute("DELETE FROM event_log WHERE event_id LIKE 'bc%-%'").fetchall()
        tag = f"bc{time.time_ns()}-"
        kw = {}
        if "memory_mb" in inspect.signature(ConditionViews).parameters:
            mb = app.settings.index_memory_mb if args.memory_mb is None else args.memory_mb
            per = (
                app.settings.index_range_events if args.range_events is None else args.range_events
            )
            kw = {"memory_mb": mb, "range_events": per}
        print("kept conditions", kw or "(one-shot build)")
        views = ConditionViews(app.store, app.journey, app.store.version, **kw)
        _timed("full build", views.rebuild)
        print(f"peak RSS after the build: {_peak_mb():.0f} MiB")
        for table in ("dk_kinds", "dk_promised", "dk_csat", "dk_options"):
            sums = app.store.query(f"SELECT count(*) AS n, sum(hash(t)) AS h FROM {table} t")
            print(table, sums.to_pylist()[0])  # the same rows (a multiset) on both codes
        rows = app.store.query(
            f"SELECT * EXCLUDE (event_id, occurred_at, ingested_at), '{tag}' || event_id AS"
            " event_id, occurred_at + INTERVAL 1 DAY AS occurred_at FROM events"
            " WHERE journey_id IS NOT NULL ORDER BY occurred_at DESC LIMIT 1"
        ).to_pylist()
        ingest_table(app.store, events_from_records(rows, source="bench"), app.journey, "bench")
        _timed("refresh after 1 event (a day after the newest)", views.ensure)
        print(f"peak RSS after the refresh: {_peak_mb():.0f} MiB")
    print("load after", load_average())


if __name__ == "__main__":
    main()
