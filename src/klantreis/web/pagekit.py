"""What every page shares: the request context, the common filters, and ``register_page``
which turns one data function into an HTML page and its JSON endpoint.

A data function has the signature ``data(ctx: PageContext, params) -> dict`` where ``params``
is an instance of the page's parameter dataclass (default ``Filters``). The HTML page renders
``templates/<template>`` with ``data``; ``/api/v1/<name>`` returns the same dict in the
envelope. Charts (Vega-Lite specs) are built from the data by an optional ``charts`` function.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from klantreis.access.masking import worded_placeholders
from klantreis.analytics.scope import DEFAULT_PERIOD, NAMED_WINDOWS, Scope, parse_scope
from klantreis.app import App
from klantreis.web.chart_aria import spoken
from klantreis.web.envelope import ApiError, ok_response, to_jsonable
from klantreis.web.i18n import LANG_COOKIE, Translator, pick_language
from klantreis.web.security import CSRF_COOKIE, Principal
from klantreis.web.state import web_state
from klantreis.wording import Names

__all__ = [
    "Filters",
    "NavItem",
    "PageCache",
    "PageContext",
    "Revalidation",
    "Staleness",
    "anonymous_context",
    "page_context",
    "register_guess",
    "register_page",
    "render_html",
    "require_role",
]

PERIODS = NAMED_WINDOWS


@dataclass(frozen=True)
class NavItem:
    path: str
    title_key: str
    order: int = 50


@dataclass
class PageContext:
    """Everything a data function may need about the request."""

    app: App
    principal: Principal | None
    lang: str
    t: Translator
    request: Request

    _events: Any = None
    #: The page cache may not reuse data computed at another store version, not even within
    #: its ``fresh_age`` (the kept-views job's views: ``klantreis.web.app.default_views``).
    current: bool = False
    #: Set by the page cache: when the page's data was computed (UTC), and, when it is an
    #: older kept result served while the kept-views job catches up, what it lacks.
    as_of: datetime | None = None
    stale: Staleness | None = None

    def events(self) -> Any:
        """The event log as an Ibis table, opened once per request (one cursor)."""
        if self._events is None:
            self._events = self.app.events_table()
        return self._events

    @property
    def sees_personal_data(self) -> bool:
        return self.principal is not None and self.principal.sees_personal_data

    @property
    def names(self) -> Names:
        """Names of configured things in the page's language: the journey configuration and
        the contact taxonomy (without it when it cannot be read: reasons keep their ids)."""
        try:
            taxonomy = self.app.contacts.taxonomy
        except Exception:  # a broken taxonomy file must not take every page down
            taxonomy = None
        return Names(self.app.journey, self.t, taxonomy)

    @property
    def placeholders(self) -> dict[str, str]:
        """What masked personal data reads as in the page's language ("[phone]")."""
        return worded_placeholders(self.t)


@dataclass(frozen=True)
class Staleness:
    """A page answered with a kept result computed at ``as_of`` (UTC), which lacks the
    ``behind_events`` newest events (they are being processed)."""

    as_of: datetime
    behind_events: int


@dataclass(frozen=True)
class Revalidation:
    """When the page cache may answer with a page's kept result while the kept-views job
    catches up (stale-while-revalidate, the ``stale_page_events`` setting): when the store
    has more than ``events`` events the result does not include, and more than that many
    since the kept tables were last brought up to date (``kept_at()``: the store's event
    count the job's last complete turn began at; None: not known), a fresh view would pay
    their refresh. Then the kept result is served and ``wake()`` asks the job for a turn
    now (it still waits for a pause in ingest)."""

    events: int
    wake: Callable[[], None]
    kept_at: Callable[[], int | None]


def wants_fresh(request: Request) -> bool:
    """The caller asks for current figures and will wait for them: ``?fresh=1`` or
    ``Cache-Control: no-cache`` (a browser's hard reload)."""
    if request.query_params.get("fresh", "").lower() in ("1", "true", "yes"):
        return True
    return "no-cache" in request.headers.get("cache-control", "").lower()


@dataclass
class Filters:
    """The filters every score page understands: period, channel, segment."""

    period: Annotated[
        str,
        Query(
            description="7d, 30d, 90d, 365d or all (ending at the newest event in the store)",
            pattern="^(7d|30d|90d|365d|all)$",
        ),
    ] = DEFAULT_PERIOD
    channel: Annotated[str | None, Query(max_length=100, description="Only this channel.")] = None
    segment: Annotated[
        str | None, Query(max_length=100, description="Only this customer segment (attrs.segment).")
    ] = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}

    def scope(self, as_of: date | None) -> Scope:
        """These filters as the analytics scope: the period's local days ending ``as_of``
        (the newest answer's day, see ``options.newest_answer_day``); one meaning on every
        page."""
        return parse_scope(
            {
                "period": self.period,
                "channel": self.channel,
                "segment": self.segment,
                "as_of": as_of,
            }
        )


def request_app(request: Request) -> App:
    return web_state(request).app


def anonymous_context(request: Request) -> PageContext:
    """The context before login: language but no principal."""
    app = request_app(request)
    lang = pick_language(
        request.query_params.get("lang"), request.cookies.get(LANG_COOKIE), app.settings.language
    )
    return PageContext(app, None, lang, Translator(lang, app.defaults.timezone), request)


def page_context(request: Request) -> PageContext:
    """The context of a logged-in user or a token with the ``read`` scope (else 401/403)."""
    principal = web_state(request).security.principal(request)
    if principal is None:
        raise ApiError(401, "log in first", "unauthorized")
    if not principal.can_read():
        raise ApiError(403, "this token has no 'read' scope", "forbidden")
    ctx = anonymous_context(request)
    ctx.principal = principal
    return ctx


def require_role(*roles: str) -> Callable[[Request], PageContext]:
    """A dependency that admits only the given roles (403 for the others)."""

    def dependency(request: Request) -> PageContext:
        ctx = page_context(request)
        if ctx.principal is None or ctx.principal.role not in roles:
            raise ApiError(403, f"needs role {' or '.join(roles)}", "forbidden")
        return ctx

    return dependency


def json_script(value: Any) -> Markup:
    """JSON safe to place inside <script type="application/json">."""
    text = json.dumps(to_jsonable(value), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def render_html(ctx: PageContext, template: str, **values: Any) -> Response:
    """Render a template with the shared context and remember ``?lang=`` in a cookie."""
    request = ctx.request
    state = web_state(request)
    csrf = state.security.csrf_for(request)
    html = state.templates.get_template(template).render(
        t=ctx.t,
        lang=ctx.lang,
        principal=ctx.principal,
        nav=state.nav,
        path=request.url.path,
        query=dict(request.query_params),
        csrf_token=csrf,
        json_script=json_script,
        names=ctx.names,
        stale=ctx.stale,
        **values,
    )
    response = HTMLResponse(html)
    _set_common_cookies(request, response, csrf, ctx.lang)
    return response


def _set_common_cookies(request: Request, response: Response, csrf: str, lang: str) -> None:
    secure = web_state(request).security.secure(request)
    if request.cookies.get(CSRF_COOKIE) != csrf:
        response.set_cookie(
            CSRF_COOKIE, csrf, httponly=True, samesite="lax", secure=secure, max_age=24 * 3600
        )
    if request.query_params.get("lang") and request.cookies.get(LANG_COOKIE) != lang:
        response.set_cookie(
            LANG_COOKIE, lang, samesite="lax", secure=secure, max_age=365 * 24 * 3600
        )


@dataclass
class PageSpec:
    """One page: ``GET path`` renders ``template`` with ``data(ctx, params)``, and
    ``/api/v1/<name>`` returns the same data. ``cache=False`` for data that must never be
    reused (e.g. a work queue). ``reads``: the version of what the data reads (e.g. the
    counters of kept derived tables); the page cache keys on it instead of the whole
    store's version, so a batch that changed nothing the page reads keeps the page."""

    name: str
    path: str
    template: str
    data: Callable[[PageContext, Any], dict[str, Any]]
    params: type = Filters
    charts: Callable[[dict[str, Any], PageContext], dict[str, Any]] | None = None
    summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    cache: bool = True
    reads: Callable[[PageContext, Any], Hashable] | None = None


class _Entry(NamedTuple):
    at: float  # time.monotonic() when the data was ready
    version: Hashable
    data: dict[str, Any]
    events: int  # the store's event count read before the data was computed
    as_of: datetime
    kept_since: float | None = None  # time.monotonic() when it was first served kept


class PageCache:
    """Page data per (page, parameters, language, masking), reused while the store has not
    changed (the App's store version, ``app.caches.version()``) for up to ``max_age``
    seconds, and always for ``fresh_age`` seconds (so a busy ingest does not force a
    recomputation per view). One per App, in ``app.caches``.

    With a :class:`Revalidation` (a server's kept-views job; ``stale_page_events``), a
    page whose kept result is far behind the store is answered with that result (for at
    most ``stale_age`` seconds from its first such answer) and ``ctx.stale`` says so; the
    job is woken. The job's own views (``ctx.current``) and callers who ask
    (:func:`wants_fresh`) always compute."""

    #: Seconds a page is answered kept at most (from its first kept answer), so that a page
    #: the job does not view cannot stay behind while events keep coming.
    stale_age: float = 600.0

    def __init__(self, fresh_age: float = 2.0, max_age: float = 60.0, size: int = 256) -> None:
        self.fresh_age, self.max_age, self.size = fresh_age, max_age, size
        #: Set by a server with a kept-views job (``web.app.serve_kept_pages``).
        self.revalidation: Revalidation | None = None
        self._entries: dict[tuple[Any, ...], _Entry] = {}

    def clear(self) -> None:
        """Forget every page (e.g. after something the store's count does not show changed,
        such as a new classifier version)."""
        self._entries = {}

    def get(self, ctx: PageContext, spec: PageSpec, params: Any) -> dict[str, Any]:
        key = (spec.name, repr(params), ctx.lang, ctx.sees_personal_data)
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit and now - hit.at < self.fresh_age and not ctx.current:
            ctx.as_of = hit.as_of
            return hit.data
        events = ctx.app.store.version()[1]  # a count(*): no refresh
        if hit and self._serve_kept(ctx, key, hit, events, now):
            return hit.data
        version = spec.reads(ctx, params) if spec.reads is not None else None
        if version is None:
            version = ctx.app.caches.version()
        if hit and hit.version == version and now - hit.at < self.max_age:
            # what the page reads did not change: its data is current with ``events``
            ctx.as_of = datetime.now(UTC)
            self._entries[key] = hit._replace(events=events, as_of=ctx.as_of)
            return hit.data
        ctx.as_of = datetime.now(UTC)
        data = spec.data(ctx, params)
        if len(self._entries) >= self.size:
            self._entries.clear()
        # aged from when the data is ready: a page slower than max_age is still reused
        self._entries[key] = _Entry(time.monotonic(), version, data, events, ctx.as_of)
        return data

    def _serve_kept(
        self, ctx: PageContext, key: tuple[Any, ...], hit: _Entry, events: int, now: float
    ) -> bool:
        """Whether to answer with ``hit`` while the job catches up (then ``ctx.stale`` says
        what it lacks, and the job is woken)."""
        rule = self.revalidation
        if rule is None or ctx.current or wants_fresh(ctx.request):
            return False
        behind = events - hit.events
        kept = max(hit.events, rule.kept_at() or 0)
        if behind <= rule.events or events - kept <= rule.events:
            return False
        if hit.kept_since is None:
            self._entries[key] = hit._replace(kept_since=now)
        elif now - hit.kept_since >= self.stale_age:  # not caught up for that long: compute
            return False
        rule.wake()
        ctx.as_of, ctx.stale = hit.as_of, Staleness(hit.as_of, behind)
        return True


def page_data(ctx: PageContext, spec: PageSpec, params: Any) -> dict[str, Any]:
    cache = web_state(ctx.request).page_cache
    if cache and spec.cache:
        return cache.get(ctx, spec, params)
    ctx.as_of = datetime.now(UTC)
    return spec.data(ctx, params)


def register_page(router: APIRouter, spec: PageSpec) -> None:
    """Add ``GET spec.path`` (HTML) and ``GET /api/v1/<name>`` (JSON) from one data function."""
    # Defaults, not Annotated: the parameter class is only known here, at run time.
    context, parameters = Depends(page_context), Depends(spec.params)

    def html_page(ctx: PageContext = context, params: Any = parameters) -> Response:
        data = page_data(ctx, spec, params)
        charts = spec.charts(data, ctx) if spec.charts else {}
        charts = {name: spoken(chart, ctx.t) for name, chart in charts.items()}
        return render_html(
            ctx, spec.template, data=data, charts=charts, params=params, page=spec.name
        )

    def json_page(ctx: PageContext = context, params: Any = parameters) -> Response:
        data = page_data(ctx, spec, params)
        meta = {
            "params": _params_dict(params),
            "lang": ctx.lang,
            "masked": not ctx.sees_personal_data,
            "generated_at": datetime.now(UTC).isoformat(),
            **_freshness(ctx),
        }
        return ok_response(data, meta)

    router.add_api_route(
        spec.path,
        html_page,
        methods=["GET"],
        include_in_schema=False,
        response_class=HTMLResponse,
        name=f"page_{spec.name}",
    )
    router.add_api_route(
        f"/api/v1/{spec.name}",
        json_page,
        methods=["GET"],
        summary=spec.summary or f"Data of the {spec.name} page",
        name=f"api_{spec.name}",
        tags=["pages"],
    )


def _freshness(ctx: PageContext) -> dict[str, Any]:
    """The JSON ``meta`` about how current the data is: ``fresh`` (False: an older kept
    result while the kept-views job catches up), ``as_of`` (when it was computed, UTC) and
    ``behind_events`` (the newest events it lacks)."""
    stale, as_of = ctx.stale, ctx.as_of or datetime.now(UTC)
    return {
        "fresh": stale is None,
        "as_of": as_of.isoformat(timespec="seconds"),
        "behind_events": 0 if stale is None else stale.behind_events,
    }


def _params_dict(params: Any) -> dict[str, Any]:
    try:
        return {k: v for k, v in asdict(params).items() if v is not None}
    except TypeError:
        return {}


def register_guess(router: APIRouter, guess: str, target: str, fragment: str = "") -> None:
    """Send ``guess``, an address a newcomer tries (``/comments``), to the page that has it
    (``/verbatims``), with the same query and then ``#fragment``: a 307 keeps it a GET with
    the same filters. Not in the API schema."""

    def moved(request: Request) -> RedirectResponse:
        query = request.url.query
        anchor = f"#{fragment}" if fragment else ""
        return RedirectResponse(target + (f"?{query}" if query else "") + anchor, 307)

    router.add_api_route(guess, moved, methods=["GET"], include_in_schema=False)
