"""Personal survey links: signed, expiring, single-use.

A token is ``s1.<invitation id>.<survey id>.<expiry, unix seconds>.<HMAC-SHA256, base64url>``;
the HMAC covers the version, the invitation, the survey and the expiry, with a key derived
from the application's ``secret_key`` for this one use (so a link cannot be replayed as a
session, a CSRF token or an unsubscribe token). Signatures are compared in constant time.

:meth:`Links.verify` answers a :class:`Verified` link or the reason it is refused:

* ``bad_signature`` — not a token of ours, or changed (tampered, truncated);
* ``unknown`` — genuine, but its invitation is not in the ledger (or was never sent);
* ``already_answered`` — the response to it is finished (single use);
* ``expired`` — past its expiry.

A link with a response that is started but not finished stays valid: it reopens at the first
unanswered question.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from klantreis.listen import ledger, responses
from klantreis.listen.ledger import Invitation
from klantreis.settings import Settings
from klantreis.store.duckdb_store import EventStore

__all__ = ["REASONS", "Links", "Refusal", "Verified", "derive_key", "link_base"]

Refusal = Literal["bad_signature", "expired", "already_answered", "unknown"]
REASONS: tuple[Refusal, ...] = ("bad_signature", "expired", "already_answered", "unknown")
#: The lifetime of a link whose invitation has no expiry of its own.
DEFAULT_LIFETIME = timedelta(days=7)
_VERSION = "s1"
_ID = re.compile(r"^[A-Za-z0-9_:-]{1,100}$")
_NOT_OPEN = {"answered": "already_answered", "expired": "expired", "suppressed": "unknown"}


def derive_key(secret: str | bytes) -> bytes:
    """The link-signing key, derived from the application's secret for this one use."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(raw, b"klantreis.listen.links.v1", hashlib.sha256).digest()


def link_base(settings: Settings, request_base: str) -> str:
    """Where personal links start: the ``survey_base_url`` setting, else the address the
    request came in on."""
    return (settings.survey_base_url or request_base).rstrip("/")


@dataclass(frozen=True)
class Verified:
    invitation_id: str
    survey_id: str
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Links:
    """Signs and checks the personal links of one store's invitations with ``key``
    (see :func:`derive_key`)."""

    def __init__(self, key: bytes, store: EventStore) -> None:
        if len(key) < 16:
            raise ValueError("a link key needs at least 16 bytes")
        self._key = key
        self.store = store

    def _mac(self, invitation_id: str, survey_id: str, expires: int) -> bytes:
        message = f"{_VERSION}\x1f{invitation_id}\x1f{survey_id}\x1f{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def token(self, invitation_id: str, survey_id: str, expires: datetime) -> str:
        """The token of one invitation (ids without dots, as the ledger makes them)."""
        if not (_ID.match(invitation_id) and _ID.match(survey_id)):
            raise ValueError("invitation and survey ids must be plain ids")
        stamp = int(expires.timestamp())
        mac = _b64(self._mac(invitation_id, survey_id, stamp))
        return f"{_VERSION}.{invitation_id}.{survey_id}.{stamp}.{mac}"

    def sign(self, invitation: Invitation, base_url: str, now: datetime | None = None) -> str:
        """The personal link (``<base_url>/s/<token>``) of ``invitation``; it expires at the
        invitation's ``expires_at`` (else :data:`DEFAULT_LIFETIME` from ``now``)."""
        expires = invitation.expires_at or (now or datetime.now(UTC)) + DEFAULT_LIFETIME
        token = self.token(invitation.invitation_id, invitation.survey_id, expires)
        return f"{base_url.rstrip('/')}/s/{token}"

    def check_signature(self, token: str) -> Verified | None:
        """The token's content when its signature is genuine (expiry and use not checked)."""
        parts = token.strip().split(".")
        if len(parts) != 5 or parts[0] != _VERSION or not parts[3].isdigit():
            return None
        inv_id, survey_id, stamp = parts[1], parts[2], int(parts[3])
        if not (_ID.match(inv_id) and _ID.match(survey_id)) or len(parts[3]) > 12:
            return None
        try:
            given = _unb64(parts[4])
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(given, self._mac(inv_id, survey_id, stamp)):
            return None
        return Verified(inv_id, survey_id, datetime.fromtimestamp(stamp, UTC))

    def verify(self, token: str, now: datetime | None = None) -> Verified | Refusal:
        """The verified link, or the reason it is refused (see the module notes)."""
        link = self.check_signature(token)
        if link is None:
            return "bad_signature"
        invitation = ledger.get(self.store, link.invitation_id)
        if invitation is None or invitation.survey_id != link.survey_id:
            return "unknown"
        if invitation.answered_at is not None or responses.is_finished(
            self.store, link.invitation_id
        ):
            return "already_answered"
        refused = _NOT_OPEN.get(invitation.status)
        if refused:
            return refused  # type: ignore[return-value]
        if (now or datetime.now(UTC)) >= link.expires:
            return "expired"
        return link
