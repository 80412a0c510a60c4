"""Acting at scale (issue 15): the case rules over a 10M-event store, in full and per ingest
batch (events/s), and the time from a risk signal in the log to a queued proactive message.

    nice -n 10 .venv/bin/python -m bench.bench_act --store /work/bench-data/demo10m.duckdb \
        --work /tmp/bench-act [--batches 5] [--batch-rows 1000] [--signals 10]

The store is copied into ``--work`` first (the original is never written). Measured:

1. ``rule_triggers`` over the whole log (read only: every enabled shipped rule, one Ibis
   expression each): seconds and events/s;
2. ``cases_for_batch`` per ingest batch of new journeys (late VlotBezorgd parcels, a call,
   a detractor answer): rule evaluation for the batch's journeys + opening the cases + their
   ``case.opened`` events, events/s of the batch;
3. risk signal -> queued message: a parcel promised for 30 minutes from now and not yet
   delivered is appended; ``App.run_proactive`` (the scheduler's ``proactive`` job) decides
   it and queues the e-mail in the outbox. The job runs every ``PROACTIVE_EVERY`` seconds, so
   a signal waits up to that long for the next run: the latency is (wait) + (run time); we
   report the run time (p50, p90, max) and the p90 of the latency for signals arriving at a
   uniformly random moment (simulated with the measured run times). The job is incremental
   (``klantreis.act.proactive_watch``): its first run searches the whole log and keeps the
   state, later runs look only at the journeys that can have a new signal;
4. with ``--cases-job``: the scheduler's ``cases`` job (``App.run_cases``, incremental:
   ``klantreis.act.case_watch``) after each of ``--batches`` new batches, after a first full
   run that keeps its state.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from klantreis.act.engine import rule_triggers
from klantreis.act.rules import default_case_rules
from klantreis.act.runner import cases_for_batch
from klantreis.analytics.backend import duckdb_events
from klantreis.app import App
from klantreis.model.events import events_from_records
from klantreis.settings import Settings

PROACTIVE_EVERY = 60.0


def _late_parcels(tag: str, n: int, at: datetime) -> list[dict[str, Any]]:
    """``n`` journeys of 5 events: ordered, promised (+24 h), a call after the deadline, a
    late delivery by VlotBezorgd, a detractor answer."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        j, c = f"{tag}-{i}", f"{tag}-c{i}"

        def e(
            suffix: str, hours: float, kind: str, j: str = j, c: str = c, **kw: Any
        ) -> dict[str, Any]:
            return {
                "event_id": f"{j}-{suffix}",
                "occurred_at": (at + timedelta(hours=hours)).isoformat(),
                "kind": kind,
                "journey_id": j,
                "customer_id": c,
                **kw,
            }

        deadline = (at + timedelta(hours=24)).isoformat()
        vlot = "carrier:vlotbezorgd"
        out += [
            e("o", 0, "order.placed"),
            e("p", 1, "delivery.promised", owner=vlot, attrs={"deadline": deadline}),
            e("w", 30, "contact.inbound", channel="phone", attrs={"reason": "waar_is_mijn_pakket"}),
            e("d", 50, "delivery.completed", owner=vlot),
            e("s", 52, "survey.response", metric="nps", score=float(i % 7), touchpoint="bezorging"),
        ]
    return out


def _pct(values: list[float], q: float) -> float:
    return float(np.quantile(np.array(values), q))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="/work/bench-data/demo10m.duckdb")
    ap.add_argument("--work", default="/tmp/bench-act")
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--batch-rows", type=int, default=1_000)
    ap.add_argument("--signals", type=int, default=10)
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--cases-job", action="store_true")
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    db = work / "store.duckdb"
    if not db.exists():
        t = time.perf_counter()
        shutil.copyfile(args.store, db)
        print(f"copied the store in {time.perf_counter() - t:.1f} s")
    print(f"load before: {os.getloadavg()}")
    settings = Settings.load(env={}, db_path=str(db), secret_key="bench-act-" + "x" * 30)
    with App(settings) as app:
        store, journey = app.store, app.journey
        rules = default_case_rules(journey)
        newest = store.query("SELECT max(occurred_at) AS t FROM events").to_pylist()[0]["t"]
        n_events = store.count()
        print(f"events: {n_events:,}; newest {newest}")

        # 1. the whole log
        if not args.skip_full:
            t = time.perf_counter()
            triggers = rule_triggers(duckdb_events(store), rules, journey, now=newest)
            full = time.perf_counter() - t
            by_rule: dict[str, int] = {}
            for r in triggers.column("rule_id").to_pylist():
                by_rule[r] = by_rule.get(r, 0) + 1
            print(
                f"full rule evaluation: {full:.1f} s, {n_events / full:,.0f} events/s,"
                f" {triggers.num_rows:,} (rule, journey) matches {dict(sorted(by_rule.items()))}"
                f"  load {os.getloadavg()}"
            )

        # 2. per ingest batch
        per_batch: list[float] = []
        opened = 0
        for b in range(args.batches):
            records = _late_parcels(f"bench-b{b}", args.batch_rows // 5, newest - timedelta(days=3))
            batch = events_from_records(records)
            store.append(batch)
            t = time.perf_counter()
            run = cases_for_batch(app, rules, batch, now=newest)
            per_batch.append(time.perf_counter() - t)
            opened += len(run.opened)
        med = statistics.median(per_batch)
        print(
            f"per batch of {args.batch_rows} events: median {med:.2f} s"
            f" ({args.batch_rows / med:,.0f} events/s), all {[round(x, 2) for x in per_batch]},"
            f" {opened} cases opened  load {os.getloadavg()}"
        )

        # 4. the cases job (incremental after its first run)
        if args.cases_job:
            t = time.perf_counter()
            first_run = app.run_cases(newest)
            print(
                f"cases job, first (full) run: {time.perf_counter() - t:.1f} s,"
                f" {len(first_run.opened)} opened  load {os.getloadavg()}"
            )
            job: list[float] = []
            for b in range(args.batches):
                records = _late_parcels(
                    f"bench-j{b}", args.batch_rows // 5, newest - timedelta(days=3)
                )
                store.append(events_from_records(records))
                t = time.perf_counter()
                job_run = app.run_cases(newest)
                job.append(time.perf_counter() - t)
                opened += len(job_run.opened)
            print(
                f"cases job after a batch of {args.batch_rows} events: median"
                f" {statistics.median(job):.2f} s, all {[round(x, 2) for x in job]}"
                f"  load {os.getloadavg()}"
            )

        # 3. risk signal -> queued proactive message
        now = datetime.now(UTC)
        t = time.perf_counter()
        first = app.run_proactive(now)  # decides the log's history once (not a latency)
        print(
            f"first proactive run (history): {time.perf_counter() - t:.1f} s,"
            f" {len(first)} decisions"
        )
        runs: list[float] = []
        queued = 0
        for k in range(args.signals):
            now = datetime.now(UTC)
            cid = f"bench-sig-c{k}-{int(now.timestamp())}"
            app.directory.upsert(cid, email=f"{cid}@example.invalid", lang="nl")
            app.directory.set_consent(cid, "service", True, source="bench")
            j = f"bench-sig-{k}-{int(now.timestamp())}"
            signal = [
                {
                    "event_id": f"{j}-o",
                    "occurred_at": (now - timedelta(days=1)).isoformat(),
                    "kind": "order.placed",
                    "journey_id": j,
                    "customer_id": cid,
                },
                {
                    "event_id": f"{j}-p",
                    "occurred_at": (now - timedelta(hours=20)).isoformat(),
                    "kind": "delivery.promised",
                    "journey_id": j,
                    "customer_id": cid,
                    "owner": "carrier:vlotbezorgd",
                    "attrs": {"deadline": (now + timedelta(minutes=30)).isoformat()},
                },
            ]
            store.append(events_from_records(signal))
            t = time.perf_counter()
            decisions = app.run_proactive(datetime.now(UTC))
            runs.append(time.perf_counter() - t)
            mine = [d for d in decisions if d.journey_id == j]
            if mine and mine[0].arm == "message":
                queued += 1
        rng = np.random.default_rng(1)
        waits = rng.uniform(0, PROACTIVE_EVERY, 100_000)
        latency = waits + rng.choice(np.array(runs), 100_000)
        print(
            f"proactive run after a new signal: p50 {_pct(runs, 0.5):.2f} s,"
            f" p90 {_pct(runs, 0.9):.2f} s, max {max(runs):.2f} s ({queued}/{args.signals}"
            f" queued, the rest held out); signal -> queued with the job every"
            f" {PROACTIVE_EVERY:.0f} s: p90 {np.quantile(latency, 0.9):.1f} s,"
            f" max {PROACTIVE_EVERY + max(runs):.1f} s  load {os.getloadavg()}"
        )


if __name__ == "__main__":
    main()
