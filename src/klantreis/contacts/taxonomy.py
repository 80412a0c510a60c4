"""The contact-reason taxonomy: category -> reasons, in Dutch and English, with example phrases,
the journey touchpoint a reason belongs to, whether it is avoidable and the likely journey fix.

The default taxonomy (``taxonomy.toml`` next to this module) fits a Dutch webshop; pass your own
file with ``--taxonomy path``. ``load_taxonomy`` validates it and raises ``TaxonomyError`` with
every problem as a readable message.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from klantreis.model.journey import JourneyConfig
from klantreis.model.tomlfile import ConfigFileError, parse_toml_model

__all__ = [
    "UNKNOWN",
    "Category",
    "Reason",
    "Taxonomy",
    "TaxonomyError",
    "check_taxonomy",
    "default_taxonomy",
    "load_taxonomy",
    "parse_taxonomy",
]

#: The label of a contact no reason fits (confidence below the threshold).
UNKNOWN = "unknown"

_ID = r"^[a-z][a-z0-9_]*$"


class TaxonomyError(ConfigFileError):
    """A taxonomy file that cannot be used; ``problems`` lists every reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reason(_Strict):
    id: str = Field(pattern=_ID)
    name_nl: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    touchpoint: str = Field(pattern=_ID)
    stage: str | None = None
    avoidable: bool = True
    fix_nl: str = ""
    fix_en: str = ""
    phrases_nl: list[str] = Field(default_factory=list)
    phrases_en: list[str] = Field(default_factory=list)

    def name(self, lang: str = "nl") -> str:
        return self.name_nl if lang == "nl" else self.name_en

    def fix(self, lang: str = "nl") -> str:
        return self.fix_nl if lang == "nl" else (self.fix_en or self.fix_nl)

    def phrases(self) -> list[str]:
        return [*self.phrases_nl, *self.phrases_en]


class Category(_Strict):
    id: str = Field(pattern=_ID)
    name_nl: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    reasons: list[Reason] = Field(min_length=1)


class Taxonomy(_Strict):
    name: str = "contact reasons"
    #: Below this confidence a contact is "unknown".
    unknown_threshold: float = Field(default=0.5, ge=0, le=1)
    categories: list[Category] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Taxonomy:
        problems = []
        cat_ids = [c.id for c in self.categories]
        reason_ids = self.reason_ids()
        for label, ids in (("category", cat_ids), ("reason", reason_ids)):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                problems.append(f"duplicate {label} id(s): {', '.join(dupes)}")
        if UNKNOWN in reason_ids:
            problems.append(f"'{UNKNOWN}' is reserved for contacts no reason fits")
        for r in self.reasons():
            if not r.phrases():
                problems.append(f"reason '{r.id}' has no example phrases (phrases_nl/phrases_en)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def reasons(self) -> list[Reason]:
        return [r for c in self.categories for r in c.reasons]

    def reason_ids(self) -> list[str]:
        return [r.id for c in self.categories for r in c.reasons]

    def reason(self, reason_id: str) -> Reason | None:
        return next((r for r in self.reasons() if r.id == reason_id), None)

    def category_of(self) -> dict[str, str]:
        return {r.id: c.id for c in self.categories for r in c.reasons}

    def check_against(self, journey: JourneyConfig) -> list[str]:
        """Problems with the journey configuration: touchpoints or stages it does not know."""
        tps = {t.id for t in journey.touchpoints}
        stages = {s.id for s in journey.stages}
        problems: list[str] = []
        for r in self.reasons():
            if r.touchpoint not in tps:
                problems.append(
                    f"reason '{r.id}' names touchpoint '{r.touchpoint}' that the journey "
                    f"configuration does not have (known: {', '.join(sorted(tps))})"
                )
            if r.stage and r.stage not in stages:
                problems.append(f"reason '{r.id}' names unknown stage '{r.stage}'")
        return problems


def parse_taxonomy(text: str, path: str = "<taxonomy>") -> Taxonomy:
    return parse_toml_model(text, path, Taxonomy, TaxonomyError)


def default_taxonomy() -> Taxonomy:
    """The built-in Dutch webshop taxonomy."""
    text = resources.files("klantreis.contacts").joinpath("taxonomy.toml").read_text("utf-8")
    return parse_taxonomy(text, "klantreis/contacts/taxonomy.toml")


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and validate a taxonomy file; ``None`` gives the built-in one."""
    if path is None:
        return default_taxonomy()
    p = Path(path)
    if not p.exists():
        raise TaxonomyError(str(p), ["file not found"])
    return parse_taxonomy(p.read_text(encoding="utf-8"), str(p))


def check_taxonomy(path: str | Path, journey: JourneyConfig | None = None) -> list[str]:
    """Every problem in the file (and against ``journey`` when given); empty means fine."""
    try:
        tax = load_taxonomy(path)
    except TaxonomyError as exc:
        return exc.problems
    return tax.check_against(journey) if journey else []
