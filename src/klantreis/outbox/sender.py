"""The sender protocol every channel implements, and the scrubbing of error texts."""

from __future__ import annotations

import re
from typing import Protocol

from klantreis.outbox.message import Message, SendResult

__all__ = ["MAX_ERROR_CHARS", "Sender", "is_external", "scrub"]

MAX_ERROR_CHARS = 300
_EMAIL = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


class Sender(Protocol):
    """Sends one message to one address (``None`` for a message with its own ``to``).

    A sender may set ``external = False`` when a send has no effect outside this process
    (the demo's recording sender): sending it twice after a kill harms no one, so the
    outbox writes no per-message attempt journal for it (:func:`is_external`). Without the
    attribute a sender counts as external, as SMTP, webhooks, Web Push and the CSV
    hand-over file are."""

    def send(self, message: Message, message_id: str, address: str | None) -> SendResult: ...

    def close(self) -> None: ...


def is_external(sender: object) -> bool:
    """Whether a send through ``sender`` can be seen outside this process (the default)."""
    return getattr(sender, "external", True) is not False


def scrub(text: str, *addresses: str | None) -> str:
    """``text`` without the given addresses, anything that looks like an e-mail address or
    a phone number, and at most :data:`MAX_ERROR_CHARS` characters: fit for the delivery
    log, which must hold nothing personal. Server replies quote the recipient often.

    >>> scrub("550 5.1.1 <jan@example.nl>: Recipient address rejected", "jan@example.nl")
    '550 5.1.1 <[address]>: Recipient address rejected'
    """
    for address in addresses:
        if address:
            text = text.replace(address, "[address]")
    text = _EMAIL.sub("[address]", text)
    text = _PHONE.sub("[number]", text)
    return " ".join(text.split())[:MAX_ERROR_CHARS]
