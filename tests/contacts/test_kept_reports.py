"""The overview summed in the store (``contacts.kept_reports``, ``reports.kept_overview``)
equals the overview of the kept frames (``contacts_overview`` with the kept contacts and
conditions, itself checked against the log by ``test_derived`` and ``test_conditions``): the
war room, every report table, the weekly trend — numbers, order, ties and intervals — on the
demo and after random append sequences, for windows of days, channels, periods and repeat
windows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.contacts.conftest import demo1500_seed5_copy
from tests.contacts.test_conditions import _days, _event, _load, _records
from tests.contacts.test_kept_breaks import _run, _table
from tests.journeys.logs import T0

from klantreis.analytics.scope import Scope
from klantreis.app import App
from klantreis.contacts.conditions import ConditionViews
from klantreis.contacts.derived import ContactViews
from klantreis.contacts.kept_breaks import KeptBreaks
from klantreis.contacts.kept_gaps import KeptGaps
from klantreis.contacts.kept_reports import KeptContacts
from klantreis.contacts.reports import OverviewOptions, contacts_overview, kept_overview
from klantreis.settings import Settings


def _both(
    app: App, scope: Scope, options: OverviewOptions
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(summed in the store, from the kept frames) for ``scope`` and ``options``."""
    views = ContactViews(app.store, app.journey, app.contacts)
    conditions = ConditionViews(app.store, app.journey)
    conditions.ensure()
    since, until = scope.bounds(app.journey.timezone)
    frame = views.frame(since, until, scope.channels)
    ref = contacts_overview(
        app.events_table(),
        app.journey,
        app.contacts.taxonomy,
        top=options.top,
        period=options.period,
        repeat_days=options.repeat_days,
        lang=options.lang,
        scope=scope,
        now=options.now,
        contacts=frame,
        conditions=conditions,
    )
    from klantreis.contacts.reports import contact_events

    kept = KeptContacts(app.store, app.journey, since, until, scope.channels, scope.days())
    mine = kept_overview(
        kept,
        conditions,
        views.cause_frame(since, until, scope.channels),
        app.contacts.taxonomy,
        contact_events(app.events_table(), app.journey, scope),
        options,
    )
    return mine, ref


def _assert_same(mine: dict[str, Any], ref: dict[str, Any]) -> None:
    assert mine.keys() == ref.keys()
    for key in ref:
        assert mine[key] == ref[key], f"{key}:\n{mine[key]}\n!=\n{ref[key]}"


@pytest.fixture(scope="module")
def demo(demo1500_seed5: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    path = demo1500_seed5_copy(demo1500_seed5, tmp_path_factory, "kept-reports")
    app = App(Settings.load(env={}, db_path=str(path)))
    yield app
    app.close()


NOW = datetime(2026, 11, 20, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("scope", "options"),
    [
        (Scope(), OverviewOptions(now=NOW)),
        (Scope(), OverviewOptions(top=20, period="week", repeat_days=2, lang="en", now=NOW)),
        (Scope(since=date(2026, 10, 1), until=date(2026, 10, 31)), OverviewOptions(now=NOW)),
        (Scope(channels=("phone", "chat")), OverviewOptions(period="month", now=NOW)),
        (Scope(channels=("email",), since=date(2026, 11, 1)), OverviewOptions(now=None)),
        (Scope(since=date(2030, 1, 1)), OverviewOptions(now=NOW)),  # nothing in it
    ],
)
def test_the_summed_overview_equals_the_frames_on_the_demo(
    demo: App, scope: Scope, options: OverviewOptions
) -> None:
    mine, ref = _both(demo, scope, options)
    _assert_same(mine, ref)
    if scope == Scope():
        assert mine["warroom"]["rows"] and mine["trend"]["contacts"]  # not empty both ways


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.lists(_event, min_size=1, max_size=14), min_size=1, max_size=4),
    window=st.tuples(_days, _days),
    channels=st.sampled_from([(), ("chat",), ("phone", "web")]),
    repeat_days=st.sampled_from([0.0, 0.25, 1.0, 7.0]),
    period=st.sampled_from([None, "week", "day"]),
)
def test_the_summed_overview_equals_the_frames_after_every_append(
    batches: list[list[tuple[Any, ...]]],
    window: tuple[date | None, date | None],
    channels: tuple[str, ...],
    repeat_days: float,
    period: str | None,
) -> None:
    first, last = window
    if first is not None and last is not None and first > last:
        first, last = last, first
    scope = Scope(since=first, until=last, channels=channels)
    options = OverviewOptions(
        top=3, period=period, repeat_days=repeat_days, now=T0 + timedelta(days=3)
    )
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        seen: list[str] = []
        for n, batch in enumerate(batches):
            _load(app, _records(batch, n, seen))
            mine, ref = _both(app, scope, options)
            _assert_same(mine, ref)
            _assert_rebuilt(app)


def _assert_rebuilt(app: App) -> None:
    """The kept fulfilments and previous contacts, refreshed by the batches, equal a
    rebuild of them."""
    for table, keeper in (
        ("dk_breaks", KeptBreaks(app.store, app.journey)),
        ("dc_gaps", KeptGaps(app.store)),
    ):
        kept = _table(app, table)
        _run(app, f"DELETE FROM {table}_state")
        assert keeper.ensure() == "full"
        pd.testing.assert_frame_equal(kept, _table(app, table))


def test_a_contact_exactly_the_repeat_window_after_the_last_is_a_repeat() -> None:
    """Gaps of exactly the window count (``<=``), a tie counts with a gap of 0, another
    journey of the customer or a later gap does not; ties of channels keep their order."""
    from tests.journeys.logs import ev

    at = [T0, T0 + timedelta(days=1), T0 + timedelta(days=1), T0 + timedelta(days=3)]
    records = [ev("o0", "j0", "order.placed", T0), ev("o1", "j1", "order.placed", T0)]
    for i, (t, channel) in enumerate(zip(at, ["phone", "chat", "email", "phone"], strict=True)):
        records.append(ev(f"k{i}", "j0", "contact.inbound", t, channel=channel, text="pakket?"))
    records.append(
        ev("k9", "j1", "contact.inbound", T0, channel="chat", customer_id="c-j0", text="x")
    )
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        _load(app, records)
        # within half a day only the second of the tie repeats (the log's order breaks it)
        for days, repeats, chat in ((1.0, 2, 1), (0.5, 1, 0)):
            mine, ref = _both(app, Scope(), OverviewOptions(repeat_days=days, now=T0))
            _assert_same(mine, ref)
            assert mine["repeats"] == [
                {"contacts": 5, "repeats": repeats, "repeat_rate": 20.0 * repeats}
            ]
            by_channel = {r["channel"]: r["repeats"] for r in mine["repeats_by_channel"]}
            assert by_channel == {"chat": chat, "email": 1, "phone": 0}
