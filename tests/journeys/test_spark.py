"""The portable (Ibis) journey analytics give the same answers on Spark as on DuckDB."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.journeys.logs import NOW

from klantreis.analytics import discovery, promises, timeline
from klantreis.analytics.backend import spark_events
from klantreis.analytics.conditions import PromiseBroken
from klantreis.analytics.impact import impact
from klantreis.app import App

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pyspark_sql = pytest.importorskip("pyspark.sql", reason="needs pyspark")
    import shutil

    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")
    session = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("kr-journeys")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _utc(value: Any) -> Any:
    """Spark returns naive UTC time stamps, DuckDB aware ones: compare as aware UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, dict):
        return {k: _utc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_utc(v) for v in value]
    return value


CHECKS: dict[str, Callable[[Any, Any], Any]] = {
    "dfg": lambda t, j: discovery.dfg(t, j).to_pylist(),
    "variants": lambda t, j: discovery.variants(t, j, top=None).to_pylist(),
    "ends": lambda t, j: (
        discovery.start_activities(t, j).to_pylist(),
        discovery.end_activities(t, j, activity="touchpoint").to_pylist(),
    ),
    "handovers": lambda t, j: discovery.handovers(t, j).to_pylist(),
    "owner_handovers": lambda t, j: discovery.owner_handovers(t, j).to_pylist(),
    "steps": lambda t, j: discovery.step_stats(t, j).to_pylist(),
    "promises": lambda t, j: promises.promise_outcomes(t, j, now=NOW).to_pylist(),
    "rates": lambda t, j: promises.promise_rates(t, j, "period", now=NOW).to_pylist(),
    "impact": lambda t, j: impact(
        t, j, PromiseBroken("op_tijd_bezorgd", now=NOW), min_answers=1
    ).as_dict(),
    "timeline": lambda t, j: timeline.timeline(t, journey_id="o2").to_pylist(),
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_spark_equals_duckdb(name: str, small_app: App, spark: Any) -> None:
    on_spark = spark_events(spark, small_app.store.events())
    check = CHECKS[name]
    assert _utc(check(on_spark, small_app.journey)) == _utc(
        check(small_app.events_table(), small_app.journey)
    )


def test_spark_keeps_the_source_order_of_ties(app: App, spark: Any) -> None:
    """Ties whose source order differs from their id order (and a journey without a source
    order): the same paths and timeline on Spark as on DuckDB, in the source order."""
    from tests.journeys.logs import T0, ev, load

    load(
        app,
        [
            ev("z", "s1", "order.placed", T0),
            ev("m", "s1", "delivery.promised", T0),
            ev("a", "s1", "payment.completed", T0),
            ev("y", "s2", "payment.completed", T0, source_order=0),
            ev("b", "s2", "order.placed", T0, source_order=0),
        ],
    )
    on_spark = spark_events(spark, app.store.events())
    for table in (on_spark, app.events_table()):
        variants = discovery.variants(table, app.journey, top=None).to_pylist()
        assert sorted(tuple(v["variant"]) for v in variants) == [
            ("order.placed", "delivery.promised", "payment.completed"),
            ("order.placed", "payment.completed"),  # no source order: event id decides
        ]
        kinds = timeline.timeline(table, journey_id="s1").column("kind").to_pylist()
        assert kinds == ["order.placed", "delivery.promised", "payment.completed"]
