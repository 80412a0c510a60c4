"""The kept held counts trust a frame by its identity (the kept contacts' state and the
frame's bounds) only while nothing that makes the frame changed: labels, new contacts, a new
model, another channel choice, or an update by code that does not keep identities."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
from tests.contacts.test_conditions import _held_rows, _load, _reference
from tests.journeys.logs import T0, ev

from klantreis.app import App
from klantreis.contacts.conditions import ConditionViews
from klantreis.contacts.derived import ContactViews
from klantreis.contacts.held_counts import HeldCounts
from klantreis.contacts.kept_causes import KeptCauses
from klantreis.contacts.rootcause import root_causes
from klantreis.settings import Settings

WINDOW: tuple[date | None, date | None] = (None, T0.date() + timedelta(days=20))


def _contact(d: int, journey: str, channel: str) -> dict[str, Any]:
    attrs = {"reason": "waar" if d % 2 else "factuur", "contact_id": f"c{d}"}
    rec = ev(f"c{d}", journey, "contact.inbound", T0 + timedelta(days=d, hours=2), attrs=attrs)
    return {**rec, "channel": channel, "text": "waar blijft mijn pakket"}


def _records() -> list[dict[str, Any]]:
    records = []
    for d in range(10):
        at, j = T0 + timedelta(days=d), f"j{d % 4}"
        records += [
            ev(f"k{d}", j, "order.placed", at),
            ev(f"s{d}", j, "shipment.handed_over", at, owner=f"carrier:{d % 2}"),
            _contact(d, j, "chat" if d % 3 else "phone"),
        ]
    return records


@pytest.fixture
def app() -> Any:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        _load(app, _records())
        yield app


def _view(app: App, views: ContactViews, conds: ConditionViews, channels: Any = ()) -> KeptCauses:
    """The held counts of the kept contacts' frame, given with its identity; they equal the
    reference's and a fresh count of the same frame."""
    conds.ensure()
    since, until = None, pd.Timestamp(WINDOW[1], tz="UTC")
    frame, frame_id = views.cause_frame_with_id(since, until, channels)
    kept = KeptCauses(
        app.store, app.journey, WINDOW, frame, views=conds,
        frame_key=repr(channels), frame_id=frame_id,
    )  # fmt: skip
    _, condition_rows, orders = _reference(app, WINDOW)
    ref = root_causes(frame, condition_rows, orders["journey_id"], min_contacts=1)
    pd.testing.assert_frame_equal(kept.table(min_contacts=1), ref, check_dtype=False)
    fresh = KeptCauses(app.store, app.journey, WINDOW, frame, views=conds, frame_key="fresh")
    assert _held_rows(fresh) == _held_rows(kept)
    assert fresh.held.last == "counted"
    with app.store.transaction() as con:  # the fresh window goes again
        for (wid,) in con.execute(
            "SELECT wid FROM dk_kh_windows WHERE frame_key = 'fresh'"
        ).fetchall():
            HeldCounts._forget(con, wid)
    return kept


def test_a_frame_is_trusted_by_its_identity_until_something_changes_it(app: App) -> None:
    views = ContactViews(app.store, app.journey, app.contacts)
    conds = ConditionViews(app.store, app.journey)

    def held(how: str, compared: bool, channels: Any = ()) -> None:
        kept = _view(app, views, conds, channels)
        assert (kept.held.last, kept.held.compared) == (how, compared)

    held("counted", True)
    held("kept", False)  # the same identity: not compared
    # events on a journey: only its contacts are read from the frame
    _load(app, [ev("late", "j1", "invoice.bounced", T0 + timedelta(days=1))])
    held("updated (3)", False)  # c1, c5 and c9 of j1
    held("kept", False)
    # a label: the kept contacts' version moves on, the frame is compared
    _load(app, [ev("l", "j9", "contact.labelled", T0, attrs={"contact_id": "c2", "reason": "x"})])
    held("updated (1)", True)
    held("kept", False)
    # a new contact
    _load(app, [_contact(11, "j3", "chat")])
    held("updated (3)", True)  # c11 and c3, c7 of its journey j3
    # a channel choice: a window of its own, trusted the second time
    held("counted", True, ("chat",))
    held("kept", False, ("chat",))
    held("kept", False)


def test_a_new_model_or_a_stale_identity_compares_the_frame(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    views = ContactViews(app.store, app.journey, app.contacts)
    conds = ConditionViews(app.store, app.journey)
    _view(app, views, conds)
    assert not _view(app, views, conds).held.compared
    # another classifier in use: every row is reasoned again, the version moves on
    monkeypatch.setattr(views, "_fingerprint", lambda: "another model")
    assert _view(app, views, conds).held.compared
    assert not _view(app, views, conds).held.compared
    # a view by code that keeps no identity (an older version) updates the window
    with app.store.transaction() as con:
        con.execute("UPDATE dk_kh_windows SET used = used + 1").fetchall()
    assert _view(app, views, conds).held.compared
    # without an identity (a test's reference frame) the frame is always compared
    frame = views.cause_frame(None, pd.Timestamp(WINDOW[1], tz="UTC"))
    kept = KeptCauses(app.store, app.journey, WINDOW, frame, views=conds)
    assert kept.held.compared


def test_the_touched_journeys_rows_come_from_the_conditions_refresh(app: App) -> None:
    """The held counts' update reads the rows of the journeys the conditions' refresh has
    just made from its hand-over, and only the others from the kept tables; the counts
    still equal the reference's and a fresh count (``_view``)."""
    views = ContactViews(app.store, app.journey, app.contacts)
    conds = ConditionViews(app.store, app.journey)
    assert _view(app, views, conds).held.read == -1  # a full build hands nothing over
    _load(app, [ev("late", "j1", "invoice.bounced", T0 + timedelta(days=1))])
    kept = _view(app, views, conds)
    assert (kept.held.last, kept.held.read) == ("updated (3)", 0)  # j1: all handed over
    # a label of c2 (journey j2) arrives on journey j9: j2's rows are read from the tables
    _load(app, [ev("l", "j9", "contact.labelled", T0, attrs={"contact_id": "c2", "reason": "x"})])
    kept = _view(app, views, conds)
    assert (kept.held.last, kept.held.read) == ("updated (1)", 1)
