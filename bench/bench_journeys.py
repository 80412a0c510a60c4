"""Journey discovery on a large synthetic log: ``python -m bench.bench_journeys --events 10000000``.

Generates N events (~10 per journey, 8 path variants, 3 carriers, stored in time order as
they would arrive) into a DuckDB file with SQL, then times in one run:

- a bare ``count(DISTINCT journey_id)`` scan (the floor for anything per journey);
- a plain window-query DFG (lead() over journey, ordered by time) in DuckDB;
- our portable Ibis DFG + variants (no index);
- the journey index: full build (one-off), incremental refresh after 1% new events;
- our DFG + variants + start/end from the index (target: <= 1.0 s for 10M on 2 cores);
- pm4py ``discover_dfg`` on the same data as a pandas frame (``--pm4py-events`` to cap it).

pm4py is AGPL and only used here as a benchmark peer. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import gc
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from klantreis.analytics import discovery
from klantreis.analytics.journey_index import JourneyIndex
from klantreis.analytics.scope import Scope
from klantreis.app import App
from klantreis.model.events import conform
from klantreis.settings import Settings

log = logging.getLogger(__name__)

#: Path templates: (kind, owner, minutes after the order). 'carrier' is replaced per journey.
_COMMON = [
    ("web.visit", "webshop", -30),
    ("order.placed", "webshop", 0),
    ("payment.completed", "finance", 2),
    ("shipment.handed_over", "warehouse", 600),
    ("delivery.promised", "carrier", 620),
]
TEMPLATES: list[list[tuple[str, str, int]]] = [
    [
        *_COMMON,
        ("delivery.completed", "carrier", 1500),
        ("invoice.sent", "finance", 1510),
        ("invoice.paid", "finance", 4000),
        ("survey.response", "carrier", 3000),
        ("review.posted", "marketing", 5000),
    ],
    [
        *_COMMON,
        ("contact.inbound", "customer_service", 2900),
        ("delivery.completed", "carrier", 3100),
        ("invoice.sent", "finance", 3110),
        ("contact.inbound", "customer_service", 3200),
        ("survey.response", "carrier", 4500),
        ("invoice.paid", "finance", 6000),
    ],
    [
        *_COMMON,
        ("delivery.completed", "carrier", 1400),
        ("invoice.sent", "finance", 1410),
        ("invoice.paid", "finance", 2000),
    ],
    [
        ("order.placed", "webshop", 0),
        ("payment.failed", "finance", 1),
        ("payment.completed", "finance", 9),
        ("shipment.handed_over", "warehouse", 700),
        ("delivery.promised", "carrier", 720),
        ("delivery.failed", "carrier", 1500),
        ("contact.inbound", "customer_service", 1600),
        ("delivery.completed", "carrier", 3000),
        ("invoice.sent", "finance", 3010),
        ("invoice.paid", "finance", 5000),
    ],
    [
        *_COMMON,
        ("delivery.completed", "carrier", 1500),
        ("return.requested", "warehouse", 4000),
        ("return.received", "warehouse", 7000),
        ("refund.paid", "finance", 9000),
        ("survey.response", "finance", 9500),
        ("invoice.sent", "finance", 1510),
    ],
    [
        *_COMMON,
        ("delivery.completed", "carrier", 1300),
        ("invoice.sent", "finance", 1310),
        ("invoice.bounced", "finance", 1400),
        ("contact.inbound", "customer_service", 1500),
        ("invoice.sent", "finance", 1600),
        ("invoice.paid", "finance", 3000),
    ],
    [
        ("web.visit", "webshop", -60),
        ("web.visit", "webshop", -20),
        ("order.placed", "webshop", 0),
        ("payment.completed", "finance", 3),
        ("shipment.handed_over", "warehouse", 500),
        ("delivery.promised", "carrier", 520),
        ("delivery.completed", "carrier", 1200),
        ("invoice.sent", "finance", 1210),
        ("invoice.paid", "finance", 1900),
    ],
    [
        *_COMMON,
        ("delivery.completed", "carrier", 1500),
        ("invoice.sent", "finance", 1510),
        ("social.mention", "marketing", 1700),
        ("invoice.paid", "finance", 3900),
    ],
]
CARRIERS = ["carrier:snelpost", "carrier:pakketdirect", "carrier:vlotbezorgd"]


def _template_sql() -> str:
    rows = [
        f"({v}, {pos}, '{k}', '{o}', {m})"
        for v, tpl in enumerate(TEMPLATES)
        for pos, (k, o, m) in enumerate(tpl)
    ]
    return "VALUES " + ", ".join(rows)


def _generate_sql(first: int, count: int) -> str:
    carriers = "[" + ", ".join(f"'{c}'" for c in CARRIERS) + "]"
    return f"""
    SELECT 'e' || j || '-' || pos AS event_id,
           TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_microseconds(
               (j::BIGINT * 31000000 + (minutes::BIGINT * 60000000) * (0.8 + (hash(j, pos) % 400) / 1000.0)
               )::BIGINT) AS occurred_at,
           'c' || (j // 3) AS customer_id, 'o' || j AS journey_id, kind,
           NULL::VARCHAR AS touchpoint,
           CASE WHEN kind = 'contact.inbound' THEN 'phone' ELSE 'web' END AS channel,
           CASE WHEN owner = 'carrier' THEN {carriers}[1 + (hash(j) % 3)::INT]
                ELSE owner END AS owner,
           CASE WHEN kind = 'survey.response' THEN 'csat' END AS metric,
           CASE WHEN kind = 'survey.response' THEN 1 + (hash(j, 7) % 5)::INT END::DOUBLE
               AS score,
           NULL::VARCHAR AS text, NULL::VARCHAR AS lang, NULL::VARCHAR AS attrs,
           'bench' AS source
    FROM range({first}, {first + count}) r(j)
    JOIN ({_template_sql()}) tpl(v, pos, kind, owner, minutes)
      ON tpl.v = (hash(j, 1) % {len(TEMPLATES)})::INT
    ORDER BY occurred_at
    """


def generate(
    store_path: str, events: int, first_journey: int = 0, chunk_journeys: int = 100_000
) -> int:
    """Append about ``events`` synthetic events to the store through ``EventStore.append``
    (the store's own idempotent path), in chunks of journeys, each chunk in time order."""
    avg = sum(len(t) for t in TEMPLATES) / len(TEMPLATES)
    journeys = max(1, round(events / avg))
    gen = duckdb.connect()
    stored = 0
    try:
        with App(Settings.load(env={}, db_path=store_path)) as app:
            for first in range(first_journey, first_journey + journeys, chunk_journeys):
                count = min(chunk_journeys, first_journey + journeys - first)
                table = gen.sql(_generate_sql(first, count)).to_arrow_table()
                stored += app.store.append(conform(table)).stored
    finally:
        gen.close()
    return stored


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


WINDOW_DFG = """
SELECT kind, nxt, count(*), avg(dt), median(dt), quantile_cont(dt, 0.9) FROM (
  SELECT kind, lead(kind) OVER w AS nxt,
         date_diff('microsecond', occurred_at, lead(occurred_at) OVER w) / 1e6 AS dt
  FROM events WINDOW w AS (PARTITION BY journey_id ORDER BY occurred_at, event_id))
WHERE nxt IS NOT NULL GROUP BY ALL
"""


def _pm4py_dfg(app: App, limit: int) -> tuple[float, float, int]:
    import pm4py

    where = (
        ""
        if limit >= app.store.count() * 0.98
        else (
            " WHERE journey_id IN (SELECT DISTINCT journey_id FROM events ORDER BY 1"
            f" LIMIT {limit // 10})"
        )
    )
    frame_s, df = timed(
        lambda: (
            app.store.cursor()
            .sql(
                'SELECT journey_id AS "case:concept:name", kind AS "concept:name",'
                f' occurred_at AS "time:timestamp" FROM events{where}'
            )
            .df()
        )
    )
    dfg_s, dfg = timed(lambda: pm4py.discover_dfg(df)[0])
    log.info("pm4py edges: %d", len(dfg))
    n = len(df)
    return frame_s, dfg_s, n


def _index_reads(app: App, rows: list[tuple[str, float, str]]) -> None:
    index = JourneyIndex(app.store)
    inc_s, res = timed(index.ensure)
    rows.append(
        ("journey index: incremental refresh", inc_s, f"{res.mode}, {res.journeys:,} journeys")
    )
    first_s, d = timed(lambda: discovery.discover(app.events_table(), app.journey, index=index))
    rows.append(
        (
            "our DFG + variants + start/end, first read after refresh (computes exact quantiles)",
            first_s,
            f"{d.dfg.num_rows} edges",
        )
    )
    warm = sorted(
        timed(lambda: discovery.discover(app.events_table(), app.journey, index=index))[0]
        for _ in range(3)
    )
    rows.append(
        (
            "**our DFG + variants + start/end (index)**, median of 3",
            warm[1],
            f"{d.journeys:,} journeys",
        )
    )
    flt = Scope(owners=("carrier:vlotbezorgd",))
    f_s, fd = timed(lambda: discovery.discover(app.events_table(), app.journey, flt, index=index))
    rows.append(
        (
            "our DFG + variants, filtered (owner = one carrier), from the index",
            f_s,
            f"{fd.journeys:,} journeys",
        )
    )


class _Rows(list):  # type: ignore[type-arg]
    """Rows that are printed as they are measured (a killed run keeps what it measured)."""

    def append(self, row: tuple[str, float, str]) -> None:
        super().append(row)
        print(f"| {row[0]} | {row[1]:.2f} | {row[2]} |", flush=True)


def run(
    store_path: str, events: int, pm4py_events: int, skip_plain: bool, reuse: bool = False
) -> list[tuple[str, float, str]]:
    print("| step | seconds | notes |\n|---|---:|---|", flush=True)
    rows: list[tuple[str, float, str]] = _Rows()
    with App(Settings.load(env={}, db_path=store_path)) as app:
        existing = app.store.count()
    if not (reuse and existing):
        gen_s, n = timed(lambda: generate(store_path, events))
        rows.append(("generate (SQL) + EventStore.append", gen_s, f"{n:,} events"))
    with App(Settings.load(env={}, db_path=store_path)) as app:
        n = app.store.count()
        con = app.store.cursor()
        scan_s, _ = timed(
            lambda: con.sql("SELECT count(DISTINCT journey_id) FROM events").fetchall()
        )
        rows.append(("count(DISTINCT journey_id) scan", scan_s, f"{n:,} events"))
        win_s, _ = timed(lambda: con.sql(WINDOW_DFG).fetchall())
        rows.append(("plain window-query DFG (DuckDB SQL)", win_s, ""))
        if not skip_plain:
            ibis_s, d = timed(lambda: discovery.discover(app.events_table(), app.journey))
            rows.append(
                ("our DFG + variants, portable Ibis (no index)", ibis_s, f"{d.dfg.num_rows} edges")
            )
        index = JourneyIndex(app.store)
        build_s, res = timed(index.rebuild)
        rows.append(("journey index: full build (one-off)", build_s, f"{res.journeys:,} journeys"))
    new = max(1, n // 100)
    add_s, added = timed(lambda: generate(store_path, new, first_journey=10**9 + n))
    rows.append(("append 1% new events (new journeys)", add_s, f"{added:,} events"))
    with App(Settings.load(env={}, db_path=store_path)) as app:
        _index_reads(app, rows)
        if pm4py_events:
            frame_s, dfg_s, pn = _pm4py_dfg(app, pm4py_events)
            rows.append(("pm4py: DuckDB -> pandas frame", frame_s, f"{pn:,} events"))
            rows.append(("pm4py discover_dfg (frame ready)", dfg_s, f"{pn:,} events"))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument(
        "--pm4py-events",
        type=int,
        default=None,
        help="events for the pm4py peer (default: same as --events; 0 skips)",
    )
    parser.add_argument(
        "--skip-plain", action="store_true", help="skip the portable Ibis path (slow on 10M)"
    )
    parser.add_argument("--db", default=None, help="DuckDB file (default: a temporary one)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --db: reuse the events already there (no generation)",
    )
    args, _ = parser.parse_known_args(argv)
    pm_events = args.events if args.pm4py_events is None else args.pm4py_events
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or str(Path(tmp) / "bench_journeys.duckdb")
        rows = run(path, args.events, pm_events, args.skip_plain, args.reuse)
    times = {name: s for name, s, _ in rows}
    warm = next(s for name, s, _ in rows if name.startswith("**our"))
    first = next(s for name, s, _ in rows if "first read after refresh" in name)
    scan = times["count(DISTINCT journey_id) scan"]
    window = times["plain window-query DFG (DuckDB SQL)"]
    print(
        f"\nours (index, graph kept) / plain scan: {warm / scan:.2f}x;"
        f" first read after a refresh / plain scan: {first / scan:.2f}x;"
        f" plain window query / first read: {window / first:.1f}x"
    )
    pm = times.get("pm4py discover_dfg (frame ready)")
    if pm:
        print(
            f"pm4py discover_dfg / ours: {pm / warm:.0f}x (graph kept),"
            f" {pm / first:.1f}x (first read after a refresh)"
        )


if __name__ == "__main__":
    main()
