"""Web Push end to end with real parts: an alert for a subscriber with push on goes through
the outbox to a real local push service, which checks the VAPID token (signature, ``aud``);
the test, holding the browser's private key, decrypts the body and finds the mover
sentence. 410 Gone removes the subscription; a 5xx is tried again by the outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.act.test_alerts import _movers
from tests.outbox.push_service import Browser, PushService, check_vapid, push_service

from klantreis.act import alerts, push
from klantreis.app import App
from klantreis.outbox.vapid import new_key
from klantreis.settings import Settings

SUBJECT = "mailto:cx@huisenhaard.example"


def _app(tmp_path: Path) -> App:
    key = new_key(SUBJECT)
    settings = Settings.load(
        env={},
        db_path=str(tmp_path / "p.duckdb"),
        secret_key="test-secret-key-0123456789abcdef",
        webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        push_vapid_private_key=key.private_text,
        push_vapid_subject=SUBJECT,
        proactive_config=str(tmp_path / "none.toml"),
    )
    (tmp_path / "none.toml").write_text("", "utf-8")
    return App(settings)


def _alert(app: App, browser: Browser, user: str = "anna") -> list[alerts.Alert]:
    push.add_device(app.store, user, browser.endpoint, browser.p256dh, browser.auth_text)
    alerts.add_subscription(app.store, user, "push", "", dimension="touchpoint", lang="nl")
    signals = alerts.find_alerts(_movers())
    return alerts.dispatch(app.store, signals, app.names, app.send_alert)


def test_an_alert_arrives_signed_and_encrypted_with_the_mover_sentence(tmp_path: Path) -> None:
    service = PushService()
    with push_service(service) as origin, _app(tmp_path) as app:
        browser = Browser(origin + "/wpush/v2/anna-phone")
        sent = _alert(app, browser)
        assert [a.status for a in sent] == ["sent"]  # the touchpoint move only
        report = app.deliver_outbox()
        assert report.sent == 1
        expected = alerts.alert_text(alerts.find_alerts(_movers())[1], app.names("nl"))
        public = app.push_key.public_text if app.push_key else ""
    assert service.refused == []
    [(path, headers, body)] = service.received
    assert path == "/wpush/v2/anna-phone"
    assert headers["content-encoding"] == "aes128gcm" and int(headers["ttl"]) == 12 * 3600
    claims = check_vapid(headers["authorization"], origin)
    assert claims["sub"] == SUBJECT and claims["k"] == public
    now = datetime.now(UTC).timestamp()
    assert now < claims["exp"] <= now + 24 * 3600
    message = json.loads(browser.decrypt(body))
    assert message["body"] == expected
    assert "Bezorging" in expected and "312" in expected  # the mover sentence
    assert message["title"] == "Melding van klantreis" and message["url"] == "/"
    assert len(body) <= 4096


def test_410_gone_removes_the_subscription_and_stops(tmp_path: Path) -> None:
    service = PushService(codes=[410])
    with push_service(service) as origin, _app(tmp_path) as app:
        browser = Browser(origin + "/wpush/gone")
        _alert(app, browser)
        assert len(push.devices(app.store, "anna")) == 1
        report = app.deliver_outbox()
        assert report.failed == 1 and report.sent == 0
        assert push.devices(app.store, "anna") == []
        [stored] = app.outbox.held(("failed",))
        assert stored.message.channel == "push"
        assert app.outbox.deliveries(stored.message_id)[0].response_code == 410
        assert app.deliver_outbox().attempted == 0  # not tried again
    assert len(service.received) == 1


def test_a_5xx_is_tried_again_by_the_outbox(tmp_path: Path) -> None:
    service = PushService(codes=[503])
    with push_service(service) as origin, _app(tmp_path) as app:
        browser = Browser(origin + "/wpush/busy")
        _alert(app, browser)
        first = app.deliver_outbox()
        assert first.retrying == 1 and first.sent == 0
        [queued] = app.outbox.held(("queued",))
        assert queued.attempts == 1 and queued.next_attempt_at is not None
        assert app.outbox.deliver_due(senders=_senders(app)).attempted == 0  # backing off
        later = datetime.now(UTC) + timedelta(minutes=1)
        second = app.outbox.deliver_due(senders=_senders(app), now=later)
        assert second.sent == 1
        assert len(push.devices(app.store, "anna")) == 1  # a 5xx does not remove it
    bodies = [json.loads(browser.decrypt(b)) for _, _, b in service.received]
    assert len(bodies) == 2 and bodies[0]["body"] == bodies[1]["body"]


def _senders(app: App) -> dict[str, object]:
    from klantreis.outbox.configured import senders_from_settings

    return dict(
        senders_from_settings(
            app.settings,
            push=(app.push_key, push.keys_for(app.store), push.forget_endpoint(app.store)),
        )
    )


def test_a_removed_device_gets_nothing(tmp_path: Path) -> None:
    service = PushService()
    with push_service(service) as origin, _app(tmp_path) as app:
        browser = Browser(origin + "/wpush/removed")
        _alert(app, browser)
        [device] = push.devices(app.store, "anna")
        assert push.remove_device(app.store, "anna", device.device_id)
        report = app.deliver_outbox()
        assert report.failed == 1
    assert service.received == []


@pytest.mark.parametrize(
    ("endpoint", "p256dh", "auth", "why"),
    [
        ("http://push.example/x", None, None, "https"),
        ("https://push.example/x", "AAAA", None, "65-byte"),
        ("https://push.example/x", None, "AAAA", "16 bytes"),
        ("nonsense", None, None, "not a URL"),
    ],
)
def test_a_malformed_subscription_says_why(
    tmp_path: Path, endpoint: str, p256dh: str | None, auth: str | None, why: str
) -> None:
    good = Browser("https://push.example/x")
    with _app(tmp_path) as app, pytest.raises(ValueError, match=why):
        push.add_device(app.store, "anna", endpoint, p256dh or good.p256dh, auth or good.auth_text)


def test_at_most_max_devices_per_user_the_oldest_goes(tmp_path: Path) -> None:
    with _app(tmp_path) as app:
        for i in range(4):
            b = Browser(f"https://push.example/{i}")
            push.add_device(app.store, "anna", b.endpoint, b.p256dh, b.auth_text, max_devices=3)
        assert [d.endpoint[-1] for d in push.devices(app.store, "anna")] == ["1", "2", "3"]
