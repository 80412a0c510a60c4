"""Messages, numbers, plurals, money and dates in one language.

Catalogues live next to this module as ``<lang>.json``, plus one fragment per area in
``parts/<area>.<lang>.json`` (surveys, cases, ...; a key may be defined only once): flat
``{"message.id": "text"}`` maps
whose ``{name}`` placeholders are filled with ``str.format``. Plural nouns are two ids,
``<id>.one`` and ``<id>.other``; babel's plural rules of the language pick one. We chose JSON
over gettext .po/.mo: no compile step, and the same file is easy to edit and to diff.
"""

from __future__ import annotations

import datetime as dt
import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import NumberPattern, format_percent, parse_pattern

__all__ = ["LANGUAGES", "LOCALES", "Wording", "catalogue", "format_delta", "format_number"]

LANGUAGES = ("nl", "en")
LOCALES = {"nl": "nl_NL", "en": "en_GB"}
#: Shown where a number is missing.
MISSING = "–"
_CURRENCY_SIGNS = {"EUR": "€", "GBP": "£", "USD": "$"}


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every message of ``lang`` (``nl`` or ``en``) by id."""
    root = resources.files("klantreis.wording")
    files = [root.joinpath(f"{lang}.json")]
    parts = root.joinpath("parts")
    if parts.is_dir():
        files += sorted(
            (f for f in parts.iterdir() if f.name.endswith(f".{lang}.json")), key=lambda f: f.name
        )
    merged: dict[str, str] = {}
    for file in files:
        data = json.loads(file.read_text("utf-8"))
        assert isinstance(data, dict), file.name
        for key, value in data.items():
            if key in merged:
                raise ValueError(f"wording key {key!r} defined twice ({file.name})")
            merged[str(key)] = str(value)
    return merged


def format_number(value: float, lang: str, decimals: int = 0) -> str:
    """A number in the locale of ``lang`` (nl: 1.240,5; en: 1,240.5)."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return _format_decimal(value, pattern, LOCALES.get(lang, "en_GB"))


def _format_decimal(value: float, pattern: str, locale: str) -> str:
    """babel's ``format_decimal(value, format=pattern, locale=locale)``, with the parsed
    pattern and the locale kept (a worded table formats hundreds of numbers with a few)."""
    return str(_number_pattern(pattern).apply(value, _locale(locale)))


@cache
def _number_pattern(pattern: str) -> NumberPattern:
    return parse_pattern(pattern)


@cache
def _locale(code: str) -> Locale:
    return Locale.parse(code)


def format_delta(value: float, lang: str, decimals: int = 1) -> str:
    """A signed change: nl ``-4,1`` / ``+0,3``; en ``-4.1`` / ``+0.3`` (never ``-0``)."""
    rounded = round(value, decimals) + 0.0  # turns -0.0 into 0.0
    body = format_number(abs(rounded), lang, decimals)
    return ("-" if rounded < 0 else "+") + body


class Wording:
    """Messages, numbers and dates in one language (``nl`` unless ``lang`` is ``en``)."""

    def __init__(self, lang: str, timezone: str = "Europe/Amsterdam") -> None:
        self.lang = lang if lang in LANGUAGES else "nl"
        self.locale = LOCALES[self.lang]
        self.timezone = timezone
        self._messages = catalogue(self.lang)
        self._plural = _locale(self.locale).plural_form

    def __call__(self, key: str, **values: Any) -> str:
        text = self._messages.get(key) or catalogue("en").get(key) or key
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        """True when the catalogue holds ``key``."""
        return key in self._messages

    # -- numbers ----------------------------------------------------------------------------
    def number(self, value: float | int | None, digits: int = 1, signed: bool = False) -> str:
        if value is None:
            return MISSING
        if signed:
            return format_delta(float(value), self.lang, digits)
        if round(float(value), digits) == 0:
            value = 0  # never a negative zero ("-0,0")
        return format_number(value, self.lang, digits)

    def duration(self, minutes: float | int | None) -> str:
        """A span of time for people: "45 minuten", "13 uur", "3,5 dagen" (en: "13 hours")."""
        if minutes is None or minutes != minutes:
            return MISSING
        minutes = abs(float(minutes))
        n: float
        if minutes < 90:
            key, n, digits = "duration.minutes", round(minutes), 0
        elif minutes < 48 * 60:
            key, n, digits = "duration.hours", round(minutes / 60), 0
        else:
            days = minutes / 1440
            digits = 0 if days >= 10 else 1
            key, n = "duration.days", round(days, digits)
            if n == int(n):
                digits = 0
        return self.noun(key, n, n=self.number(n, digits))

    def short(self, value: float | int | None) -> str:
        """Up to two decimals, trailing zeros dropped: 8,93 / 6,1 / 12 (what ``:g`` was)."""
        if value is None:
            return MISSING
        return _format_decimal(value, "#,##0.##", self.locale)

    def percent(self, value: float | None, digits: int = 0) -> str:
        if value is None:
            return MISSING
        pattern = f"#,##0.{'0' * digits}%" if digits else "#,##0%"
        return str(format_percent(value, format=pattern, locale=self.locale))

    def money(self, value: float | None, currency: str = "EUR") -> str:
        """Whole currency units: nl ``€1.234``, en ``€1,234``; other codes as ``CHF 1.234``."""
        if value is None:
            return MISSING
        sign = _CURRENCY_SIGNS.get(currency, currency + " ")
        return sign + format_number(round(value), self.lang)

    # -- plurals ----------------------------------------------------------------------------
    def noun(self, key: str, count: float, **values: Any) -> str:
        """The form of noun ``key`` for ``count``: ``<key>.one`` or ``<key>.other``."""
        form = self._plural(abs(count))
        chosen = f"{key}.{form}" if self.has(f"{key}.{form}") else f"{key}.other"
        return self(chosen, **values)

    def count(self, key: str, count: float, digits: int = 0, **values: Any) -> str:
        """A number with its noun: "1 opmerking", "2 opmerkingen", "1,240 contacts"."""
        return f"{self.number(count, digits)} {self.noun(key, count, **values)}"

    # -- dates ------------------------------------------------------------------------------
    def date(self, value: dt.date | datetime | str | None, fmt: str = "medium") -> str:
        if value is None or value == "":
            return MISSING
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            return str(
                format_datetime(value, format=fmt, locale=self.locale, tzinfo=_tz(self.timezone))
            )
        return str(format_date(value, format=fmt, locale=self.locale))

    def day(self, value: dt.date | datetime | str | None) -> str:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            value = value.astimezone(_tz(self.timezone)).date() if value.tzinfo else value.date()
        return (
            MISSING
            if value is None
            else str(format_date(value, format="medium", locale=self.locale))
        )


def _tz(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
