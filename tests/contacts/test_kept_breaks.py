"""The kept fulfilments of the kept promises (``contacts.kept_breaks``) and the kept previous
contacts (``contacts.kept_gaps``): the weekly breaks equal the portable reference
(``broken_per_week`` over the window's events) for every window of a log whose fulfilments
lie before, inside and after the windows (a fulfilment before the promise that reopened a
journey reads the kept kinds); a refresh after an append follows the touched journeys or
contacts only and leaves what a rebuild gives; a rebuilt contacts table is noticed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
from tests.contacts.test_conditions import _load
from tests.journeys.logs import T0, ev

from klantreis.analytics.scope import Scope
from klantreis.app import App
from klantreis.contacts.conditions import ConditionViews
from klantreis.contacts.derived import ContactViews
from klantreis.contacts.reports import broken_per_week, contact_events
from klantreis.settings import Settings

NOW = T0 + timedelta(days=6)


def _promise(eid: str, jid: str, day: int, hours: int, due_hours: int) -> dict[str, Any]:
    at = T0 + timedelta(days=day, hours=hours)
    deadline = (at + timedelta(hours=due_hours)).isoformat()
    return ev(eid, jid, "delivery.promised", at, attrs={"deadline": deadline})


def _done(eid: str, jid: str, day: int, hours: int = 2) -> dict[str, Any]:
    return ev(eid, jid, "delivery.completed", T0 + timedelta(days=day, hours=hours))


#: j0: promised on day 0, delivered on day 1, promised again on day 2 and delivered late on
#: day 3 (a window from day 2 reads the day-3 delivery, though day 1's follows day 0's
#: promise); j1: delivered on day 1 before its promise of day 2; j2: never delivered; j3:
#: delivered in time on day 4.
LOG = [
    ev("o0", "j0", "order.placed", T0),
    _promise("p0", "j0", 0, 1, 30),
    _done("d0", "j0", 1),
    _promise("p1", "j0", 2, 1, 3),
    _done("d1", "j0", 3),
    ev("o1", "j1", "order.placed", T0),
    _done("d2", "j1", 1),
    _promise("p2", "j1", 2, 5, 1),
    _promise("p3", "j2", 1, 3, 2),
    _promise("p4", "j3", 3, 1, 40),
    _done("d3", "j3", 4),
]
DAYS = [None, *(T0.date() + timedelta(days=d) for d in range(5))]
WINDOWS = [(a, b) for a in DAYS for b in DAYS if a is None or b is None or a <= b]


def _check(app: App, views: ConditionViews, window: tuple[date | None, date | None]) -> None:
    events = contact_events(
        app.events_table(), app.journey, Scope(since=window[0], until=window[1])
    )
    ref = broken_per_week(events, app.journey, NOW)
    mine = views.weekly_breaks(window, NOW).set_index(["period", "promise_id"])["broken"]
    assert mine.to_dict() == ref.to_dict(), window


def _run(app: App, sql: str) -> None:
    with app.store.transaction() as con:
        con.execute(sql).fetchall()


def _table(app: App, table: str) -> pd.DataFrame:
    df = app.store.query(f"SELECT * FROM {table}").to_pandas()
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def test_the_weekly_breaks_equal_the_events_for_every_window() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        _load(app, LOG)
        views = ConditionViews(app.store, app.journey)
        for window in WINDOWS:
            _check(app, views, window)
        # the reopened journey's row keeps day 1's delivery: from day 2 the kinds answer
        rows = app.store.query(
            "SELECT journey_id, day, ful_day FROM dk_breaks WHERE ful_day < day"
        ).to_pylist()
        assert {r["journey_id"] for r in rows} == {"j0", "j1"}
        window = (T0.date() + timedelta(days=2), None)
        broken = views.weekly_breaks(window, NOW)["broken"].sum()
        assert broken == 2  # j0 delivered late on day 3, j1 not delivered after day 2


def test_a_refresh_follows_the_touched_journeys_and_gives_the_rebuilt_rows() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        _load(app, LOG[:6])
        views = ConditionViews(app.store, app.journey)
        views.ensure()
        breaks = views.breaks  # refreshed with the kept conditions
        assert breaks.last == "full"
        assert breaks.ensure() == "current"
        for part in (LOG[6:9], LOG[9:], [_done("d9", "j2", 0, 20)]):  # the last: out of order
            _load(app, part)
            views.ensure()
            assert breaks.last == "incremental"
            for window in WINDOWS:
                _check(app, views, window)
            kept = _table(app, "dk_breaks")
            _run(app, "DELETE FROM dk_breaks_state")
            assert breaks.ensure() == "full"
            pd.testing.assert_frame_equal(kept, _table(app, "dk_breaks"))


def _contacts(n: int, day: int, jid: str, customer: str | None = None) -> list[dict[str, Any]]:
    return [
        ev(
            f"k{day}-{jid}-{i}",
            jid,
            "contact.inbound",
            T0 + timedelta(days=day, hours=i % 2),
            customer_id=customer or f"c-{jid}",
            channel=["phone", "chat"][i % 2],
            text="waar is mijn pakket?",
        )
        for i in range(n)
    ]


def test_the_kept_gaps_follow_appends_and_a_rebuilt_contacts_table() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        contacts = ContactViews(app.store, app.journey, app.contacts)
        gaps = contacts.gaps  # refreshed with the kept contacts
        _load(app, [*LOG, *_contacts(3, 2, "j0"), *_contacts(2, 1, "j1")])
        contacts.ensure()
        assert gaps.last == "full"
        assert gaps.ensure() == "current"
        # before the kept ones, between them and a customer-less contact
        nobody = ev("kx", "j1", "contact.inbound", T0, customer_id=None, channel="phone")
        _load(app, [*_contacts(2, 0, "j0"), *_contacts(1, 1, "j0"), *_contacts(1, 3, "j1"), nobody])
        contacts.ensure()
        assert gaps.last == "incremental"
        kept = _table(app, "dc_gaps")
        _run(app, "DELETE FROM dc_gaps_state")
        assert gaps.ensure() == "full"
        pd.testing.assert_frame_equal(kept, _table(app, "dc_gaps"))
        prev = app.store.query(
            "SELECT count(*) AS n FROM dc_gaps WHERE prev_at IS NOT NULL"
        ).to_pylist()[0]["n"]
        assert prev == 10 - 3  # every contact but the first of each journey and the customer-less
        # a rebuilt contacts table numbers its rows anew: the gaps are rebuilt too
        _run(app, "UPDATE dc_contacts SET ord = 100 - ord")
        _run(app, "UPDATE dc_state SET version = version + 1")
        assert gaps.ensure() == "full"


@pytest.mark.parametrize("since", [None, 1, 2])
def test_a_previous_contact_before_the_period_is_none(since: int | None) -> None:
    """Inside a period the window sees no contact before it: the kept gap counts then."""
    from klantreis.contacts.kept_reports import KeptContacts

    with App(Settings.load(env={}, db_path=":memory:")) as app:
        _load(app, [*LOG, *_contacts(2, 0, "j0"), *_contacts(2, 2, "j0")])
        ContactViews(app.store, app.journey, app.contacts).ensure()
        start = None if since is None else T0 + timedelta(days=since)
        kept = KeptContacts(app.store, app.journey, start, None, (), (None, None))
        mine = kept.repeats(7.0)
        window = KeptContacts(app.store, app.journey, start, None, ("phone", "chat"), (None, None))
        ref = window.repeats(7.0)  # every channel: the window over the period's contacts
        assert mine.to_dict("records") == ref.to_dict("records")
        assert int(mine["repeats"].iloc[0]) == {None: 3, 1: 1, 2: 1}[since]
