"""The journeys page after new events: seconds of ``/api/v1/journeys`` (in-process client,
page cache off so the journeys caches are what is measured).

``python -m bench.bench_pages --db demo-data/demo.duckdb --rounds 3``

Each round copies the store, views the page (warm), appends one event (as the API would),
and times the next view. The store copy keeps the source untouched. (Until session 13 it
also ran the retired ``stale_pages`` setting; a page's kept answer after a large batch is
``bench_views``' to measure now.)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.process import load_average

__all__ = ["main"]


def _one_round(source: Path, n: int) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from klantreis.access import accounts
    from klantreis.app import App
    from klantreis.ingest.pipeline import ingest_table
    from klantreis.model.events import events_from_records
    from klantreis.settings import Settings
    from klantreis.web import create_app

    with tempfile.TemporaryDirectory(prefix="klantreis-pages-") as tmp:
        db = Path(tmp) / "s.duckdb"
        shutil.copy(source, db)
        settings = Settings.load(
            env={},
            db_path=str(db),
            secret_key="bench-secret-key-0123456789abcdef",
        )
        with App(settings) as app:
            accounts.add_user(app.store, "ana", "analyst", "analyst-pass-1")
            token, _ = accounts.create_token(app.store, ["read"], user="ana")
            headers = {"Authorization": f"Bearer {token}"}
            url = "/api/v1/journeys?period=all"
            out: dict[str, float] = {}
            with TestClient(create_app(app, cache_pages=False)) as client:
                t0 = time.perf_counter()
                client.get(url, headers=headers).raise_for_status()
                out["first view"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                client.get(url, headers=headers).raise_for_status()
                out["warm view"] = time.perf_counter() - t0
                ingest_table(
                    app.store, _one_event(n, events_from_records), app.journey, source="bench"
                )
                t0 = time.perf_counter()
                client.get(url, headers=headers).raise_for_status()
                out["view after 1 new event"] = time.perf_counter() - t0
            return out


def _one_event(n: int, events_from_records: Any) -> Any:
    return events_from_records(
        [
            {
                "event_id": f"bench-page-{n}",
                "journey_id": "bench-journey",
                "customer_id": "bench-customer",
                "kind": "order.placed",
                "occurred_at": datetime.now(UTC),
            }
        ],
        source="bench",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="demo-data/demo.duckdb")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    before = load_average()
    runs = [_one_round(Path(args.db), i) for i in range(args.rounds)]
    print(f"median of {args.rounds} rounds; load average {before} -> {load_average()}\n")
    print("| step | seconds |")
    print("|---|---:|")
    for step in runs[0]:
        print(f"| {step} | {statistics.median(r[step] for r in runs):.3f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
