"""Where the event table comes from: a DuckDB store (default) or a Spark session.

Analytics functions take an Ibis table with the canonical event columns and return Ibis
expressions or Arrow tables; they never know which engine runs them.

Two things Ibis does not express portably are handled here, once, by engine:

- **Reading a key of the JSON ``attrs`` text as text** (:func:`json_text`): DuckDB's
  ``json_extract_string(attrs, '$.key')`` and Spark's ``get_json_object(attrs, '$.key')`` both
  return the value as text (numbers and booleans as their JSON spelling, e.g. ``3``/``true``).
  Text that is not JSON reads as NULL on both (DuckDB's call is wrapped in ``try``).
  (Ibis' own ``cast('json')[key].unwrap_as('str')`` runs a Python UDF on Spark, which needs the
  workers' Python to match the driver's; these builtins need nothing.)
- **Wall-clock time in a time zone** (:func:`local_time`): DuckDB's ``timezone(tz, ts)`` and
  Spark's ``from_utc_timestamp(ts, tz)`` both turn a UTC instant into the naive local date-time,
  with the zone's daylight-saving rules. Days, weeks and months are then cut on that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from klantreis.store import EventStore

__all__ = [
    "duckdb_events",
    "engine_name",
    "epoch_micros",
    "json_text",
    "local_time",
    "spark_events",
]


def duckdb_events(store: EventStore) -> ibis.Table:
    """The store's ``events`` table as an Ibis table (on a cursor of the store's database)."""
    backend = ibis.duckdb.from_connection(store.cursor())
    return backend.table("events")


def spark_events(spark: Any, events: pa.Table, name: str = "events") -> ibis.Table:
    """Register an Arrow event table in a Spark session and return it as an Ibis table.

    Time stamps are kept in UTC: the session's time zone must be UTC
    (``spark.sql.session.timeZone``). The Arrow table goes in directly (PySpark >= 4): via
    pandas, missing strings would arrive as the text 'NaN' and all-null columns as doubles.
    """
    df = spark.createDataFrame(events)
    df.createOrReplaceTempView(name)
    backend = ibis.pyspark.connect(spark)
    return backend.table(name)


def engine_name(table: ir.Table) -> str:
    """The Ibis backend name of a table: ``duckdb``, ``pyspark``, ..."""
    return str(table._find_backend().name)


# Builtin (engine-native) functions, declared for Ibis. The bodies are never run. The
# decorator is untyped in Ibis; typed here: a declared function becomes an Ibis builtin that
# takes and returns Ibis expressions (hence ``Callable[..., Any]``).
_builtin: Callable[..., Callable[[Callable[..., Any]], Callable[..., Any]]] = (
    ibis.udf.scalar.builtin
)


@_builtin(name="json_extract_string")
def _duckdb_json_text(doc: str, path: str) -> str:  # type: ignore[empty-body]
    ...


@_builtin(name="try", signature=((dt.string,), dt.string))
def _duckdb_try(value: Any) -> Any: ...


@_builtin(name="get_json_object")
def _spark_json_text(doc: str, path: str) -> str:  # type: ignore[empty-body]
    ...


_UTC_TS = dt.Timestamp(timezone="UTC")
_NAIVE_TS = dt.Timestamp()


@_builtin(name="timezone", signature=((dt.string, _UTC_TS), _NAIVE_TS))
def _duckdb_timezone(zone: Any, ts: Any) -> Any: ...


@_builtin(name="from_utc_timestamp", signature=((_UTC_TS, dt.string), _NAIVE_TS))
def _spark_from_utc(ts: Any, zone: Any) -> Any: ...


@_builtin(name="epoch_us", signature=((_UTC_TS,), dt.int64))
def _duckdb_epoch_us(ts: Any) -> Any: ...


@_builtin(name="unix_micros", signature=((_UTC_TS,), dt.int64))
def _spark_unix_micros(ts: Any) -> Any: ...


def epoch_micros(table: ir.Table, column: str = "occurred_at") -> ir.IntegerValue:
    """Microseconds since 1970-01-01 UTC of a UTC instant: an exact integer on every engine.

    (Ibis' ``epoch_seconds`` casts to a naive timestamp on DuckDB, which depends on the
    session time zone, and gives a double.)
    """
    engine = engine_name(table)
    if engine == "duckdb":
        return _duckdb_epoch_us(table[column])
    if engine == "pyspark":
        return _spark_unix_micros(table[column])
    raise NotImplementedError(f"epoch_micros is not implemented for engine {engine!r}")


def json_text(table: ir.Table, key: str, column: str = "attrs") -> ir.StringValue:
    """``column`` (JSON object text) -> the value at top-level ``key`` as text, or NULL."""
    if not key.replace("_", "").isalnum():
        raise ValueError(f"attribute key must be letters, digits or _: {key!r}")
    path = f"$.{key}"
    engine = engine_name(table)
    if engine == "duckdb":
        return _duckdb_try(_duckdb_json_text(table[column], path))
    if engine == "pyspark":
        return _spark_json_text(table[column], path)
    raise NotImplementedError(f"json_text is not implemented for engine {engine!r}")


def local_time(table: ir.Table, zone: str, column: str = "occurred_at") -> ir.TimestampValue:
    """``column`` (UTC instant) as naive wall-clock time in ``zone`` (e.g. Europe/Amsterdam)."""
    engine = engine_name(table)
    if engine == "duckdb":
        return _duckdb_timezone(zone, table[column])
    if engine == "pyspark":
        return _spark_from_utc(table[column], zone)
    raise NotImplementedError(f"local_time is not implemented for engine {engine!r}")
