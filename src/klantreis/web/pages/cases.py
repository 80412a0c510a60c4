"""Cases (``/cases``): my cases, the owner's (team) queue, one case with the customer's
journey timeline, notes, status changes and the root-cause code on closure; outcomes per
owner and reason, and the root-cause backlog.

Each page renders from the same data function as its JSON endpoint (``/api/v1/cases``,
``/api/v1/cases/team``, ``/api/v1/cases/{case_id}``). Analysts and admins see and work cases;
viewers see counts only (no case, no customer, no note): the lists are left out of their data
and one case answers 403. Changes go through :mod:`klantreis.act.cases`; their events are
written by the app's single writer. Pages are never cached: a case changes without new
events (an assignment).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from klantreis.act import cases as act_cases
from klantreis.act import fixes as act_fixes
from klantreis.act.outcomes import case_outcomes, outcome_table, root_cause_backlog
from klantreis.act.rules import CaseRules
from klantreis.act.sla import ClockState
from klantreis.analytics.timeline import timeline
from klantreis.app import App
from klantreis.ingest.writer import Rejected
from klantreis.web.envelope import ApiError, ok_response
from klantreis.web.pagekit import NavItem, PageContext, page_context, render_html, require_role
from klantreis.web.state import web_state

__all__ = ["case_data", "case_rules", "cases_data", "router", "team_data"]

router = APIRouter()
NAV = NavItem("/cases", "nav.cases", order=38)
WORKER_ROLES = ("admin", "analyst")
PAGE_SIZE = 50
#: The most cases one owner's queue is ordered over (by urgency) before paging.
QUEUE_LIMIT = 100_000
Reader = Annotated[PageContext, Depends(page_context)]
Worker = Annotated[PageContext, Depends(require_role(*WORKER_ROLES))]


def case_rules(app: App) -> CaseRules:
    """The App's case rules (its ``case_rules`` setting, else the shipped ones), read once."""
    rules: CaseRules = app.case_rules
    return rules


def _now() -> datetime:
    return datetime.now(UTC)


def _counts(ctx: PageContext) -> list[dict[str, Any]]:
    """Cases per owner and status: what everyone (viewers too) may see."""
    act_cases.ensure_schema(ctx.app.store)
    rows = ctx.app.store.query(
        "SELECT owner, status, count(*) AS n FROM cases GROUP BY ALL ORDER BY owner, status"
    ).to_pylist()
    names = ctx.names
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(
            r["owner"],
            {"owner": r["owner"], "owner_name": names.owner(r["owner"]), "total": 0, "open": 0},
        )
        if r["status"] != "open":  # "open" is every case not closed (waiting ones too)
            entry[r["status"]] = r["n"]
        entry["total"] += r["n"]
        if r["status"] != "closed":
            entry["open"] += r["n"]
    return sorted(out.values(), key=lambda e: (-e["open"], e["owner_name"]))


def _row(
    ctx: PageContext,
    case: act_cases.Case,
    rules: CaseRules,
    clocks: dict[str, ClockState],
) -> dict[str, Any]:
    rule = rules.rule(case.rule_id)
    return {
        "case_id": case.case_id,
        "rule_id": case.rule_id,
        "rule_name": rule.name(ctx.lang) if rule else case.rule_id,
        "owner": case.owner,
        "owner_name": ctx.names.owner(case.owner),
        "assignee": case.assignee,
        "status": case.status,
        "opened_at": case.opened_at,
        "closed_at": case.closed_at,
        "reassign": case.reassign,
        "journey_id": case.journey_id,
        "customer_id": case.customer_id,
        "clocks": {k: v.as_dict() for k, v in clocks.items()},
    }


def _rows(ctx: PageContext, found: list[act_cases.Case]) -> list[dict[str, Any]]:
    """Rows of a page of cases; their clocks computed together (``clocks_for``)."""
    rules = case_rules(ctx.app)
    clocks = act_cases.clocks_for(ctx.app.store, found, rules, _now())
    return [_row(ctx, c, rules, k) for c, k in zip(found, clocks, strict=True)]


def _pager(page: int, total: int) -> dict[str, Any]:
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    first = (page - 1) * PAGE_SIZE
    return {
        "page": page,
        "pages": pages,
        "total": total,
        "size": PAGE_SIZE,
        "first": first + 1 if total else 0,
        "last": min(first + PAGE_SIZE, total),
        "offset": first,
    }


def _outcomes(ctx: PageContext) -> dict[str, Any]:
    rules = case_rules(ctx.app)
    rows = case_outcomes(ctx.app.store, rules)
    confidence = ctx.app.defaults.confidence
    by_owner = outcome_table(ctx.app.store, rules, "owner", confidence=confidence, rows=rows)
    by_rule = outcome_table(ctx.app.store, rules, "rule_id", confidence=confidence, rows=rows)
    backlog = root_cause_backlog(ctx.app.store, rules, rows=rows)
    marks = act_fixes.fixes(ctx.app.store)
    names = ctx.names
    for r in by_owner:
        r["name"] = names.owner(r["group"])
    for r in by_rule:
        rule = rules.rule(r["group"])
        r["name"] = rule.name(ctx.lang) if rule else r["group"]
    for b in backlog:
        cause = rules.root_cause(b["root_cause"])
        b["name"] = cause.name(ctx.lang) if cause else b["root_cause"]
        b["owner_name"] = names.owner(b["owner"])
        mark = marks.get(b["root_cause"])
        b["fix"] = mark
        b["effect"] = None
        if mark and cause:
            b["effect"] = act_fixes.fix_effect(
                ctx.app.store,
                ctx.app.journey,
                cause,
                mark["fixed_on"],
                confidence=confidence,
                min_answers=ctx.app.defaults.min_answers,
            )
    return {"by_owner": by_owner, "by_rule": by_rule, "backlog": backlog}


@dataclass
class CasesParams:
    status: Annotated[
        str, Query(pattern="^(active|closed|all)$", description="active, closed or all")
    ] = "active"
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page of 50 cases")] = 1


def _statuses(which: str) -> list[str] | None:
    if which == "all":
        return None
    if which == "closed":
        return ["closed"]
    return [s for s in act_cases.STATUSES if s != "closed"]


def cases_data(ctx: PageContext, params: CasesParams) -> dict[str, Any]:
    """My cases (assigned to the logged-in user), cases per owner and status, outcomes.
    Viewers get the counts and the outcome numbers only."""
    personal = ctx.sees_personal_data
    mine: list[dict[str, Any]] = []
    pager = _pager(1, 0)
    if personal and ctx.principal is not None:
        who, statuses = ctx.principal.name, _statuses(params.status)
        total = act_cases.count_cases(ctx.app.store, assignee=who, status=statuses)
        pager = _pager(params.page, total)
        found = act_cases.list_cases(
            ctx.app.store,
            assignee=who,
            status=statuses,
            limit=PAGE_SIZE,
            offset=pager["offset"],
        )
        mine = _rows(ctx, found)
    return {
        "masked": not personal,
        "counts": _counts(ctx),
        "mine": mine,
        "pager": pager,
        "outcomes": _outcomes(ctx),
        "status": params.status,
    }


@dataclass
class TeamParams:
    owner: Annotated[str | None, Query(max_length=200, description="Owner id (a team)")] = None
    status: Annotated[str, Query(pattern="^(active|closed|all)$")] = "active"
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page of 50 cases")] = 1


def team_data(ctx: PageContext, params: TeamParams) -> dict[str, Any]:
    """One owner's queue, most urgent first (the share of the resolution time used, over
    the whole queue: every clock computed at once with ``clocks_for``), 50 a page, with the
    owners to choose from."""
    owners = _counts(ctx)
    owner = params.owner or (owners[0]["owner"] if owners else None)
    rows: list[dict[str, Any]] = []
    pager = _pager(1, 0)
    if ctx.sees_personal_data and owner:
        rules = case_rules(ctx.app)
        found = act_cases.list_cases(
            ctx.app.store, owner=owner, status=_statuses(params.status), limit=QUEUE_LIMIT
        )
        clocks = act_cases.clocks_for(ctx.app.store, found, rules, _now())
        order = sorted(
            range(len(found)),
            key=lambda i: (found[i].status == "closed", -clocks[i]["resolution"].fraction),
        )
        pager = _pager(params.page, len(found))
        page = order[pager["offset"] : pager["offset"] + PAGE_SIZE]
        rows = [_row(ctx, found[i], rules, clocks[i]) for i in page]
    return {
        "pager": pager,
        "masked": not ctx.sees_personal_data,
        "owner": owner,
        "owner_name": ctx.names.owner(owner) if owner else None,
        "owners": owners,
        "cases": rows,
        "status": params.status,
    }


def case_data(ctx: PageContext, case_id: str) -> dict[str, Any]:
    """One case: its row, clocks, log (notes, status changes), the event that opened it
    (``trigger``; also marked in the journey timeline) and the journey timeline."""
    if not ctx.sees_personal_data:
        raise ApiError(403, "a case is for analysts and admins", "forbidden")
    case = act_cases.get_case(ctx.app.store, case_id)
    if case is None:
        raise ApiError(404, f"no case '{case_id}'", "not_found")
    rules = case_rules(ctx.app)
    row = _row(ctx, case, rules, act_cases.case_clocks(case, rules, _now()))
    events = timeline(ctx.app.events_table(), case.journey_id, limit=500).to_pylist()
    trigger = None  # the event that opened the case (an answer, a contact...), marked
    for e in events:
        e["trigger"] = case.trigger_event_id is not None and e["event_id"] == case.trigger_event_id
        trigger = {**e, "trigger": False} if e["trigger"] else trigger
    return {
        **row,
        "root_cause": case.root_cause,
        "root_cause_name": _cause_name(rules, case.root_cause, ctx.lang),
        "sla": case.sla,
        "log": [_log_entry(e, rules, ctx.lang) for e in case.log],
        "timeline": events,
        "trigger": trigger,
        "statuses": list(act_cases.STATUSES),
        "root_causes": [{"id": c.id, "name": c.name(ctx.lang)} for c in rules.root_causes],
    }


def _cause_name(rules: CaseRules, code: str | None, lang: str) -> str | None:
    cause = rules.root_cause(code) if code else None
    return cause.name(lang) if cause else code


def _log_entry(entry: dict[str, Any], rules: CaseRules, lang: str) -> dict[str, Any]:
    out = dict(entry)
    closing = entry["action"] == "status" and entry["status_to"] == "closed"
    out["root_cause_name"] = _cause_name(rules, entry["value"], lang) if closing else None
    return out


# -- pages ------------------------------------------------------------------------------------
def _meta(ctx: PageContext, params: Any = None) -> dict[str, Any]:
    return {
        "params": dict(vars(params)) if params is not None else {},
        "lang": ctx.lang,
        "masked": not ctx.sees_personal_data,
    }


@router.get("/cases", include_in_schema=False, response_class=HTMLResponse, name="page_cases")
def cases_page(ctx: Reader, params: Annotated[CasesParams, Depends()]) -> Response:
    data = cases_data(ctx, params)
    return render_html(ctx, "cases.html", data=data, charts={}, params=params, page="cases")


@router.get("/api/v1/cases", tags=["cases"], summary="My cases, cases per owner, outcomes")
def cases_api(ctx: Reader, params: Annotated[CasesParams, Depends()]) -> Response:
    return ok_response(cases_data(ctx, params), _meta(ctx, params))


@router.get(
    "/cases/team", include_in_schema=False, response_class=HTMLResponse, name="page_cases_team"
)
def team_page(ctx: Reader, params: Annotated[TeamParams, Depends()]) -> Response:
    data = team_data(ctx, params)
    return render_html(
        ctx, "cases_team.html", data=data, charts={}, params=params, page="cases_team"
    )


@router.get("/api/v1/cases/team", tags=["cases"], summary="One owner's case queue")
def team_api(ctx: Reader, params: Annotated[TeamParams, Depends()]) -> Response:
    return ok_response(team_data(ctx, params), _meta(ctx, params))


@router.get("/cases/{case_id}", include_in_schema=False, response_class=HTMLResponse)
def case_page(ctx: Reader, case_id: str) -> Response:
    data = case_data(ctx, case_id[:100])
    return render_html(ctx, "case.html", data=data, charts={}, params=None, page="case")


@router.get("/api/v1/cases/{case_id}", tags=["cases"], summary="One case with its timeline")
def case_api(ctx: Reader, case_id: str) -> Response:
    return ok_response(case_data(ctx, case_id[:100]), _meta(ctx))


# -- changes ----------------------------------------------------------------------------------
async def _change(ctx: PageContext, action: act_cases.Action) -> dict[str, Any]:
    try:
        update = act_cases.apply_actions(ctx.app, case_rules(ctx.app), [action], write=False)
    except act_cases.CaseError as exc:
        status = 404 if str(exc).startswith("no case") else 422
        raise ApiError(
            status, str(exc), "not_found" if status == 404 else "invalid_change"
        ) from exc
    try:
        result = (
            await web_state(ctx.request).writer.submit(update.records) if update.records else None
        )
    except Rejected as exc:
        raise ApiError(422, "case events rejected", "invalid_events", exc.details[:10]) from exc
    return {
        "case_id": action.case_id,
        "events": len(update.records),
        "stored": result.stored if result else 0,
    }


def _actor(ctx: PageContext) -> str:
    return ctx.principal.name if ctx.principal else "web"


def _action(
    ctx: PageContext,
    case_id: str,
    kind: act_cases.ActionKind,
    value: str | None = None,
    note: str | None = None,
    root_cause: str | None = None,
) -> act_cases.Action:
    return act_cases.Action(
        case_id[:100],
        kind,
        _now(),
        _actor(ctx),
        value=value,
        note=note,
        root_cause=root_cause or None,
    )


def _form_guard(request: Request, csrf_token: str) -> None:
    web_state(request).security.check_csrf(request, csrf_token)


Note = Annotated[str, Form(max_length=act_cases.MAX_NOTE)]
Csrf = Annotated[str, Form(max_length=500)]


@router.post("/cases/{case_id}/note", include_in_schema=False)
async def note_form(
    request: Request, ctx: Worker, case_id: str, note: Note, csrf_token: Csrf = ""
) -> Response:
    _form_guard(request, csrf_token)
    await _change(ctx, _action(ctx, case_id, "note", note=note))
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/status", include_in_schema=False)
async def status_form(
    request: Request,
    ctx: Worker,
    case_id: str,
    status: Annotated[str, Form(max_length=40)],
    root_cause: Annotated[str, Form(max_length=100)] = "",
    csrf_token: Csrf = "",
) -> Response:
    _form_guard(request, csrf_token)
    await _change(ctx, _action(ctx, case_id, "status", value=status, root_cause=root_cause))
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/assign", include_in_schema=False)
async def assign_form(
    request: Request,
    ctx: Worker,
    case_id: str,
    assignee: Annotated[str, Form(max_length=100)] = "",
    csrf_token: Csrf = "",
) -> Response:
    _form_guard(request, csrf_token)
    await _change(ctx, _action(ctx, case_id, "assign", value=assignee.strip() or None))
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/root-causes/fix", include_in_schema=False)
async def fix_form(
    request: Request,
    ctx: Worker,
    code: Annotated[str, Form(max_length=100)],
    fixed_on: Annotated[str, Form(max_length=20)],
    csrf_token: Csrf = "",
) -> Response:
    """An analyst marks a root cause "fix shipped on <date>" (see ``klantreis.act.fixes``)."""
    _form_guard(request, csrf_token)
    try:
        day = date.fromisoformat(fixed_on.strip())
    except ValueError as exc:
        raise ApiError(422, "the fix date is not a date (YYYY-MM-DD)", "invalid_date") from exc
    try:
        act_fixes.mark_fix(
            ctx.app.store,
            case_rules(ctx.app),
            code[:100],
            day,
            _actor(ctx),
            timezone=ctx.app.journey.timezone,
        )
    except act_fixes.FixError as exc:
        raise ApiError(422, str(exc), "invalid_fix") from exc
    return RedirectResponse("/cases#root-cause-backlog", status_code=303)


def _token_only(ctx: PageContext) -> None:
    if ctx.principal is None or ctx.principal.via != "token":
        raise ApiError(403, "use an API token (forms post to /cases/...)", "forbidden")


@router.post("/api/v1/cases/{case_id}/notes", tags=["cases"], summary="Add a note to a case")
async def note_api(
    ctx: Worker, case_id: str, note: Annotated[str, Body(embed=True, max_length=act_cases.MAX_NOTE)]
) -> Response:
    _token_only(ctx)
    return ok_response(await _change(ctx, _action(ctx, case_id, "note", note=note)))


@router.post("/api/v1/cases/{case_id}/status", tags=["cases"], summary="Change a case's status")
async def status_api(
    ctx: Worker,
    case_id: str,
    status: Annotated[str, Body(max_length=40)],
    root_cause: Annotated[str | None, Body(max_length=100)] = None,
) -> Response:
    _token_only(ctx)
    return ok_response(
        await _change(ctx, _action(ctx, case_id, "status", value=status, root_cause=root_cause))
    )


@router.post("/api/v1/cases/{case_id}/assign", tags=["cases"], summary="Assign a case")
async def assign_api(
    ctx: Worker,
    case_id: str,
    assignee: Annotated[str | None, Body(embed=True, max_length=100)] = None,
) -> Response:
    _token_only(ctx)
    return ok_response(await _change(ctx, _action(ctx, case_id, "assign", value=assignee)))
