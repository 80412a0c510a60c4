"""Dutch (default) and English: a JSON message catalogue per language, babel for numbers
and dates.

Catalogues live in ``web/i18n/<lang>.json`` as flat ``{"message.id": "text"}`` maps;
``{name}`` placeholders are filled with ``str.format``. A test checks that every language has
the same ids and that every id used in templates exists. We chose JSON over gettext .po/.mo:
no compile step, and the same file is easy to edit and to diff.

The language of a request: ``?lang=`` (also remembered in the ``kr_lang`` cookie), then the
cookie, then the ``language`` setting.
"""

from __future__ import annotations

import datetime as dt
import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

__all__ = ["LANGUAGES", "LANG_COOKIE", "Translator", "catalogue", "pick_language"]

LANGUAGES = ("nl", "en")
LANG_COOKIE = "kr_lang"
_LOCALES = {"nl": "nl_NL", "en": "en_GB"}


@cache
def catalogue(lang: str) -> dict[str, str]:
    text = resources.files("klantreis.web").joinpath(f"i18n/{lang}.json").read_text("utf-8")
    data = json.loads(text)
    assert isinstance(data, dict)
    return {str(k): str(v) for k, v in data.items()}


def pick_language(query: str | None, cookie: str | None, default: str) -> str:
    for candidate in (query, cookie, default):
        if candidate in LANGUAGES:
            return str(candidate)
    return "nl"


class Translator:
    """Messages, numbers and dates in one language."""

    def __init__(self, lang: str, timezone: str = "Europe/Amsterdam") -> None:
        self.lang = lang if lang in LANGUAGES else "nl"
        self.locale = _LOCALES[self.lang]
        self.timezone = timezone
        self._messages = catalogue(self.lang)
        self._fallback = catalogue("en")

    def __call__(self, key: str, **values: Any) -> str:
        text = self._messages.get(key) or self._fallback.get(key) or key
        return text.format(**values) if values else text

    def number(self, value: float | int | None, digits: int = 1, signed: bool = False) -> str:
        if value is None:
            return "–"
        pattern = f"#,##0.{'0' * digits}" if digits else "#,##0"
        if signed:
            pattern = f"+{pattern};-{pattern}"
        return str(format_decimal(value, format=pattern, locale=self.locale))

    def percent(self, value: float | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        pattern = f"#,##0.{'0' * digits}%" if digits else "#,##0%"
        return str(format_percent(value, format=pattern, locale=self.locale))

    def date(self, value: dt.date | datetime | str | None, fmt: str = "medium") -> str:
        if value is None or value == "":
            return "–"
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
            "–" if value is None else str(format_date(value, format="medium", locale=self.locale))
        )


def _tz(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
