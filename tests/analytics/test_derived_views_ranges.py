"""A full build of the derived views one journey-key range at a time (issue 17: the one-shot
build failed at 100M events under its memory limit) equals the one-shot build and the portable
references, and a build that stops half-way is rebuilt by the next read."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from tests.analytics.test_derived_views import KINDS, OWNERS, _check, _close, _records, _totals
from tests.journeys.logs import load

from klantreis.analytics import derived_views
from klantreis.analytics.derived_views import VIEWS, DerivedViews
from klantreis.app import App
from klantreis.settings import Settings

#: The kept tables (``dv_kinds`` summed: a refresh appends a row per batch and kind).
_TABLES = (
    *(f"dv_{v}" for v in VIEWS),
    "(SELECT kind, sum(n) AS n FROM dv_kinds GROUP BY kind)",
    "dv_options",
    "dv_newest",
)


def _batch(seed: int, size: int) -> list[tuple[Any, ...]]:
    """Events of 7 journeys and journey-less ones, hours 0-30 (many ties), some repeated ids."""
    r = random.Random(seed)
    return [
        (
            r.randint(0, 7),
            r.choice(KINDS),
            r.randint(0, 30),
            r.choice(OWNERS),
            r.choice(["web", "chat", "email"]),
            r.choice(["consumer", "business", None]),
            r.randint(0, 10),
            r.choice(["nps", "csat", "ces"]),
            r.randint(-30, 60),
            r.randint(0, 12),
        )
        for _ in range(size)
    ]


def _tables(app: App, views: DerivedViews) -> tuple[Any, ...]:
    rows = [app.store.query(f"FROM {t} ORDER BY ALL").to_pylist() for t in _TABLES]
    return _totals(app, views), rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_build_in_tiny_key_ranges_equals_the_one_shot_build(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        seen: list[str] = []
        load(app, _records(_batch(seed, 80), 0, seen))
        load(app, _records(_batch(seed + 100, 40), 1, seen))  # out of order, repeated ids
        one = DerivedViews(app.store, app.journey, range_events=10**9)
        assert one.rebuild().mode == "full"
        whole = _tables(app, one)
        ranges: list[str] = []
        build = DerivedViews._build_range

        def spy(self: DerivedViews, con: Any, where: str) -> None:
            ranges.append(where)
            build(self, con, where)

        monkeypatch.setattr(DerivedViews, "_build_range", spy)
        tiny = DerivedViews(app.store, app.journey, app.store.version, range_events=2)
        assert tiny.rebuild().mode == "full"
        assert len(ranges) >= 5  # 7 journeys: a range each, about
        assert _close(_tables(app, tiny), whole) and whole[1][0]
        load(app, _records(_batch(seed + 200, 20), 2, seen))  # a refresh after it still agrees
        assert tiny.ensure().mode == "incremental"
        refreshed = _tables(app, tiny)
        assert one.rebuild().mode == "full"
        assert _close(refreshed, _tables(app, one))
        if seed == 1:  # the portable references (slow: ~1 min)
            _check(app, tiny)


def test_a_build_stopped_half_way_is_rebuilt_by_the_next_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"))) as app:
        load(app, _records(_batch(7, 100), 0, []))
        views = DerivedViews(app.store, app.journey, range_events=2)
        assert views.ensure().mode == "full"
        built, before = _tables(app, views), views.versions()
        calls: list[str] = []
        build = DerivedViews._build_range

        def failing(self: DerivedViews, con: Any, where: str) -> None:
            calls.append(where)
            if len(calls) == 3:
                raise RuntimeError("stopped")
            build(self, con, where)

        monkeypatch.setattr(DerivedViews, "_build_range", failing)
        with pytest.raises(RuntimeError, match="stopped"):
            views.rebuild()
        assert app.store.query("SELECT layout FROM dv_state").to_pylist() == [{"layout": -1}]
        monkeypatch.setattr(DerivedViews, "_build_range", build)
        again = DerivedViews(app.store, app.journey, range_events=2)
        assert again.ensure().mode == "full"
        assert _close(_tables(app, again), built)
        assert all(again.versions()[v] > before[v] for v in VIEWS)


def test_a_range_condition_gets_its_values_as_quoted_literals() -> None:
    inline = derived_views._inline
    assert inline(" AND journey_id >= ? AND journey_id < ?", ["a'b", "c"]) == (
        " AND journey_id >= 'a''b' AND journey_id < 'c'"
    )
    assert inline("", []) == ""
    with pytest.raises(ValueError, match="1 parameters for 2 places"):
        inline(" AND journey_id >= ? AND journey_id < ?", ["a"])
