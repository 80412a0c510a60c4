"""The web app: pages for people, a JSON API for programs, both from the same functions.

``create_app(app)`` builds a FastAPI application for one :class:`klantreis.app.App` (no
import-time state: tests build many); ``serve(settings)`` runs it with uvicorn in one process.

Adding a page (e.g. journeys, contacts)
---------------------------------------
1. Write ``klantreis/web/pages/<name>.py`` with a data function and a module-level ``router``::

       from fastapi import APIRouter
       from klantreis.web.pagekit import Filters, NavItem, PageContext, PageSpec, register_page

       router = APIRouter()
       NAV = NavItem("/journeys", "nav.journeys", order=30)   # optional menu entry

       def journeys_data(ctx: PageContext, params: Filters) -> dict:
           events = ctx.app.events_table()          # an Ibis table
           ...                                       # call the analytics, return plain data
           return {"paths": [...]}

       register_page(router, PageSpec(name="journeys", path="/journeys",
                                      template="journeys.html", data=journeys_data))

   This gives ``GET /journeys`` (HTML) and ``GET /api/v1/journeys`` (the same dict in the
   JSON envelope). Use your own parameter dataclass (``params=``) for extra query
   parameters; ``charts=`` builds Vega-Lite specs from the data for the template
   (``klantreis.web.charts``). Page data is reused while the store is unchanged
   (``PageCache``); pass ``cache=False`` for data that must always be fresh.
   Mask personal data when ``not ctx.sees_personal_data`` (``klantreis.access.masking``).
2. Add a template ``klantreis/web/templates/<name>.html`` that ``{% extends "base.html" %}``;
   render charts with ``{{ chart(charts.name) }}`` (see ``macros.html``).
3. Add its texts to ``wording/nl.json`` and ``wording/en.json`` (same keys in both).
4. Append ``"klantreis.web.pages.<name>"`` to ``PAGE_MODULES`` below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from klantreis.app import App
    from klantreis.settings import Settings

# The list lives in ``web/pages/__init__.py`` (``web.app`` reads it there, so this package's
# lazy ``create_app`` and ``web.app`` do not import each other).
from klantreis.web.pages import PAGE_MODULES

__all__ = ["PAGE_MODULES", "create_app", "serve"]


def create_app(app: App, **options: Any) -> FastAPI:
    """The FastAPI application for ``app`` (see :func:`klantreis.web.app.create_app`)."""
    from klantreis.web.app import create_app as _create

    return _create(app, **options)


def serve(settings: Settings) -> None:
    """Run the web app with uvicorn in this process until interrupted."""
    from klantreis.web.app import serve as _serve

    _serve(settings)
