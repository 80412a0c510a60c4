"""The index is honest about uncertainty: days with too few answers are gaps, not values;
changes carry a test, and noise is not called significant."""

from __future__ import annotations

from datetime import timedelta

from tests.analytics.test_cx_index import FLAT, START, Events, flat_history, last_day

from klantreis.analytics.cx_index import SMOOTHING_DAYS, cx_index
from klantreis.app import App


def test_days_with_too_few_answers_are_gaps_and_the_period_starts_after_them(app: App) -> None:
    ev = Events()
    ev.answers(0, "factuur", [0])  # one detractor on the first day
    for d in range(1, 35):
        ev.answers(d, "factuur", FLAT * 2)
    ev.ingest(app)
    loose = cx_index(app.events_table(), app.journey, filters={"period": "all"})
    assert loose.series[0].value is not None and loose.series[0].n_window == 1
    strict = cx_index(app.events_table(), app.journey, filters={"period": "all"}, min_answers=20)
    assert strict.min_answers == 20
    assert strict.series[0].value is None and strict.series[0].ci_low is None
    assert strict.series[1].value is None  # 1 + 10 answers in its window
    first = next(p for p in strict.series if p.value is not None)
    assert first.n_window >= 20
    # the period change runs from the first day with enough answers, not from the lone answer
    assert strict.change_period is not None
    assert abs(strict.change_period) < abs(loose.change_period or 0) or loose.change_period == 0


def test_a_flat_history_has_no_significant_change(app: App) -> None:
    ev = Events()
    flat_history(ev)
    ev.ingest(app)
    res = cx_index(app.events_table(), app.journey)
    assert res.change_today == 0.0
    assert res.change_today_p is not None and res.change_today_p > 0.5
    assert not res.change_today_significant and not res.change_period_significant
    d = res.to_dict()
    assert d["change_today_significant"] is False and d["min_answers"] == 1


def test_a_small_wobble_is_noise_and_a_collapse_is_news(app: App) -> None:
    ev = Events()
    for d in range(34):
        ev.answers(d, "factuur", FLAT * 4)
    ev.answers(34, "factuur", [10, 9, 9, 8, 3, 3] * 3 + [9, 8])  # one more detractor or so
    ev.ingest(app)
    wobble = cx_index(app.events_table(), app.journey)
    assert wobble.change_today is not None and wobble.change_today < 0
    assert not wobble.change_today_significant

    ev2 = Events("x")
    ev2.answers(35, "factuur", [0, 1, 2, 3] * 5)
    ev2.ingest(app)
    collapse = cx_index(app.events_table(), app.journey)
    assert collapse.until == last_day() + timedelta(days=1)
    assert collapse.change_today is not None and collapse.change_today < -5
    assert collapse.change_today_significant and collapse.change_today_p is not None
    assert collapse.change_today_p < 0.05
    assert SMOOTHING_DAYS == 7 and START.day == 1


def test_each_component_change_has_its_own_test(app: App) -> None:
    """A component that collapses is significant; one that stays flat is not (issue 13: the
    components' change column was never coloured, for want of a test per component)."""
    ev = Events()
    for d in range(35):
        ev.answers(d, "factuur", FLAT * 4, channel="web")
        late = d >= 28
        ev.answers(d, "bezorging", [0, 2, 3, 5] * 5 if late else FLAT * 4, owner="carrier:x")
    ev.ingest(app)
    res = cx_index(app.events_table(), app.journey, filters={"period": "30d"})
    comps = {c.key: c for c in res.components["touchpoint"]}
    bezorging, factuur = comps["bezorging"], comps["factuur"]
    assert bezorging.change is not None and bezorging.change < -10
    assert bezorging.change_p is not None and bezorging.change_p < 0.001
    assert bezorging.change_significant
    assert factuur.change == 0.0 and factuur.change_p is not None and factuur.change_p > 0.5
    assert not factuur.change_significant
    as_json = {c["key"]: c for c in res.to_dict()["components"]["touchpoint"]}
    assert as_json["bezorging"]["change_p"] == bezorging.change_p
