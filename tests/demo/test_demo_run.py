"""run_demo and ``klantreis demo``: ingest through the one ingest path, idempotently."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from klantreis.app import App
from klantreis.cli.demo_cmd import parse_until
from klantreis.cli.main import cli
from klantreis.demo.runner import DemoConflictError, run_demo


def test_run_demo_stores_everything_once(app: App) -> None:
    first = run_demo(app, orders=1_500, seed=3)
    assert first.quarantined == 0
    assert first.stored == first.events
    assert first.cases is not None and first.cases.opened > 0  # the demo acts (demo.cases)
    # plus what klantreis did on the demo: case events, the pilot's proactive decisions and
    # the surveys it sent (invited / reminded / suppressed, and the answers)
    assert first.listening is not None and first.listening.events > 0
    acted = first.cases.events + sum(first.proactive.values()) + first.listening.events
    assert app.store.count() == first.events + acted
    assert first.orders == 1_500
    assert 0 < first.customers < first.orders
    assert first.contacts == first.kinds["contact.inbound"] > 0
    assert first.survey_answers > 0
    assert app.store.count("quarantine") == 0
    again = run_demo(app, orders=1_500, seed=3)
    assert again.stored == 0
    assert again.duplicates == again.events == first.events
    assert sum(again.proactive.values()) == 0  # decided once
    assert again.listening is not None and again.listening.events == 0  # asked once
    assert app.store.count() == first.events + acted


def test_run_demo_enriches_nothing_it_should_not(app: App) -> None:
    run_demo(app, orders=500, seed=4)
    missing = app.store.query(
        "SELECT count(*) AS n FROM events WHERE source <> 'case' AND (touchpoint IS NULL"
        " OR (owner IS NULL AND kind <> 'survey.response'))"
    )
    assert missing["n"].to_pylist() == [0]


def test_run_demo_refuses_to_mix_two_demos(app: App) -> None:
    run_demo(app, orders=300, seed=3)
    with pytest.raises(DemoConflictError):
        run_demo(app, orders=300, seed=4)
    with pytest.raises(DemoConflictError):
        run_demo(app, orders=400, seed=3)


def test_run_demo_needs_only_a_store_and_a_journey(app: App) -> None:
    summary = run_demo(app.destination, orders=200, seed=5)
    acted = (summary.cases.events if summary.cases else 0) + sum(summary.proactive.values())
    acted += summary.listening.events if summary.listening else 0
    assert summary.stored == summary.events == app.store.count() - acted > 0
    assert run_demo(app.destination, orders=200, seed=5).duplicates == summary.events


def test_cli_demo_no_serve(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    args = ["demo", "--no-serve", "--orders", "400", "--db", str(db), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["orders"] == 400
    assert summary["stored"] == summary["events"] > 0
    assert summary["quarantined"] == 0
    rerun = CliRunner().invoke(cli, args)
    assert json.loads(rerun.output)["stored"] == 0
    other = CliRunner().invoke(cli, [*args, "--seed", "8"])
    assert other.exit_code != 0
    assert "--fresh" in other.output
    fresh = CliRunner().invoke(cli, [*args, "--seed", "8", "--fresh"])
    assert fresh.exit_code == 0, fresh.output
    assert json.loads(fresh.output)["duplicates"] == 0


def test_parse_until() -> None:
    assert parse_until(None) is None
    assert parse_until("2026-06-01") == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    assert parse_until("2026-06-01T10:00:00Z") == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    today = parse_until("today")
    assert today is not None and abs((datetime.now(UTC) - today).total_seconds()) < 120
    with pytest.raises(Exception, match="today"):
        parse_until("gisteren")


def test_cli_demo_ends_today_and_is_made_again_on_a_later_day(tmp_path: Path) -> None:
    from klantreis.access.accounts import stable_demo_accounts
    from klantreis.demo.runner import demo_end, remember_demo_end
    from klantreis.settings import Settings

    db = str(tmp_path / "demo.duckdb")
    args = ["demo", "--no-serve", "--orders", "300", "--db", db, "--json"]
    first = json.loads(CliRunner().invoke(cli, args).output)
    end = datetime.fromisoformat(first["period_end"])
    assert abs((datetime.now(UTC) - end).total_seconds()) < 300, "the demo ends now"
    settings = Settings.load(env={}, db_path=db, demo_mode=True)
    with App(settings) as app:
        passwords = stable_demo_accounts(app.store)
        remember_demo_end(app.store, end - timedelta(days=3))  # as if made three days ago
    later = CliRunner().invoke(cli, args)
    assert later.exit_code == 0, later.output
    assert "making it again" in later.output
    with App(settings) as app:
        assert demo_end(app.store) is not None
        assert demo_end(app.store).date() == datetime.now(UTC).date()  # type: ignore[union-attr]
        assert stable_demo_accounts(app.store) == passwords, "passwords survive the remake"


def test_address_is_announced_only_once_the_port_accepts(capsys: Any) -> None:
    import socket

    from klantreis.cli.demo_cmd import announce_when_listening, port_accepts

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        thread = announce_when_listening("127.0.0.1", port, "serving now", wait_s=5)
        time.sleep(0.4)
        assert "serving now" not in capsys.readouterr().out, "not before it listens"
        assert not port_accepts("127.0.0.1", port)
        s.listen()
        thread.join(timeout=3)
    assert "serving now" in capsys.readouterr().out


def test_demo_help_says_what_until_does(tmp_path: Path) -> None:
    """The ``--until`` help is true (issue 13): each behaviour it names happens."""
    text = " ".join(CliRunner().invoke(cli, ["demo", "--help"]).output.split())
    for words in ("'today': now", "made again (same passwords)", "15:00 Amsterdam", "--fresh"):
        assert words in text, words
    assert "keeps the period it was made with" not in text
    db = str(tmp_path / "d.duckdb")
    args = ["demo", "--no-serve", "--json", "--orders", "30", "--days", "10", "--db", db]
    made = CliRunner().invoke(cli, [*args, "--until", "2026-06-01"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["period_end"].startswith("2026-06-01T13:00")  # 15:00 CEST
    other = CliRunner().invoke(cli, [*args, "--until", "2026-06-02"])
    assert other.exit_code != 0 and "--fresh" in other.output
    again = CliRunner().invoke(cli, [*args, "--until", "2026-06-02", "--fresh"])
    assert again.exit_code == 0, again.output
