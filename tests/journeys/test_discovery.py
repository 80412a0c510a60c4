"""Directly-follows graph, variants, start/end activities, hand-overs and filters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.journeys.logs import (
    NOW,
    T0,
    assert_kept_graph,
    edge_counts,
    ev,
    load,
    oracle_dfg,
    oracle_variants,
    ordered_traces,
    small_log,
)

from klantreis.analytics import discovery
from klantreis.analytics.conditions import PromiseBroken
from klantreis.analytics.journey_index import JourneyIndex
from klantreis.analytics.journeys import steps
from klantreis.analytics.scope import Scope
from klantreis.app import App
from klantreis.settings import Settings


def test_dfg_counts_equal_the_oracle(small_app: App) -> None:
    table = discovery.dfg(small_app.events_table(), small_app.journey)
    assert edge_counts(table) == dict(oracle_dfg(ordered_traces(small_log())))
    counts = table.column("count").to_pylist()
    assert counts == sorted(counts, reverse=True)


def test_dfg_durations_in_seconds(small_app: App) -> None:
    rows = {
        (r["source"], r["target"]): r
        for r in discovery.dfg(small_app.events_table(), small_app.journey).to_pylist()
    }
    promised = rows[("shipment.handed_over", "delivery.promised")]
    assert promised["count"] == 4 and promised["mean_s"] == pytest.approx(60.0)
    # delivery.promised -> delivery.completed: 5h59m (o1), 19h59m (o3), 1d0h59m (o4)
    waits = sorted(s * 60.0 for s in (359, 1199, 1499))
    edge = rows[("delivery.promised", "delivery.completed")]
    assert edge["median_s"] == pytest.approx(waits[1])
    assert edge["mean_s"] == pytest.approx(sum(waits) / 3)
    assert edge["p90_s"] == pytest.approx(waits[1] + 0.8 * (waits[2] - waits[1]))


def test_equal_timestamps_are_ordered_by_event_id(small_app: App) -> None:
    s = steps(small_app.events_table()).filter(lambda t: t.journey_id == "o6")
    rows = s.order_by("seq").to_pyarrow().to_pylist()
    assert [r["activity"] for r in rows] == ["order.placed", "payment.completed", "invoice.sent"]
    assert rows[0]["wait_s"] == 0.0


def test_variants_shares_and_order(small_app: App) -> None:
    table = discovery.variants(small_app.events_table(), small_app.journey, top=None)
    expected = oracle_variants(ordered_traces(small_log()))
    got = {tuple(r["variant"]): r["count"] for r in table.to_pylist()}
    assert got == dict(expected)
    assert sum(table.column("share").to_pylist()) == pytest.approx(1.0)
    top = discovery.variants(small_app.events_table(), small_app.journey, top=1)
    assert top.num_rows == 1 and top.column("count")[0].as_py() == max(expected.values())
    assert top.column("share")[0].as_py() == pytest.approx(2 / 6)


def test_start_and_end_activities(small_app: App) -> None:
    t, j = small_app.events_table(), small_app.journey
    assert discovery.start_activities(t, j).to_pylist() == [
        {"activity": "order.placed", "count": 6}
    ]
    ends = {r["activity"]: r["count"] for r in discovery.end_activities(t, j).to_pylist()}
    assert ends == {"survey.response": 4, "delivery.promised": 1, "invoice.sent": 1}


def test_touchpoint_activity(small_app: App) -> None:
    table = discovery.dfg(small_app.events_table(), small_app.journey, activity="touchpoint")
    assert edge_counts(table) == dict(
        oracle_dfg(ordered_traces(_enriched(small_app)), "touchpoint")
    )
    with pytest.raises(ValueError, match="activity"):
        discovery.dfg(small_app.events_table(), small_app.journey, activity="owner")  # type: ignore[arg-type]


def _enriched(app: App) -> list[dict[str, Any]]:
    return app.store.events().to_pylist()


def test_handovers_skip_feedback_and_measure_waits(small_app: App) -> None:
    rows = {
        (r["from_owner"], r["to_owner"]): r
        for r in discovery.handovers(small_app.events_table(), small_app.journey).to_pylist()
    }
    # the survey (owner carrier) and contacts (customer_service) are not hand-overs
    assert not any("customer_service" in key for key in rows)
    assert rows[("webshop", "finance")]["count"] == 5
    vlot = rows[("finance", "carrier:vlotbezorgd")]
    assert vlot["count"] == 2 and vlot["median_s"] == pytest.approx(86_100.0)


def test_owner_handovers_follow_the_owner_sequence(app: App) -> None:
    """Finance's invoice between the warehouse and the carrier does not hide the real
    warehouse -> carrier hand-over (the per-event hand-overs report finance -> carrier)."""
    d = timedelta
    recs = []
    for i, carrier in enumerate(["carrier:snelpost", "carrier:snelpost", "carrier:vlotbezorgd"]):
        j = f"h{i}"
        recs += [
            ev(f"{j}-1", j, "order.placed", T0, owner="webshop"),
            ev(f"{j}-2", j, "payment.completed", T0 + d(minutes=5), owner="finance"),
            ev(f"{j}-3", j, "shipment.handed_over", T0 + d(hours=10), owner="warehouse"),
            ev(f"{j}-4", j, "invoice.sent", T0 + d(hours=10, minutes=10), owner="finance"),
            ev(f"{j}-5", j, "delivery.promised", T0 + d(hours=10, minutes=40), owner=carrier),
            ev(
                f"{j}-6",
                j,
                "survey.response",
                T0 + d(days=2),
                owner=carrier,
                metric="csat",
                score=4,
            ),
            ev(f"{j}-7", j, "invoice.paid", T0 + d(days=3), owner="finance"),
        ]
    load(app, recs)
    t, jc = app.events_table(), app.journey
    new = {
        (r["from_owner"], r["to_owner"]): r for r in discovery.owner_handovers(t, jc).to_pylist()
    }
    assert set(new) == {
        ("webshop", "finance"),
        ("finance", "warehouse"),
        ("warehouse", "carrier:snelpost"),
        ("warehouse", "carrier:vlotbezorgd"),
    }
    snel = new[("warehouse", "carrier:snelpost")]
    assert snel["count"] == 2 and snel["journeys"] == 2
    assert snel["median_s"] == pytest.approx(40 * 60.0), "from the shipment, not the invoice"
    assert new[("finance", "warehouse")]["median_s"] == pytest.approx(9 * 3600 + 55 * 60.0)
    old = {(r["from_owner"], r["to_owner"]) for r in discovery.handovers(t, jc).to_pylist()}
    assert ("finance", "carrier:snelpost") in old and ("warehouse", "carrier:snelpost") not in old
    only_vlot = discovery.owner_handovers(t, jc, Scope(owners=("carrier:vlotbezorgd",)))
    assert sum(only_vlot.column("count").to_pylist()) == 3


def test_journey_filters(small_app: App) -> None:
    t, j = small_app.events_table(), small_app.journey

    def journeys(**kw: Any) -> int:
        return discovery.discover(t, j, Scope(**kw)).journeys

    assert journeys() == 6
    assert journeys(owners=("carrier:vlotbezorgd",)) == 2
    assert journeys(channels=("app",)) == 1
    assert journeys(attrs=(("segment", ("business",)),)) == 1
    assert journeys(attrs=(("channel", ("chat",)),)) == 2
    assert journeys(start=NOW - timedelta(days=2)) == 1
    assert journeys(end=T0 + timedelta(minutes=30)) == 4
    assert journeys(outcome=PromiseBroken("op_tijd_bezorgd", now=NOW)) == 2
    assert journeys(owners=("carrier:snelpost",), attrs=(("segment", ("business",)),)) == 1


def test_stage_filter_keeps_only_stage_events(small_app: App) -> None:
    d = discovery.discover(small_app.events_table(), small_app.journey, Scope(stages=("aankoop",)))
    assert edge_counts(d.dfg) == {("order.placed", "payment.completed"): 5}
    assert d.journeys == 6


def test_index_answers_equal_ibis(small_app: App) -> None:
    t, j = small_app.events_table(), small_app.journey
    index = JourneyIndex(small_app.store)
    for flt in (
        None,
        Scope(owners=("carrier:snelpost",)),
        Scope(outcome=PromiseBroken("op_tijd_bezorgd", now=NOW)),
    ):
        for activity in ("kind", "touchpoint"):
            a = discovery.discover(t, j, flt, activity).as_dict()  # type: ignore[arg-type]
            b = discovery.discover(t, j, flt, activity, index=index).as_dict()  # type: ignore[arg-type]
            if flt is None:  # the kept graph: quantiles from its wait histogram
                assert_kept_graph(b.pop("dfg"), a.pop("dfg"))
            assert _rounded(a) == _rounded(b)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


KINDS = ["order.placed", "payment.completed", "delivery.completed", "contact.inbound"]


@st.composite
def random_logs(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 40))
    recs = []
    for i in range(n):
        recs.append(
            ev(
                f"e{draw(st.integers(0, 10**6))}-{i}",
                draw(st.sampled_from(["j1", "j2", "j3", None])),
                draw(st.sampled_from(KINDS)),
                T0 + timedelta(minutes=draw(st.integers(0, 5))),
            )
        )
    return recs


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_logs())
def test_random_logs_match_the_oracle_with_and_without_index(recs: list[dict[str, Any]]) -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        load(app, recs)
        traces = ordered_traces(recs)
        t = app.events_table()
        plain = discovery.discover(t, app.journey, top=None)
        fast = discovery.discover(t, app.journey, top=None, index=JourneyIndex(app.store))
        for d in (plain, fast):
            assert edge_counts(d.dfg) == dict(oracle_dfg(traces))
            assert {tuple(r["variant"]): r["count"] for r in d.variants.to_pylist()} == dict(
                oracle_variants(traces)
            )
            assert d.journeys == len(traces)
