"""Where the event table comes from: a DuckDB store (default) or a Spark session.

Analytics functions take an Ibis table with the canonical event columns and return Ibis
expressions or Arrow tables; they never know which engine runs them.
"""

from __future__ import annotations

from typing import Any

import ibis
import pyarrow as pa

from klantreis.store import EventStore

__all__ = ["duckdb_events", "spark_events"]


def duckdb_events(store: EventStore) -> ibis.Table:
    """The store's ``events`` table as an Ibis table (on a cursor of the store's database)."""
    backend = ibis.duckdb.from_connection(store.cursor())
    return backend.table("events")


def spark_events(spark: Any, events: pa.Table, name: str = "events") -> ibis.Table:
    """Register an Arrow event table in a Spark session and return it as an Ibis table.

    Time stamps are kept in UTC: the session's time zone must be UTC
    (``spark.sql.session.timeZone``).
    """
    df = spark.createDataFrame(events.to_pandas())
    df.createOrReplaceTempView(name)
    backend = ibis.pyspark.connect(spark)
    return backend.table(name)
