"""Case rules as configuration (TOML, like the journey file): which events open a follow-up
case, who owns it, which SLA applies, the business calendar, the escalation ladder and the
root-cause codes a closed case gets.

Rule types:

- ``score``: a feedback answer of ``metric`` with ``score <= at_most`` or ``>= at_least``
  (NPS <= 6, CES >= 5, CSAT <= 2);
- ``text``: a text (survey comment, contact, review, mention) containing one of ``phrases``
  (case-insensitive, at the start of a word: "kapot" also finds "kapotte");
- ``repeat_contact``: a customer's ``min_contacts``-th contact within ``within_days`` days;
- ``broken_promise``: a promise of the journey configuration kept late or not at all;
- ``event``: any event of ``kinds`` (``invoice.bounced``, ``delivery.failed``).

The owner of a case comes from the journey configuration: ``owner = "step"`` is the owner of
the step whose event triggered the rule (the touchpoint's owner, or the event's own owner such
as ``carrier:vlotbezorgd``); ``"broken_step"`` (the default) is the owner of the journey's first
broken promise when it has one (the carrier for a late parcel) and otherwise the step's; any
other value is a fixed owner id of the journey file. ``fallback_owner`` takes cases whose step
has no owner. ``load_case_rules`` validates the file *and* its references into the journey
configuration and lists every problem.
"""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from klantreis.act.sla import (
    DEFAULT_HOLIDAYS,
    HOLIDAY_IDS,
    BusinessCalendar,
    LadderStep,
    SlaPolicy,
    parse_shifts,
)
from klantreis.model.journey import JourneyConfig
from klantreis.model.tomlfile import ConfigFileError, parse_toml_model

__all__ = [
    "RULE_TYPES",
    "CalendarConfig",
    "CaseRule",
    "CaseRules",
    "CaseRulesError",
    "RootCause",
    "check_case_rules",
    "default_case_rules",
    "load_case_rules",
    "parse_case_rules",
]

RULE_TYPES = ("score", "text", "repeat_contact", "broken_promise", "event")
_TEXT_KINDS = ["survey.response", "contact.inbound", "review.posted", "social.mention"]


class CaseRulesError(ConfigFileError):
    """A case-rules file that cannot be used; ``problems`` lists every reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseRule(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_nl: str
    name_en: str
    type: Literal["score", "text", "repeat_contact", "broken_promise", "event"]
    enabled: bool = True
    owner: str = "broken_step"
    fallback_owner: str = "customer_service"
    sla: str = "standaard"
    # score
    metric: Literal["nps", "ces", "csat", "stars"] | None = None
    at_most: float | None = None
    at_least: float | None = None
    # text
    phrases: list[str] = Field(default_factory=list)
    # text, event, repeat_contact: event kinds to look at
    kinds: list[str] = Field(default_factory=list)
    # repeat_contact
    within_days: float = Field(default=7, gt=0)
    min_contacts: int = Field(default=2, ge=2)
    # broken_promise: promise ids (empty: every promise of the journey file)
    promises: list[str] = Field(default_factory=list)
    # broken_promise: open a case only when the journey also has one of these (empty: every
    # broken promise). "contact": an inbound contact at or after the promise's deadline (the
    # customer asked about it); "detractor": a feedback score on the bad side (NPS 0-6,
    # CES 5-7, CSAT/stars 1-2).
    only_if: list[Literal["contact", "detractor"]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fields_of_type(self) -> CaseRule:
        problems = []
        if self.type == "score":
            if self.metric is None:
                problems.append("a score rule needs 'metric'")
            if (self.at_most is None) == (self.at_least is None):
                problems.append("a score rule needs exactly one of 'at_most' and 'at_least'")
        if self.type == "text" and not [p for p in self.phrases if p.strip()]:
            problems.append("a text rule needs 'phrases'")
        if self.type == "event" and not self.kinds:
            problems.append("an event rule needs 'kinds'")
        if self.only_if and self.type != "broken_promise":
            problems.append("'only_if' belongs to a broken_promise rule")
        if problems:
            raise ValueError(f"rule '{self.id}': " + "; ".join(problems))
        return self

    def name(self, lang: str = "nl") -> str:
        return self.name_nl if lang == "nl" else self.name_en

    @property
    def text_kinds(self) -> list[str]:
        return self.kinds or list(_TEXT_KINDS)

    @property
    def contact_kinds(self) -> list[str]:
        return self.kinds or ["contact.inbound"]


class SlaConfig(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    first_action_hours: float = Field(gt=0)
    resolution_hours: float = Field(gt=0)

    def policy(self) -> SlaPolicy:
        return SlaPolicy(self.id, self.first_action_hours, self.resolution_hours)


class CalendarConfig(_Strict):
    """Opening hours per weekday as ``"08:30-12:00,13:00-17:30"`` ("" = closed)."""

    timezone: str = "Europe/Amsterdam"
    monday: str = "08:30-12:00,13:00-17:30"
    tuesday: str = "08:30-12:00,13:00-17:30"
    wednesday: str = "08:30-12:00,13:00-17:30"
    thursday: str = "08:30-12:00,13:00-17:30"
    friday: str = "08:30-12:00,13:00-17:30"
    saturday: str = ""
    sunday: str = ""
    holidays: list[str] = Field(default_factory=lambda: list(DEFAULT_HOLIDAYS))
    liberation_day: Literal["lustrum", "yearly", "never"] = "lustrum"
    closed_days: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid(self) -> CalendarConfig:
        self.calendar()  # raises ValueError with a readable message
        return self

    def calendar(self) -> BusinessCalendar:
        unknown = sorted(set(self.holidays) - set(HOLIDAY_IDS))
        if unknown:
            raise ValueError(
                f"unknown holiday(s): {', '.join(unknown)} (known: {', '.join(HOLIDAY_IDS)})"
            )
        days = (
            self.monday,
            self.tuesday,
            self.wednesday,
            self.thursday,
            self.friday,
            self.saturday,
            self.sunday,
        )
        try:
            return BusinessCalendar(
                tuple(parse_shifts(d) for d in days),
                self.timezone,
                tuple(self.holidays),
                self.liberation_day,
                frozenset(self.closed_days),
            )
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"calendar: {exc}") from None


class LadderConfig(_Strict):
    fraction: float = Field(gt=0)
    action: Literal["owner", "team_lead", "reassign"]


class EscalationConfig(_Strict):
    ladder: list[LadderConfig] = Field(
        default_factory=lambda: [
            LadderConfig(fraction=0.5, action="owner"),
            LadderConfig(fraction=1.0, action="team_lead"),
            LadderConfig(fraction=1.5, action="reassign"),
        ]
    )
    alert_budget_per_team_per_day: int = Field(default=20, ge=0)
    #: owner id -> the user name of its team lead (who gets the 100% alert).
    team_leads: dict[str, str] = Field(default_factory=dict)

    def steps(self) -> tuple[LadderStep, ...]:
        return tuple(LadderStep(s.fraction, s.action) for s in self.ladder)


class RootCause(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_nl: str
    name_en: str
    #: Who can remove the cause (an owner id of the journey file); empty: the case's owner.
    owner: str | None = None
    #: What a fix should move (``klantreis.act.fixes``): the contact reasons this cause
    #: produces (taxonomy ids), and the score (metric, on these touchpoints; empty: all).
    contact_reasons: list[str] = Field(default_factory=list)
    metric: Literal["nps", "ces", "csat", "stars"] = "nps"
    touchpoints: list[str] = Field(default_factory=list)

    def name(self, lang: str = "nl") -> str:
        return self.name_nl if lang == "nl" else self.name_en


class CaseRules(_Strict):
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    sla: list[SlaConfig] = Field(default_factory=list)
    rules: list[CaseRule] = Field(default_factory=list)
    root_causes: list[RootCause] = Field(default_factory=list)
    #: Days after closure when a case is due a re-survey (see ``act.outcomes``).
    resurvey_after_days: float = Field(default=3, ge=0)
    #: The survey (of the surveys file) that re-asks each metric after closure: the same
    #: question and scale as the answer that opened the case (NPS for cases not opened by
    #: an answer). Planned by ``klantreis.act.resurvey``; a metric without one: no re-survey.
    resurvey_surveys: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> CaseRules:
        problems = []
        for label, ids in (
            ("rule", [r.id for r in self.rules]),
            ("sla", [s.id for s in self.sla]),
            ("root cause", [c.id for c in self.root_causes]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                problems.append(f"duplicate {label} id(s): {', '.join(dupes)}")
        slas = {s.id for s in self.sla}
        for rule in self.rules:
            if rule.sla not in slas:
                problems.append(
                    f"rule '{rule.id}' names unknown sla '{rule.sla}'"
                    f" (known: {', '.join(sorted(slas)) or 'none'})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- lookups ---------------------------------------------------------------------------
    def rule(self, rule_id: str) -> CaseRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def policy(self, sla_id: str) -> SlaPolicy:
        found = next((s for s in self.sla if s.id == sla_id), None)
        if found is None:
            raise KeyError(f"unknown sla '{sla_id}'")
        return found.policy()

    def business_calendar(self) -> BusinessCalendar:
        return self.calendar.calendar()

    def root_cause(self, cause_id: str) -> RootCause | None:
        return next((c for c in self.root_causes if c.id == cause_id), None)

    def enabled(self) -> list[CaseRule]:
        return [r for r in self.rules if r.enabled]

    def problems_with(self, journey: JourneyConfig) -> list[str]:
        """References into the journey configuration that do not exist."""
        owners = {o.id for o in journey.owners}
        promises = {p.id for p in journey.promises}
        out = []
        for rule in self.rules:
            for what, value in (("owner", rule.owner), ("fallback_owner", rule.fallback_owner)):
                if value not in ("step", "broken_step") and value not in owners:
                    out.append(
                        f"rule '{rule.id}': {what} '{value}' is not an owner of the journey"
                        f" configuration (known: step, broken_step, {', '.join(sorted(owners))})"
                    )
            missing = sorted(set(rule.promises) - promises)
            if missing:
                out.append(f"rule '{rule.id}' names unknown promise(s): {', '.join(missing)}")
            if rule.type == "broken_promise" and not promises:
                out.append(f"rule '{rule.id}': the journey configuration defines no promises")
        touchpoints = {t.id for t in journey.touchpoints}
        for cause in self.root_causes:
            if cause.owner and cause.owner not in owners:
                out.append(f"root cause '{cause.id}' names unknown owner '{cause.owner}'")
            for tp in cause.touchpoints:
                if tp not in touchpoints:
                    out.append(f"root cause '{cause.id}' names unknown touchpoint '{tp}'")
        for owner in self.escalation.team_leads:
            if owner not in owners:
                out.append(f"escalation.team_leads names unknown owner '{owner}'")
        return out


def parse_case_rules(
    text: str, path: str = "<case rules>", journey: JourneyConfig | None = None
) -> CaseRules:
    """Parse and validate; with ``journey`` also its owners and promises."""
    rules = parse_toml_model(text, path, CaseRules, CaseRulesError)
    if journey is not None:
        problems = rules.problems_with(journey)
        if problems:
            raise CaseRulesError(path, problems)
    return rules


def default_case_rules(journey: JourneyConfig | None = None) -> CaseRules:
    """The shipped rules (``klantreis/act/rules.toml``)."""
    text = resources.files("klantreis.act").joinpath("rules.toml").read_text("utf-8")
    return parse_case_rules(text, "klantreis/act/rules.toml", journey)


def load_case_rules(path: str | Path | None, journey: JourneyConfig | None = None) -> CaseRules:
    """The rules file at ``path``; the shipped one when ``path`` is empty."""
    if not path:
        return default_case_rules(journey)
    p = Path(path)
    if not p.exists():
        raise CaseRulesError(str(p), ["file not found"])
    return parse_case_rules(p.read_text(encoding="utf-8"), str(p), journey)


def check_case_rules(path: str | Path | None, journey: JourneyConfig | None = None) -> list[str]:
    """Every problem of the file as readable messages; empty when it is fine."""
    try:
        load_case_rules(path, journey)
    except CaseRulesError as exc:
        return exc.problems
    return []
