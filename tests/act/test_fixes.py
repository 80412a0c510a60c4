"""Root cause before/after a fix: contacts per 100 journeys (Welch) and the score (the
metric's test), each with a 95% interval; a null effect is not called one; too few after
the fix gives no difference at all."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from tests.act.helpers import load

from klantreis.act.fixes import FixError, fix_effect, fixes, mark_fix
from klantreis.act.rules import default_case_rules
from klantreis.app import App

FIX = date(2026, 10, 1)
FIX_AT = datetime(2026, 9, 30, 22, tzinfo=UTC)  # midnight in Amsterdam (summer time)


def _journeys(
    start: datetime,
    days: int,
    per_day: int,
    every: int,
    prefix: str,
    nps: list[float] | None = None,
) -> list[dict[str, Any]]:
    """``per_day`` orders a day; every ``every``-th journey calls "where is my parcel" (0:
    none); one NPS answer on bezorging per journey from ``nps`` (cycled)."""
    out: list[dict[str, Any]] = []
    i = 0
    for d in range(days):
        for k in range(per_day):
            at = start + timedelta(days=d, hours=8 + k * 10 / per_day)
            j = f"{prefix}{i}"
            out.append(
                {
                    "event_id": f"{j}-o",
                    "occurred_at": at.isoformat(),
                    "kind": "order.placed",
                    "journey_id": j,
                    "customer_id": f"c{j}",
                }
            )
            if every and i % every == 0:
                out.append(
                    {
                        "event_id": f"{j}-c",
                        "occurred_at": (at + timedelta(days=3)).isoformat(),
                        "kind": "contact.inbound",
                        "journey_id": j,
                        "customer_id": f"c{j}",
                        "channel": "phone",
                        "attrs": {"reason": "waar_is_mijn_pakket"},
                    }
                )
            if nps:
                out.append(
                    {
                        "event_id": f"{j}-s",
                        "occurred_at": (at + timedelta(days=2)).isoformat(),
                        "kind": "survey.response",
                        "journey_id": j,
                        "customer_id": f"c{j}",
                        "touchpoint": "bezorging",
                        "metric": "nps",
                        "score": nps[i % len(nps)],
                    }
                )
            i += 1
    return out


def _cause(app: App) -> Any:
    cause = default_case_rules(app.journey).root_cause("te_laat_bezorgd")
    assert cause is not None and "waar_is_mijn_pakket" in cause.contact_reasons
    return cause


NOW = FIX_AT + timedelta(days=60)


def test_a_real_drop_is_shown_with_its_interval(app: App) -> None:
    load(app, _journeys(FIX_AT - timedelta(days=28), 28, 20, 5, "B", nps=[3, 9, 9, 7]))  # 20%
    load(app, _journeys(FIX_AT, 28, 20, 20, "A", nps=[9, 10, 9, 8]))  # 5%
    out = fix_effect(app.store, app.journey, _cause(app), FIX, NOW)
    c = out["contacts"]
    assert c["before"]["journeys"] == 560 and c["after"]["journeys"] == 560
    assert c["before"]["rate"] == pytest.approx(20.0) and c["after"]["rate"] == pytest.approx(5.0)
    assert c["diff"] == pytest.approx(-15.0)
    assert c["ci_low"] < -15.0 < c["ci_high"] < 0 and c["significant"]
    assert c["test"] == "welch-t-test"
    s = out["score"]
    assert s["test"] == "nps-z-test" and s["significant"] and s["diff"] > 0
    # answers count by when they were given: the last two days' before-journeys answered
    # after the fix
    assert s["ci_low"] > 0 and (s["before"]["n"], s["after"]["n"]) == (520, 560)


def test_a_null_effect_is_not_called_one(app: App) -> None:
    load(app, _journeys(FIX_AT - timedelta(days=28), 28, 20, 10, "B", nps=[3, 9, 8, 9]))
    load(app, _journeys(FIX_AT, 28, 20, 10, "A", nps=[3, 9, 8, 9]))
    out = fix_effect(app.store, app.journey, _cause(app), FIX, NOW)
    c, s = out["contacts"], out["score"]
    assert c["diff"] == pytest.approx(0.0) and c["ci_low"] < 0 < c["ci_high"]
    assert not c["significant"] and c["p_value"] > 0.5
    assert s["diff"] == pytest.approx(0.0) and not s["significant"]


def test_too_few_after_the_fix_gives_no_difference(app: App) -> None:
    load(app, _journeys(FIX_AT - timedelta(days=28), 28, 20, 5, "B", nps=[3, 9]))
    load(app, _journeys(FIX_AT, 2, 20, 25, "A", nps=[9]))  # 40 journeys so far
    out = fix_effect(app.store, app.journey, _cause(app), FIX, FIX_AT + timedelta(days=16))
    c = out["contacts"]
    assert c["too_few_after"] and not c["too_few_before"]
    assert c["diff"] is None and c["ci_low"] is None and not c["significant"]
    # journeys started in the last follow_days are left out: they had less time to call
    assert c["after"]["journeys"] == 40
    young = fix_effect(app.store, app.journey, _cause(app), FIX, FIX_AT + timedelta(days=10))
    assert young["contacts"]["after"]["journeys"] == 0


def test_marks_are_kept_and_checked(app: App) -> None:
    rules = default_case_rules(app.journey)
    mark_fix(app.store, rules, "te_laat_bezorgd", FIX, "anna", at=NOW - timedelta(days=1))
    mark_fix(app.store, rules, "te_laat_bezorgd", date(2026, 10, 3), "bob", at=NOW)
    assert fixes(app.store)["te_laat_bezorgd"]["fixed_on"] == date(2026, 10, 3)
    assert fixes(app.store)["te_laat_bezorgd"]["marked_by"] == "bob"
    with pytest.raises(FixError, match="unknown"):
        mark_fix(app.store, rules, "nope", FIX, "anna", at=NOW)
    with pytest.raises(FixError, match="future"):
        mark_fix(app.store, rules, "beschadigd", NOW.date() + timedelta(days=2), "anna", at=NOW)
