"""The web's side of :mod:`klantreis.wording`: which language a request reads.

The language of a request: ``?lang=`` (also remembered in the ``kr_lang`` cookie), then the
cookie, then the ``language`` setting. Messages, numbers and dates come from
:class:`klantreis.wording.Wording` (``Translator`` is its name in templates' context).
"""

from __future__ import annotations

from klantreis.wording import LANGUAGES, Wording, catalogue

__all__ = ["LANGUAGES", "LANG_COOKIE", "Translator", "catalogue", "pick_language"]

LANG_COOKIE = "kr_lang"
Translator = Wording


def pick_language(query: str | None, cookie: str | None, default: str) -> str:
    for candidate in (query, cookie, default):
        if candidate in LANGUAGES:
            return str(candidate)
    return "nl"
