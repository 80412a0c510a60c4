"""The application factory: one FastAPI app per :class:`klantreis.app.App`."""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import jinja2
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

from klantreis.access import accounts
from klantreis.app import App
from klantreis.ingest.writer import EventWriter
from klantreis.scheduler import Job, OnChange, Scheduler
from klantreis.settings import Settings
from klantreis.web.errors import install_error_handlers
from klantreis.web.ingest_http import ingest_protocol
from klantreis.web.openapi_errors import declare_error_statuses
from klantreis.web.pagekit import NavItem, PageCache, Revalidation, anonymous_context
from klantreis.web.pages import PAGE_MODULES
from klantreis.web.routes.ingest import IngestFastPath
from klantreis.web.security import Principal, Security, SecurityHeaders
from klantreis.web.state import WebState

__all__ = [
    "IngestFirstScheduler",
    "create_app",
    "default_views",
    "serve",
    "serve_kept_pages",
    "server_config",
]

log = logging.getLogger(__name__)

CORE_ROUTERS = [
    "klantreis.web.routes.auth",
    "klantreis.web.routes.ingest",
    "klantreis.web.routes.assets",
    "klantreis.web.routes.admin",
    "klantreis.web.routes.live",
    "klantreis.web.routes.stream",
]


#: Scheduled jobs wait until no event was submitted or answered for this long (seconds) ...
JOBS_WAIT_FOR_QUIET = 1.0
#: ... but a due job waits at most this long (seconds; and never longer than its interval).
JOBS_WAIT_AT_MOST = 60.0


class IngestFirstScheduler(Scheduler):
    """The server's scheduler: due jobs wait for a pause in event ingest.

    The jobs (alerts, cases, escalations, proactive messages, surveys) read the event log
    and refresh kept tables: seconds of CPU each round, mostly holding the GIL, and their
    transactions hold the store's write lock, so a round that falls within a stream of
    ingest requests slows it down two- to three-fold (issue 17: the first round, five
    seconds after start, fell in the HTTP ingest benchmark). While the writer had a request
    within ``quiet`` seconds, a due job waits (checked every tick), at most ``at_most``
    seconds or its own interval: nothing is skipped, every job is idempotent and reads what
    was stored, it only starts later. ``deferred`` counts the ticks that waited."""

    def __init__(
        self,
        jobs: Sequence[Job],
        writer: EventWriter,
        tick: float = 1.0,
        quiet: float = JOBS_WAIT_FOR_QUIET,
        at_most: float = JOBS_WAIT_AT_MOST,
    ) -> None:
        super().__init__(jobs, tick)
        self.writer = writer
        self.quiet = quiet
        self.at_most = at_most
        self.deferred = 0

    def run_due(self, now: float | None = None) -> list[str]:
        if now is None and self.writer.idle_seconds() < self.quiet:
            at = time.monotonic()
            # A job due for longer than it may wait runs now (with the others due).
            overdue = [j for j in self.jobs if at - j._due >= min(self.at_most, j.every_seconds)]
            if not overdue and any(at >= j._due for j in self.jobs):
                self.deferred += 1
                return []
        return super().run_due(now)


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
    run_jobs: bool = False,
) -> FastAPI:
    """Build the web app for ``app``. The writer thread starts and stops with the app's
    lifespan (``TestClient`` used as a context manager, or uvicorn). ``cache_pages`` reuses
    page data while the store is unchanged (see :class:`~klantreis.web.pagekit.PageCache`;
    the cache is the App's, shared by every web app built on it). What the routes share is
    one typed :class:`~klantreis.web.state.WebState` (``api.state.web``). ``run_jobs`` runs
    the App's time-driven jobs (alerts, ...; :mod:`klantreis.scheduler`) while it serves,
    in pauses of event ingest (:class:`IngestFirstScheduler`; ``api.state.scheduler``), and
    lets the page cache answer with kept pages while the kept-views job catches up after a
    large batch (:func:`serve_kept_pages`)."""
    secret = secret_key or app.settings.require_secret_key()
    accounts.ensure_schema(app.store)
    writer = EventWriter(
        app.store,
        app.journey,
        app.settings.write_queue_max_delay_ms,
        app.settings.ingest_batch_rows,
    )

    scheduler = IngestFirstScheduler([], writer)  # its jobs once the pages are routed

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        import ibis.backends.duckdb  # noqa: F401  (the pages' engine: loaded at start, not on a first view)
        import scipy.stats  # noqa: F401  (intervals and tests of every score page: ~1-5 s to import)

        writer.start()
        scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()
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
    state = WebState(
        app=app,
        writer=writer,
        security=Security(
            secret,
            app.store,
            secure_cookies=app.settings.secure_cookies,
            idle_minutes=app.settings.session_idle_minutes,
        ),
        templates=_templates(),
        page_cache=app.caches.get("pages", PageCache) if cache_pages else None,
    )
    api.state.web = state
    install_error_handlers(api)
    declare_error_statuses(api)
    api.add_middleware(IngestFastPath, state=state)
    api.add_middleware(SecurityHeaders)
    routes: dict[str, APIRoute] = {}  # by name, for the kept-views job (default_views)
    for name in CORE_ROUTERS + (PAGE_MODULES if page_modules is None else page_modules):
        module = importlib.import_module(name)
        api.include_router(module.router)
        routes |= {r.name: r for r in module.router.routes if isinstance(r, APIRoute)}
        nav = getattr(module, "NAV", None)
        if isinstance(nav, NavItem):
            state.nav.append(nav)
    state.nav.sort(key=lambda n: n.order)
    api.state.routes = routes
    api.state.scheduler = scheduler
    if run_jobs:
        scheduler.jobs = app.jobs(views=default_views(api))
        for job in scheduler.jobs:
            if job.name == App.KEPT_VIEWS_JOB:
                serve_kept_pages(api, job, functools.partial(scheduler.wake, job.name))
    return api


def serve_kept_pages(api: FastAPI, job: Job, wake: Callable[[], None]) -> None:
    """Let ``api``'s page cache answer with a page's kept result while ``job`` (the App's
    kept-views job) catches up after more than ``stale_page_events`` new events (0: never;
    see :class:`~klantreis.web.pagekit.Revalidation`); ``wake`` asks the job for a turn
    now. The kept tables are known current with the events counted when the job's last
    complete turn began."""
    state = api.state.web
    events = state.app.settings.stale_page_events
    if state.page_cache is None or events <= 0:
        return
    body = job.run

    def kept_at() -> int | None:
        done = body.done if isinstance(body, OnChange) else None
        return done[1] if isinstance(done, tuple) else None  # the store's (writes, events)

    state.page_cache.revalidation = Revalidation(events, wake, kept_at)


#: The pages (JSON route names) whose default view the kept-views job computes after new
#: events, as who sees them: an analyst (personal data) and a viewer (masked).
FRESH_PAGES = ("journeys", "scores", "contacts", "index")
_VIEWERS = (
    Principal("kept-views job", "analyst", "job", ("read",)),
    Principal("kept-views job", "viewer", "job", ("read",)),
)


def default_views(api: FastAPI) -> list[tuple[str, Callable[[], object]]]:
    """The parts of the kept-views job (:meth:`klantreis.app.App.kept_views_job`) for the
    pages of :data:`FRESH_PAGES` that ``api`` serves: each page's default view (no
    parameters, the server's language) computed by the route's own function into the page
    cache, as an analyst and as a viewer sees it (one part each), so that the next
    visitor's view is a cache hit."""
    routes: dict[str, APIRoute] = api.state.routes
    return [
        (
            f"page /{name} ({who.role})",
            functools.partial(_default_view, api, routes[f"api_{name}"], who),
        )
        for name in FRESH_PAGES
        if f"api_{name}" in routes
        for who in _VIEWERS
    ]


def _default_view(api: FastAPI, route: APIRoute, principal: Principal) -> None:
    """``route``'s endpoint called as for ``GET <path>`` without parameters by ``principal``."""
    params = next((d.call for d in route.dependant.dependencies if d.name == "params"), None)
    if params is None:  # every page route made by register_page has one
        raise RuntimeError(f"{route.path} has no 'params' dependency: not a page route")
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": route.path}
    scope |= {"root_path": "", "query_string": b"", "headers": [], "app": api}
    ctx = anonymous_context(Request(scope | {"scheme": "http", "server": ("klantreis", 80)}))
    ctx.principal, ctx.current = principal, True
    route.endpoint(ctx=ctx, params=params())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("klantreis")
    except PackageNotFoundError:
        return "0"


def warm_up(app: App) -> threading.Thread:
    """Compute the overview page's CX index once in the background, so that the first
    visitor does not pay the cold computation (seconds on 10M events); later calls reuse the
    App's index cache until new events arrive."""
    from klantreis.analytics.scope import newest_answer_day
    from klantreis.web.pagekit import Filters

    def run() -> None:
        try:  # the overview page's default scope (Filters(): 90d ending the newest answer day)
            events = app.events_table()
            day = newest_answer_day(events, app.journey.timezone)
            app.cx_index(filters=Filters().scope(day))
        except Exception:  # a failed warm-up only means a slower first page
            log.warning("warming up the CX index failed", exc_info=True)

    thread = threading.Thread(target=run, name="klantreis-warm-up", daemon=True)
    thread.start()
    return thread


class _OneWriteTransport:
    """A transport that writes a response head together with the body that follows it.

    uvicorn writes the status line and headers, then the body, each with its own
    ``transport.write``: two system calls and two TCP segments per small answer. This wrapper
    holds a head (``HTTP/...`` up to the blank line) until the next write, and writes both at
    once; a head with no body in the same turn of the event loop is written at its end.
    Everything else passes through."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held:
            data, self._held = self._held + bytes(data), b""
        elif data[:5] == b"HTTP/" and data[-4:] == b"\r\n\r\n":
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
            return
        self._transport.write(data)

    def _flush(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            if not self._transport.is_closing():
                self._transport.write(held)

    def writelines(self, lines: Any) -> None:
        self.write(b"".join(lines))

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _http_protocol() -> Any:
    """uvicorn's httptools protocol with :class:`_OneWriteTransport`, small event posts
    answered by the protocol itself (``klantreis.web.ingest_http``); "auto" without
    httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn[standard] brings httptools
        return "auto"

    class OneWriteHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(_OneWriteTransport(transport, self.loop))  # type: ignore[arg-type]

    return ingest_protocol(OneWriteHttpToolsProtocol)


def server_config(
    api: FastAPI, settings: Settings, access_log: bool = False, **uvicorn_options: Any
) -> tuple[Any, dict[str, Any]]:
    """The ASGI application and the ``uvicorn.run`` options that :func:`serve` runs ``api``
    with.

    Event ingest is answered by :class:`IngestFastPath`, outermost: before uvicorn's proxy
    headers middleware (ingest does not use the client address or scheme; every other route
    still gets them) and without an access log line per request unless ``access_log``
    (``klantreis serve --access-log``): at thousands of events per second both are
    measurable. uvicorn picks uvloop and httptools (``uvicorn[standard]``); each answer's
    head and body go out in one write (:class:`_OneWriteTransport`)."""
    import os

    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    trusted = uvicorn_options.pop("forwarded_allow_ips", None) or os.environ.get(
        "FORWARDED_ALLOW_IPS", "127.0.0.1,::1"
    )
    inner: Any = api
    if uvicorn_options.pop("proxy_headers", True):
        inner = ProxyHeadersMiddleware(cast(Any, api), trusted_hosts=trusted)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info" if access_log else "warning",
        "access_log": access_log,
        "http": _http_protocol(),
        **uvicorn_options,
        "proxy_headers": False,  # applied above, inside the ingest fast path
    }
    return IngestFastPath(inner, api.state.web), options


def serve(settings: Settings, access_log: bool = False, **uvicorn_options: Any) -> None:
    """Open the store, build the app and serve it (one process) until interrupted; see
    :func:`server_config`."""
    import uvicorn

    with App(settings) as app:
        api = create_app(app, run_jobs=True)
        warm_up(app)
        asgi, options = server_config(api, settings, access_log, **uvicorn_options)
        announce_while_serving(api, app, options["host"], options["port"])
        uvicorn.run(asgi, **options)


def announce_while_serving(api: FastAPI, app: App, host: str, port: int) -> None:
    """Tell other processes on this machine that this server holds ``app``'s store (the
    discovery file of :mod:`klantreis.live`) from the start of ``api``'s lifespan to its
    end. In the lifespan, not around ``uvicorn.run``: uvicorn re-raises SIGTERM after its
    shutdown, which ends the process before code after ``run`` would. An in-memory store is
    not announced."""
    from klantreis.live import Snapshots, announce, withdraw

    if app.settings.db_file is None:
        return
    local_host = "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::" else host
    inner = api.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi: Any) -> AsyncIterator[Any]:
        async with inner(asgi) as state:
            info = announce(app.settings.db_path, f"http://{local_host}:{port}")
            api.state.local_secret = info.secret  # see web.security.local_admin
            api.state.snapshots = Snapshots(app.store)
            try:
                yield state
            finally:
                withdraw(info)

    api.router.lifespan_context = lifespan
