"""Benchmark: survey invitations planned per second from delivery events, and the contact-rule
(fatigue) decision against a ledger of many customers.

``python -m bench.bench_listen --events 1000000 --customers 1000000 --decisions 2000``:

- *plan*: ``--events`` ``delivery.completed`` events (one journey each, ``--customers``
  customers) appended to a fresh store; then ``listen.triggers.plan`` over the whole log (one
  survey, sample 0.5): seconds and ledger rows written per second (planned + not sampled);
- *decide*: a ledger with ``--customers`` customers holding about two messages each in the
  last 60 days (``survey_contacts``, indexed on the customer); then ``--decisions`` random
  customers, each: one history look-up (``rules.history``) and the rules (``rules.decide``
  with a directory that allows e-mail): p50/p99/max in milliseconds.

Prints a markdown table and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from klantreis.app import default_journey_config
from klantreis.listen import ledger, rules, triggers
from klantreis.model.events import EVENT_SCHEMA
from klantreis.model.survey import parse_survey_config
from klantreis.store.duckdb_store import EventStore

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SURVEYS = """
[contact_rules]
max_per_period = 2
period_days = 30
min_days_between = 7
[[survey]]
id = "na_bezorging"
name_nl = "Na de bezorging"
name_en = "After delivery"
cooldown_days = 60
[survey.trigger]
after = "delivery.completed"
delay = "1d"
sample = 0.5
[[survey.questions]]
id = "nps"
type = "nps"
text = { nl = "?" }
"""


class AllowEmail:
    def may_contact(self, customer_id: str, purpose: str, channel: str) -> tuple[bool, str | None]:
        return (channel == "email", None if channel == "email" else "no_contact_details")


def _deliveries(n: int, customers: int) -> pa.Table:
    rng = np.random.default_rng(7)
    ids = np.arange(n)
    start = int(NOW.timestamp() * 1e6) - 90 * 86400 * 10**6
    at = start + rng.integers(0, 89 * 86400 * 10**6, n)
    cols = {
        "event_id": pa.array([f"d{i}" for i in ids]),
        "occurred_at": pa.array(at, pa.timestamp("us", tz="UTC")),
        "customer_id": pa.array([f"c{i}" for i in rng.integers(0, customers, n)]),
        "journey_id": pa.array([f"j{i}" for i in ids]),
        "kind": pa.array(["delivery.completed"] * n),
        "touchpoint": pa.array(["bezorging"] * n),
        "owner": pa.array(["carrier:vlotbezorgd"] * n),
        "source_order": pa.array(ids, pa.int64()),
    }
    return pa.table(
        {f.name: cols.get(f.name, pa.nulls(n, f.type)) for f in EVENT_SCHEMA}, schema=EVENT_SCHEMA
    )


def bench_plan(path: Path, events: int, customers: int) -> tuple[float, float, int]:
    config = parse_survey_config(SURVEYS)
    with EventStore(path) as store:
        store.append(_deliveries(events, customers))
        ledger.ensure_schema(store)
        t0, c0 = time.perf_counter(), time.process_time()
        [result] = triggers.plan(
            store, config, default_journey_config(), NOW, since=NOW - timedelta(days=400)
        )
        return time.perf_counter() - t0, time.process_time() - c0, result.new


def _fill_contacts(store: EventStore, customers: int) -> None:
    ledger.ensure_schema(store)
    with store.transaction() as con:
        con.execute(
            f"""INSERT INTO survey_contacts
                SELECT 'inv_' || c || '_' || k, 0, 'c' || c, 'na_bezorging', 'email',
                       TIMESTAMPTZ '{NOW.isoformat()}' - to_microseconds(
                           (hash(c * 7 + k) % (60 * 86400))::BIGINT * 1000000),
                       TIMESTAMPTZ '{NOW.isoformat()}'
                FROM range({customers}) r(c), range(2) k(k)"""
        ).fetchall()


def bench_decide(path: Path, customers: int, decisions: int) -> tuple[list[float], list[float]]:
    config = parse_survey_config(SURVEYS)
    survey = config.surveys[0]
    directory = AllowEmail()
    with EventStore(path) as store:
        _fill_contacts(store, customers)
        rng = random.Random(3)
        times, cpu = [], []
        cur = store.cursor()
        for _ in range(decisions):
            customer = f"c{rng.randrange(customers)}"
            t0, c0 = time.perf_counter(), time.process_time()
            past = rules.history(cur, customer, NOW, config.contact_rules, config.surveys)
            rules.decide(
                config.contact_rules, survey, customer, past, NOW, "Europe/Amsterdam", directory
            )
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        cur.close()
        return times, cpu


def _pcts(ms: list[float]) -> str:
    ms = sorted(ms)
    p99 = ms[max(0, int(len(ms) * 0.99) - 1)]
    return f"p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, max {ms[-1]:.2f} ms"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--decisions", type=int, default=2_000)
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        seconds, cpu_s, rows = bench_plan(Path(tmp) / "plan.duckdb", args.events, args.customers)
        times, cpu = bench_decide(Path(tmp) / "decide.duckdb", args.customers, args.decisions)
    print("| measure | wall | CPU (all threads) |\n|---|---|---|")
    print(
        f"| plan {args.events:,} delivery events | {seconds:.2f} s, {rows / seconds:,.0f} rows/s"
        f" | {cpu_s:.2f} s |"
    )
    print(
        f"| decide ({args.customers:,} customers, {len(times):,} decisions) | {_pcts(times)}"
        f" | {_pcts(cpu)} |"
    )
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
