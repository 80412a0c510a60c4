"""A full build of the kept conditions one journey-key range at a time (issue 17: the
one-shot build peaked at 17.6 GB at 100M events) gives the tables of the one-shot build, the
default window's root-cause counts are kept when the tables are built or refreshed (the first
view of ``/contacts`` finds them), and a build that stops half-way is rebuilt by the next read."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.contacts.test_conditions import KINDS, OWNERS, _check_causes, _reference, _totals_rows
from tests.journeys.logs import T0, ev, load

from klantreis.app import App
from klantreis.contacts.cause_totals import CauseTotals
from klantreis.contacts.conditions import ConditionViews
from klantreis.settings import Settings
from klantreis.web.pagekit import Filters

#: The kept tables, as sorted rows.
_TABLES = ("dk_kinds", "dk_promised", "dk_csat", "dk_options")
#: Hours after ``T0``: ties, and days far apart (the default window leaves the first out).
_HOURS = [0, 0, 6, 24, 30, 48, 96, 24 * 40, 24 * 100, 24 * 100 + 3]


def _store(seed: int, size: int, batch: int, seen: list[str]) -> list[dict[str, Any]]:
    """``size`` events of 12 journeys and journey-less ones: tied times and source orders,
    repeated event ids, cancelled orders, deadlines valid or not, contacts and answers."""
    r = random.Random(seed)
    out = []
    for i in range(size):
        j = r.randint(0, 12)
        eid = r.choice(seen) if seen and r.random() < 0.1 else f"e{batch}-{i}"
        kind = r.choice([*KINDS, "order.cancelled"])
        at = T0 + timedelta(hours=r.choice(_HOURS))
        attrs: dict[str, Any] = {}
        if kind == "delivery.promised":
            attrs["deadline"] = r.choice(
                [None, "not a date", (at + timedelta(hours=3)).isoformat()]
            )
        if kind in ("contact.inbound", "survey.response"):
            attrs["contact_id"] = f"c{r.randint(0, 5)}"
        if kind == "contact.inbound":
            attrs["reason"] = r.choice(["waar", "factuur"])
        if kind == "order.placed":
            attrs["segment"] = r.choice(["b2b", "consumer", ""])
        rec = ev(eid, f"j{j:02d}" if j < 12 else None, kind, at, owner=r.choice(OWNERS))
        rec.update(attrs=json.dumps(attrs), channel=r.choice(["chat", "phone"]))
        rec["source_order"] = r.randint(0, 2)
        if kind == "survey.response":
            rec.update(metric="csat", score=float(r.randint(1, 5)), touchpoint="klantenservice")
        out.append(rec)
        seen.append(eid)
    return out


@contextmanager
def _app(*batches: tuple[int, int]) -> Iterator[App]:
    """An App on an in-memory store with random batches (seed, size) loaded in turn (later
    ones out of order, some ids repeated)."""
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        seen: list[str] = []
        for n, (seed, size) in enumerate(batches):
            load(app, _store(seed, size, n, seen))
        yield app


def _tables(app: App, views: ConditionViews) -> tuple[Any, ...]:
    """Every kept table's rows and the default window's kept counts (found kept)."""
    rows = [app.store.query(f"FROM {t} ORDER BY ALL").to_pylist() for t in _TABLES]
    with app.store.transaction() as con:
        window = views.default_window(con)
    totals = _totals_rows(views.cause_totals(window)) if window is not None else None
    assert views.totals.last == "kept"
    return rows, totals


def _spy_ranges(monkeypatch: pytest.MonkeyPatch, fail_at: int = 0) -> list[str]:
    """The key-range conditions a build runs (it stops at the ``fail_at``-th when given)."""
    ranges: list[str] = []
    build = ConditionViews._build_range

    def spy(self: ConditionViews, con: Any, where: str, *rest: Any) -> int:
        ranges.append(where)
        if len(ranges) == fail_at:
            raise RuntimeError("stopped")
        return build(self, con, where, *rest)

    monkeypatch.setattr(ConditionViews, "_build_range", spy)
    return ranges


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_build_in_tiny_key_ranges_equals_the_one_shot_build(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _app((seed, 120), (seed + 100, 40)) as app:
        one = ConditionViews(app.store, app.journey, range_events=10**9)
        assert one.rebuild().mode == "full"
        whole = _tables(app, one)
        assert all(whole[0]) and whole[1] is not None and whole[1][0] > 0
        ranges = _spy_ranges(monkeypatch)
        tiny = ConditionViews(app.store, app.journey, range_events=2)
        built = tiny.rebuild()
        assert len(ranges) >= 6  # 12 journeys: about one or two a range
        assert _tables(app, tiny) == whole
        assert built.journeys == one.rebuild().journeys > 0
        # the kept default window equals the same window counted afresh
        with app.store.transaction() as con:
            window = tiny.default_window(con)
            CauseTotals.clear(con)
        assert window is not None
        assert _totals_rows(tiny.cause_totals(window)) == whole[1]
        assert tiny.totals.last == "counted"


def test_a_build_stopped_half_way_is_rebuilt_by_the_next_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"))) as app:
        load(app, _store(7, 150, 0, []))
        views = ConditionViews(app.store, app.journey, range_events=2)
        assert views.ensure().mode == "full"
        built, before = _tables(app, views), views.counter()
        ranges = _spy_ranges(monkeypatch, fail_at=3)
        with pytest.raises(RuntimeError, match="stopped"):
            views.rebuild()
        assert app.store.query("SELECT layout FROM dk_state").to_pylist() == [{"layout": -1}]
        monkeypatch.undo()
        again = ConditionViews(app.store, app.journey, range_events=2)
        assert again.ensure().mode == "full"
        assert _tables(app, again) == built
        assert again.counter() > before and len(ranges) == 3


def test_a_full_build_runs_under_its_memory_limit_and_puts_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"))) as app:
        load(app, _store(3, 60, 0, []))
        con = app.store.con
        before = con.execute("SELECT current_setting('memory_limit')").fetchall()
        seen: list[str] = []
        build = ConditionViews._build_range

        def spy(self: ConditionViews, c: Any, *rest: Any) -> int:
            seen.append(c.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
            return build(self, c, *rest)

        monkeypatch.setattr(ConditionViews, "_build_range", spy)
        ConditionViews(app.store, app.journey, memory_mb=64, range_events=20).rebuild()
        assert len(seen) >= 2 and set(seen) == {"64.0 MiB"}
        assert con.execute("SELECT current_setting('memory_limit')").fetchall() == before
    with pytest.raises(ValueError, match="at least 1"):
        ConditionViews(app.store, app.journey, range_events=0)


def test_the_default_window_is_the_contacts_pages_and_is_kept_after_a_refresh() -> None:
    """The window counted at build is the one ``/contacts`` shows without a period (the
    default filters ending on the newest event's local day); after an append that moves the
    newest day, the refresh brings the new default window (the page finds it kept), and its
    counts equal the reference."""
    with _app((11, 120)) as app:
        views = ConditionViews(app.store, app.journey)
        assert views.ensure().mode == "full"
        newest = app.store.query("SELECT max(occurred_at) AS t FROM events").to_pylist()[0]["t"]
        day = newest.astimezone(ZoneInfo(app.journey.timezone)).date()
        with app.store.transaction() as con:
            window = views.default_window(con)
        assert window == Filters().scope(day).days()
        assert window[0] is not None and (day - window[0]).days == 89
        with app.store.transaction() as con:
            rows = con.execute("SELECT first, last FROM dk_ct_windows").fetchall()
        assert rows == [window]
        later = newest + timedelta(days=3)
        load(
            app,
            [
                ev("late-1", "j03", "invoice.bounced", later),
                ev("late-2", "j99", "order.placed", later),
            ],
        )
        assert views.ensure().mode == "incremental"
        moved: tuple[date, date] = (window[0] + timedelta(days=3), day + timedelta(days=3))
        with app.store.transaction() as con:
            assert views.default_window(con) == moved
        _check_causes(app, views, moved, *_reference(app, moved))
        assert views.totals.last == "kept"


def test_the_weekly_breaks_full_fill_runs_under_the_memory_limit_and_puts_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The weekly breaks' fill of every promise row (3.3 GiB at 100M events outside the
    setting) runs under the kept conditions' ``memory_mb``, and the limit is put back."""
    from klantreis.contacts.kept_breaks import KeptBreaks

    with _app((3, 60)) as app:
        con = app.store.con
        before = con.execute("SELECT current_setting('memory_limit')").fetchall()
        seen: list[str] = []
        fill = KeptBreaks._fill

        def spy(self: KeptBreaks, c: Any, *rest: Any) -> None:
            seen.append(c.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
            fill(self, c, *rest)

        monkeypatch.setattr(KeptBreaks, "_fill", spy)
        views = ConditionViews(app.store, app.journey, memory_mb=64, range_events=20)
        views.rebuild()
        views.breaks.ensure()
        assert views.breaks.last == "full" and seen == ["64.0 MiB"]
        assert con.execute("SELECT current_setting('memory_limit')").fetchall() == before
