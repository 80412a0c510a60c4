"""Alerts: significant moves only, once per window, within a daily budget, worded in the
subscriber's language, delivered to a real local webhook receiver."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from klantreis.act import alerts
from klantreis.act.alerts import Subscription
from klantreis.analytics.movers import Mover, MoversResult
from klantreis.app import App
from klantreis.settings import Settings
from klantreis.store import EventStore
from klantreis.wording import Names, Wording

END = date(2026, 11, 19)


def _mover(key: str, delta: float, significant: bool, dimension: str = "touchpoint") -> Mover:
    return Mover(
        dimension=dimension,
        key=key,
        delta_points=delta,
        score_effect=delta,
        mix_effect=0.0,
        score_before=50.0,
        score_after=40.0,
        n_before=300,
        n_after=300,
        p_value=0.001 if significant else 0.4,
        significant=significant,
        driver={
            "type": "promise",
            "key": "op_tijd_bezorgd",
            "count": 312,
            "previous": 120,
            "total": 900,
            "owner": "carrier:vlotbezorgd",
        },
    )


def _movers(significant_total: bool = True) -> MoversResult:
    bezorging = _mover("bezorging", -4.1, True)
    betalen = _mover("betalen", -0.3, False)
    carrier = _mover("carrier:vlotbezorgd", -3.8, True, "owner")
    return MoversResult(
        window_days=7,
        current=(date(2026, 11, 13), END),
        previous=(date(2026, 11, 6), date(2026, 11, 12)),
        index_before=100.0,
        index_after=95.6,
        total_change=-4.4,
        p_value=0.0001 if significant_total else 0.3,
        significant=significant_total,
        by_dimension={"touchpoint": [bezorging, betalen], "owner": [carrier]},
        top=[bezorging, betalen],
    )


def test_only_significant_moves_fire_largest_first() -> None:
    found = alerts.find_alerts(_movers())
    assert [(s.dimension, s.key) for s in found] == [
        ("index", "index"),
        ("touchpoint", "bezorging"),
        ("owner", "carrier:vlotbezorgd"),
    ]
    quiet = alerts.find_alerts(_movers(significant_total=False))
    assert ("index", "index") not in [(s.dimension, s.key) for s in quiet]
    assert ("touchpoint", "betalen") not in [(s.dimension, s.key) for s in quiet]


def test_a_promise_fall_needs_a_test_not_a_threshold() -> None:
    rows = [
        {
            "promise_id": "op_tijd_bezorgd",
            "owner": "carrier:vlotbezorgd",
            "kept_before": 180,
            "broken_before": 20,
            "kept_after": 140,
            "broken_after": 60,
        },
        {
            "promise_id": "op_tijd_bezorgd",
            "owner": "carrier:snelpost",
            "kept_before": 19,
            "broken_before": 1,
            "kept_after": 16,
            "broken_after": 4,
        },  # -15 points, but n = 20
    ]
    falls = alerts.promise_falls(rows, END)
    assert [s.owner for s in falls] == ["carrier:vlotbezorgd"]
    assert falls[0].change == pytest.approx(-20.0)


def _names(lang: str) -> Names:
    app = App(Settings.load(env={}, db_path=":memory:"))
    try:
        return Names(app.journey, Wording(lang))
    finally:
        app.close()


def test_once_per_window_and_within_the_daily_budget(tmp_path: Any) -> None:
    sent: list[tuple[str, str]] = []

    def send(sub: Subscription, text: str, payload: dict[str, Any], key: str) -> None:
        sent.append((sub.user, text))

    with EventStore(tmp_path / "a.duckdb") as store:
        alerts.add_subscription(store, "anna", "webhook", "http://127.0.0.1:9/x", daily_budget=2)
        alerts.add_subscription(
            store,
            "bram",
            "email",
            "bram@huisenhaard.example",
            dimension="owner",
            key="carrier:vlotbezorgd",
            lang="en",
        )
        signals = alerts.find_alerts(_movers())
        now = datetime(2026, 11, 20, 8, tzinfo=UTC)
        first = alerts.dispatch(store, signals, _names, send, now)
        statuses = sorted((a.subscription_id[:4], a.status) for a in first)
        anna = [a for a in first if a.text and a.subscription_id == first[0].subscription_id]
        assert [a.status for a in anna] == ["sent", "sent", "over_budget"]
        # bram wants VlotBezorgd: the owner's own move and the delivery move it drove (in
        # English), not the index
        bram = [t for u, t in sent if u == "bram"]
        assert bram == [
            "Delivery -4.1: VlotBezorgd, 312 late parcels",
            "VlotBezorgd -3.8: 312 late parcels",
        ]
        assert len(statuses) == 5
        # the same moves again: nothing new is sent or logged
        assert alerts.dispatch(store, signals, _names, send, now) == []
        assert len(sent) == 4
        log = alerts.alert_log(store, "anna")
        assert {r["status"] for r in log} == {"sent", "over_budget"}


def test_bad_subscriptions_say_why(tmp_path: Any) -> None:
    with EventStore(tmp_path / "a.duckdb") as store:
        for kwargs, reason in (
            ({"channel": "sms", "target": "x"}, "channel must be"),
            ({"channel": "webhook", "target": "ftp://x"}, "http"),
            ({"channel": "email", "target": "nobody"}, "e-mail address"),
            ({"channel": "email", "target": "a@b.nl", "daily_budget": 0}, "daily_budget"),
        ):
            with pytest.raises(ValueError, match=reason):
                alerts.add_subscription(store, "anna", **kwargs)


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.mark.slow
def test_the_demo_decline_reaches_a_local_webhook_receiver(
    receiver: str, demo30k: tuple[Path, Any], tmp_path: Path
) -> None:
    """On a copy of the run's shared demo (``run_demo(app, orders=30_000, seed=7)``,
    tests/conftest.py): its carrier's decline is the alert that goes out."""

    def post(sub: Subscription, text: str, payload: dict[str, Any], key: str) -> None:
        request = urllib.request.Request(
            sub.target, json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=5).close()

    store = tmp_path / "demo.duckdb"
    shutil.copyfile(demo30k[0], store)
    with App(Settings.load(env={}, db_path=str(store))) as app:
        alerts.add_subscription(app.store, "anna", "webhook", receiver, daily_budget=5)
        sent = alerts.check(
            app.store, app.journey, app.events_table(), _names, post, cache=app.index_cache()
        )
    assert sent and _Receiver.received
    texts = [p["text"] for p in _Receiver.received]
    assert any("VlotBezorgd" in t for t in texts), texts
    assert all(
        p["alert"]["p_value"] is None or p["alert"]["p_value"] < 0.05
        for p in _Receiver.received
        if p["alert"]["dimension"] != "promise"
    )


def test_escalations_reach_the_owners_followers_and_the_team_lead(tmp_path: Any) -> None:
    """The escalation ladder's alerts go out through the server's job: to whoever follows
    the case's owner (or every case), at the team-lead step also to the lead the rules
    name, worded in each subscriber's language, each step once."""

    text = (Path(__file__).parents[2] / "src/klantreis/act/rules.toml").read_text()
    text = text.replace(
        "[escalation]\n", '[escalation]\nteam_leads = { "carrier:vlotbezorgd" = "ilse" }\n'
    )
    (tmp_path / "rules.toml").write_text(text)
    settings = Settings.load(env={}, db_path=":memory:", case_rules=str(tmp_path / "rules.toml"))
    with App(settings) as app:
        _escalate(app)


def _escalate(app: App) -> None:
    from datetime import timedelta

    from tests.act.helpers import T0, load, story

    from klantreis.act.runner import evaluate_cases

    assert app.case_rules.escalation.team_leads == {"carrier:vlotbezorgd": "ilse"}
    assert "escalations" in [job.name for job in app.jobs()]
    load(app, story())
    evaluate_cases(app, app.case_rules)
    owners = {c["owner"] for c in app.store.query("SELECT owner FROM cases").to_pylist()}
    assert "carrier:vlotbezorgd" in owners and len(owners) > 1
    follows = {
        "bram": ("owner", "carrier:vlotbezorgd", "nl"),  # follows VlotBezorgd
        "cees": ("case", None, "en"),  # every case that escalates
        "dana": ("touchpoint", "bezorging", "nl"),  # a touchpoint: no escalations
        "ilse": ("index", None, "nl"),  # VlotBezorgd's team lead: the lead step only
    }
    for user, (dimension, key, lang) in follows.items():
        alerts.add_subscription(
            app.store, user, "email", f"{user}@huisenhaard.example", dimension=dimension,
            key=key, daily_budget=50, lang=lang,
        )  # fmt: skip
    assert app.run_escalations(T0 + timedelta(hours=1)) == []  # nothing is due yet
    sent = app.run_escalations(T0 + timedelta(days=6))
    by_user: dict[str, list[str]] = {}
    subs = {s.subscription_id: s.user for s in alerts.subscriptions(app.store)}
    for a in sent:
        by_user.setdefault(subs[a.subscription_id], []).append(a.text)
    assert "dana" not in by_user
    assert by_user["bram"] and all("VlotBezorgd" in t for t in by_user["bram"])
    assert any("wacht op een eerste actie: 50%" in t for t in by_user["bram"])
    assert all(t.startswith("A case") for t in by_user["cees"])
    assert len(by_user["cees"]) > len(by_user["bram"])  # every owner's cases
    assert by_user["ilse"] and all("teamleider" in t for t in by_user["ilse"])
    # queued in the outbox as e-mails to the subscribers (staff addresses), once
    queued = app.store.query(
        "SELECT recipient, body_text FROM outbox_messages WHERE message_key LIKE 'alert:%'"
    ).to_pylist()
    assert len(queued) == len(sent)
    assert {r["recipient"] for r in queued} == {f"{u}@huisenhaard.example" for u in by_user}
    assert app.run_escalations(T0 + timedelta(days=6, hours=1)) == []  # each step once
