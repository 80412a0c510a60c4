"""Values offered in the filter menus (channels and segments that occur in survey answers),
the newest answer's day, and the kept score cells the answer pages read when they can."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from klantreis.analytics import scope
from klantreis.analytics.backend import json_text
from klantreis.analytics.derived_scores import CellsStamp, ScoreCells, supports
from klantreis.analytics.scope import Scope
from klantreis.caches import KeyedResults
from klantreis.web.pagekit import PageContext

__all__ = [
    "cells_stamps",
    "filter_options",
    "local_day",
    "newest_answer_day",
    "score_cells",
    "shared",
]

T = TypeVar("T")
#: Shared page parts kept (:func:`shared`).
_SHARED_KEPT = 32


def score_cells(ctx: PageContext, flt: Scope | None = None) -> ScoreCells | None:
    """The App's kept score cells when they can answer ``flt`` (None: read the log)."""
    if flt is not None and not supports(flt):
        return None
    cells: ScoreCells | None = ctx.app.score_cells()
    return cells


def cells_stamps(ctx: PageContext) -> CellsStamp | None:
    """The kept score cells' stamps (``ScoreCells.stamps``; refreshed first) when the pages
    read the cells for their answers, newest day and menus (None: they read the log)."""
    cells = score_cells(ctx)
    if cells is None or cells.zone != ctx.app.journey.timezone:
        return None
    return cells.stamps()


def local_day(ctx: PageContext, moment: datetime | None) -> date | None:
    """The local day (journey time zone) of ``moment``."""
    return None if moment is None else moment.astimezone(ZoneInfo(ctx.app.journey.timezone)).date()


def shared(
    ctx: PageContext, page: str, version: Hashable | None, params: Any, build: Callable[[], T]
) -> T:
    """``build()`` kept per (page, ``version``, parameters, language) for every reader
    alike: the part of a page that does not depend on who sees it (the page cache keeps an
    analyst's and a viewer's page apart, so the kept-views job computed each twice).
    ``version``: what the part reads (the page's ``reads``); None: built every time."""
    if version is None:
        return build()
    cache = ctx.app.caches.get("shared_pages", lambda: KeyedResults(_SHARED_KEPT))
    return cache.get((page, version, repr(params), ctx.lang), build)


def filter_options(ctx: PageContext) -> dict[str, list[str]]:
    """Distinct channels and ``attrs.segment`` values of feedback answers, sorted."""
    cells = score_cells(ctx)
    if cells is not None:
        return cells.options()
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
    cells = score_cells(ctx)
    if cells is not None and cells.zone == ctx.app.journey.timezone:
        return cells.newest_day(answers_only)
    return scope.newest_answer_day(ctx.events(), ctx.app.journey.timezone, answers_only)
