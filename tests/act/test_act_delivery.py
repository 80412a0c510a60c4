"""The App acts end to end: proactive messages only to customers who allow service messages,
queued in the outbox and delivered to a real SMTP server; alerts to a real webhook receiver,
signed (Standard Webhooks)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from tests.act.test_proactive import NOW, _store
from tests.outbox.servers import Receiver, SmtpSink, smtp_server, webhook_receiver

from klantreis.act import alerts
from klantreis.act.alerts import AlertSignal
from klantreis.app import App
from klantreis.settings import Settings

SECRET = "test-secret-key-0123456789abcdef"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _settings(db: Path, rules: Path, port: int) -> Settings:
    base = Settings.load(env={}, db_path=str(db), secret_key=SECRET)
    return replace(
        base,
        proactive_config=str(rules),
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_from="service@huisenhaard.example",
        webhook_secret=WEBHOOK_SECRET,
    )


def test_messages_only_with_consent_and_delivered_once(tmp_path: Path) -> None:
    store, _ = _store(tmp_path, 300, effect=0.0)
    store.close()
    rules = tmp_path / "rules.toml"
    from tests.act.test_proactive import RULES

    rules.write_text(RULES, "utf-8")
    with smtp_server(SmtpSink()) as (sink, port), App(_settings(store.path, rules, port)) as app:
        customers = [f"K{i:06d}" for i in range(300)]
        for i, c in enumerate(customers):
            app.directory.upsert(c, email=f"{c.lower()}@example.com", lang="en" if i % 3 else "nl")
            app.directory.set_consent(c, "service", i % 4 != 0, source="test")
        decisions = app.run_proactive(NOW)
        messaged = {d.customer_id for d in decisions if d.arm == "message"}
        refused = {c for i, c in enumerate(customers) if i % 4 == 0}
        assert messaged and not (messaged & refused)
        assert {d.reason for d in decisions if d.arm == "ineligible"} == {"objected"}
        report = app.deliver_outbox()
        assert report.sent == len(messaged)
        assert app.run_proactive(NOW) == []  # decided once
        assert app.deliver_outbox().sent == 0  # sent once
    got = {r.rcpt[0] for r in sink.received}
    assert got == {f"{c.lower()}@example.com" for c in messaged}
    bodies = b"\n".join(r.body for r in sink.received)
    assert b"is later than promised" in bodies or b"later dan beloofd" in bodies


def test_an_alert_reaches_a_signed_webhook(tmp_path: Path) -> None:
    receiver = Receiver(WEBHOOK_SECRET)
    with smtp_server() as (_, port), webhook_receiver(receiver) as url:
        rules = tmp_path / "rules.toml"
        rules.write_text("", "utf-8")
        with App(_settings(tmp_path / "s.duckdb", rules, port)) as app:
            alerts.add_subscription(app.store, "anna", "webhook", url)
            signal = AlertSignal("index", "index", -4.4, 0.001, date(2026, 3, 31))
            sent = alerts.dispatch(app.store, [signal], app.names, app.send_alert)
            assert [a.status for a in sent] == ["sent"]
            report = app.deliver_outbox()
            assert report.sent == 1
    assert receiver.refused == []  # the signature checks out
    assert len(receiver.accepted) == 1
    _, body = receiver.accepted[0]
    assert "CX-index" in body.decode()
