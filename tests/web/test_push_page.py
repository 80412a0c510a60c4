"""/alerts and Web Push: the page offers push only when the server has a VAPID key (and says
so otherwise), a device's subscription is stored with a CSRF-checked POST and adds a push
alert subscription once, bad keys say why, and a device is removed with a plain form."""

from __future__ import annotations

from typing import Any

import pytest
from tests.outbox.push_service import Browser

from klantreis.act import alerts, push
from klantreis.app import App
from klantreis.outbox.vapid import new_key


@pytest.fixture
def with_push(web_app: App) -> App:
    web_app.push_key = new_key("mailto:cx@huisenhaard.example")  # type: ignore[misc]
    return web_app


def _post(client: Any, path: str, **data: Any) -> Any:
    return client.post(path, data={**data, "csrf_token": client.cookies.get("kr_csrf")})


def test_without_a_vapid_key_the_page_says_push_is_off(as_user: Any, web_app: App) -> None:
    page = as_user("viewer").get("/alerts?lang=en").text
    assert "Push is not set up on this server" in page
    assert 'value="push"' not in page  # not offered as a channel
    assert "/static/push.js" in page
    data = as_user("viewer").get("/api/v1/alerts").json()["data"]["push"]
    assert data == {"available": False, "public_key": None, "devices": []}


def test_a_device_subscribes_once_and_is_removed(as_user: Any, with_push: App) -> None:
    viewer = as_user("viewer")
    page = viewer.get("/alerts?lang=nl").text
    assert with_push.push_key is not None
    assert f'data-public-key="{with_push.push_key.public_text}"' in page
    assert "alleen met JavaScript" in page  # what shows before (or without) the script
    phone = Browser("https://fcm.googleapis.com/fcm/send/abc123")
    done = _post(
        viewer, "/alerts/push", endpoint=phone.endpoint, p256dh=phone.p256dh, auth=phone.auth_text
    )
    assert done.status_code == 200 and done.json()["data"]["subscription_added"] is True
    again = _post(
        viewer, "/alerts/push", endpoint=phone.endpoint, p256dh=phone.p256dh, auth=phone.auth_text
    )
    assert again.json()["data"]["subscription_added"] is False
    assert [s.channel for s in alerts.subscriptions(with_push.store, "viewer")] == ["push"]
    [device] = push.devices(with_push.store, "viewer")
    page = viewer.get("/alerts?lang=nl&done=push_added").text
    assert "Push staat aan op dit apparaat." in page and "fcm.googleapis.com" in page
    assert phone.endpoint not in page  # the capability URL is not shown
    gone = _post(viewer, f"/alerts/push/{device.device_id}/delete")
    assert gone.status_code == 303 and "push_removed" in gone.headers["location"]
    assert push.devices(with_push.store, "viewer") == []


def test_another_user_cannot_remove_my_device(as_user: Any, with_push: App) -> None:
    phone = Browser("https://push.example/anna")
    device = push.add_device(
        with_push.store, "viewer", phone.endpoint, phone.p256dh, phone.auth_text
    )
    analyst = as_user("analyst")
    _post(analyst, f"/alerts/push/{device.device_id}/delete")
    _post(analyst, "/alerts/push/remove", endpoint=phone.endpoint)
    assert len(push.devices(with_push.store, "viewer")) == 1
    viewer = as_user("viewer")
    assert _post(viewer, "/alerts/push/remove", endpoint=phone.endpoint).json()["data"] == {
        "removed": True
    }


def test_push_posts_need_csrf_and_good_keys(as_user: Any, with_push: App) -> None:
    viewer = as_user("viewer")
    phone = Browser("https://fcm.googleapis.com/fcm/send/x")
    fields = {"endpoint": phone.endpoint, "p256dh": phone.p256dh, "auth": phone.auth_text}
    assert viewer.post("/alerts/push", data=fields).status_code == 403
    bad = _post(viewer, "/alerts/push", **{**fields, "auth": "AAAA"})
    assert bad.status_code == 422 and "16 bytes" in bad.text
    plain = _post(viewer, "/alerts/push", **{**fields, "endpoint": "http://push.example/x"})
    assert plain.status_code == 422
    assert push.devices(with_push.store, "viewer") == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://169.254.169.254/latest/meta-data",
        "https://intranet.example/admin",
        "https://fcm.googleapis.com.evil.example/x",
        "http://127.0.0.1:8080/x",
    ],
)
def test_a_device_must_point_at_a_known_push_service(
    as_user: Any, with_push: App, endpoint: str
) -> None:
    """The server posts to a subscription's endpoint: a signed-in user may not aim it at an
    internal address; only the configured push services (``push_service_hosts``) count."""
    viewer = as_user("viewer")
    phone = Browser(endpoint)
    fields = {"endpoint": endpoint, "p256dh": phone.p256dh, "auth": phone.auth_text}
    refused = _post(viewer, "/alerts/push", **fields)
    assert refused.status_code == 422, refused.text
    assert push.devices(with_push.store, "viewer") == []
    below = Browser("https://updates.push.services.mozilla.com/wpush/v2/abc")
    fields = {"endpoint": below.endpoint, "p256dh": below.p256dh, "auth": below.auth_text}
    assert _post(viewer, "/alerts/push", **fields).status_code == 200


def test_push_is_a_channel_of_the_subscription_form(as_user: Any, with_push: App) -> None:
    viewer = as_user("viewer")
    assert 'value="push"' in viewer.get("/alerts").text
    done = _post(viewer, "/alerts/subscriptions", channel="push", target="", subject="index:")
    assert done.status_code == 303
    [sub] = alerts.subscriptions(with_push.store, "viewer")
    assert (sub.channel, sub.target, sub.dimension) == ("push", "", "index")
    page = viewer.get("/alerts?lang=en").text
    assert "Push to my devices" in page


def test_the_service_worker_and_manifest_are_served_right(client: Any) -> None:
    sw = client.get("/sw.js")
    assert sw.headers["content-type"].startswith("text/javascript")
    assert sw.headers["service-worker-allowed"] == "/"
    assert 'addEventListener("push"' in sw.text and "notificationclick" in sw.text
    assert "content-security-policy" in sw.headers
    js = client.get("/static/push.js")
    assert js.status_code == 200 and "pushManager.subscribe" in js.text
    manifest = client.get("/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    icons = manifest.json()["icons"]
    for icon in icons:
        got = client.get(icon["src"])
        assert got.status_code == 200 and got.headers["content-type"] == icon["type"]
        if icon["type"] == "image/png":
            width = int.from_bytes(got.content[16:20], "big")
            assert got.content[:8] == b"\x89PNG\r\n\x1a\n"
            assert icon["sizes"] == f"{width}x{width}"
