"""Each validation rule is defined once and compiled twice (Arrow and SQL): the two compilations
give the same verdict per rule on the same rows, and the same first reason per row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from klantreis.model.events import conform, events_from_records
from klantreis.model.expressions import Params
from klantreis.model.validation import (
    METRIC_RANGES,
    RULES,
    Rule,
    quick_valid,
    validate_events,
    validation_reason_sql,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)
PARAMS = Params(NOW.replace(year=NOW.year + 5))


def _valid(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": "e1",
        "occurred_at": "2026-10-01T10:00:00+02:00",
        "kind": "order.placed",
        "customer_id": "C1",
        "metric": "nps",
        "score": 9,
        "attrs": '{"a": 1}',
    }
    record.update(changes)
    if "score" in changes and "metric" not in changes:  # a score alone: no metric
        record["metric"] = None
    if "metric" in changes and "score" not in changes:  # a metric alone: no score
        record["score"] = None
    return record


#: Edge rows on which every rule is evaluated, besides the rules' own examples: nulls,
#: NaN and infinite scores, boundary lengths and times, odd JSON.
EDGES: list[dict[str, Any]] = [
    _valid(),
    _valid(metric=None, score=None, attrs=None, customer_id=None),
    *[_valid(metric=metric, score=float("nan")) for metric in METRIC_RANGES],
    _valid(metric="effort", score=float("nan")),
    _valid(metric="stars", score=float("inf")),
    _valid(metric="ces", score=-float("inf")),
    _valid(metric="csat", score=None),
    _valid(text="é" * 100_000, channel="x" * 1_000),
    _valid(occurred_at="1990-01-01T00:00:00Z"),
    _valid(kind="order.placed\n"),
    _valid(kind="order..placed"),
    _valid(attrs=" {}"),
    _valid(attrs='{"a": NaN}'),
    _valid(attrs="{}"),
    _valid(event_id=None, kind=None, occurred_at=None),
]


def _rows() -> pa.Table:
    records = EDGES + [_valid(**rule.example) for rule in RULES]
    return conform(events_from_records(records))


def _sql(expr: str, table: pa.Table) -> list[Any]:
    con = duckdb.connect()
    try:
        con.register("t", table)
        return [row[0] for row in con.sql(f"SELECT {expr} FROM t").fetchall()]
    finally:
        con.close()


def _as_verdicts(values: list[Any]) -> list[bool]:
    return [bool(v) for v in values]  # NULL rejects nothing, on either side


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_arrow_and_sql_give_the_same_verdict_per_rule(rule: Rule) -> None:
    table = _rows()
    arrow = rule.fails.arrow(table, PARAMS)
    arrow_verdicts = _as_verdicts(pa.array(arrow).to_pylist())
    sql_verdicts = _as_verdicts(_sql(rule.fails.sql(PARAMS), table))
    assert arrow_verdicts == sql_verdicts
    example_row = len(EDGES) + RULES.index(rule)
    assert arrow_verdicts[example_row], "the rule's example must fail the rule"


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_the_example_gets_the_same_first_reason_both_ways(rule: Rule) -> None:
    table = events_from_records([_valid(event_id="ok"), _valid(**rule.example)])
    arrow = validate_events(table, now=NOW)
    assert len(arrow.rejected_reason) == 1
    assert _sql(validation_reason_sql(NOW), conform(table)) == [None, arrow.rejected_reason[0]]
    if rule.name != "metric.unknown":  # shadowed by the score/metric rules before it
        assert arrow.rejected_reason == [rule.reason]


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_the_shortcut_refuses_every_rules_example(rule: Rule) -> None:
    records = [_valid(event_id="ok"), _valid(**rule.example)]
    assert not quick_valid(records, conform(events_from_records(records)), now=NOW)


def test_first_reasons_agree_on_every_edge_row() -> None:
    table = _rows()
    arrow = validate_events(table, now=NOW)
    expected: list[str | None] = [None] * table.num_rows
    for i, reason in zip(arrow.rejected_index, arrow.rejected_reason, strict=True):
        expected[i] = reason
    assert _sql(validation_reason_sql(NOW), table) == expected
    assert _sql(validation_reason_sql(NOW, known_kinds=["order.placed"]), table) == expected


def test_rule_names_are_unique_and_reasons_are_kept() -> None:
    assert len({r.name for r in RULES}) == len(RULES)
    reasons = {r.reason for r in RULES}
    assert "missing event_id" in reasons
    assert "nps score outside 0-10" in reasons
    assert "score without a known metric (nps, ces, csat, stars)" in reasons
    assert "unknown metric (use nps, ces, csat or stars)" in reasons
    assert "customer_id longer than 1000 characters" in reasons
