"""The one Scope: its window of local days, its parser, and one selection of answers shared by
metrics, the CX index and journeys."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from klantreis.analytics import metrics
from klantreis.analytics.conditions import parse_condition
from klantreis.analytics.cx_index import cx_index
from klantreis.analytics.discovery import discover
from klantreis.analytics.scope import Scope, newest_answer_day, parse_scope, select
from klantreis.app import App
from klantreis.model.events import events_from_records

ZONE = "Europe/Amsterdam"


@pytest.mark.parametrize(
    ("period", "first"),
    [("7d", date(2026, 3, 25)), ("30d", date(2026, 3, 2)), ("90d", date(2026, 1, 1))],
)
def test_named_windows_are_local_days_ending_as_of(period: str, first: date) -> None:
    scope = Scope(period=period, as_of=date(2026, 3, 31))
    assert scope.days() == (first, date(2026, 3, 31))
    lo, hi = scope.bounds(ZONE)
    assert hi == datetime(2026, 3, 31, 22, tzinfo=UTC)  # local midnight after 31 March (CEST)
    assert lo is not None and lo.astimezone(UTC).hour in (22, 23)


def test_all_has_no_first_day_and_no_previous() -> None:
    scope = Scope(period="all", as_of=date(2026, 3, 31))
    assert scope.days() == (None, date(2026, 3, 31))
    assert scope.previous() is None


def test_previous_is_the_same_number_of_days_before() -> None:
    prev = Scope(period="7d", as_of=date(2026, 3, 31), channels=("web",)).previous()
    assert prev is not None and prev.days() == (date(2026, 3, 18), date(2026, 3, 24))
    assert prev.channels == ("web",)


def test_since_until_override_the_named_window_and_instants_narrow_it() -> None:
    scope = Scope(period="7d", as_of=date(2026, 3, 31), since=date(2026, 3, 1))
    assert scope.days() == (date(2026, 3, 1), date(2026, 3, 31))
    narrowed = Scope(since=date(2026, 3, 1), until=date(2026, 3, 2), end=datetime(2026, 3, 1, 12))
    assert narrowed.bounds(ZONE)[1] == datetime(2026, 3, 1, 11, tzinfo=UTC)
    with pytest.raises(ValueError, match="after"):
        Scope(since=date(2026, 3, 2), until=date(2026, 3, 1))


def test_parse_scope_reads_query_and_api_parameters() -> None:
    scope = parse_scope(
        {
            "period": "30d",
            "channel": "web",
            "owner": ["carrier:a", "carrier:b"],
            "attrs.segment": "zakelijk",
            "attrs.agent": "a1",
            "until": "2026-03-31",
            "touchpoint": None,  # not given
            "stage": "",
        }
    )
    assert scope == Scope(
        period="30d",
        until=date(2026, 3, 31),
        channels=("web",),
        owners=("carrier:a", "carrier:b"),
        segments=("zakelijk",),  # attrs.segment is the segment: one meaning
        attrs=(("agent", ("a1",)),),
    )
    assert hash(scope) == hash(parse_scope(scope.to_dict()))
    assert parse_scope(scope.to_dict()) == scope
    broken = parse_scope(
        {"outcome": "broken:op_tijd_bezorgd", "start": "2026-03-01T00:00:00"}, parse_condition
    )
    assert broken.outcome is not None and broken.outcome.label == "broken:op_tijd_bezorgd"
    assert parse_scope(broken.to_dict(), parse_condition) == broken
    with pytest.raises(ValueError, match="cannot filter"):
        parse_scope({"colour": "red"})
    with pytest.raises(ValueError, match="unknown period"):
        parse_scope({"period": "31d"})


def _answer(i: int, day: str, score: int, **kw: Any) -> dict[str, Any]:
    return {
        "event_id": f"a{i}",
        "occurred_at": f"{day}T10:00:00+00:00",
        "kind": "survey.response",
        "metric": "nps",
        "score": score,
        "touchpoint": "bezorging",
        "channel": "email",
        **kw,
    }


@pytest.fixture
def segmented(app: App) -> App:
    """Answers with their own segment, answers whose order carries it, and others."""
    rows: list[dict[str, Any]] = []
    for i in range(6):
        rows.append(_answer(i, "2026-03-2" + str(i), 10, attrs={"segment": "zakelijk"}))
    for i in range(6, 10):
        jid = f"J{i}"
        rows.append(
            {
                "event_id": f"o{i}",
                "occurred_at": "2026-03-01T08:00:00+00:00",
                "kind": app.journey.journey_start,
                "journey_id": jid,
                "attrs": {"segment": "zakelijk"},
            }
        )
        rows.append(_answer(i, "2026-03-2" + str(i - 6), 0, journey_id=jid))
    for i in range(10, 15):
        rows.append(_answer(i, "2026-03-25", 8, attrs={"segment": "particulier"}))
    app.store.append(events_from_records(rows))
    return app


def test_segment_means_own_or_journey_start_segment(segmented: App) -> None:
    t = segmented.events_table()
    answers = select(t, Scope(segments=("zakelijk",), metrics=("nps",)), segmented.journey, ZONE)
    assert sorted(answers.event_id.to_pyarrow().to_pylist()) == sorted([f"a{i}" for i in range(10)])


def test_metrics_index_and_journeys_share_the_scope(segmented: App) -> None:
    t, journey = segmented.events_table(), segmented.journey
    as_of = newest_answer_day(t, ZONE)
    assert as_of == date(2026, 3, 25)
    scope = parse_scope({"period": "7d", "segment": "zakelijk", "as_of": as_of})
    summary = metrics.summarize(t, "nps", filters=scope, journey=journey)
    index = cx_index(t, journey, filters=scope, fast=False)
    fast = cx_index(t, journey, filters=scope)
    # 7 days ending 25 March: 19-25 March, so the answers of 20-25 March (own and journey)
    assert int(summary["n"].sum()) == index.n_answers == fast.n_answers == 6 + 4
    assert (index.since, index.until) == (date(2026, 3, 20), date(2026, 3, 25))
    # journeys: the four orders carry the segment but started on 1 March, before the window
    assert discover(t, journey, scope).journeys == 0
    assert discover(t, journey, scope.without_window()).journeys == 4


def test_docstring_examples() -> None:
    import doctest

    from klantreis.analytics import scope

    result = doctest.testmod(scope)
    assert result.attempted > 0 and result.failed == 0
