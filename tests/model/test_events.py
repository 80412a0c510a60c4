from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from klantreis.model.events import (
    EVENT_SCHEMA,
    derive_event_id,
    events_from_records,
    years_ahead,
)
from klantreis.model.validation import quick_valid, validate_events, validation_reason_sql

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def rec(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": "e1",
        "occurred_at": "2026-10-01T10:00:00+02:00",
        "kind": "order.placed",
    }
    base.update(kw)
    return base


def test_valid_event_passes_and_is_utc() -> None:
    result = validate_events(events_from_records([rec()]), now=NOW)
    assert result.rejected_index == []
    assert result.valid.schema == EVENT_SCHEMA
    assert result.valid["occurred_at"][0].as_py() == datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (rec(event_id=None), "missing event_id"),
        (rec(occurred_at="yesterday"), "missing or unparseable occurred_at"),
        (rec(occurred_at="1970-01-01T00:00:00Z"), "impossible occurred_at (before 1990)"),
        (
            rec(occurred_at=(NOW + timedelta(days=6 * 366)).isoformat()),
            "impossible occurred_at (more than 5 years ahead)",
        ),
        (rec(kind=None), "missing kind"),
        (rec(kind="Order Placed"), "kind must be dotted lower-case, e.g. order.placed"),
        (rec(metric="nps", score=11), "nps score outside 0-10"),
        (rec(metric="ces", score=0), "ces score outside 1-7"),
        (rec(metric="csat", score=6), "csat score outside 1-5"),
        (rec(metric="nps", score="hoog"), "score is not a number"),
        (rec(score=3), "score without a known metric (nps, ces, csat, stars)"),
        (rec(metric="nps"), "metric without a score"),
        (rec(metric="effort", score=3), "score without a known metric (nps, ces, csat, stars)"),
        (rec(attrs="[1, 2]"), "attrs must be a JSON object"),
        (rec(attrs="{bad json"), "attrs is not valid JSON"),
        (rec(text="x" * 100_001), "text longer than 100000 characters"),
        (rec(channel="x" * 1_001), "channel longer than 1000 characters"),
    ],
)
def test_bad_rows_are_rejected_with_a_reason(record: dict[str, object], reason: str) -> None:
    result = validate_events(events_from_records([rec(event_id="ok"), record]), now=NOW)
    assert result.rejected_index == [1]
    assert result.rejected_reason == [reason]
    assert result.valid.num_rows == 1


def test_rows_in_equal_valid_plus_rejected() -> None:
    records = [rec(event_id=str(i), metric="nps", score=i) for i in range(15)]
    result = validate_events(events_from_records(records), now=NOW)
    assert result.valid.num_rows + len(result.rejected_index) == 15
    assert len(result.rejected_index) == 4  # scores 11..14


def test_derived_ids_are_stable_and_content_sensitive() -> None:
    a = derive_event_id("order.placed", "o1", "2026-01-01")
    assert a == derive_event_id("order.placed", "o1", "2026-01-01")
    assert a != derive_event_id("order.placed", "o1", "2026-01-02")
    # separator keeps ("ab", "c") and ("a", "bc") apart
    assert derive_event_id("ab", "c") != derive_event_id("a", "bc")


def test_attrs_dict_is_stored_as_json_object() -> None:
    table = events_from_records([rec(attrs={"deadline": "2026-10-02T12:00:00Z"})])
    assert table["attrs"][0].as_py() == '{"deadline": "2026-10-02T12:00:00Z"}'
    assert isinstance(table, pa.Table)


LEAP_DAY = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)


def test_leap_day_validates_and_moves_the_limit_to_28_february() -> None:
    ok = rec(occurred_at="2028-02-29T10:00:00Z")
    late = rec(event_id="e2", occurred_at="2033-03-01T00:00:00Z")
    result = validate_events(events_from_records([ok, late]), now=LEAP_DAY)
    assert result.valid["event_id"].to_pylist() == ["e1"]
    assert result.rejected_reason == ["impossible occurred_at (more than 5 years ahead)"]
    assert years_ahead(LEAP_DAY, 5) == datetime(2033, 2, 28, 12, 0, tzinfo=UTC)
    assert years_ahead(LEAP_DAY, 4) == datetime(2032, 2, 29, 12, 0, tzinfo=UTC)


def test_leap_day_quick_check_and_sql_rules() -> None:
    records = [rec(occurred_at="2028-02-29T10:00:00Z")]
    assert quick_valid(records, events_from_records(records), now=LEAP_DAY)
    sql = validation_reason_sql(now=LEAP_DAY)
    assert "2033-02-28" in sql
