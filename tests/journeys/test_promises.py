"""Promises: kept, broken, open, minutes late, rates and journeys at risk."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.journeys.logs import NOW, T0, ev, load

from klantreis.analytics import promises
from klantreis.app import App


def _by_journey(app: App, **kw: object) -> dict[str, dict[str, object]]:
    table = promises.promise_outcomes(app.events_table(), app.journey, ["op_tijd_bezorgd"], **kw)  # type: ignore[arg-type]
    return {r["journey_id"]: r for r in table.to_pylist()}


def test_status_and_minutes_late(small_app: App) -> None:
    rows = _by_journey(small_app, now=NOW)
    assert {j: r["status"] for j, r in rows.items()} == {
        "o1": "kept",
        "o2": "broken",
        "o3": "kept",
        "o4": "broken",
        "o5": "open",
    }
    assert rows["o2"]["minutes_late"] == pytest.approx(24 * 60)
    assert rows["o4"]["minutes_late"] == pytest.approx(60)
    assert rows["o1"]["minutes_late"] == 0 and rows["o5"]["minutes_late"] is None
    assert rows["o2"]["owner"] == "carrier:vlotbezorgd"
    assert rows["o1"]["deadline"] == T0 + timedelta(days=2)


def test_open_promise_becomes_broken_once_now_passes_the_deadline(small_app: App) -> None:
    later = NOW + timedelta(hours=3)
    row = _by_journey(small_app, now=later)["o5"]
    assert row["status"] == "broken" and row["minutes_late"] == pytest.approx(60)
    assert not row["at_risk"] and row["overdue"], "late and still not delivered: overdue"


def test_at_risk_window(small_app: App) -> None:
    t, j = small_app.events_table(), small_app.journey
    assert promises.at_risk(t, j, now=NOW).column("journey_id").to_pylist() == ["o5"]
    deadline = _by_journey(small_app, now=NOW)["o5"]["deadline"]
    window = timedelta(hours=j.promises[0].at_risk_hours)
    # an hour before the window opens, nothing is at risk yet
    assert promises.at_risk(t, j, now=deadline - window - timedelta(hours=1)).num_rows == 0


def test_overdue_unfulfilled_promises_stay_on_the_at_risk_list(small_app: App) -> None:
    """A deadline that passed without a delivery is the most urgent case (the customer is
    still waiting), until ``overdue_hours`` after the deadline."""
    t, j = small_app.events_table(), small_app.journey
    deadline = _by_journey(small_app, now=NOW)["o5"]["deadline"]
    late = promises.at_risk(t, j, now=deadline + timedelta(hours=2)).to_pylist()
    assert [(r["journey_id"], r["overdue"], r["at_risk"]) for r in late] == [("o5", True, False)]
    long_ago = deadline + timedelta(hours=j.promises[0].overdue_hours + 1)
    assert promises.at_risk(t, j, now=long_ago).num_rows == 0


def test_grace_and_missing_deadline_attr(app: App) -> None:
    cfg = app.journey.model_copy(
        update={"promises": [app.journey.promises[0].model_copy(update={"grace_minutes": 90})]}
    )
    load(
        app,
        [
            ev("a1", "a", "delivery.promised", T0, attrs={"deadline": "2025-03-04T10:00:00Z"}),
            ev("a2", "a", "delivery.completed", T0 + timedelta(days=1, hours=2)),
            ev("b1", "b", "delivery.promised", T0, attrs={"deadline": "not a time"}),
            ev("b2", "b", "delivery.completed", T0 + timedelta(minutes=1)),
        ],
    )
    rows = {
        r["journey_id"]: r
        for r in promises.promise_outcomes(app.events_table(), cfg, now=NOW).to_pylist()
    }
    assert rows["a"]["status"] == "kept"  # 60 minutes late, 90 minutes grace
    assert rows["b"]["deadline"] == T0  # unreadable deadline: the promise's own time
    assert rows["b"]["status"] == "kept"  # 1 minute late is within the grace


def test_rates_by_owner_touchpoint_and_period(small_app: App) -> None:
    t, j = small_app.events_table(), small_app.journey
    by_owner = {r["group"]: r for r in promises.promise_rates(t, j, "owner", now=NOW).to_pylist()}
    snel, vlot = by_owner["carrier:snelpost"], by_owner["carrier:vlotbezorgd"]
    assert (snel["kept"], snel["broken"], snel["open"]) == (2, 0, 1)
    assert snel["kept_rate"] == 100.0 and vlot["kept_rate"] == 0.0
    assert 0 < vlot["ci_high"] < 100 and vlot["mean_minutes_late"] == pytest.approx(750)
    tp = promises.promise_rates(t, j, "touchpoint", now=NOW).to_pylist()
    assert [(r["group"], r["journeys"]) for r in tp] == [("bezorging", 5)]
    weeks = promises.promise_rates(t, j, "period", "week", now=NOW).to_pylist()
    assert sum(r["journeys"] for r in weeks) == 5 and len(weeks) == 2


def test_unknown_promise_is_an_error(small_app: App) -> None:
    with pytest.raises(ValueError, match="unknown promise"):
        promises.promise_outcomes(small_app.events_table(), small_app.journey, ["nope"])
