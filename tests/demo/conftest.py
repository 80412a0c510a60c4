"""One small demo, generated once per test session, and a DuckDB connection over it."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pytest

from klantreis.demo.generator import generate_demo

#: Small enough to generate in about a second, large enough for the story to show.
DEMO_ORDERS = 12_000


@pytest.fixture(scope="session")
def demo_events() -> pa.Table:
    return pa.concat_tables(generate_demo(DEMO_ORDERS, seed=11))


@pytest.fixture(scope="session")
def demo_db(demo_events: pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
    """``events`` plus ``deliveries``: one row per shipped journey with its carrier, deadline,
    delivery time (NULL when still under way) and whether the promise broke."""
    con = duckdb.connect()
    con.register("events_arrow", demo_events)
    con.execute("CREATE TABLE events AS SELECT * FROM events_arrow").fetchall()
    con.execute("""
        CREATE TABLE deliveries AS
        SELECT *, CASE WHEN delivered_at IS NULL THEN NULL
                       ELSE delivered_at > deadline END AS late
        FROM (SELECT journey_id,
                     any_value(owner) FILTER (WHERE kind = 'delivery.promised') AS carrier,
                     max(CAST(json_extract_string(attrs, '$.deadline') AS TIMESTAMPTZ))
                         FILTER (WHERE kind = 'delivery.promised') AS deadline,
                     max(occurred_at) FILTER (WHERE kind = 'delivery.completed') AS delivered_at
              FROM events WHERE kind IN ('delivery.promised', 'delivery.completed')
              GROUP BY journey_id)""").fetchall()
    yield con
    con.close()
