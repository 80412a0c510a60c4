"""``klantreis surveys``: check a surveys file, plan from the log, why-not, rates, and
send-due through the App's outbox, directory and link signer."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from tests.listen.kit import SURVEYS, T0, delivery_records
from tests.outbox.servers import smtp_server

from klantreis.cli.main import cli
from klantreis.model.events import events_from_records
from klantreis.store.duckdb_store import EventStore


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == code, result.output
    return result.output


def test_check_lists_every_problem(tmp_path: Path) -> None:
    assert "ok (6 surveys, 6 active)" in _run("surveys", "check")
    bad = tmp_path / "bad.toml"
    bad.write_text(SURVEYS.format(sample=2), encoding="utf-8")
    out = _run("surveys", "check", str(bad), code=1)
    assert "sample: Input should be less than or equal to 1" in out and "Traceback" not in out
    unknown = SURVEYS.format(sample=1).replace('touchpoint = "bezorging"', 'touchpoint = "nergens"')
    bad.write_text(unknown, encoding="utf-8")
    assert "unknown touchpoint 'nergens'" in _run("surveys", "check", str(bad), code=1)


def test_plan_why_not_and_rates(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    with EventStore(db) as store:
        store.append(events_from_records(delivery_records(10, 5)))
    surveys = tmp_path / "surveys.toml"
    surveys.write_text(SURVEYS.format(sample=1.0), encoding="utf-8")
    now = (T0 + timedelta(days=3)).isoformat()
    args = ["--db", db, "--surveys", str(surveys)]
    planned = json.loads(_run("surveys", "plan", *args, "--now", now, "--json"))
    assert planned["rows"][0]["planned"] == 10
    again = json.loads(_run("surveys", "plan", *args, "--now", now, "--json"))
    assert again["rows"][0]["new"] == 0
    why = json.loads(_run("surveys", "why-not", "c1", "--db", db, "--json"))
    assert [r["status"] for r in why["rows"]] == ["planned", "planned"]
    assert "no invitation was planned" in _run("surveys", "why-not", "nobody", "--db", db)
    assert json.loads(_run("surveys", "rates", "--db", db, "--json"))["rows"] == []
    out = _run("surveys", "send-due", *args, "--now", now, code=1)
    assert "secret_key is not set" in out and "Traceback" not in out


def test_send_due_hands_signed_links_to_the_outbox(tmp_path: Path, monkeypatch: Any) -> None:
    from klantreis.app import App
    from klantreis.directory import Directory
    from klantreis.settings import Settings

    db = str(tmp_path / "s.duckdb")
    with EventStore(db) as store:
        store.append(events_from_records(delivery_records(4, 4)))
    surveys = tmp_path / "surveys.toml"
    surveys.write_text(SURVEYS.format(sample=1.0), encoding="utf-8")
    with Directory.open(tmp_path / "s.directory.duckdb") as book:
        book.upsert("c1", email="c1@example.invalid", phone=None, name=None, lang="nl")
        book.set_consent("c1", "surveys", True, source="test")
    monkeypatch.setenv("KLANTREIS_SECRET_KEY", "f3c9a1e07b5d4c2a8e6f1b3d9c7a5e2f4b8d6a0c")
    monkeypatch.setenv("KLANTREIS_SURVEY_BASE_URL", "https://cx.example.nl")
    now = (T0 + timedelta(days=3, hours=2)).isoformat()
    args = ["--db", db, "--surveys", str(surveys), "--now", now, "--json"]
    report = json.loads(_run("surveys", "send-due", *args))["rows"][0]
    assert report["queued"] == report["handed_over"] == 1
    assert report["suppressed"] == {"no_consent": 3}
    settings = Settings.load(db_path=db)
    with App(settings) as app:
        rows = app.store.query("SELECT message_id FROM outbox_messages").to_pylist()
        assert len(rows) == 1
        stored = app.outbox.message(rows[0]["message_id"])
        assert stored is not None and stored.message.customer_id == "c1"
        link = stored.message.payload["link"]  # type: ignore[index]
        assert link.startswith("https://cx.example.nl/s/s1.")
        assert app.links.check_signature(link.rsplit("/", 1)[1]) is not None
    again = json.loads(_run("surveys", "send-due", *args))["rows"][0]
    assert again["queued"] == again["handed_over"] == 0
    with smtp_server() as (sink, port):  # --deliver sends, and the ledger says sent
        monkeypatch.setenv("KLANTREIS_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("KLANTREIS_SMTP_PORT", str(port))
        monkeypatch.setenv("KLANTREIS_SMTP_SECURITY", "none")
        monkeypatch.setenv("KLANTREIS_SMTP_FROM", "cx@shop.example")
        monkeypatch.setenv("KLANTREIS_WEBHOOK_SECRET", "whsec_" + "A" * 43 + "=")
        sent = json.loads(_run("surveys", "send-due", *args, "--deliver"))["rows"][0]
    assert (sent["delivered"], sent["delivery_failed"]) == (1, 0)
    assert sink.received[0].rcpt == ["c1@example.invalid"]
    with EventStore(db) as store:
        [row] = store.query(
            "SELECT status, sent_at FROM survey_invitations WHERE customer_id = 'c1'"
        ).to_pylist()
    assert row["status"] == "sent" and row["sent_at"] is not None


def test_bad_time_is_a_usage_error(tmp_path: Path) -> None:
    out = _run("surveys", "plan", "--db", str(tmp_path / "s.duckdb"), "--now", "gisteren", code=2)
    assert "is not a date/time" in out


def test_staff_link_counts_as_an_invitation(tmp_path: Path, monkeypatch: Any) -> None:
    db = str(tmp_path / "s.duckdb")
    surveys = tmp_path / "surveys.toml"
    surveys.write_text(SURVEYS.format(sample=1.0), encoding="utf-8")
    monkeypatch.setenv("KLANTREIS_SECRET_KEY", "f3c9a1e07b5d4c2a8e6f1b3d9c7a5e2f4b8d6a0c")
    monkeypatch.setenv("KLANTREIS_SURVEY_BASE_URL", "https://cx.example.nl")
    args = ["--db", db, "--surveys", str(surveys), "--json"]
    out = json.loads(_run("surveys", "staff-link", "C7", "--survey", "na_bezorging", *args))
    [row] = out["rows"]
    assert row["link"].startswith("https://cx.example.nl/s/s1.") and row["new"] is True
    rates = json.loads(_run("surveys", "rates", "--db", db, "--origin", "staff", "--json"))
    assert [(r["invited"], r["staff_invited"]) for r in rates["rows"]] == [(1, 1)]
    assert (
        json.loads(_run("surveys", "rates", "--db", db, "--origin", "system", "--json"))["rows"]
        == []
    )
    bad = _run("surveys", "staff-link", "C7", "--survey", "nope", *args, code=1)
    assert "no active survey" in bad and "Traceback" not in bad
