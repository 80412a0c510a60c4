"""Web Push devices: the browsers (an installed phone app, a desktop browser) where a user
turned push on, each a push subscription — its endpoint and the keys the browser gave
(``p256dh``, ``auth``) — kept per user in the main store.

A user has at most ``max_devices`` (the oldest goes first); the same endpoint again
replaces its keys; a push service that answers 404 or 410 has dropped the subscription, and
:func:`forget_endpoint` removes it. An alert subscription on the ``push`` channel goes to all
of its user's devices (``App.send_alert``). Nothing here is customer data: these are staff
devices, and the endpoint is shown to nobody.
"""

from __future__ import annotations

import binascii
import hashlib
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from klantreis.outbox.ece import unb64url
from klantreis.outbox.hosts import host_allowed
from klantreis.store import EventStore

__all__ = [
    "Device",
    "add_device",
    "check",
    "device_id_for",
    "devices",
    "ensure_schema",
    "forget_endpoint",
    "keys_for",
    "remove_device",
]

MAX_ENDPOINT_CHARS = 1000


@dataclass(frozen=True)
class Device:
    device_id: str
    user: str
    endpoint: str
    p256dh: str
    auth: str
    created_at: datetime | None = None

    @property
    def service(self) -> str:
        """The push service's host (``fcm.googleapis.com``, ...): how the page names it."""
        return urlsplit(self.endpoint).hostname or "?"


def ensure_schema(store: EventStore) -> None:
    with store.transaction() as con:
        con.execute(
            """CREATE TABLE IF NOT EXISTS push_subscriptions (
                device_id VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL,
                endpoint VARCHAR NOT NULL UNIQUE, p256dh VARCHAR NOT NULL,
                auth VARCHAR NOT NULL, created_at TIMESTAMPTZ DEFAULT current_timestamp)"""
        ).fetchall()


def device_id_for(endpoint: str) -> str:
    return "dev_" + hashlib.sha256(endpoint.encode("utf-8")).hexdigest()[:16]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(endpoint: str, p256dh: str, auth: str, *, hosts: Sequence[str] = ()) -> None:
    """ValueError saying what is wrong: an endpoint must be https (http only on this
    machine, for tests) on one of ``hosts`` when any are given (the push services the
    server may call), ``p256dh`` a 65-byte P-256 point, ``auth`` 16 bytes."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if len(endpoint) > MAX_ENDPOINT_CHARS or not host:
        raise ValueError("the push endpoint is not a URL")
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(host)):
        raise ValueError("the push endpoint must be an https URL")
    if hosts and not host_allowed(endpoint, hosts):
        raise ValueError(f"the push endpoint's host {host} is not a push service this server uses")
    try:
        point, secret = unb64url(p256dh), unb64url(auth)
    except (binascii.Error, ValueError):
        raise ValueError("the push keys are not base64") from None
    if len(point) != 65 or point[0] != 4:
        raise ValueError("p256dh must be a 65-byte P-256 public key")
    if len(secret) != 16:
        raise ValueError("auth must be 16 bytes")


def add_device(
    store: EventStore,
    user: str,
    endpoint: str,
    p256dh: str,
    auth: str,
    *,
    max_devices: int = 10,
    hosts: Sequence[str] = (),
) -> Device:
    """Store ``user``'s push subscription (ValueError when it is malformed or its host is
    not among ``hosts``); the same endpoint again takes the new keys and user; beyond
    ``max_devices`` the oldest goes."""
    endpoint, p256dh, auth = endpoint.strip(), p256dh.strip(), auth.strip()
    check(endpoint, p256dh, auth, hosts=hosts)
    ensure_schema(store)
    device = Device(device_id_for(endpoint), user, endpoint, p256dh, auth)
    with store.transaction() as con:
        con.execute("DELETE FROM push_subscriptions WHERE endpoint = ?", [endpoint]).fetchall()
        con.execute(
            "INSERT INTO push_subscriptions (device_id, user_name, endpoint, p256dh, auth)"
            " VALUES (?, ?, ?, ?, ?)",
            [device.device_id, user, endpoint, p256dh, auth],
        ).fetchall()
        con.execute(
            "DELETE FROM push_subscriptions WHERE user_name = ? AND device_id NOT IN ("
            " SELECT device_id FROM push_subscriptions WHERE user_name = ?"
            " ORDER BY created_at DESC, device_id LIMIT ?)",
            [user, user, max_devices],
        ).fetchall()
    return device


def devices(store: EventStore, user: str | None = None) -> list[Device]:
    """``user``'s devices (everyone's with ``None``), oldest first."""
    ensure_schema(store)
    sql = (
        "SELECT device_id, user_name AS user, endpoint, p256dh, auth, created_at"
        " FROM push_subscriptions"
    )
    rows = (
        store.query(sql + " WHERE user_name = ? ORDER BY created_at, device_id", [user])
        if user is not None
        else store.query(sql + " ORDER BY created_at, device_id")
    ).to_pylist()
    return [Device(**r) for r in rows]


def remove_device(store: EventStore, user: str, device_id: str) -> bool:
    """Remove ``user``'s device; False when there was none."""
    ensure_schema(store)
    with store.transaction() as con:
        found = con.execute(
            "SELECT count(*) FROM push_subscriptions WHERE device_id = ? AND user_name = ?",
            [device_id, user],
        ).fetchall()[0][0]
        con.execute(
            "DELETE FROM push_subscriptions WHERE device_id = ? AND user_name = ?",
            [device_id, user],
        ).fetchall()
    return bool(found)


def forget_endpoint(store: EventStore) -> Callable[[str], None]:
    """``gone(endpoint)`` for the push sender: the push service dropped it (404/410)."""
    ensure_schema(store)

    def gone(endpoint: str) -> None:
        with store.transaction() as con:
            con.execute("DELETE FROM push_subscriptions WHERE endpoint = ?", [endpoint]).fetchall()

    return gone


def keys_for(store: EventStore) -> Callable[[str], tuple[str, str] | None]:
    """``keys_for(endpoint)`` for the push sender: ``(p256dh, auth)`` or None."""
    ensure_schema(store)

    def lookup(endpoint: str) -> tuple[str, str] | None:
        rows = store.query(
            "SELECT p256dh, auth FROM push_subscriptions WHERE endpoint = ?", [endpoint]
        ).to_pylist()
        return (rows[0]["p256dh"], rows[0]["auth"]) if rows else None

    return lookup
