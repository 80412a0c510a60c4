"""Surveys as configuration: what to ask, when, of whom, and the contact rules.

A surveys file (TOML, validated like the journey file: every problem listed at once) holds the
contact rules that apply to every survey and channel, and the surveys themselves::

    default_lang = "nl"

    [contact_rules]
    max_per_period = 2        # invitations per customer per rolling period, all surveys/channels
    period_days = 30
    min_days_between = 7      # between any two invitations of one customer
    quiet_hours = "21:00-08:00"
    max_reminders = 1         # to non-responders, in their own budget
    reminder_after = "3d"

    [[survey]]
    id = "na_bezorging"
    name_nl = "Na de bezorging"
    name_en = "After delivery"
    cooldown_days = 60        # this survey, per customer

    [survey.trigger]
    after = "delivery.completed"   # the event kind that starts the clock
    delay = "1d"
    sample = 0.5                   # share of eligible customers invited
    expires = "7d"                 # a link is valid this long after sending
    unless = ["return.requested"]  # not sent when one of these follows the trigger
    [survey.trigger.when]          # re-checked at send time
    owner = ["carrier:vlotbezorgd"]
    promise = { id = "op_tijd_bezorgd", status = "broken" }

    [[survey.questions]]
    id = "nps"
    type = "nps"
    text = { nl = "Hoe waarschijnlijk ...?", en = "How likely ...?", "nl-BE" = "..." }

Texts follow a fallback chain (``nl-BE`` -> ``nl`` -> the survey's default language -> any),
so a survey is never hidden for want of one translation. The model is keys and rules only;
sending, fatigue decisions and the form live in ``klantreis.listen``.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from klantreis.model.journey import JourneyConfig, _Strict
from klantreis.model.tomlfile import ConfigFileError, parse_toml_model

__all__ = [
    "SCALES",
    "ContactRules",
    "Question",
    "Survey",
    "SurveyConfig",
    "SurveyConfigError",
    "Trigger",
    "check_against_journey",
    "load_survey_config",
    "parse_duration",
    "parse_survey_config",
    "text_in",
]

#: The scored question types: (lowest, highest) and the event ``metric`` an answer becomes.
SCALES: dict[str, tuple[int, int]] = {
    "nps": (0, 10),
    "ces": (1, 7),
    "csat": (1, 5),
    "stars": (1, 5),
}
Channel = Literal["email", "sms", "whatsapp", "link"]
QuestionType = Literal["nps", "ces", "csat", "stars", "text", "single", "multiple"]
PromiseStatus = Literal["kept", "broken", "late", "undelivered", "any"]
_ID = r"^[a-z][a-z0-9_]*$"
_LANG = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class SurveyConfigError(ConfigFileError):
    """A surveys file that cannot be used; ``problems`` lists every reason."""


def parse_duration(text: str) -> timedelta:
    """``"30m"``, ``"24h"``, ``"1d"``, ``"2w"`` as a timedelta; ValueError names the forms."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"'{text}' is not a duration: write a number and m, h, d or w (e.g. '1d')")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def text_in(texts: dict[str, str], lang: str, default_lang: str) -> str:
    """The text for ``lang`` by the fallback chain: exact (``nl-BE``), the base language
    (``nl``), ``default_lang``, English, then the first one given."""
    base = lang.split("-")[0]
    for key in (lang, base, default_lang, "en"):
        if texts.get(key):
            return texts[key]
    return next(iter(texts.values()), "")


def _check_texts(texts: dict[str, str], where: str) -> dict[str, str]:
    if not texts or not any(v.strip() for v in texts.values()):
        raise ValueError(f"{where} needs a text in at least one language, e.g. {{ nl = '...' }}")
    bad = [k for k in texts if not _LANG.match(k)]
    if bad:
        raise ValueError(f"{where}: '{bad[0]}' is not a language code (write nl, en or nl-BE)")
    return texts


class Option(_Strict):
    id: str = Field(pattern=_ID)
    text: dict[str, str]

    @field_validator("text")
    @classmethod
    def _texts(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_texts(v, "option")


class Question(_Strict):
    id: str = Field(pattern=_ID)
    type: QuestionType
    text: dict[str, str]
    required: bool = False
    #: For ``single``/``multiple``.
    options: list[Option] = Field(default_factory=list)
    #: For ``text``: the longest answer kept (characters).
    max_length: int = Field(default=2000, ge=1, le=20000)

    @field_validator("text")
    @classmethod
    def _texts(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_texts(v, "question")

    @model_validator(mode="after")
    def _options(self) -> Question:
        ids = [o.id for o in self.options]
        if self.type in ("single", "multiple") and len(ids) < 2:
            raise ValueError(f"question '{self.id}' ({self.type}) needs at least two options")
        if self.type not in ("single", "multiple") and ids:
            raise ValueError(f"question '{self.id}' ({self.type}) takes no options")
        if len(set(ids)) != len(ids):
            raise ValueError(f"question '{self.id}' has duplicate option ids")
        return self

    @property
    def scored(self) -> bool:
        return self.type in SCALES

    def check_answer(self, value: Any) -> int | str | list[str] | None:
        """The answer as stored (an int score, a text, option ids), or ValueError saying why.
        ``None`` (no answer) is allowed unless the question is required."""
        if value is None or value == "" or value == []:
            if self.required:
                raise ValueError("required")
            return None
        if self.type in SCALES:
            low, high = SCALES[self.type]
            try:
                score = int(str(value).strip())
            except ValueError:
                raise ValueError("not_a_number") from None
            if not low <= score <= high:
                raise ValueError("out_of_range")
            return score
        if self.type == "text":
            text = str(value).strip()
            if len(text) > self.max_length:
                raise ValueError("too_long")
            return text
        chosen = [value] if isinstance(value, str) else [str(v) for v in value]
        known = {o.id for o in self.options}
        if any(c not in known for c in chosen):
            raise ValueError("unknown_option")
        if self.type == "single" and len(chosen) != 1:
            raise ValueError("one_option")
        return sorted(set(chosen), key=[o.id for o in self.options].index)


class PromiseCondition(_Strict):
    id: str = Field(pattern=_ID)
    status: PromiseStatus = "any"


class When(_Strict):
    """Conditions on the journey, each a list of allowed values (empty: any)."""

    owner: list[str] = Field(default_factory=list)
    channel: list[str] = Field(default_factory=list)
    segment: list[str] = Field(default_factory=list)
    touchpoint: list[str] = Field(default_factory=list)
    promise: PromiseCondition | None = None


class Trigger(_Strict):
    after: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
    delay: str = "1d"
    sample: float = Field(default=1.0, ge=0, le=1)
    expires: str = "7d"
    #: Event kinds that cancel the invitation when one happens in the trigger's journey (or,
    #: for a trigger without a journey, to the customer) after the trigger and before sending.
    unless: list[str] = Field(default_factory=list)
    when: When = Field(default_factory=When)

    @field_validator("unless")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        bad = [k for k in v if not re.match(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$", k)]
        if bad:
            raise ValueError(f"unless: '{bad[0]}' is not an event kind (e.g. 'return.requested')")
        return v

    @field_validator("delay", "expires")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    @property
    def delay_td(self) -> timedelta:
        return parse_duration(self.delay)

    @property
    def expires_td(self) -> timedelta:
        return parse_duration(self.expires)


class AttributeRule(_Strict):
    """Do not invite customers whose ``attr`` (a journey/event attribute such as ``segment``)
    is one of ``values`` — the rule that depends on a contact attribute."""

    attr: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    values: list[str]
    reason: str = Field(default="excluded_attribute", pattern=_ID)


class ContactRules(_Strict):
    max_per_period: int = Field(default=2, ge=0)
    period_days: int = Field(default=30, ge=1)
    min_days_between: int = Field(default=7, ge=0)
    #: Local time range with no sending, e.g. "21:00-08:00"; empty means none.
    quiet_hours: str = "21:00-08:00"
    max_reminders: int = Field(default=1, ge=0, le=5)
    reminder_after: str = "3d"
    exclude: list[AttributeRule] = Field(default_factory=list)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str) -> str:
        if v and not re.match(r"^\d{2}:\d{2}-\d{2}:\d{2}$", v):
            raise ValueError(f"quiet_hours '{v}' must look like '21:00-08:00' (or be empty)")
        if v:
            for part in v.split("-"):
                time.fromisoformat(part)
        return v

    @field_validator("reminder_after")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    def quiet(self) -> tuple[time, time] | None:
        """(start, end) of the quiet hours in local time, or None."""
        if not self.quiet_hours:
            return None
        start, end = self.quiet_hours.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)


class Survey(_Strict):
    id: str = Field(pattern=_ID)
    name_nl: str
    name_en: str
    default_lang: str = "nl"
    active: bool = True
    #: Per customer: no second invitation to this survey within this many days.
    cooldown_days: int = Field(default=30, ge=0)
    #: The touchpoint the answers count for; default: the trigger event's own touchpoint.
    touchpoint: str | None = None
    #: Channels to try in order (a customer without that channel's details gets the next).
    channels: list[Channel] = Field(default_factory=lambda: list[Channel](["email"]))
    intro: dict[str, str] = Field(default_factory=dict)
    thanks: dict[str, str] = Field(default_factory=dict)
    trigger: Trigger
    questions: list[Question]

    @model_validator(mode="after")
    def _questions(self) -> Survey:
        if not self.questions:
            raise ValueError(f"survey '{self.id}' has no questions")
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"survey '{self.id}' has duplicate question ids")
        if not _LANG.match(self.default_lang):
            raise ValueError(
                f"survey '{self.id}': default_lang '{self.default_lang}' is not a code"
            )
        return self

    def name(self, lang: str) -> str:
        return self.name_nl if lang.startswith("nl") else self.name_en

    def text(self, texts: dict[str, str], lang: str) -> str:
        """``texts`` in ``lang`` by the fallback chain (see :func:`text_in`)."""
        return text_in(texts, lang, self.default_lang)

    @property
    def primary(self) -> Question | None:
        """The first scored question: the free-text "why" is stored with its answer."""
        return next((q for q in self.questions if q.scored), None)


class SurveyConfig(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    default_lang: str = "nl"
    contact_rules: ContactRules = Field(default_factory=ContactRules)
    surveys: list[Survey] = Field(default_factory=list, alias="survey")

    @model_validator(mode="after")
    def _unique(self) -> SurveyConfig:
        ids = [s.id for s in self.surveys]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate survey id(s): {', '.join(dupes)}")
        return self

    def survey(self, survey_id: str) -> Survey | None:
        return next((s for s in self.surveys if s.id == survey_id), None)


def check_against_journey(config: SurveyConfig, journey: JourneyConfig) -> list[str]:
    """Problems with names the journey does not know (owners, touchpoints, promises)."""
    owners = {o.id for o in journey.owners}
    touchpoints = {t.id for t in journey.touchpoints}
    promises = {p.id for p in journey.promises}
    problems = []
    for s in config.surveys:
        when = s.trigger.when
        for owner in when.owner:
            if owner not in owners:
                problems.append(f"survey '{s.id}': unknown owner '{owner}'")
        for tp in [*when.touchpoint, *([s.touchpoint] if s.touchpoint else [])]:
            if tp not in touchpoints:
                problems.append(f"survey '{s.id}': unknown touchpoint '{tp}'")
        if when.promise and when.promise.id not in promises:
            problems.append(f"survey '{s.id}': unknown promise '{when.promise.id}'")
    return problems


def parse_survey_config(
    text: str, path: str = "<surveys>", journey: JourneyConfig | None = None
) -> SurveyConfig:
    """Parse and validate a surveys file; with ``journey``, names are checked against it."""
    config = parse_toml_model(text, path, SurveyConfig, SurveyConfigError)
    if journey is not None:
        problems = check_against_journey(config, journey)
        if problems:
            raise SurveyConfigError(path, problems)
    return config


def load_survey_config(path: str | Path, journey: JourneyConfig | None = None) -> SurveyConfig:
    p = Path(path)
    if not p.exists():
        raise SurveyConfigError(str(p), ["file not found"])
    return parse_survey_config(p.read_text(encoding="utf-8"), str(p), journey)
