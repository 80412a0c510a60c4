"""Web Push message encryption: ``aes128gcm`` content coding (RFC 8188) with the keys of
RFC 8291 (ECDH on P-256 between the application server and the browser, mixed with the
browser's 16-byte authentication secret).

:func:`encrypt` is what a sender does (one record, as Web Push requires); :func:`decrypt`
is what a browser does (tests and receivers use it). Keys and secrets are raw bytes:
a public key is the 65-byte uncompressed point, a private key its 32-byte scalar.
Built on the ``cryptography`` package; RFC 8291 appendix A is the test vector.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "MAX_PLAINTEXT",
    "b64url",
    "decrypt",
    "encrypt",
    "private_key_from_bytes",
    "public_bytes",
    "unb64url",
]

RECORD_SIZE = 4096
#: Web Push bodies are at most 4096 bytes: the header (86) and the tag (16) and the
#: delimiter (1) leave this much for the plaintext.
MAX_PLAINTEXT = RECORD_SIZE - 86 - 16 - 1
_TAG = 16


def b64url(data: bytes) -> str:
    """URL-safe base64 without padding (how Web Push writes keys)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """The bytes of URL-safe base64 with or without padding (also accepts ``+``/``/``)."""
    cleaned = "".join(text.split()).replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))


def private_key_from_bytes(raw: bytes) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from its 32-byte scalar."""
    if len(raw) != 32:
        raise ValueError("a P-256 private key is 32 bytes")
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


def public_bytes(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    """The 65-byte uncompressed point of a P-256 key."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _public_key(raw: bytes) -> ec.EllipticCurvePublicKey:
    if len(raw) != 65 or raw[0] != 4:
        raise ValueError("a P-256 public key is a 65-byte uncompressed point")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _keys(
    shared: bytes, auth: bytes, ua_public: bytes, as_public: bytes, salt: bytes
) -> tuple[bytes, bytes]:
    """Content-encryption key and nonce (RFC 8291 section 3.4, RFC 8188 section 2.2)."""
    info = b"WebPush: info\x00" + ua_public + as_public
    ikm = _hmac(_hmac(auth, shared), info + b"\x01")
    prk = _hmac(salt, ikm)
    cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
    return cek, nonce


def encrypt(
    plaintext: bytes,
    ua_public: bytes,
    auth: bytes,
    *,
    as_private: ec.EllipticCurvePrivateKey | None = None,
    salt: bytes | None = None,
) -> bytes:
    """The ``aes128gcm`` body of a push message to the browser holding ``ua_public`` and
    ``auth``: one record, no padding. ``as_private`` (the ephemeral key) and ``salt`` are
    fresh random unless given (only tests give them)."""
    if len(plaintext) > MAX_PLAINTEXT:
        raise ValueError(f"a push message holds at most {MAX_PLAINTEXT} bytes")
    if len(auth) != 16:
        raise ValueError("the authentication secret is 16 bytes")
    salt = os.urandom(16) if salt is None else salt
    as_private = as_private or ec.generate_private_key(ec.SECP256R1())
    as_public = public_bytes(as_private)
    shared = as_private.exchange(ec.ECDH(), _public_key(ua_public))
    cek, nonce = _keys(shared, auth, ua_public, as_public, salt)
    header = salt + struct.pack("!IB", RECORD_SIZE, len(as_public)) + as_public
    return header + AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)


def decrypt(body: bytes, ua_private: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    """The plaintext of an ``aes128gcm`` push message (what the browser does); ValueError
    when the body is malformed or does not authenticate."""
    if len(body) < 21:
        raise ValueError("too short for an aes128gcm header")
    salt, (rs, idlen) = body[:16], struct.unpack("!IB", body[16:21])
    as_public, data = body[21 : 21 + idlen], body[21 + idlen :]
    if rs <= _TAG + 1:
        raise ValueError("record size too small")
    shared = ua_private.exchange(ec.ECDH(), _public_key(as_public))
    cek, nonce = _keys(shared, auth, public_bytes(ua_private), as_public, salt)
    out = b""
    records = [data[i : i + rs] for i in range(0, len(data), rs)] or [b""]
    for seq, record in enumerate(records):
        iv = (int.from_bytes(nonce, "big") ^ seq).to_bytes(12, "big")
        try:
            plain = AESGCM(cek).decrypt(iv, record, None)
        except Exception as exc:  # cryptography's InvalidTag has no message
            raise ValueError("the push message does not authenticate") from exc
        last = seq == len(records) - 1
        stripped = plain.rstrip(b"\x00")
        if not stripped or stripped[-1:] != (b"\x02" if last else b"\x01"):
            raise ValueError("bad record padding delimiter")
        out += stripped[:-1]
    return out
