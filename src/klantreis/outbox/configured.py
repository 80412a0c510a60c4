"""Senders as the settings describe them (``KLANTREIS_SMTP_*``, ``KLANTREIS_WEBHOOK_*``,
``KLANTREIS_PUSH_*``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from klantreis.outbox.sender import Sender
from klantreis.outbox.smtp import SmtpSender
from klantreis.outbox.vapid import VapidError, VapidKey, new_key
from klantreis.outbox.webhooks import WebhookSender, new_secret
from klantreis.outbox.webpush import KeysFor, WebPushSender
from klantreis.settings import Settings, SettingsError

__all__ = ["push_key", "push_key_path", "senders_from_settings", "webhook_secret"]

log = logging.getLogger(__name__)
DEMO_SUBJECT = "mailto:demo@klantreis.invalid"


def push_key_path(settings: Settings) -> Path | None:
    """Where demo mode keeps its VAPID key: ``<store stem>.vapid-key`` beside the store."""
    db = settings.db_file
    return None if db is None else db.with_name(db.stem + ".vapid-key")


def push_key(settings: Settings) -> VapidKey | None:
    """The VAPID key of Web Push: the ``push_vapid_private_key`` setting (its subject
    required); in demo mode without one, the key kept beside the store (made on first
    use, so browsers' subscriptions survive a restart; a fresh one for a store in memory);
    otherwise ``None``: push is off. SettingsError for a key or subject that cannot work."""
    subject = settings.push_vapid_subject
    if settings.push_vapid_private_key:
        if not subject and not settings.demo_mode:
            raise SettingsError("push_vapid_private_key is set but push_vapid_subject is not")
        try:
            return VapidKey.from_text(settings.push_vapid_private_key, subject or DEMO_SUBJECT)
        except VapidError as exc:
            raise SettingsError(f"push: {exc}") from None
    if not settings.demo_mode:
        return None
    return _demo_key(push_key_path(settings), subject or DEMO_SUBJECT)


def _demo_key(path: Path | None, subject: str) -> VapidKey:
    if path is None:
        return new_key(subject)
    if path.exists():
        return VapidKey.from_text(path.read_text("ascii"), subject)
    key = new_key(subject)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it just now: use theirs
        return VapidKey.from_text(path.read_text("ascii"), subject)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key.private_text + "\n")
    log.info("demo mode: a new VAPID key for Web Push in %s", path)
    return key


def webhook_secret(settings: Settings) -> str:
    """The webhook signing secret; generated only in demo mode, otherwise it must be set."""
    if settings.webhook_secret:
        return settings.webhook_secret
    if settings.demo_mode:
        return new_secret()
    raise SettingsError(
        "webhook_secret is not set: set KLANTREIS_WEBHOOK_SECRET to 'whsec_' + base64 of 32"
        " random bytes (no default outside demo mode)"
    )


def senders_from_settings(
    settings: Settings,
    *,
    secret_for: Callable[[str], str | None] | None = None,
    push: tuple[VapidKey | None, KeysFor, Callable[[str], None]] | None = None,
) -> dict[str, Sender]:
    """``email`` when an SMTP host is set; ``webhook`` always (it signs with
    :func:`webhook_secret`, so outside demo mode the secret must be set; a message to a
    subscriber's URL with ``secret_for(url)``'s secret when it gives one); ``push`` when
    ``push`` gives a VAPID key (from :func:`push_key`) with the subscriptions' ``keys_for``
    and ``gone`` (see :class:`~klantreis.outbox.webpush.WebPushSender`)."""
    senders: dict[str, Sender] = {}
    if settings.smtp_host:
        if settings.smtp_user and not settings.smtp_password:
            raise SettingsError("smtp_user is set but smtp_password is not")
        senders["email"] = SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            security=settings.smtp_security,
            user=settings.smtp_user or None,
            password=settings.smtp_password or None,
            timeout=settings.smtp_timeout_seconds,
        )
    senders["webhook"] = WebhookSender(
        webhook_secret(settings),
        url=settings.webhook_url or None,
        timeout=settings.webhook_timeout_seconds,
        secret_for=secret_for,
    )
    key, keys_for, gone = push if push is not None else (None, None, None)
    if key is not None and keys_for is not None:
        senders["push"] = WebPushSender(
            key,
            keys_for,
            gone=gone,
            ttl=settings.push_ttl_seconds,
            timeout=settings.push_timeout_seconds,
        )
    return senders
