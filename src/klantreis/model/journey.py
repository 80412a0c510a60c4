"""The journey configuration (TOML): touchpoints, stages, owners, promises, contact costs.

``load_journey_config`` reads and validates a file; ``check_journey_config`` returns every
problem as a readable message instead of raising, for ``klantreis config check``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from klantreis.model.tomlfile import ConfigFileError, parse_toml_model

__all__ = [
    "MOMENTS_OF_TRUTH",
    "ConfigError",
    "JourneyConfig",
    "Owner",
    "Promise",
    "Stage",
    "Touchpoint",
    "check_journey_config",
    "load_journey_config",
    "parse_journey_config",
]

#: Moments of Truth: zero (orientation), first (choice/purchase), second (use/delivery),
#: ultimate (sharing the experience).
MOMENTS_OF_TRUTH = ("ZMOT", "FMOT", "SMOT", "UMOT")


class ConfigError(ConfigFileError):
    """A configuration file that cannot be used; ``problems`` lists every reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_nl: str
    name_en: str
    moment: Literal["ZMOT", "FMOT", "SMOT", "UMOT"] | None = None
    order: int = 0


class Owner(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_\-]*(:[a-z0-9_\-]+)?$")
    #: The name people read; ``name_nl``/``name_en`` override it per language (a team such as
    #: "Magazijn" / "Warehouse"; a partner's brand usually needs only ``name``).
    name: str
    name_nl: str | None = None
    name_en: str | None = None
    type: Literal["team", "partner"] = "team"

    def label(self, lang: str = "nl") -> str:
        """The name in ``lang``: ``name_nl``/``name_en`` when set, else ``name``."""
        return (self.name_nl if lang == "nl" else self.name_en) or self.name


class Touchpoint(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_nl: str
    name_en: str
    stage: str
    kinds: list[str] = Field(default_factory=list)
    owner: str | None = None
    #: Weight of this touchpoint in the CX index (relative; default 1).
    weight: float = Field(default=1.0, ge=0)


class Promise(_Strict):
    """ "``fulfilled_by`` happens before the deadline announced by ``promised``", per journey.

    The deadline is ``attrs[deadline_attr]`` of the ``promised`` event, or, when that attribute
    is absent, the ``promised`` event's own ``occurred_at``.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_nl: str
    name_en: str
    promised: str
    fulfilled_by: str
    deadline_attr: str = "deadline"
    #: A deadline given as a date only (a mapping reading "24-09-2026") means the end of
    #: that local day; "start_of_day" reads it as midnight.
    deadline_date: Literal["end_of_day", "start_of_day"] = "end_of_day"
    touchpoint: str | None = None
    #: Minutes of grace before a promise counts as broken.
    grace_minutes: float = Field(default=0, ge=0)
    #: A journey is "at risk" when the deadline is within this many hours and unfulfilled.
    at_risk_hours: float = Field(default=4, ge=0)
    #: An unfulfilled promise whose deadline passed at most this many hours ago stays on the
    #: at-risk list (overdue: the customer is still waiting; act now). 0 leaves them off.
    overdue_hours: float = Field(default=72, ge=0)


class JourneyConfig(_Strict):
    name: str = "journey"
    timezone: str = "Europe/Amsterdam"
    currency: str = "EUR"
    #: The event kind that starts a journey (for "per 100 journeys" rates).
    journey_start: str = "order.placed"
    min_answers: int = Field(default=30, ge=1)
    stages: list[Stage] = Field(default_factory=list)
    owners: list[Owner] = Field(default_factory=list)
    touchpoints: list[Touchpoint] = Field(default_factory=list)
    promises: list[Promise] = Field(default_factory=list)
    #: Cost of one contact per channel, in ``currency``.
    contact_costs: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> JourneyConfig:
        problems = []
        stage_ids = [s.id for s in self.stages]
        tp_ids = [t.id for t in self.touchpoints]
        owner_ids = {o.id for o in self.owners}
        for label, ids in (
            ("stage", stage_ids),
            ("touchpoint", tp_ids),
            ("owner", [o.id for o in self.owners]),
            ("promise", [p.id for p in self.promises]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                problems.append(f"duplicate {label} id(s): {', '.join(dupes)}")
        kind_owner: dict[str, str] = {}
        for tp in self.touchpoints:
            if tp.stage not in stage_ids:
                problems.append(
                    f"touchpoint '{tp.id}' names unknown stage '{tp.stage}'"
                    f" (known: {', '.join(stage_ids) or 'none'})"
                )
            if tp.owner and tp.owner not in owner_ids:
                problems.append(f"touchpoint '{tp.id}' names unknown owner '{tp.owner}'")
            for kind in tp.kinds:
                if kind in kind_owner:
                    problems.append(
                        f"event kind '{kind}' is in touchpoints '{kind_owner[kind]}'"
                        f" and '{tp.id}'; give it to one"
                    )
                kind_owner[kind] = tp.id
        for pr in self.promises:
            if pr.touchpoint and pr.touchpoint not in tp_ids:
                problems.append(f"promise '{pr.id}' names unknown touchpoint '{pr.touchpoint}'")
            if pr.promised == pr.fulfilled_by:
                problems.append(f"promise '{pr.id}': promised and fulfilled_by are the same kind")
        for channel, cost in self.contact_costs.items():
            if cost < 0:
                problems.append(f"contact cost for '{channel}' is negative")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- lookups -------------------------------------------------------------------------
    def touchpoint_for_kind(self) -> dict[str, str]:
        return {kind: tp.id for tp in self.touchpoints for kind in tp.kinds}

    def stage_of_touchpoint(self) -> dict[str, str]:
        return {tp.id: tp.stage for tp in self.touchpoints}

    def touchpoint(self, tp_id: str) -> Touchpoint | None:
        return next((t for t in self.touchpoints if t.id == tp_id), None)

    def label(self, kind: str, item_id: str, lang: str = "nl") -> str:
        """The display name of a stage or touchpoint in ``lang`` (falls back to the id)."""
        items: list[Stage] | list[Touchpoint] = self.stages if kind == "stage" else self.touchpoints
        for item in items:
            if item.id == item_id:
                return item.name_nl if lang == "nl" else item.name_en
        return item_id


def parse_journey_config(text: str, path: str = "<journey>") -> JourneyConfig:
    return parse_toml_model(text, path, JourneyConfig, ConfigError)


def load_journey_config(path: str | Path) -> JourneyConfig:
    p = Path(path)
    if not p.exists():
        raise ConfigError(str(p), ["file not found"])
    return parse_journey_config(p.read_text(encoding="utf-8"), str(p))


def check_journey_config(path: str | Path) -> list[str]:
    """Every problem in the file, as readable messages; an empty list means it is fine."""
    try:
        load_journey_config(path)
    except ConfigError as exc:
        return exc.problems
    return []
