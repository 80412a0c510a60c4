"""The refresh after an ingest alone, step by step: on a copy of a prepared store, view
``/journeys`` once (restart), ingest ``--events`` events as ``bench_views`` does (new ids on
existing journeys, one day later), then time the journey index's refresh, the derived views'
refresh and the page's reads apart (wall and CPU seconds of the process, DuckDB's threads
included; load average beside them).

``nice -n 10 env PYTHONPATH=src:. python -m bench.profile_refresh --db STORE``

Run it with ``PYTHONPATH=/work/main/src:.`` for another checkout's code (interleave).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_views import _new_events, _settings
from bench.process import load_average

__all__ = ["main"]


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
    args = parser.parse_args(argv)
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
                timed("journey index refresh", app.journey_index)
                timed("derived views refresh", app.derived_views)
                timed("page reads (views current)", view)


if __name__ == "__main__":
    main(sys.argv[1:])
