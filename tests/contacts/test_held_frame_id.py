"""The kept held counts trust a frame by its identity (the kept contacts' state and the
frame's bounds) only while nothing that makes the frame changed other than new contacts:
labels, a new model, another channel choice, or an update by code that does not keep
identities. New contacts (rows numbered from the kept frame's top on) are read without a
compare; every view equals the reference, a fresh count and its kept frame."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


def _view(
    app: App, views: ContactViews, conds: ConditionViews, channels: Any = (), source: bool = False
) -> KeptCauses:
    """The held counts of the kept contacts' frame, given with its identity (``source``: as
    a source the held counts read in SQL, as the page gives it); they equal the reference's
    and a fresh count of the same frame."""
    conds.ensure()
    since, until = None, pd.Timestamp(WINDOW[1], tz="UTC")
    frame, frame_id = views.cause_frame_with_id(since, until, channels)
    given: Any = views.cause_source(since, until, channels) if source else frame
    kept = KeptCauses(
        app.store, app.journey, WINDOW, given, views=conds,
        frame_key=repr(channels), frame_id=None if source else frame_id,
    )  # fmt: skip
    _, condition_rows, orders = _reference(app, WINDOW)
    ref = root_causes(frame, condition_rows, orders["journey_id"], min_contacts=1)
    pd.testing.assert_frame_equal(kept.table(min_contacts=1), ref, check_dtype=False)
    fresh = KeptCauses(app.store, app.journey, WINDOW, frame, views=conds, frame_key="fresh")
    assert _held_rows(fresh) == _held_rows(kept)
    assert fresh.held.last == "counted"
    # the kept frame (what a later compare reads) is the frame counted afresh
    assert _kept_frame(app, repr(channels)) == _kept_frame(app, "fresh")
    with app.store.transaction() as con:  # the fresh window goes again
        for (wid,) in con.execute(
            "SELECT wid FROM dk_kh_windows WHERE frame_key = 'fresh'"
        ).fetchall():
            HeldCounts._forget(con, wid)
    return kept


def _kept_frame(app: App, frame_key: str) -> Any:
    """The kept frame of the window of ``frame_key``: its rows' contact ids and hashes, and
    their sum."""
    with app.store.transaction() as con:
        ((wid, total),) = con.execute(
            "SELECT wid, frame_sum FROM dk_kh_windows WHERE frame_key = ?", [frame_key]
        ).fetchall()
        rows = con.execute(
            "SELECT contact_id, h FROM dk_kh_frame WHERE wid = ? ORDER BY ALL", [wid]
        ).fetchall()
    return rows, total


def _held(app: App, views: ContactViews, conds: ConditionViews, source: bool = False) -> Any:
    """A view's check (``_view``, ``source`` unless a view says) that returns how the held
    counts were had."""

    def held(how: str | None, compared: bool, channels: Any = (), via: bool = source) -> None:
        kept = _view(app, views, conds, channels, via)
        assert kept.held.compared == compared
        if how is not None:
            assert kept.held.last == how

    return held


@pytest.mark.parametrize("source", [False, True], ids=["frame", "source"])
def test_a_frame_is_trusted_by_its_identity_until_something_changes_it(
    app: App, source: bool
) -> None:
    views = ContactViews(app.store, app.journey, app.contacts)
    conds = ConditionViews(app.store, app.journey)
    held = _held(app, views, conds, source)

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
    # a new contact: a row added, not compared
    _load(app, [_contact(11, "j3", "chat")])
    held("updated (3)", False)  # c11 and c3, c7 of its journey j3
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


def _again(d: int, contact_id: str, journey: str | None) -> dict[str, Any]:
    """Contact event ``d`` of ``contact_id`` (an earlier contact's id again, or a new one) on
    ``journey`` (None: none)."""
    rec = _contact(d, "j0", "chat")
    attrs = {"reason": "factuur", "contact_id": contact_id}
    return {**rec, **ev(f"c{d}", journey, "contact.inbound", rec["occurred_at"], attrs=attrs)}


@pytest.mark.parametrize("source", [False, True], ids=["frame", "source"])
def test_added_contacts_are_read_alone_and_a_rewrite_is_compared(app: App, source: bool) -> None:
    """Rows added (a contact without a journey, an earlier contact's id again) are read
    without a compare: the kept frame holds them (``_view``); a label, even with a new
    contact, or a version moved by code that does not keep the rewrites, is compared."""
    views = ContactViews(app.store, app.journey, app.contacts)
    conds = ConditionViews(app.store, app.journey)
    held = _held(app, views, conds, source)
    held("counted", True)
    _load(app, [_again(12, "c12", None)])
    held("updated (1)", False)  # c12 alone: no journey touched
    _load(app, [_again(13, "c2", "j2")])
    held("updated (2)", False)  # c2 (a row added) and c6 of j2
    label = ev("l", "j9", "contact.labelled", T0, attrs={"contact_id": "c3", "reason": "x"})
    _load(app, [label, _contact(14, "j1", "chat")])
    held("updated (5)", True)  # c3 relabelled; c14 and c1, c5, c9 of j1
    _load(app, [_contact(15, "j1", "chat")])
    held(None, False)
    with app.store.transaction() as con:  # code without dc_rewrites moved the version
        con.execute("UPDATE dc_state SET version = version + 1").fetchall()
    held("kept", True)
    _load(app, [_contact(16, "j1", "chat")])
    held(None, False)


_step = st.sampled_from(["contact", "no journey", "same id", "event", "label", "model"])


@pytest.mark.slow
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(_step, st.integers(0, 3), st.booleans()), min_size=1, max_size=5))
def test_held_counts_equal_the_reference_after_appends_and_rewrites(
    steps: list[tuple[str, int, bool]],
) -> None:
    """After any sequence of appended contacts (on a journey, on none, an earlier id again),
    other events, labels and another model, the held counts of the kept contacts' frame
    equal the reference, a fresh count and its kept frame (``_view``); only a label or a
    model compares the frame. Each view gives the frame as a pandas frame or as a source
    (read in SQL), at random: a window kept by one is trusted by the other."""
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        _load(app, _records())
        views = ContactViews(app.store, app.journey, app.contacts)
        conds = ConditionViews(app.store, app.journey)
        held = _held(app, views, conds)
        held("counted", True)
        models = 0
        for n, (step, k, source) in enumerate(steps):
            d, j = 20 + n, f"j{k}"
            if step == "contact":
                _load(app, [_contact(d, j, "chat")])
            elif step == "no journey":
                _load(app, [_again(d, f"c{d}", None)])
            elif step == "same id":
                _load(app, [_again(d, f"c{k}", j)])
            elif step == "event":
                _load(app, [ev(f"e{d}", j, "invoice.bounced", T0 + timedelta(days=k))])
            elif step == "label":
                attrs = {"contact_id": f"c{k}", "reason": ["x", "y"][n % 2]}
                _load(app, [ev(f"l{d}", "j9", "contact.labelled", T0, attrs=attrs)])
            else:
                models += 1
                views._fingerprint = lambda m=models: f"model {m}"  # type: ignore[method-assign]
            held(None, step in ("label", "model"), via=source)
