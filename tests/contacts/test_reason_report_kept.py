"""``contacts reasons`` (``reports.app_reason_report``) sums the report in the store from the
kept contacts and conditions when the store can hold them: the same rows as the report of
the log (``reason_report``, frames of every contact and order: 6.3 GiB and more at 100M
events), which it still gives on a read-only store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.contacts.conftest import demo1500_seed5_copy

from klantreis.app import App
from klantreis.cli.main import cli
from klantreis.contacts import reports
from klantreis.contacts.reports import app_reason_report, reason_report
from klantreis.settings import Settings


def _portable(app: App, period: str | None, repeat_days: float) -> dict[str, Any]:
    """The report of the log (the reference)."""
    contacts = app.contacts
    args = (app.events_table(), app.journey, contacts.taxonomy, contacts.model())
    return reason_report(*args, period, repeat_days)


@pytest.fixture(scope="module")
def store(demo1500_seed5: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo1500_seed5_copy(demo1500_seed5, tmp_path_factory, "reasons")


@pytest.mark.parametrize(("period", "repeat_days"), [(None, 7.0), ("week", 3.0), ("month", 30.0)])
def test_the_kept_reason_report_is_the_logs(
    store: Path, period: str | None, repeat_days: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    with App(Settings.load(env={}, db_path=str(store))) as app:
        ref = _portable(app, period, repeat_days)
        read: list[str] = []  # the report of the log is not read on the kept path
        monkeypatch.setattr(reports, "load_analysis", lambda *a: read.append("log"))
        mine = app_reason_report(app, period, repeat_days)
    assert read == []
    assert mine.keys() == ref.keys()
    for key in ref:
        assert mine[key] == ref[key], f"{key}:\n{mine[key]}\n!=\n{ref[key]}"


def test_a_read_only_store_gets_the_report_of_the_log(store: Path) -> None:
    with App(Settings.load(env={}, db_path=str(store)), True) as app:
        assert app.contact_views() is None
        assert app_reason_report(app, "week") == _portable(app, "week", 7.0)


def test_the_reasons_command_reads_the_kept_tables(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports, "load_analysis", None)  # the log's frames: not read
    out = CliRunner().invoke(cli, ["contacts", "reasons", "--db", str(store), "--json"])
    assert out.exit_code == 0, out.output
    assert '"by_reason"' in out.output and '"pareto"' in out.output


@pytest.mark.parametrize(("top", "lang"), [(10, "nl"), (3, "en")])
def test_the_kept_war_room_is_the_logs(store: Path, top: int, lang: str) -> None:
    """``contacts warroom`` (``reports.app_war_room``) from the kept tables over all time is
    the war room of the log's frames (≥ 8.9 GiB at 100M events)."""
    from klantreis.contacts.warroom import build_war_room, load_analysis

    with App(Settings.load(env={}, db_path=str(store))) as app:
        contacts = app.contacts
        args = (app.events_table(), app.journey, contacts.taxonomy, contacts.model())
        ref = build_war_room(load_analysis(*args), top=top, lang=lang).to_dict()
        mine = reports.app_war_room(app, top=top, lang=lang).to_dict()
    assert mine == ref
    assert ref["rows"]


def test_the_warroom_command_reads_the_kept_tables(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from klantreis.contacts import warroom

    monkeypatch.setattr(warroom, "load_analysis", None)  # the log's frames: not read
    monkeypatch.setattr(reports, "load_analysis", None)
    out = CliRunner().invoke(cli, ["contacts", "warroom", "--db", str(store), "--json"])
    assert out.exit_code == 0, out.output
    assert '"rows"' in out.output
