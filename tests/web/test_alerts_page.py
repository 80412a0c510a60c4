"""/alerts: a user subscribes and unsubscribes with the form (CSRF checked), bad addresses
say why, the log shows the user's own alerts only."""

from __future__ import annotations

from datetime import date
from typing import Any

from klantreis.act import alerts
from klantreis.act.alerts import AlertSignal
from klantreis.app import App


def _form(client: Any, path: str, **data: Any) -> Any:
    return client.post(path, data={**data, "csrf_token": client.cookies.get("kr_csrf")})


def test_subscribe_see_alerts_and_unsubscribe(as_user: Any, web_app: App) -> None:
    viewer = as_user("viewer")
    assert "Je hebt nog geen abonnementen" in viewer.get("/alerts?lang=nl").text
    done = _form(
        viewer,
        "/alerts/subscriptions",
        channel="webhook",
        target="https://hooks.slack.com/services/T0/B0/x",
        subject="owner:carrier:snelpost",
        daily_budget="2",
    )
    assert done.status_code == 303
    page = viewer.get("/alerts?lang=nl&done=added").text
    assert "Abonnement toegevoegd" in page and "SnelPost" in page
    subs = alerts.subscriptions(web_app.store, "viewer")
    assert [(s.dimension, s.key, s.daily_budget) for s in subs] == [
        ("owner", "carrier:snelpost", 2)
    ]
    # an alert for the viewer and one for someone else
    alerts.add_subscription(web_app.store, "analyst", "email", "a@huisenhaard.example")
    signal = AlertSignal("index", "index", -4.4, 0.001, date(2026, 3, 31))
    alerts.dispatch(web_app.store, [signal], web_app.names, lambda *a: None)
    api = viewer.get("/api/v1/alerts").json()["data"]
    assert api["alerts"] == []  # the viewer subscribed to SnelPost only, not the index
    assert viewer.get("/api/v1/alerts").json()["data"]["subscriptions"][0]["subject"] == "SnelPost"
    analyst = as_user("analyst")
    log = analyst.get("/api/v1/alerts").json()["data"]["alerts"]
    assert len(log) == 1 and "CX-index" in log[0]["text"]
    gone = _form(viewer, f"/alerts/subscriptions/{subs[0].subscription_id}/delete")
    assert gone.status_code == 303
    assert alerts.subscriptions(web_app.store, "viewer") == []


def test_a_bad_address_says_why_and_stores_nothing(as_user: Any, web_app: App) -> None:
    viewer = as_user("viewer")
    bad = _form(viewer, "/alerts/subscriptions?lang=nl", channel="email", target="niemand")
    assert bad.status_code == 422 and "geldig e-mailadres" in bad.text
    bad = _form(viewer, "/alerts/subscriptions", channel="webhook", target="ftp://x")
    assert bad.status_code == 422
    assert alerts.subscriptions(web_app.store, "viewer") == []


def test_the_form_needs_its_csrf_token(as_user: Any, web_app: App) -> None:
    viewer = as_user("viewer")
    refused = viewer.post(
        "/alerts/subscriptions", data={"channel": "webhook", "target": "https://x.example"}
    )
    assert refused.status_code == 403
    assert alerts.subscriptions(web_app.store, "viewer") == []


def test_only_an_admin_aims_an_alert_webhook_beyond_the_chat_services(
    as_user: Any, web_app: App
) -> None:
    """The server posts alerts to a webhook: a viewer or analyst may not point it at an
    internal address (only the hosts of ``alert_webhook_hosts``); an admin may."""
    for role in ("viewer", "analyst"):
        user = as_user(role)
        refused = _form(
            user, "/alerts/subscriptions?lang=en", channel="webhook", target="http://10.0.0.5/x"
        )
        assert refused.status_code == 422 and "Only an administrator" in refused.text
        assert alerts.subscriptions(web_app.store, role) == []
    admin = as_user("admin")
    done = _form(admin, "/alerts/subscriptions", channel="webhook", target="https://cx.internal/x")
    assert done.status_code == 303
    assert [s.target for s in alerts.subscriptions(web_app.store, "admin")] == [
        "https://cx.internal/x"
    ]


def test_a_user_follows_the_cases_that_escalate(as_user: Any, web_app: App) -> None:
    viewer = as_user("viewer")
    page = viewer.get("/alerts?lang=nl").text
    assert "Zaken die escaleren (alle eigenaren)" in page
    assert "Zaken die escaleren bij SnelPost" in page
    for subject in ("case:", "case:carrier:snelpost"):
        done = _form(
            viewer,
            "/alerts/subscriptions",
            channel="email",
            target="v@huisenhaard.example",
            subject=subject,
        )
        assert done.status_code == 303
    subs = alerts.subscriptions(web_app.store, "viewer")
    assert {(s.dimension, s.key) for s in subs} == {("case", None), ("case", "carrier:snelpost")}
    subjects = {s["subject"] for s in viewer.get("/api/v1/alerts").json()["data"]["subscriptions"]}
    assert subjects == {"Zaken die escaleren (alle eigenaren)", "Zaken die escaleren bij SnelPost"}
