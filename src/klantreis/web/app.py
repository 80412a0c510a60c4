"""The application factory: one FastAPI app per :class:`klantreis.app.App`."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import jinja2
from fastapi import FastAPI

from klantreis.app import App
from klantreis.services import accounts
from klantreis.settings import Settings
from klantreis.web import PAGE_MODULES
from klantreis.web.envelope import install_error_handlers
from klantreis.web.pagekit import NavItem, PageCache
from klantreis.web.routes.ingest import IngestFastPath
from klantreis.web.security import Security
from klantreis.web.writer import EventWriter

__all__ = ["create_app", "serve"]

log = logging.getLogger(__name__)

CORE_ROUTERS = [
    "klantreis.web.routes.auth",
    "klantreis.web.routes.ingest",
    "klantreis.web.routes.assets",
    "klantreis.web.routes.admin",
]


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("klantreis.web", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env


def create_app(
    app: App,
    secret_key: str | None = None,
    page_modules: list[str] | None = None,
    cache_pages: bool = True,
) -> FastAPI:
    """Build the web app for ``app``. The writer thread starts and stops with the app's
    lifespan (``TestClient`` used as a context manager, or uvicorn). ``cache_pages`` reuses
    page data while the store is unchanged (see :class:`~klantreis.web.pagekit.PageCache`)."""
    secret = secret_key or app.settings.require_secret_key()
    accounts.ensure_schema(app.store)
    writer = EventWriter(
        app.store,
        app.journey,
        app.settings.write_queue_max_delay_ms,
        app.settings.ingest_batch_rows,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        writer.start()
        try:
            yield
        finally:
            writer.stop()

    api = FastAPI(
        title="klantreis",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        description="Customer-experience API: page data, event ingest. Every answer"
        " uses one envelope: {ok, data, meta} or {ok, error}.",
    )
    api.state.klantreis = app
    api.state.writer = writer
    api.state.security = Security(secret, app.store)
    api.state.templates = _templates()
    api.state.nav = []
    api.state.page_cache = PageCache() if cache_pages else None
    install_error_handlers(api)
    api.add_middleware(IngestFastPath, state=api.state)
    for name in CORE_ROUTERS + (PAGE_MODULES if page_modules is None else page_modules):
        module = importlib.import_module(name)
        api.include_router(module.router)
        nav = getattr(module, "NAV", None)
        if isinstance(nav, NavItem):
            api.state.nav.append(nav)
    api.state.nav.sort(key=lambda n: n.order)
    return api


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("klantreis")
    except PackageNotFoundError:
        return "0"


def warm_up(app: App) -> threading.Thread:
    """Compute the overview page's CX index once in the background, so that the first
    visitor does not pay the cold computation (seconds on 10M events); later calls reuse the
    index cache until new events arrive."""
    from klantreis.analytics.cx_index import cx_index
    from klantreis.web.pagekit import PERIODS

    def run() -> None:
        try:
            cx_index(app.events_table(), app.journey, days=PERIODS["90d"] or 90, filters={})
        except Exception:  # a failed warm-up only means a slower first page
            log.warning("warming up the CX index failed", exc_info=True)

    thread = threading.Thread(target=run, name="klantreis-warm-up", daemon=True)
    thread.start()
    return thread


def serve(settings: Settings, **uvicorn_options: Any) -> None:
    """Open the store, build the app and serve it (one process) until interrupted."""
    import uvicorn

    with App(settings) as app:
        api = create_app(app)
        warm_up(app)
        uvicorn.run(
            IngestFastPath(api, api.state),  # outermost: ingest skips FastAPI's middleware
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            **uvicorn_options,
        )
