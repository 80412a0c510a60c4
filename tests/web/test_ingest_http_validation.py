"""The writer's per-record shortcut (``quick_valid``) never accepts what ``validate_events``
rejects, and does accept the plain case (else the shortcut would never be taken)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from klantreis.model.events import conform, events_from_records
from klantreis.model.validation import quick_valid, validate_events

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "q1",
        "occurred_at": "2026-02-28T10:00:00+01:00",
        "kind": "survey.response",
        "customer_id": "C1",
        "journey_id": "O1",
        "touchpoint": "bezorging",
        "channel": "email",
        "owner": "carrier:x",
        "metric": "nps",
        "score": 9,
        "text": "prima",
        "lang": "nl",
    }
    for key, value in changes.items():
        if value is ...:
            event.pop(key)
        else:
            event[key] = value
    return event


PLAIN = [
    _event(),
    _event(metric=None, score=None),
    _event(metric="ces", score=1.0),
    _event(metric="stars", score=5),
    _event(customer_id=None, text=None, lang=...),
    _event(attrs={"amount": 12.5, "reason": "laat"}),
    _event(source=""),
    _event(text="x" * 100_000, customer_id="c" * 1000),
    _event(occurred_at="1990-01-01T00:00:00Z"),
    _event(attrs={"odd": float("nan")}),  # DuckDB's json_valid takes NaN: valid for both
]

NOT_PLAIN = [  # invalid, or odd enough that the vectorised rules must decide
    _event(event_id=""),
    _event(event_id=...),
    _event(event_id=17),
    _event(kind="Survey.Response"),
    _event(kind="survey.response\n"),
    _event(kind=...),
    _event(customer_id="c" * 1001),
    _event(text="x" * 100_001),
    _event(metric="nps", score=11),
    _event(metric="nps", score=float("nan")),
    _event(metric="nps", score=None),
    _event(metric=None, score=3),
    _event(metric="likes", score=3),
    _event(metric="nps", score="9"),
    _event(metric="nps", score=True),
    _event(customer_id=42),
    _event(occurred_at="1989-12-31T23:59:59Z"),
    _event(occurred_at="2040-01-01T00:00:00Z"),
    _event(occurred_at="yesterday"),
    _event(attrs="not json"),
    _event(attrs="[1, 2]"),
]


def _table(records: list[dict[str, Any]]) -> Any:
    return conform(events_from_records(records, source="api"))


@pytest.mark.parametrize("event", PLAIN)
def test_plain_events_take_the_shortcut(event: dict[str, Any]) -> None:
    table = _table([event])
    assert validate_events(table, now=NOW).rejected_index == []
    assert quick_valid([event], table, now=NOW)


@pytest.mark.parametrize("event", NOT_PLAIN)
def test_the_shortcut_never_accepts_a_rejected_event(event: dict[str, Any]) -> None:
    table = _table([event])
    assert not quick_valid([event], table, now=NOW)
    assert not quick_valid([_event(event_id="ok"), event], _table([_event(), event]), now=NOW)


def test_the_shortcut_agrees_on_mixed_batches() -> None:
    """Most NOT_PLAIN events are invalid (the rest merely odd: a number as an id, a score as
    text); a batch is taken by the shortcut exactly when it holds no such event."""
    rejected = [e for e in NOT_PLAIN if validate_events(_table([e]), now=NOW).rejected_index]
    assert len(rejected) == len(NOT_PLAIN) - 4
    assert quick_valid(PLAIN, _table(PLAIN), now=NOW)
    for event in NOT_PLAIN:
        batch = [*PLAIN, event]
        assert not quick_valid(batch, _table(batch), now=NOW)
