"""The names in the built-in journey file, read without validating it again.

A table of ``klantreis journeys dfg`` names its steps from the journey configuration. For a
file of the user's, ``klantreis.model.journey`` reads and validates it (pydantic: about 0.07 s
of CPU to import and build its models). The built-in file (``klantreis/demo/journey.toml``)
is the same for every run and is validated by the test suite
(``tests/cli/test_builtin_journey.py`` also checks this reading names everything as the
validated model does), so a command that only names things reads its ids and names as plain
TOML: what :class:`klantreis.wording.Names` asks of a journey (touchpoints, stages, owners and
promises with their names, and ``label``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["BuiltinJourneyNames", "builtin_journey_names"]


@dataclass(frozen=True)
class NamedItem:
    """A stage, touchpoint, owner or promise of the journey file: its id and names."""

    id: str
    name: str = ""
    name_nl: str | None = None
    name_en: str | None = None

    def label(self, lang: str = "nl") -> str:
        """An owner's name in ``lang`` (``JourneyConfig``'s ``Owner.label``)."""
        return (self.name_nl if lang == "nl" else self.name_en) or self.name


@dataclass(frozen=True)
class BuiltinJourneyNames:
    """The named parts of the built-in journey, shaped as ``JourneyConfig``'s."""

    stages: tuple[NamedItem, ...]
    touchpoints: tuple[NamedItem, ...]
    owners: tuple[NamedItem, ...]
    promises: tuple[NamedItem, ...]

    def label(self, kind: str, item_id: str, lang: str = "nl") -> str:
        """A stage's or touchpoint's name in ``lang`` (``JourneyConfig.label``)."""
        items = self.stages if kind == "stage" else self.touchpoints
        for item in items:
            if item.id == item_id:
                return str(item.name_nl if lang == "nl" else item.name_en)
        return item_id


def builtin_journey_names() -> BuiltinJourneyNames:
    """The built-in journey file's named parts."""
    text = resources.files("klantreis.demo").joinpath("journey.toml").read_text("utf-8")
    data = tomllib.loads(text)
    return BuiltinJourneyNames(
        stages=_items(data.get("stages", [])),
        touchpoints=_items(data.get("touchpoints", [])),
        owners=_items(data.get("owners", [])),
        promises=_items(data.get("promises", [])),
    )


def _items(rows: list[dict[str, Any]]) -> tuple[NamedItem, ...]:
    return tuple(
        NamedItem(
            id=row["id"],
            name=row.get("name", ""),
            name_nl=row.get("name_nl"),
            name_en=row.get("name_en"),
        )
        for row in rows
    )
