"""Checking and normalising contact addresses: e-mail and phone numbers.

Bad input is a :class:`ValueError` whose message says what is wrong without repeating the
value (the message may end up in a log or on a screen shared with others).
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["address_digest", "normalise_address", "normalise_email", "normalise_phone"]

MAX_EMAIL_CHARS = 254
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_PHONE_DROP = re.compile(r"[\s().\-/]")


def normalise_email(value: str) -> str:
    """``value`` trimmed, with its domain in lower case; a ``ValueError`` saying why when it
    is not a usable e-mail address (one ``@``, a plain local part, a dotted domain).

    >>> normalise_email("  Jan.Jansen@Example.NL ")
    'Jan.Jansen@example.nl'
    """
    text = value.strip()
    if not text:
        raise ValueError("e-mail address is empty")
    if len(text) > MAX_EMAIL_CHARS:
        raise ValueError(f"e-mail address is longer than {MAX_EMAIL_CHARS} characters")
    if text.count("@") != 1:
        raise ValueError("e-mail address must contain exactly one @")
    local, domain = text.split("@")
    if not _LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValueError("e-mail address has an invalid part before the @")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("e-mail address has an invalid domain after the @")
    if labels[-1].isdigit():
        raise ValueError("e-mail address has an invalid domain after the @")
    return f"{local}@{domain.lower()}"


def normalise_phone(value: str, default_country: str = "31") -> str:
    """An E.164 number (``+`` and 8-15 digits). ``00`` becomes ``+``; a national number
    (leading ``0``) gets ``default_country``'s code.

    >>> normalise_phone("06-1234 5678")
    '+31612345678'
    >>> normalise_phone("0032 470 12 34 56")
    '+32470123456'
    """
    text = _PHONE_DROP.sub("", value.strip())
    if not text:
        raise ValueError("phone number is empty")
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.startswith("0"):
        text = f"+{default_country}{text[1:]}"
    if not text.startswith("+") or not text[1:].isdigit():
        raise ValueError("phone number may only hold digits, spaces, dashes and a leading +")
    if not 8 <= len(text) - 1 <= 15 or text[1] == "0":
        raise ValueError("phone number must have 8 to 15 digits after the country code's +")
    return text


def normalise_address(address: str) -> str:
    """The form an address is compared in on the suppression list: an e-mail address in
    lower case, a phone number in E.164."""
    text = address.strip()
    if "@" in text:
        return normalise_email(text).lower()
    return normalise_phone(text)


def address_digest(address: str) -> str:
    """SHA-256 (hex) of the normalised address: what the suppression list keeps, so the list
    itself holds no readable address."""
    return hashlib.sha256(normalise_address(address).encode("utf-8")).hexdigest()
