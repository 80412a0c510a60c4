"""``journeys handovers`` found one journey-key range at a time under the memory setting
(``discovery.handovers(range_events=, memory_mb=)``; the window over every journey's events
went past 5.7 GiB at 100M events) gives the rows of the one-statement query: counts,
journeys, mean, median and p90 waits, order; with filters, on a read-only store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from klantreis.analytics import discovery
from klantreis.analytics.scope import Scope
from klantreis.app import App
from klantreis.cli.main import cli
from klantreis.settings import Settings


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from klantreis.demo.runner import run_demo

    path = tmp_path_factory.mktemp("handovers") / "demo.duckdb"
    with App(Settings.load(env={}, db_path=str(path))) as app:
        run_demo(app, 400, seed=3, days=40, now=datetime(2026, 11, 20, 14, tzinfo=UTC))
    yield path


def _same(mine: list[dict[str, Any]], ref: list[dict[str, Any]]) -> None:
    assert [(r["from_owner"], r["to_owner"]) for r in mine] == [
        (r["from_owner"], r["to_owner"]) for r in ref
    ]
    for a, b in zip(mine, ref, strict=True):
        assert {k: a[k] for k in a if k != "mean_s"} == {k: b[k] for k in b if k != "mean_s"}
        assert a["mean_s"] == pytest.approx(b["mean_s"], rel=1e-12)


@pytest.mark.parametrize(
    "flt",
    [None, Scope(since=date(2026, 11, 1)), Scope(channels=("web",)), Scope(stages=("SMOT",))],
)
def test_hand_overs_in_key_ranges_are_the_one_statements(
    store: Path, flt: Scope | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with App(Settings.load(env={}, db_path=str(store)), True) as app:
        events = app.events_table()
        ref = discovery.handovers(events, app.journey, flt)
        limits: list[str] = []
        expr = discovery.handovers_expr

        def spy(*args: Any) -> Any:
            sql = "SELECT current_setting('memory_limit')"
            limits.append(str(app.store.con.execute(sql).fetchall()[0][0]))
            return expr(*args)

        quantiles: list[str] = []  # the limit while each hand-over's quantiles are counted
        pair = discovery._pair_quantiles

        def counted(con: Any, k: int, owner: str, next_owner: str) -> None:
            sql = "SELECT current_setting('memory_limit')"
            quantiles.append(str(con.execute(sql).fetchall()[0][0]))
            pair(con, k, owner, next_owner)

        monkeypatch.setattr(discovery, "handovers_expr", spy)
        monkeypatch.setattr(discovery, "_pair_quantiles", counted)
        mine = discovery.handovers(events, app.journey, flt, range_events=300, memory_mb=64)
        after = app.store.con.execute("SELECT current_setting('memory_limit')").fetchall()
        assert ref.num_rows > 0 or flt is not None
        assert mine.schema == ref.schema
        _same(mine.to_pylist(), ref.to_pylist())
        assert len(limits) > 3 and set(limits) == {"64.0 MiB"}  # ranges, under the limit
        # one statement per hand-over, each under the limit
        assert len(quantiles) == ref.num_rows and set(quantiles) <= {"64.0 MiB"}
        assert after[0][0] != "64.0 MiB"


def test_the_handovers_command_reads_in_ranges(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []  # the range size each ranged search was given
    ranged = discovery._handovers_in_ranges

    def seen(con: Any, selected: Any, kinds: Any, range_events: int, mb: int) -> Any:
        calls.append(range_events)
        return ranged(con, selected, kinds, range_events, mb)

    monkeypatch.setattr(discovery, "_handovers_in_ranges", seen)
    monkeypatch.setenv("KLANTREIS_INDEX_RANGE_EVENTS", "500")
    out = CliRunner().invoke(cli, ["journeys", "handovers", "--db", str(store), "--json"])
    assert out.exit_code == 0, out.output
    assert calls == [500] and '"from_owner"' in out.output
