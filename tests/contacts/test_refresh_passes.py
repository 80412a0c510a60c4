"""What a refresh after a batch costs: the kept conditions write only the rows that changed
(a journey's other rows stay where they are), the root causes' kept windows are updated in
one pass (the touched journeys' old share out and their new share in, for every kept window
at once: the number of statements does not grow with the windows) and the counts equal the
reference's; the contacts' held counts take a frame of pandas' Arrow-backed strings as it
is."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from tests.contacts.test_conditions import _check_causes, _load, _nine_days, _reference
from tests.contacts.test_held_parts import _records
from tests.journeys.logs import T0, ev

from klantreis.app import App
from klantreis.contacts import cause_totals
from klantreis.contacts.conditions import ConditionViews
from klantreis.contacts.held_counts import _contacts_table
from klantreis.settings import Settings


def _statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the kept windows' module runs from now on."""
    seen: list[str] = []
    run = cause_totals._run

    def spy(con: Any, sql: str, params: Any = None) -> Any:
        seen.append(sql)
        return run(con, sql, params)

    monkeypatch.setattr(cause_totals, "_run", spy)
    return seen


def test_a_refresh_updates_every_kept_window_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        _load(app, _records())
        views = ConditionViews(app.store, app.journey)
        views.cause_totals(_nine_days(0))
        late = T0 + timedelta(days=3, hours=5)
        counts = []
        for extra, j in ((0, "j1"), (2, "j2")):  # one window more, then three more
            for offset in range(20, 20 + 10 * extra, 10):
                views.cause_totals(_nine_days(offset))
            windows = app.store.con.execute("SELECT count(*) FROM dk_ct_windows").fetchall()
            seen = _statements(monkeypatch)
            _load(app, [ev(f"late{extra}", j, "invoice.bounced", late, owner="finance")])
            views.ensure()
            monkeypatch.undo()
            counts.append((windows[0][0], len(seen)))
            # every kept window was brought to the new events, none counted afresh
            for offset in (0, *range(20, 20 + 10 * extra, 10)):
                window = _nine_days(offset)
                _check_causes(app, views, window, *_reference(app, window))
                assert views.totals.last == "kept"
        (one, n_one), (three, n_three) = counts
        assert three == one + 2
        assert n_three == n_one, counts


def _rows_of(app: App, journey: str) -> dict[tuple[Any, ...], int]:
    """The kept condition rows of ``journey`` (without the row id) and their row ids."""
    rows = app.store.con.execute(
        "SELECT rowid, * FROM dk_kinds WHERE journey_id = ? UNION ALL"
        " SELECT rowid, * FROM dk_promised WHERE journey_id = ?",
        [journey, journey],
    ).fetchall()
    return {tuple(map(str, r[1:])): r[0] for r in rows}


def test_a_refresh_writes_only_the_rows_that_changed() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        _load(app, _records())
        views = ConditionViews(app.store, app.journey)
        window = _nine_days(0)
        views.cause_totals(window)
        before, version = _rows_of(app, "j1"), views.counter()
        # a shipment a day after j1's last one (day 11): one new row, day 11's row unchanged
        _load(app, [ev("s-late", "j1", "shipment.handed_over", T0 + timedelta(days=12))])
        views.ensure()
        after = _rows_of(app, "j1")
        added = after.keys() - before.keys()
        assert len(added) == 1 and "shipment.handed_over" in next(iter(added))
        assert before.keys() <= after.keys()
        assert all(after[row] == rowid for row, rowid in before.items())  # not rewritten
        assert views.counter() == version + 1
        _check_causes(app, views, window, *_reference(app, window))
        # a batch that changes no row writes none and keeps the counter
        _load(app, [ev("s-again", "j1", "shipment.handed_over", T0 + timedelta(days=12, hours=1))])
        views.ensure()
        assert _rows_of(app, "j1") == after
        assert views.counter() == version + 1


def test_the_held_counts_take_arrow_backed_strings_as_they_are() -> None:
    objects = pd.DataFrame(
        {
            "contact_id": ["c1", "c2", "c3"],
            "journey_id": ["j1", None, "j3"],
            "reason": ["waar", "factuur", None],
            "occurred_at": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"], utc=True),
        }
    )
    arrow = objects.astype(
        {c: pd.ArrowDtype(pa.string()) for c in ("contact_id", "journey_id", "reason")}
    )
    strings = objects.astype({c: "string" for c in ("contact_id", "journey_id", "reason")})
    expected = _contacts_table(objects)
    assert expected.column("journey_id").null_count == 1
    assert expected.column("reason").to_pylist() == ["waar", "factuur", None]
    assert expected.schema.field("contact_id").type == pa.string()
    for frame in (arrow, strings):
        assert _contacts_table(frame).equals(expected)
    rows = _contacts_table(strings.iloc[[2, 0]], [2, 0])
    assert rows.column("contact_id").to_pylist() == ["c3", "c1"]
    assert rows.column("pos").to_pylist() == [2, 0]
