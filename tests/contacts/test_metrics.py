from __future__ import annotations

import math

import pandas as pd
import pytest

from klantreis.app import App
from klantreis.contacts import metrics as m
from klantreis.contacts.data import contacts_frame
from klantreis.contacts.labels import assign_reasons
from klantreis.contacts.taxonomy import default_taxonomy

from .helpers import contact, event, load

WAAR, FACTUUR = "waar_is_mijn_pakket", "factuur_niet_ontvangen"


@pytest.fixture
def data(app: App) -> tuple[pd.DataFrame, pd.DataFrame, App]:
    load(
        app,
        [
            event("order.placed", "J1", 0),
            event("order.placed", "J2", 1),
            event("order.placed", "J3", 8),
            event("order.placed", "J4", 9),
            contact("J1", 2, WAAR, "phone", n=0, minutes=4, resolved=False),
            contact("J1", 3, WAAR, "phone", n=1, minutes=6, resolved=True),
            contact("J3", 9.5, FACTUUR, "email", n=0, minutes=100, resolved=True),
            contact("J1", 20, WAAR, "chat", n=2, minutes=2, resolved=True),
            event(
                "survey.response",
                "J1",
                4,
                metric="csat",
                score=2,
                touchpoint="klantenservice",
                channel="email",
                attrs={"contact_id": "J1-C0"},
            ),
            event(
                "survey.response",
                "J3",
                10,
                metric="csat",
                score=5,
                touchpoint="klantenservice",
                channel="web",
                attrs={"contact_id": "J3-C0"},
            ),
            event(
                "survey.response",
                "J2",
                10,
                metric="csat",
                score=4,
                touchpoint="klantenservice",
                channel="web",
                attrs={"channel_asked": "chat"},
            ),
            event(
                "survey.response",
                "J2",
                10,
                metric="csat",
                score=1,
                touchpoint="bezorging",
                channel="web",
            ),
        ],
    )
    events = app.events_table()
    contacts = assign_reasons(contacts_frame(events), default_taxonomy())
    return contacts, m.orders_frame(events), app


def test_contacts_per_100_orders(data: tuple) -> None:
    c, o, _ = data
    assert m.contact_rates(c, o).to_dict("records") == [
        {"contacts": 4, "orders": 4, "per_100_orders": 100.0}
    ]
    by_reason = m.contact_rates(c, o, by=["reason"]).set_index("reason")
    assert by_reason.loc[WAAR, "per_100_orders"] == 75.0
    assert by_reason.loc[FACTUUR, "per_100_orders"] == 25.0
    by_channel = m.contact_rates(c, o, by=["channel"]).set_index("channel")["contacts"]
    assert by_channel.to_dict() == {"phone": 2, "email": 1, "chat": 1}


def test_contacts_per_100_orders_by_week(data: tuple) -> None:
    c, o, _ = data
    weeks = m.contact_rates(c, o, period="week").set_index("period")
    assert weeks.loc["2026-03-02", "per_100_orders"] == 100.0
    assert weeks.loc["2026-03-09", "per_100_orders"] == 50.0
    assert weeks.loc["2026-03-16", "orders"] == 0
    assert math.isnan(weeks.loc["2026-03-16", "per_100_orders"])


def test_repeat_contacts_within_n_days(data: tuple) -> None:
    c, _, _ = data
    overall = m.repeat_contacts(c, within_days=7).iloc[0]
    assert (overall["contacts"], overall["repeats"], overall["repeat_rate"]) == (4, 1, 25.0)
    assert m.repeat_contacts(c, within_days=30).iloc[0]["repeats"] == 2
    by = m.repeat_contacts(c, 7, by="channel").set_index("channel")["repeats"]
    assert by.to_dict() == {"chat": 0, "email": 0, "phone": 1}


def test_pareto_uses_the_cost_per_channel(data: tuple) -> None:
    c, _, app = data
    p = m.pareto(c, app.journey.contact_costs)
    costs = app.journey.contact_costs
    waar = 2 * costs["phone"] + costs["chat"]
    assert p["reason"].tolist() == [WAAR, FACTUUR]
    assert p.loc[0, "cost"] == pytest.approx(waar)
    assert p.loc[0, "cost_share"] == pytest.approx(100 * waar / (waar + costs["email"]))
    assert p["cumulative_share"].iloc[-1] == pytest.approx(100.0)


def test_service_by_channel_with_csat_of_the_contacted_channel(data: tuple) -> None:
    c, _, app = data
    csat = m.survey_csat_frame(app.events_table(), c)
    assert sorted(csat["channel"]) == ["chat", "email", "phone"]
    s = m.channel_service(c, csat).set_index("channel")
    assert s.loc["phone", "resolved_pct"] == 50.0
    assert s.loc["phone", "response_median_min"] == 5.0
    assert s.loc["phone", "csat_pct"] == 0.0 and s.loc["email", "csat_pct"] == 100.0
    assert s.loc["phone", "resolved_low"] < 50.0 < s.loc["phone", "resolved_high"]


@pytest.mark.parametrize("period", sorted(m.PERIODS))
def test_period_of_equals_the_per_stamp_text(period: str) -> None:
    """``period_of`` makes the text once per distinct day: the same labels (and NaN for no
    time) as formatting every stamp, on any index, across a summer-time change."""
    times = pd.Series(
        pd.to_datetime(
            ["2026-03-28 23:30", "2026-03-29 00:30", None, "2026-10-25 22:59", "2026-03-29 00:30"],
            utc=True,
        ),
        index=[7, 3, 9, 1, 5],
    )
    local = times.dt.tz_convert("Europe/Amsterdam").dt.tz_localize(None)
    ref = local.dt.to_period(m.PERIODS[period]).dt.start_time.dt.strftime("%Y-%m-%d")
    pd.testing.assert_series_equal(m.period_of(times, period), ref)
    assert m.period_of(times.iloc[:0], period).empty
