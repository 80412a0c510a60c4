"""The next day's default period of ``/contacts`` is kept before the day starts
(``contacts.next_day``, the kept-views job's part ``App.keep_next_day``): when the first
event of a new day moves the period, the root causes' totals and the held counts of the new
period are found kept (no shift by the day that left), brought up to date by the events
only, and equal the reference and a fresh count; the periods of the days gone are
forgotten."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
from tests.contacts.test_conditions import _held_rows, _load, _reference, _totals_rows
from tests.journeys.logs import T0, ev

from klantreis.analytics.scope import DEFAULT_PERIOD, Scope
from klantreis.app import App
from klantreis.contacts import cause_totals, held_counts
from klantreis.contacts.cause_totals import CauseTotals
from klantreis.contacts.conditions import ConditionViews
from klantreis.contacts.derived import ContactViews
from klantreis.contacts.held_counts import HeldCounts
from klantreis.contacts.kept_causes import KeptCauses
from klantreis.contacts.next_day import DEFAULT_FRAME_KEY, keep_next_day
from klantreis.contacts.rootcause import root_causes
from klantreis.settings import Settings

DAYS = 95  # more than the default period (90 days): days leave it


def _contact(eid: str, journey: str, at: Any, d: int) -> dict[str, Any]:
    attrs = {"reason": ["waar", "factuur", "retour"][d % 3], "contact_id": eid}
    rec = ev(eid, journey, "contact.inbound", at, attrs=attrs)
    return {**rec, "channel": "chat" if d % 2 else "phone", "text": "waar blijft mijn pakket"}


def _records() -> list[dict[str, Any]]:
    """An order a day with a hand-over, a broken promise and a contact a day or two later,
    and five long journeys with a row every day (their previous day decides what is first
    in a period)."""
    records = []
    for d in range(DAYS):
        at, n, j = T0 + timedelta(days=d), f"n{d}", f"j{d % 5}"
        records += [
            ev(f"o{d}", n, "order.placed", at),
            ev(
                f"s{d}", n, "shipment.handed_over", at + timedelta(days=1), owner=f"carrier:{d % 2}"
            ),
            ev(f"p{d}", n, "delivery.promised", at, owner="carrier:x", attrs={"deadline": "x"}),
            _contact(f"c{d}", n, at + timedelta(days=1 + d % 2, hours=2), d),
            ev(f"k{d}", j, "order.placed" if d < 5 else "invoice.bounced", at, owner="finance"),
            _contact(f"e{d}", j, at + timedelta(hours=3), d + 1),
        ]
    return records


def _default(app: App, conds: ConditionViews) -> tuple[Scope, tuple[date | None, date | None]]:
    """The page's default scope and window (the period ending on the newest event's day)."""
    with app.store.transaction() as con:
        window = conds.default_window(con)
    assert window is not None and window[1] is not None
    scope = Scope(period=DEFAULT_PERIOD, as_of=window[1])
    assert scope.days() == window
    return scope, window


def _page(app: App, views: ContactViews, conds: ConditionViews, fresh_check: bool) -> KeptCauses:
    """The root causes of the default period as ``/contacts`` has them (the kept contacts'
    frame with its identity, the default frame key); they equal the reference's and, with
    ``fresh_check``, a count afresh of the same frame."""
    conds.ensure()
    scope, window = _default(app, conds)
    since, until = scope.bounds(app.journey.timezone)
    frame, frame_id = views.cause_frame_with_id(since, until, ())
    kept = KeptCauses(
        app.store, app.journey, window, frame, views=conds,
        frame_key=DEFAULT_FRAME_KEY, frame_id=frame_id,
    )  # fmt: skip
    _, condition_rows, orders = _reference(app, window)
    ref = root_causes(frame, condition_rows, orders["journey_id"], min_contacts=1)
    pd.testing.assert_frame_equal(kept.table(min_contacts=1), ref, check_dtype=False)
    if fresh_check:
        totals = _totals_rows(conds.cause_totals(window))
        fresh = KeptCauses(app.store, app.journey, window, frame, views=conds, frame_key="fresh")
        assert fresh.held.last == "counted" and _held_rows(fresh) == _held_rows(kept)
        with app.store.transaction() as con:
            for (wid,) in con.execute(
                "SELECT wid FROM dk_kh_windows WHERE frame_key = 'fresh'"
            ).fetchall():
                HeldCounts._forget(con, wid)
            ct = con.execute("SELECT wid FROM dk_ct_windows").fetchall()
            CauseTotals.clear(con)
        assert _totals_rows(conds.cause_totals(window)) == totals  # counted afresh
        assert conds.totals.last == "counted" and len(ct) >= 1
    return kept


def _windows(app: App, table: str) -> list[tuple[Any, ...]]:
    with app.store.transaction() as con:
        return sorted(con.execute(f"SELECT first, last FROM {table}").fetchall())


@pytest.fixture
def app() -> Any:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        _load(app, _records())
        yield app


def test_the_first_event_of_a_day_finds_the_new_period_kept(app: App) -> None:
    views, conds = app.contact_views(), app.condition_views()
    _page(app, views, conds, fresh_check=False)  # today's period, as the job's view keeps it
    today = _default(app, conds)[1]
    assert app.keep_next_day()
    tomorrow = (today[0] + timedelta(days=1), today[1] + timedelta(days=1))
    assert _windows(app, "dk_ct_windows") == [today, tomorrow]
    assert _windows(app, "dk_kh_windows") == [today, tomorrow]  # today's stays kept
    offset = (today[1] - T0.date()).days  # T0 is 09:00 UTC: hours 0-12 later, the same day
    last = T0 + timedelta(days=offset, hours=5)
    # later today: events on journeys of the day that will leave, a new contact; the job's
    # next turn brings the next day's counts up to date (the refresh updates its totals)
    _load(
        app,
        [
            ev("late1", "n0", "return.received", last, owner="finance"),
            ev("late2", "j0", "order.placed", last),
            _contact("late3", "n3", last, 1),
        ],
    )
    _page(app, views, conds, fresh_check=False)
    assert app.keep_next_day()
    # the first event of the next day: the period moves; both counts are kept, not shifted
    first = T0 + timedelta(days=offset + 1, hours=1)
    _load(app, [ev("new", "j1", "refund.paid", first, owner="finance")])
    assert conds.ensure().mode == "incremental"
    assert conds.totals.last == "kept"
    with app.store.transaction() as con:  # the refresh read no day's journeys
        assert con.execute("SELECT count(*) FROM _dk_hand_days").fetchall() == [(0,)]
    assert _default(app, conds)[1] == tomorrow
    kept = _page(app, views, conds, fresh_check=True)
    # only the contacts of the touched journey j1 (17 in the period) are counted again
    assert kept.held.last == "updated (17)"
    # the job's next turn: the day after is kept, the day gone forgotten
    assert app.keep_next_day()
    after = (tomorrow[0] + timedelta(days=1), tomorrow[1] + timedelta(days=1))
    assert _windows(app, "dk_ct_windows") == [tomorrow, after]
    assert _windows(app, "dk_kh_windows") == [tomorrow, after]
    assert _page(app, views, conds, fresh_check=True).held.last == "kept"


def test_the_next_day_reads_the_day_that_leaves_once(app: App, monkeypatch: Any) -> None:
    """Making the next day's window reads the journeys with a row on the day that will
    leave (and their rows) once, into the kept conditions' hand-over: the root causes' and
    the held counts' shifts read none from the kept tables; the window made so equals the
    reference and a count afresh when the day comes."""
    views, conds = app.contact_views(), app.condition_views()
    _page(app, views, conds, fresh_check=False)
    today = _default(app, conds)[1]
    assert today[0] is not None and today[1] is not None
    reads = _count_reads(monkeypatch)
    assert app.keep_next_day()
    assert reads == [0, 0]  # both shifts: every journey from the hand-over
    left, entered = today[0], today[1] + timedelta(days=1)
    with app.store.transaction() as con:
        assert con.execute("SELECT * FROM _dk_hand_days").fetchall() == [
            (left, left, entered, entered)
        ]
        moved = con.execute(
            "SELECT journey_id FROM dk_kinds WHERE day = $d"
            " UNION SELECT journey_id FROM dk_promised WHERE day = $d",
            {"d": left},
        ).fetchall()
        hand = con.execute("SELECT journey_id FROM _dk_hand_j").fetchall()
        assert moved and set(moved) <= set(hand)
    monkeypatch.undo()
    offset = (today[1] - T0.date()).days
    _load(app, [ev("new", "j2", "refund.paid", T0 + timedelta(days=offset + 1, hours=1))])
    assert conds.ensure().mode == "incremental" and conds.totals.last == "kept"
    assert _page(app, views, conds, fresh_check=True).held.last.startswith("updated")


def _wids(app: App) -> dict[Any, int]:
    with app.store.transaction() as con:
        rows = con.execute("SELECT first, last, wid FROM dk_kh_windows").fetchall()
    return {(first, last): wid for first, last, wid in rows}


def _count_reads(monkeypatch: Any) -> list[int]:
    """How many journeys each ``journey_rows`` call of the root causes and the held counts
    reads from the kept tables (0: all from the kept conditions' hand-over)."""
    reads: list[int] = []
    for module in (cause_totals, held_counts):

        def counted(*args: Any, _inner: Any = module.journey_rows, **kwargs: Any) -> int:
            reads.append(_inner(*args, **kwargs))
            return reads[-1]

        monkeypatch.setattr(module, "journey_rows", counted)
    return reads


def test_the_window_of_a_day_gone_is_moved_to_the_next_day(app: App, monkeypatch: Any) -> None:
    """When the job makes the day after next's window, the held counts of the day gone
    (two days before it) are moved there in place, not today's copied, reading the journeys
    of both days that left from the hand-over; the window so made equals the reference and
    a count afresh when its day comes."""
    views, conds = app.contact_views(), app.condition_views()
    conds.ensure()
    day0 = _default(app, conds)[1]
    assert day0[0] is not None and day0[1] is not None
    # a journey whose start and only condition are on today's first day (the day gone by
    # then) and a contact three days later: held in today's period, not two days on
    at = T0 + timedelta(days=(day0[0] - T0.date()).days)
    _load(
        app,
        [
            ev("g1", "g", "order.placed", at),
            ev("g2", "g", "invoice.bounced", at + timedelta(hours=1), owner="finance"),
            _contact("g3", "g", at + timedelta(days=3), 0),
        ],
    )
    _page(app, views, conds, fresh_check=False)
    assert app.keep_next_day()  # the first window a day later: a copy (no day gone yet)
    offset = (day0[1] - T0.date()).days
    _load(app, [ev("new1", "j1", "refund.paid", T0 + timedelta(days=offset + 1, hours=1))])
    _page(app, views, conds, fresh_check=False)
    day1 = _default(app, conds)[1]
    assert day1 == (day0[0] + timedelta(days=1), day0[1] + timedelta(days=1))
    gone = _wids(app)[day0]
    reads = _count_reads(monkeypatch)
    assert app.keep_next_day()
    assert reads == [0, 0]  # the root causes' and the held counts' move: from the hand-over
    monkeypatch.undo()
    day2 = (day1[0] + timedelta(days=1), day1[1] + timedelta(days=1))
    assert sorted(_wids(app)) == [day1, day2] and _wids(app)[day2] == gone  # moved in place
    # later that day a contact and an event on a journey of the days that moved
    late = T0 + timedelta(days=offset + 1, hours=6)
    _load(app, [_contact("late", "n2", late, 2), ev("late2", "n1", "return.received", late)])
    _page(app, views, conds, fresh_check=False)
    assert app.keep_next_day()
    _load(app, [ev("new2", "j3", "refund.paid", T0 + timedelta(days=offset + 2, hours=1))])
    assert conds.ensure().mode == "incremental" and conds.totals.last == "kept"
    assert _default(app, conds)[1] == day2
    assert _page(app, views, conds, fresh_check=True).held.last.startswith("updated")


def test_a_day_gone_far_behind_is_forgotten_and_today_copied(app: App) -> None:
    """The held counts of a day gone more events behind than ``move_gone_events`` are not
    moved (that would count every touched journey's contacts again): they are forgotten
    and today's are copied, which equal the reference when the next day comes."""
    views, conds = app.contact_views(), app.condition_views()
    _page(app, views, conds, fresh_check=False)
    day0 = _default(app, conds)[1]
    assert day0[1] is not None and app.keep_next_day()
    offset = (day0[1] - T0.date()).days
    _load(app, [ev("new1", "j1", "refund.paid", T0 + timedelta(days=offset + 1, hours=1))])
    _page(app, views, conds, fresh_check=False)
    day1 = _default(app, conds)[1]
    before = _wids(app)
    assert keep_next_day(conds, views, move_gone_events=0) is not None  # day0's: 1 behind
    day2 = (day1[0] + timedelta(days=1), day1[1] + timedelta(days=1))
    after = _wids(app)
    assert sorted(after) == [day1, day2] and after[day2] not in before.values()  # a copy
    _load(app, [ev("new2", "j3", "refund.paid", T0 + timedelta(days=offset + 2, hours=1))])
    assert conds.ensure().mode == "incremental" and _default(app, conds)[1] == day2
    assert _page(app, views, conds, fresh_check=True).held.last.startswith("updated")


def test_without_the_next_day_kept_the_period_is_shifted_as_before(app: App) -> None:
    views, conds = app.contact_views(), app.condition_views()
    _page(app, views, conds, fresh_check=False)
    last = _default(app, conds)[1][1]
    assert last is not None
    offset = (last - T0.date()).days
    _load(app, [ev("new", "j1", "refund.paid", T0 + timedelta(days=offset + 1, hours=1))])
    conds.ensure()
    assert conds.totals.last == "shifted"
    assert _page(app, views, conds, fresh_check=True).held.last.startswith("shifted")


def test_an_empty_store_keeps_no_next_day() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        assert not app.keep_next_day()
