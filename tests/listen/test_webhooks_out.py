"""Webhooks out: exactly one ``response.finished`` per response and subscription, whatever
the entry point; signed as Standard Webhooks say; checked by a real HTTP receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from klantreis.listen import ledger, responses, webhooks_out
from klantreis.listen.ledger import Invitation
from klantreis.listen.survey_file import load_surveys
from klantreis.outbox import Outbox, WebhookSender, message_id_for
from klantreis.outbox.webhooks import new_secret
from klantreis.settings import Settings
from klantreis.store.duckdb_store import EventStore

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
NOW = datetime(2026, 3, 3, 10, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            got.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            self.send_response(200 if "fail" not in self.path else 500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", got
    server.shutdown()
    server.server_close()


def _invitation(store: EventStore, event: str) -> Invitation:
    inv = Invitation(
        invitation_id=ledger.invitation_id("na_bezorging", event),
        survey_id="na_bezorging",
        customer_id="c1",
        journey_id="o1",
        trigger_event_id=event,
        touchpoint="bezorging",
        owner="carrier:vlotbezorgd",
        channel="email",
        send_at=NOW,
        status="sent",
        expires_at=NOW + timedelta(days=7),
    )
    ledger.insert_new(store, [inv])
    return inv


def _verify_independently(headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check, written from the spec (not with our signer)."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(sig, "v1," + expected) for sig in headers["webhook-signature"].split()
    )


def test_one_response_finished_per_response_whatever_the_entry_point(
    tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = receiver
    survey = load_surveys(Settings.load(env={})).survey("na_bezorging")
    assert survey is not None
    with EventStore(tmp_path / "s.duckdb") as store:
        responses.ensure_schema(store)
        sub = webhooks_out.add_subscription(store, url + "/hook", secret=SECRET)
        inv = _invitation(store, "e1")
        # the form: per question, then finished; then the same response via the API and twice
        # more through recovery: one message
        responses.open_response(store, inv, "form", "nl", NOW)
        responses.save_answer(store, survey, inv.invitation_id, "nps", 10)
        responses.save_answer(store, survey, inv.invitation_id, "waarom", "top")
        responses.finish(store, survey, inv, lambda r: None, NOW)
        with pytest.raises(responses.AnswerError):
            responses.submit_all(store, survey, inv, {"nps": 1}, lambda r: None, via="api")
        responses.finish(store, survey, inv, lambda r: None, NOW)
        responses.settle(store, inv)
        # an imported response to another invitation: its own message
        other = _invitation(store, "e2")
        responses.submit_all(store, survey, other, {"nps": 4}, lambda r: None, via="import")
        # through the outbox, whose webhook sender signs with the subscription's own secret
        # (its global secret is another one)
        outbox = Outbox(store)
        sender = WebhookSender(new_secret(), secret_for=webhooks_out.secret_for(store))
        report = outbox.deliver_due(senders={"webhook": sender})
        assert report.sent == 2 and report.failed == report.retrying == 0
        again = outbox.deliver_due(senders={"webhook": sender})
        assert again.sent == 0  # nothing left, nothing sent twice
        assert len(got) == 2
        first = json.loads(got[0]["body"])
        assert first["type"] == "response.finished"
        assert first["data"]["answers"] == {"nps": 10, "waarom": "top"}
        assert first["data"]["owner"] == "carrier:vlotbezorgd"
        key = f"response.finished:{responses.response_id(inv.invitation_id)}:{sub.subscription_id}"
        assert got[0]["headers"]["webhook-id"] == message_id_for(key)
        stored = outbox.message(message_id_for(key))
        assert stored is not None and stored.state == "sent" and stored.message.to == url + "/hook"
        assert all(_verify_independently(g["headers"], g["body"]) for g in got)
        signer = webhooks_out.StandardWebhookSigner(SECRET)
        assert signer.verify(got[1]["headers"], got[1]["body"])
        assert not signer.verify(got[1]["headers"], got[1]["body"] + b" ")


def test_the_test_button_sends_a_real_signed_sample_and_failures_are_kept(
    tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = receiver
    with EventStore(tmp_path / "s.duckdb") as store:
        webhooks_out.ensure_schema(store)
        sub = webhooks_out.add_subscription(store, url + "/hook", secret=SECRET)
        result = webhooks_out.send_test(sub)
        assert result.ok and result.status == 200
        body = json.loads(got[0]["body"])
        assert body["type"] == "response.finished" and body["test"] is True
        assert _verify_independently(got[0]["headers"], got[0]["body"])
        failing = webhooks_out.add_subscription(store, url + "/fail")
        assert webhooks_out.send_test(failing).status == 500
        nobody = webhooks_out.Subscription(
            "wh_x", "http://127.0.0.1:9/", SECRET, ("response.finished",)
        )
        assert webhooks_out.send_test(nobody, timeout=2).error
        with pytest.raises(ValueError):
            webhooks_out.add_subscription(store, "ftp://example.org")
        with pytest.raises(ValueError):
            webhooks_out.add_subscription(store, url, secret="whsec_short")
        assert webhooks_out.remove_subscription(store, failing.subscription_id)
        assert [s.subscription_id for s in webhooks_out.list_subscriptions(store)] == [
            sub.subscription_id
        ]
