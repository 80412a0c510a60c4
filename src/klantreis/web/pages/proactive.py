"""Proactive messages (``/proactive``): every rule as an experiment — how many signals were
messaged, held out or not eligible, what the message did to the contacts it should make
unnecessary (message arm minus holdout, with its interval), and what that saves. Without a
holdout the page says so and shows no "contacts avoided" (an effect is measured, not assumed).
Counts only: nothing personal."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from klantreis.act.proactive import holdout_report
from klantreis.web.pagekit import Filters, NavItem, PageContext, PageSpec, register_page

router = APIRouter()
NAV = NavItem("/proactive", "nav.proactive", order=37)


def proactive_data(ctx: PageContext, params: Filters) -> dict[str, Any]:
    """Per active rule: its report (``klantreis.act.proactive.holdout_report``) and names."""
    app, names = ctx.app, ctx.names
    rules = []
    for rule in app.proactive.rules:
        report = holdout_report(app.store, app.journey, rule, app.defaults.confidence)
        rules.append(
            {
                "id": rule.id,
                "name": rule.name(ctx.lang),
                "signal": rule.signal,
                "promise_label": names("promise", rule.promise) if rule.promise else None,
                "kind_label": names("kind", rule.kind) if rule.kind else None,
                "owner_labels": [names("owner", o) for o in rule.owners],
                "lead_hours": rule.lead_hours,
                "holdout_share": rule.holdout,
                "start": rule.start.isoformat() if rule.start else None,
                "channel_label": names("channel", rule.channel),
                "outcome_labels": [names("reason", r) for r in rule.outcome_reasons],
                "outcome_days": rule.outcome_days,
                **report.to_dict(),
            }
        )
    return {
        "rules": rules,
        "currency": app.journey.currency,
        "currency_sign": {"EUR": "€", "GBP": "£", "USD": "$"}.get(
            app.journey.currency, app.journey.currency + " "
        ),
        "confidence": app.defaults.confidence,
    }


register_page(
    router,
    PageSpec(
        name="proactive",
        path="/proactive",
        template="proactive.html",
        data=proactive_data,
        summary="Proactive messages: each rule's holdout experiment and its effect",
    ),
)
