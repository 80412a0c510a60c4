"""VAPID (RFC 8292): the application server identifies itself to a push service with a
short-lived ES256 JSON Web Token signed by its key pair.

The token's claims: ``aud`` the origin of the push endpoint, ``exp`` at most 24 hours
ahead (we use 12), ``sub`` a ``mailto:`` or ``https:`` contact. The header sent is
``Authorization: vapid t=<token>, k=<public key>``. :func:`verify` is the push service's
side (tests and receivers use it). The key is written as URL-safe base64 of its 32-byte
private scalar; its public half (65 bytes, uncompressed) is what browsers subscribe with.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from klantreis.outbox.ece import b64url, private_key_from_bytes, public_bytes, unb64url

__all__ = ["VapidError", "VapidKey", "audience", "new_key", "verify"]

MAX_EXPIRY_SECONDS = 24 * 3600
EXPIRY_SECONDS = 12 * 3600


class VapidError(ValueError):
    """A VAPID key, subject or token that cannot be used or does not check out."""


def audience(endpoint: str) -> str:
    """The origin of a push endpoint (scheme://host[:port]), the token's ``aud``."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise VapidError("a push endpoint is an http(s) URL")
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


@dataclass(frozen=True)
class VapidKey:
    """The application server's key pair and contact (``sub``)."""

    private: ec.EllipticCurvePrivateKey
    subject: str

    @classmethod
    def from_text(cls, text: str, subject: str) -> VapidKey:
        """From URL-safe base64 of the 32-byte private scalar; VapidError when it is not."""
        if not subject.startswith(("mailto:", "https:")):
            raise VapidError("the VAPID subject must be a mailto: or https: URL")
        try:
            return cls(private_key_from_bytes(unb64url(text.strip())), subject)
        except ValueError:
            raise VapidError(
                "the VAPID private key must be URL-safe base64 of 32 bytes"
                " (`klantreis push keys` makes one)"
            ) from None

    @property
    def private_text(self) -> str:
        return b64url(self.private.private_numbers().private_value.to_bytes(32, "big"))

    @property
    def public_text(self) -> str:
        """What ``pushManager.subscribe`` takes as ``applicationServerKey``."""
        return b64url(public_bytes(self.private))

    def token(self, endpoint: str, now: float | None = None) -> str:
        """A signed JWT for ``endpoint``'s push service, valid :data:`EXPIRY_SECONDS`."""
        claims = {
            "aud": audience(endpoint),
            "exp": int((time.time() if now is None else now) + EXPIRY_SECONDS),
            "sub": self.subject,
        }
        head = _part({"typ": "JWT", "alg": "ES256"}) + "." + _part(claims)
        der = self.private.sign(head.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return head + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def authorization(self, endpoint: str, now: float | None = None) -> str:
        return f"vapid t={self.token(endpoint, now)}, k={self.public_text}"


def new_key(subject: str = "mailto:alerts@example.invalid") -> VapidKey:
    """A fresh key pair."""
    return VapidKey(ec.generate_private_key(ec.SECP256R1()), subject)


def _part(value: dict[str, object]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def verify(authorization: str, endpoint: str, now: float | None = None) -> dict[str, object]:
    """Check an ``Authorization: vapid ...`` header as a push service does: the signature
    with the ``k`` key, ``aud`` the endpoint's origin, ``exp`` in the future and at most
    24 hours ahead. Returns the claims; raises :class:`VapidError`."""
    scheme, _, params = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise VapidError("not a vapid authorization")
    fields = dict(p.strip().partition("=")[::2] for p in params.split(","))
    try:
        head, claims_part, signature = fields["t"].split(".")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(fields["k"]))
        raw = unb64url(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, f"{head}.{claims_part}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        header = json.loads(unb64url(head))
        claims: dict[str, object] = json.loads(unb64url(claims_part))
    except (KeyError, ValueError, InvalidSignature) as exc:
        raise VapidError(f"bad vapid token: {type(exc).__name__}") from None
    if header.get("alg") != "ES256" or len(raw) != 64:
        raise VapidError("a vapid token is signed with ES256")
    if claims.get("aud") != audience(endpoint):
        raise VapidError("the token's aud is not the endpoint's origin")
    exp, clock = claims.get("exp"), time.time() if now is None else now
    if not isinstance(exp, int) or not clock < exp <= clock + MAX_EXPIRY_SECONDS:
        raise VapidError("the token's exp is past or more than 24 hours ahead")
    return claims
