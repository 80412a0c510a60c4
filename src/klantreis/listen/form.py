"""What the respondent form shows of a survey, in words: one plain dict per question.

The server-rendered form, the preview and the widget all render these views, so a question
looks and reads the same everywhere. Texts follow the survey's fallback chain
(``nl-BE`` -> ``nl`` -> the survey's default -> any); the form's own words (buttons, scale
ends, errors) come from the wording catalogue (``wording/parts/survey.<lang>.json``).
"""

from __future__ import annotations

import re
from typing import Any

from klantreis.model.survey import SCALES, Question, Survey
from klantreis.wording import LANGUAGES, Wording

__all__ = ["form_lang", "question_view", "survey_view", "ui_lang"]

_LANG = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")


def form_lang(asked: str | None, invitation_lang: str | None, survey: Survey) -> str:
    """The language of the form: ``?lang=`` when the survey speaks it (``nl-BE`` counts when
    it has ``nl-BE`` or ``nl`` texts), else the invitation's, else the survey's default — so
    the page's ``lang`` is the language its questions are shown in."""
    spoken = {key for q in survey.questions for key in q.text}
    spoken |= {key.split("-")[0] for key in spoken}
    for lang in (asked, invitation_lang):
        if lang and _LANG.match(lang) and (lang in spoken or lang.split("-")[0] in spoken):
            return lang
    return survey.default_lang


def ui_lang(lang: str, survey: Survey) -> str:
    """The catalogue language for ``lang`` (``nl-BE`` -> ``nl``; unknown -> the survey's)."""
    base = lang.split("-")[0]
    if base in LANGUAGES:
        return base
    default = survey.default_lang.split("-")[0]
    return default if default in LANGUAGES else "nl"


def question_view(survey: Survey, q: Question, lang: str, w: Wording) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": q.id,
        "type": q.type,
        "text": survey.text(q.text, lang),
        "required": q.required,
        "options": [{"id": o.id, "text": survey.text(o.text, lang)} for o in q.options],
        "max_length": q.max_length,
        "scale": None,
        "low": "",
        "high": "",
        "hint": "",
    }
    if q.type in SCALES:
        low, high = SCALES[q.type]
        view["scale"] = list(range(low, high + 1))
        view["low"] = w(f"survey.scale.{q.type}.low")
        view["high"] = w(f"survey.scale.{q.type}.high")
    elif q.type == "text":
        view["hint"] = w("survey.form.text_hint", max=w.number(q.max_length, 0))
    else:
        view["hint"] = w(
            "survey.form.choose_one" if q.type == "single" else "survey.form.choose_any"
        )
    return view


def survey_view(survey: Survey, lang: str) -> dict[str, Any]:
    """The survey's name, intro, thanks and every question in ``lang``."""
    w = Wording(ui_lang(lang, survey))
    return {
        "id": survey.id,
        "lang": lang,
        "name": survey.name(lang),
        "intro": survey.text(survey.intro, lang) if survey.intro else "",
        "thanks": survey.text(survey.thanks, lang) if survey.thanks else w("survey.thanks.default"),
        "questions": [question_view(survey, q, lang, w) for q in survey.questions],
    }
