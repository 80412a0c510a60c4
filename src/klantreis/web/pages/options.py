"""Values offered in the filter menus (channels and segments that occur in survey answers)."""

from __future__ import annotations

from datetime import date
from typing import Any

from klantreis.analytics import scope
from klantreis.analytics.backend import json_text
from klantreis.web.pagekit import PageContext

__all__ = ["filter_options", "newest_answer_day"]


def filter_options(ctx: PageContext) -> dict[str, list[str]]:
    """Distinct channels and ``attrs.segment`` values of feedback answers, sorted."""
    events = ctx.events()
    answers = events.filter(events.metric.notnull())
    channels = _distinct(answers.channel)
    segments = _distinct(json_text(answers, "segment"))
    return {"channels": channels, "segments": segments}


def _distinct(column: Any) -> list[str]:
    values = column.name("v").as_table().distinct().to_pyarrow()["v"].to_pylist()
    return sorted(str(v) for v in values if v)


def newest_answer_day(ctx: PageContext, answers_only: bool = True) -> date | None:
    """The local day (journey time zone) of the newest feedback answer: where every answer
    page's period ends (``Filters.scope``; see ``analytics.scope.newest_answer_day``)."""
    return scope.newest_answer_day(ctx.events(), ctx.app.journey.timezone, answers_only)
