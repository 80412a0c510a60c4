"""Survey invitations (``/surveys/invitations``): every invitation klantreis planned, counts by
status and by the reason it was not sent (worded), response rates by channel and touchpoint
with intervals, and — for analysts and admins — the latest invitations and "why was this
customer not asked?" by customer number. Viewers see counts only (no customer, no search).
JSON twin: ``/api/v1/surveys/invitations``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from klantreis.listen import rates, rules
from klantreis.model.survey import SurveyConfig, SurveyConfigError
from klantreis.web.pagekit import NavItem, PageContext, PageSpec, register_page
from klantreis.wording import Wording

router = APIRouter()
NAV = NavItem("/surveys/invitations", "nav.survey_invitations", order=45)


@dataclass
class InvitationParams:
    customer: Annotated[
        str | None,
        Query(max_length=200, description="Customer id: why was this customer not asked?"),
    ] = None
    limit: Annotated[int, Query(ge=1, le=500, description="Latest invitations shown")] = 50


def reason_label(w: Wording, config: SurveyConfig | None, reason: str | None) -> str | None:
    """A reason code in words; an attribute rule's own code names its attribute."""
    if reason is None:
        return None
    if w.has(f"listen.reason.{reason}"):
        return w(f"listen.reason.{reason}")
    rule = (
        next((r for r in config.contact_rules.exclude if r.reason == reason), None)
        if config
        else None
    )
    return (
        w("listen.reason.excluded_named", attr=rule.attr)
        if rule
        else w("listen.reason.excluded_attribute")
    )


def _config(ctx: PageContext) -> SurveyConfig | None:
    try:
        return ctx.app.surveys
    except SurveyConfigError:
        return None


def _worded_row(row: dict[str, Any], w: Wording, config: SurveyConfig | None) -> dict[str, Any]:
    survey = config.survey(row["survey_id"]) if config else None
    out = {
        k: row.get(k) for k in ("survey_id", "status", "reason", "channel", "send_at", "reminders")
    }
    out["survey"] = survey.name(w.lang) if survey else w("name.unknown")
    out["status_label"] = w(f"listen.status.{row['status']}")
    out["reason_label"] = reason_label(w, config, row["reason"])
    out["channel_label"] = w(f"listen.channel.{row['channel']}") if row.get("channel") else None
    return out


def _rates(ctx: PageContext, by: rates.Group) -> list[dict[str, Any]]:
    out = []
    for row in rates.response_rates(ctx.app.store, by, ctx.app.defaults.confidence).to_pylist():
        group = row["group"]
        if by == "channel":
            label = ctx.t(f"listen.channel.{group}") if group else ctx.t("name.unknown")
        else:
            label = ctx.names(by, group)
        out.append({**row, "label": label})
    return out


def invitations_data(ctx: PageContext, params: InvitationParams) -> dict[str, Any]:
    """Counts by status and by reason, response rates by channel and touchpoint; for those who
    may see personal data also the latest invitations and one customer's why-not."""
    store, w = ctx.app.store, ctx.t
    config = _config(ctx)
    statuses: dict[str, int] = {}
    for row in rates.status_counts(store).to_pylist():
        statuses[row["status"]] = statuses.get(row["status"], 0) + row["invitations"]
    data: dict[str, Any] = {
        "personal": ctx.sees_personal_data,
        "total": sum(statuses.values()),
        "by_status": [
            {"status": s, "label": w(f"listen.status.{s}"), "invitations": n}
            for s, n in sorted(statuses.items(), key=lambda kv: -kv[1])
        ],
        "by_reason": [
            {**row, "label": reason_label(w, config, row["reason"])}
            for row in rates.suppressed_by_reason(store).to_pylist()
        ],
        "rates": {"channel": _rates(ctx, "channel"), "touchpoint": _rates(ctx, "touchpoint")},
        "customer": None,
        "why_not": None,
        "recent": None,
        "upcoming": None,
    }
    if not ctx.sees_personal_data:
        return data
    cols = "survey_id, status, reason, channel, send_at, reminders"
    now = datetime.now(UTC)
    latest = store.query(  # what was decided up to now, newest first...
        f"SELECT {cols} FROM survey_invitations WHERE send_at <= ?"
        " ORDER BY send_at DESC, invitation_id LIMIT ?",
        [now, params.limit],
    ).to_pylist()
    upcoming = store.query(  # ...and apart from it what is planned, the next one first
        f"SELECT {cols} FROM survey_invitations WHERE send_at > ?"
        " ORDER BY send_at, invitation_id LIMIT ?",
        [now, params.limit],
    ).to_pylist()
    data["recent"] = [_worded_row(r, w, config) for r in latest]
    data["upcoming"] = [_worded_row(r, w, config) for r in upcoming]
    if params.customer:
        data["customer"] = params.customer
        data["why_not"] = [_worded_row(r, w, config) for r in rules.why_not(store, params.customer)]
    return data


register_page(
    router,
    PageSpec(
        name="surveys/invitations",
        path="/surveys/invitations",
        template="surveys_invitations.html",
        data=invitations_data,
        params=InvitationParams,
        summary="Survey invitations: counts by status and reason, response rates, why-not",
        cache=False,
    ),
)
