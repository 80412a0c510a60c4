"""The engine-parity fixtures: one generated event log, loaded into DuckDB and into Spark.

Spark runs in ``local[1]`` mode with a UTC session time zone and no UI, one session for the
whole test session. Spark tests are skipped with a reason when Java or PySpark is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import ibis
import numpy as np
import pyarrow as pa
import pytest

from klantreis.model.events import EVENT_SCHEMA, conform

TOUCHPOINTS = [
    "website",
    "bestellen",
    "betalen",
    "bezorging",
    "factuur",
    "retour",
    "klantenservice",
    "onbekend",
]
OWNERS = ["webshop", "finance", "carrier:snelpost", "carrier:pakketdirect", None]
CHANNELS = ["email", "web", "app"]
CONTACT_CHANNELS = ["phone", "email", "chat", "whatsapp"]
REASONS = ["waar_is_mijn_pakket", "factuur_onjuist", "retour_aanmelden", None]
SCALES = {"nps": (0, 10), "ces": (1, 7), "csat": (1, 5), "stars": (1, 5)}
START = datetime(2026, 3, 20, tzinfo=UTC)  # spans the spring DST change, and 31 Mar 23:30 UTC


def generate_events(seed: int = 7, journeys: int = 1500) -> pa.Table:
    """A deterministic event log: journey starts, inbound contacts and answers of all metrics."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for j in range(journeys):
        jid = f"o{j:05d}"
        t0 = START + timedelta(minutes=int(rng.integers(0, 60 * 24 * 70)))
        rows.append(
            {
                "kind": "order.placed",
                "journey_id": jid,
                "occurred_at": t0,
                "touchpoint": "bestellen",
                "owner": "webshop",
                "channel": "web",
            }
        )
        for _ in range(int(rng.poisson(0.4))):
            rows.append(
                {
                    "kind": "contact.inbound",
                    "journey_id": jid,
                    "occurred_at": t0 + timedelta(hours=float(rng.uniform(1, 400))),
                    "touchpoint": "klantenservice",
                    "owner": "customer_service",
                    "channel": CONTACT_CHANNELS[int(rng.integers(0, 4))],
                    "attrs": _attrs(rng),
                }
            )
        for _ in range(int(rng.integers(0, 5))):
            rows.append(_answer(rng, jid, t0))
    for i, row in enumerate(rows):
        row["event_id"] = f"e{i:07d}"
        row["customer_id"] = f"c{i % 400:04d}"
    # The classic boundary case: 23:30 UTC on 31 March is 1 April in Amsterdam.
    rows.append(
        {
            "event_id": "edge",
            "kind": "survey.response",
            "metric": "nps",
            "score": 10.0,
            "occurred_at": datetime(2026, 3, 31, 23, 30, tzinfo=UTC),
            "touchpoint": "bezorging",
            "channel": "email",
        }
    )
    return conform(pa.Table.from_pylist(rows, schema=_loose_schema()))


def _attrs(rng: np.random.Generator) -> str | None:
    reason = REASONS[int(rng.integers(0, len(REASONS)))]
    return (
        None
        if reason is None
        else json.dumps({"reason": reason, "resolved": bool(rng.integers(0, 2))})
    )


def _answer(rng: np.random.Generator, jid: str, t0: datetime) -> dict[str, Any]:
    metric = list(SCALES)[int(rng.integers(0, 4))]
    lo, hi = SCALES[metric]
    tp = TOUCHPOINTS[int(rng.integers(0, len(TOUCHPOINTS)))]
    return {
        "kind": "survey.response",
        "journey_id": jid,
        "metric": metric,
        "score": float(rng.integers(lo, hi + 1)),
        "occurred_at": t0 + timedelta(minutes=float(rng.uniform(10, 60 * 24 * 20))),
        "touchpoint": tp,
        "owner": OWNERS[int(rng.integers(0, len(OWNERS)))],
        "channel": CHANNELS[int(rng.integers(0, 3))],
        "attrs": json.dumps({"segment": ["nieuw", "vast"][int(rng.integers(0, 2))]}),
    }


def _loose_schema() -> pa.Schema:
    return pa.schema([pa.field(f.name, f.type) for f in EVENT_SCHEMA])


@pytest.fixture(scope="session")
def parity_events() -> pa.Table:
    return generate_events()


def duckdb_table(events: pa.Table) -> ibis.Table:
    con = duckdb.connect()
    con.register("incoming", events)
    con.execute("CREATE TABLE events AS SELECT * FROM incoming").fetchall()
    con.unregister("incoming")
    return ibis.duckdb.from_connection(con).table("events")


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark parity needs Java (no `java` on PATH and no JAVA_HOME)")
    pyspark_sql = pytest.importorskip("pyspark.sql", reason="Spark parity needs pyspark")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("klantreis-parity")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()


@pytest.fixture(
    scope="session",
    params=["duckdb", pytest.param("spark", marks=[pytest.mark.spark, pytest.mark.slow])],
)
def engine_events(request: pytest.FixtureRequest, parity_events: pa.Table) -> ibis.Table:
    """The parity event log as an Ibis table on each engine."""
    if request.param == "duckdb":
        return duckdb_table(parity_events)
    from klantreis.analytics.backend import spark_events

    spark = request.getfixturevalue("spark_session")
    return spark_events(spark, parity_events, name="parity_events")
