"""The journeys page after new events: seconds of ``/api/v1/journeys`` (in-process client,
page cache off so the journeys caches are what is measured), with and without the
``stale_pages`` setting, interleaved.

``python -m bench.bench_pages --db demo-data/demo.duckdb --rounds 3``

Each round copies the store, views the page (warm), appends one event (as the API would),
and times the next view; with ``stale_pages`` also the wait until the background refresh is
done and the view after it. The store copy keeps the source untouched.
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


def _one_round(source: Path, stale: bool, n: int) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from klantreis.access import accounts
    from klantreis.app import App
    from klantreis.caches import StaleResults
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
            stale_pages=stale,
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
                body: dict[str, Any] = client.get(url, headers=headers).json()["data"]
                out["view after 1 new event"] = time.perf_counter() - t0
                out["served stale"] = float(body.get("as_of") is not None)
                if stale:
                    cache = app.caches.get("journeys_page_stale", lambda: StaleResults(app.caches))
                    t0 = time.perf_counter()
                    while body.get("as_of") is not None:  # one refresh at a time
                        cache.wait()
                        body = client.get(url, headers=headers).json()["data"]
                    out["until every part is refreshed"] = time.perf_counter() - t0
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
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for i in range(args.rounds):
        for stale in (False, True):
            runs[stale].append(_one_round(Path(args.db), stale, 2 * i + stale))
    print(
        f"median of {args.rounds} interleaved rounds; load average {before} -> {load_average()}\n"
    )
    print("| step | default (s) | stale_pages (s) |")
    print("|---|---:|---:|")
    for step in runs[True][0]:
        cells = [
            f"{statistics.median(r[step] for r in runs[s]):.3f}" if step in runs[s][0] else "-"
            for s in (False, True)
        ]
        print(f"| {step} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main(sys.argv[1:])
