"""Senders as the settings describe them (``KLANTREIS_SMTP_*``, ``KLANTREIS_WEBHOOK_*``)."""

from __future__ import annotations

from collections.abc import Callable

from klantreis.outbox.sender import Sender
from klantreis.outbox.smtp import SmtpSender
from klantreis.outbox.webhooks import WebhookSender, new_secret
from klantreis.settings import Settings, SettingsError

__all__ = ["senders_from_settings", "webhook_secret"]


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
    settings: Settings, *, secret_for: Callable[[str], str | None] | None = None
) -> dict[str, Sender]:
    """``email`` when an SMTP host is set; ``webhook`` always (it signs with
    :func:`webhook_secret`, so outside demo mode the secret must be set; a message to a
    subscriber's URL with ``secret_for(url)``'s secret when it gives one)."""
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
    return senders
