"""``klantreis directory ...`` and ``klantreis outbox ...`` end to end: a CSV import with
consent, a delivery run against a real SMTP server with the directory's look-up, status,
show, replay and erasure."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from tests.outbox.servers import SmtpSink, smtp_server

from klantreis.cli.main import cli
from klantreis.outbox import Message, Outbox, message_id_for
from klantreis.outbox.webhooks import new_secret
from klantreis.store import EventStore


def test_directory_and_outbox_commands(tmp_path: Path) -> None:
    db = str(tmp_path / "shop.duckdb")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "customer_id,email,consent_surveys\nc1,jan@people.example,yes\nc2,piet@people.example,\n"
        "c3,bad-address,yes\n",
        encoding="utf-8",
    )
    run = CliRunner().invoke
    imported = run(cli, ["directory", "import", str(contacts), "--db", db, "--json"])
    assert imported.exit_code == 0, imported.output
    body = json.loads(imported.output)
    assert (body["rows_in"], body["stored"], body["rejected"]) == (3, 2, 1)
    assert (tmp_path / "shop.directory.duckdb").exists()
    assert run(cli, ["directory", "check", "c2", "surveys", "--db", db]).output.strip() == (
        "not allowed: no_consent"
    )
    with EventStore(db) as store:
        Outbox(store).enqueue_many(
            Message(key=f"inv:{c}", channel="email", customer_id=c, purpose="surveys", text="x")
            for c in ("c1", "c2", "c9")
        )
    sink = SmtpSink(refuse=set())
    with smtp_server(sink) as (_, port):
        env = {
            "KLANTREIS_SMTP_HOST": "127.0.0.1",
            "KLANTREIS_SMTP_PORT": str(port),
            "KLANTREIS_SMTP_SECURITY": "none",
            "KLANTREIS_SMTP_FROM": "cx@shop.example",
            "KLANTREIS_WEBHOOK_SECRET": new_secret(),
        }
        delivered = run(cli, ["outbox", "deliver", "--db", db, "--json"], env=env)
        assert delivered.exit_code == 0, delivered.output
    report = json.loads(delivered.output)
    outcomes = {row["outcome"]: row["messages"] for row in report["rows"]}
    assert (outcomes["sent"], outcomes["not_sent"]) == (1, 2)
    assert report["reasons"] == {"no_consent": 2}  # c9 has neither: consent is asked first
    assert [r.rcpt for r in sink.received] == [["jan@people.example"]]

    status = json.loads(run(cli, ["outbox", "status", "--db", db, "--json"]).output)
    assert {(r["state"], r["messages"]) for r in status["rows"]} == {("sent", 1), ("not_sent", 2)}
    shown = json.loads(
        run(cli, ["outbox", "show", message_id_for("inv:c2"), "--db", db, "--json"]).output
    )
    assert (shown["state"], shown["reason"]) == ("not_sent", "no_consent")
    refused = run(cli, ["outbox", "replay", message_id_for("inv:c1"), "--db", db])
    assert refused.exit_code == 1 and "twice" in refused.output
    replayed = run(cli, ["outbox", "replay", message_id_for("inv:c2"), "--db", db])
    assert replayed.output.strip().endswith("queued")

    erased = run(cli, ["directory", "erase", "c1", "--yes", "--db", db])
    assert erased.exit_code == 0 and "erased" in erased.output
    assert "erased" in run(cli, ["directory", "check", "c1", "service", "--db", db]).output


def test_deliver_without_a_webhook_secret_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["outbox", "deliver", "--db", str(tmp_path / "s.duckdb")],
        env={"KLANTREIS_WEBHOOK_SECRET": ""},
    )
    assert result.exit_code == 1
    assert "KLANTREIS_WEBHOOK_SECRET" in result.output
    assert "Traceback" not in result.output
