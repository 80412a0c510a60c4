"""Web Push encryption and VAPID against the RFCs: RFC 8291 appendix A (decrypting its
message with its keys gives its plaintext; encrypting with its fixed salt and keys gives its
message, byte for byte); VAPID tokens a push service accepts, and ones it refuses."""

from __future__ import annotations

import json
import time

import pytest

from klantreis.outbox import Message, ece, vapid
from klantreis.outbox.ece import b64url, unb64url
from klantreis.outbox.webpush import push_body

# RFC 8291, appendix A (line breaks removed).
PLAINTEXT = b"When I grow up, I want to be a watermelon"
AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
AS_PUBLIC = (
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
)
UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
UA_PUBLIC = (
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
)
SALT = "DGv6ra1nlYgDCS1FRnbzlw"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
MESSAGE = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocIn"
    "mYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQ"
    "exSgSxsj_Qulcy4a-fN"
)


def test_rfc8291_message_decrypts_to_its_plaintext() -> None:
    ua = ece.private_key_from_bytes(unb64url(UA_PRIVATE))
    assert b64url(ece.public_bytes(ua)) == UA_PUBLIC
    assert ece.decrypt(unb64url(MESSAGE), ua, unb64url(AUTH)) == PLAINTEXT


def test_rfc8291_encrypt_with_its_salt_and_keys_gives_its_message() -> None:
    sender = ece.private_key_from_bytes(unb64url(AS_PRIVATE))
    assert b64url(ece.public_bytes(sender)) == AS_PUBLIC
    body = ece.encrypt(
        PLAINTEXT, unb64url(UA_PUBLIC), unb64url(AUTH), as_private=sender, salt=unb64url(SALT)
    )
    assert b64url(body) == MESSAGE


def test_a_wrong_auth_secret_or_a_flipped_bit_does_not_decrypt() -> None:
    ua = ece.private_key_from_bytes(unb64url(UA_PRIVATE))
    body = bytearray(unb64url(MESSAGE))
    with pytest.raises(ValueError, match="authenticate"):
        ece.decrypt(bytes(body), ua, b"\x00" * 16)
    body[-1] ^= 1
    with pytest.raises(ValueError, match="authenticate"):
        ece.decrypt(bytes(body), ua, unb64url(AUTH))


def test_random_salt_and_key_round_trip_and_the_size_limit() -> None:
    ua = ece.private_key_from_bytes(unb64url(UA_PRIVATE))
    one = ece.encrypt(b"hallo", unb64url(UA_PUBLIC), unb64url(AUTH))
    two = ece.encrypt(b"hallo", unb64url(UA_PUBLIC), unb64url(AUTH))
    assert one != two  # fresh salt and key each time
    assert ece.decrypt(one, ua, unb64url(AUTH)) == b"hallo"
    big = b"x" * ece.MAX_PLAINTEXT
    assert len(ece.encrypt(big, unb64url(UA_PUBLIC), unb64url(AUTH))) == 4096
    with pytest.raises(ValueError, match="at most"):
        ece.encrypt(big + b"x", unb64url(UA_PUBLIC), unb64url(AUTH))


def test_vapid_token_verifies_with_aud_exp_and_sub() -> None:
    key = vapid.new_key("mailto:cx@huisenhaard.example")
    endpoint = "https://push.example.net:8443/wpush/v2/abc?x=1"
    now = time.time()
    header = key.authorization(endpoint, now)
    assert header.startswith("vapid t=") and f"k={key.public_text}" in header
    claims = vapid.verify(header, endpoint, now)
    assert claims["aud"] == "https://push.example.net:8443"
    assert claims["sub"] == "mailto:cx@huisenhaard.example"
    assert now < float(str(claims["exp"])) <= now + 24 * 3600
    token = header.split("t=")[1].split(",")[0]
    assert json.loads(unb64url(token.split(".")[0])) == {"typ": "JWT", "alg": "ES256"}
    with pytest.raises(vapid.VapidError, match="aud"):
        vapid.verify(header, "https://other.example/x", now)
    with pytest.raises(vapid.VapidError, match="exp"):
        vapid.verify(header, endpoint, now + 13 * 3600)
    other = vapid.new_key().public_text
    with pytest.raises(vapid.VapidError, match="bad vapid token"):
        vapid.verify(header.replace(key.public_text, other), endpoint, now)


def test_vapid_key_text_round_trips_and_bad_text_says_why() -> None:
    key = vapid.new_key()
    again = vapid.VapidKey.from_text(key.private_text, "https://huisenhaard.example")
    assert again.public_text == key.public_text and len(unb64url(key.public_text)) == 65
    with pytest.raises(vapid.VapidError, match="32 bytes"):
        vapid.VapidKey.from_text("tooshort", "mailto:a@b.example")
    with pytest.raises(vapid.VapidError, match="subject"):
        vapid.VapidKey.from_text(key.private_text, "a@b.example")


def test_a_long_alert_is_shortened_to_fit_one_push_message() -> None:
    text = "Bezorging -4,1: VlotBezorgd, 312 te late pakketten. " * 200
    payload = {"title": "Melding van klantreis", "url": "/"}
    message = Message("k", "push", to="https://push.example/x", text=text, payload=payload)
    raw = push_body(message)
    assert len(raw) <= ece.MAX_PLAINTEXT
    data = json.loads(raw)
    assert data["title"] == "Melding van klantreis" and data["body"].endswith("…")
    assert text.startswith(data["body"][:-1])
    short = push_body(Message("k", "push", to="https://push.example/x", text="kort"))
    assert json.loads(short) == {"body": "kort"}
