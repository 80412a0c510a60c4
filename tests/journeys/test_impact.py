"""Impact of journey conditions on scores and contacts, and the ranking."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.journeys.logs import NOW, T0, ev, load

from klantreis.analytics import stats
from klantreis.analytics.conditions import (
    Attribute,
    HasKind,
    ManyContacts,
    PromiseBroken,
    SlowHandover,
    Variant,
    parse_condition,
)
from klantreis.analytics.impact import impact, impact_ranking
from klantreis.app import App
from klantreis.wording import Wording
from klantreis.wording.impact import impact_summary

D = timedelta


def _journey(i: int, late: bool, csat: float, nps: float, contacts: int) -> list[dict[str, Any]]:
    j = f"j{i:03d}"
    carrier = "carrier:vlotbezorgd" if late else "carrier:snelpost"
    recs = [
        ev(f"{j}-1", j, "order.placed", T0, owner="webshop"),
        ev(f"{j}-2", j, "shipment.handed_over", T0 + D(hours=30 if late else 3), owner=carrier),
        ev(
            f"{j}-3",
            j,
            "delivery.promised",
            T0 + D(hours=31 if late else 4),
            owner=carrier,
            attrs={"deadline": (T0 + D(days=2)).isoformat()},
        ),
        ev(f"{j}-4", j, "delivery.completed", T0 + D(days=3 if late else 1), owner=carrier),
        ev(f"{j}-5", j, "survey.response", T0 + D(days=4), metric="csat", score=csat),
        ev(f"{j}-6", j, "survey.response", T0 + D(days=4, minutes=1), metric="nps", score=nps),
    ]
    recs += [
        ev(f"{j}-c{k}", j, "contact.inbound", T0 + D(days=2, hours=k), channel="phone")
        for k in range(contacts)
    ]
    return recs


#: Late journeys: lower scores and more contacts, by construction.
LATE = [(1 + i % 4, 2 + i % 7, 1 + i % 3) for i in range(40)]
ON_TIME = [(3 + i % 3, 6 + i % 5, i % 4 // 3) for i in range(80)]


@pytest.fixture
def impact_app(app: App) -> App:
    recs: list[dict[str, Any]] = []
    for i, (csat, nps, k) in enumerate(LATE):
        recs += _journey(i, True, csat, nps, k)
    for i, (csat, nps, k) in enumerate(ON_TIME):
        recs += _journey(100 + i, False, csat, nps, k)
    load(app, recs)
    return app


def test_broken_promise_effect_equals_the_two_group_tests(impact_app: App) -> None:
    result = impact(
        impact_app.events_table(), impact_app.journey, PromiseBroken("op_tijd_bezorgd", now=NOW)
    )
    assert (result.journeys_with, result.journeys_without) == (40, 80)
    for metric, col in (("csat", 0), ("nps", 1)):
        expected = stats.compare(
            metric,
            stats.Summary.from_scores([x[col] for x in ON_TIME]),
            stats.Summary.from_scores([x[col] for x in LATE]),
        )
        got = result.metrics[metric]
        assert got.diff == pytest.approx(expected.diff)
        assert got.ci_low == pytest.approx(expected.ci_low)
        assert got.p_value == pytest.approx(expected.p_value)
        assert got.diff < 0 and got.significant
    assert result.metrics["ces"].too_few


def test_contacts_per_100(impact_app: App) -> None:
    c = impact(
        impact_app.events_table(), impact_app.journey, PromiseBroken("op_tijd_bezorgd", now=NOW)
    ).contacts
    late = 100 * sum(x[2] for x in LATE) / len(LATE)
    on_time = 100 * sum(x[2] for x in ON_TIME) / len(ON_TIME)
    assert c.per100_with == pytest.approx(late) and c.per100_without == pytest.approx(on_time)
    assert c.diff == pytest.approx(late - on_time)
    assert c.ci_low < c.diff < c.ci_high and c.significant


def test_population_of_slow_handover_and_other_conditions(impact_app: App) -> None:
    t, j = impact_app.events_table(), impact_app.journey
    slow = impact(t, j, SlowHandover(24 * 60, "carrier:vlotbezorgd"))
    assert (slow.journeys_with, slow.journeys_without) == (40, 0)
    anywhere = impact(t, j, SlowHandover(24 * 60))
    assert (anywhere.journeys_with, anywhere.journeys_without) == (40, 80)
    many = impact(t, j, ManyContacts(2))
    assert many.journeys_with == sum(1 for x in LATE if x[2] > 2)
    var = impact(
        t,
        j,
        Variant(
            (
                "order.placed",
                "shipment.handed_over",
                "delivery.promised",
                "delivery.completed",
                "survey.response",
                "survey.response",
            )
        ),
    )
    assert var.journeys_with == sum(1 for x in LATE + ON_TIME if x[2] == 0)
    attr = impact(t, j, Attribute("owner", "carrier:snelpost"))
    assert attr.journeys_with == 80
    assert impact(t, j, HasKind("delivery.failed")).journeys_with == 0


def test_ranking_puts_the_costly_condition_first(impact_app: App) -> None:
    ranked = impact_ranking(impact_app.events_table(), impact_app.journey, now=NOW)
    labels = [r.condition for r in ranked]
    assert labels[0] in ("broken:op_tijd_bezorgd", "broken:op_tijd_bezorgd@carrier:vlotbezorgd")
    assert "broken:op_tijd_bezorgd@carrier:vlotbezorgd" in labels
    summary = impact_summary(ranked[0], Wording("en"))
    assert "CSAT -" in summary and "contacts per 100" in summary
    by_csat = impact_ranking(
        impact_app.events_table(),
        impact_app.journey,
        [
            Attribute("owner", "carrier:snelpost"),
            HasKind("delivery.failed"),
            PromiseBroken("op_tijd_bezorgd"),
        ],
        rank_by="csat",
    )
    assert [r.condition for r in by_csat] == [
        "broken:op_tijd_bezorgd",
        "attr:owner=carrier:snelpost",
        "kind:delivery.failed",
    ]
    assert ranked[0].as_dict()["metrics"]["ces"]["diff"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("broken:op_tijd_bezorgd", PromiseBroken("op_tijd_bezorgd")),
        ("broken:p@carrier:x", PromiseBroken("p", "carrier:x")),
        ("kind:delivery.failed", HasKind("delivery.failed")),
        ("contacts>2", ManyContacts(2)),
        ("handover>90", SlowHandover(90)),
        ("handover:carrier:snelpost>1440", SlowHandover(1440, "carrier:snelpost")),
        ("variant:a.b, c.d", Variant(("a.b", "c.d"))),
        ("attr:segment=business", Attribute("segment", "business")),
    ],
)
def test_parse_condition(text: str, expected: object) -> None:
    cond = parse_condition(text)
    assert cond == expected
    assert parse_condition(cond.label) == expected


@pytest.mark.parametrize("text", ["", "late", "contacts>x", "attr:novalue", "handover>"])
def test_parse_condition_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read condition"):
        parse_condition(text)
