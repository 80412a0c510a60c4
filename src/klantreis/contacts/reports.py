"""One data function for the contact-reasons report (CLI table, JSON endpoint and web page
share it): rates per 100 orders, repeats, the cost Pareto and service by channel."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from klantreis.contacts.classifier import ContactClassifier
from klantreis.contacts.metrics import (
    channel_service,
    contact_rates,
    pareto,
    repeat_contacts,
    survey_csat_frame,
)
from klantreis.contacts.taxonomy import Taxonomy
from klantreis.contacts.warroom import ContactAnalysis, build_war_room, load_analysis
from klantreis.model.journey import JourneyConfig

__all__ = ["contacts_overview", "reason_report", "records", "report_from"]


def records(df: pd.DataFrame, digits: int = 3) -> list[dict[str, Any]]:
    """Rows as plain dicts: floats rounded, NaN as None (JSON-safe)."""
    out = []
    for row in df.to_dict("records"):
        clean: dict[str, Any] = {}
        for k, v in row.items():
            if hasattr(v, "item"):
                v = v.item()
            if isinstance(v, float):
                v = None if math.isnan(v) else round(v, digits)
            clean[str(k)] = v
        out.append(clean)
    return out


def reason_report(
    events: Any,
    journey: JourneyConfig,
    taxonomy: Taxonomy,
    model: ContactClassifier | None = None,
    period: str | None = None,
    repeat_days: float = 7,
    lang: str = "nl",
) -> dict[str, Any]:
    """Rates per 100 orders (overall, by reason, by channel, by period), repeats, the cost
    Pareto and service by channel, as JSON-ready rows."""
    a = load_analysis(events, journey, taxonomy, model)
    return report_from(a, events, period, repeat_days, lang)


def report_from(
    a: ContactAnalysis,
    events: Any,
    period: str | None = None,
    repeat_days: float = 7,
    lang: str = "nl",
) -> dict[str, Any]:
    c, o, journey = a.contacts, a.orders, a.journey
    names = {r.id: r.name(lang) for r in a.taxonomy.reasons()}
    by_reason = contact_rates(c, o, by=["reason"])
    by_reason.insert(1, "name", by_reason["reason"].map(names).fillna(by_reason["reason"]))
    report: dict[str, Any] = {
        "overall": records(contact_rates(c, o)),
        "by_reason": records(by_reason),
        "by_channel": records(contact_rates(c, o, by=["channel"])),
        "repeats": records(repeat_contacts(c, repeat_days)),
        "repeats_by_channel": records(repeat_contacts(c, repeat_days, by="channel")),
        "pareto": records(pareto(c, journey.contact_costs)),
        "service_by_channel": records(channel_service(c, survey_csat_frame(events, c))),
    }
    if period:
        report["by_period"] = records(contact_rates(c, o, period=period))
    return report


def contacts_overview(
    events: Any,
    journey: JourneyConfig,
    taxonomy: Taxonomy,
    model: ContactClassifier | None = None,
    top: int = 5,
    period: str | None = None,
    repeat_days: float = 7,
    lang: str = "nl",
) -> dict[str, Any]:
    """The war room and the reason report from one analysis (the contacts web page)."""
    a = load_analysis(events, journey, taxonomy, model)
    room = build_war_room(a, top=top, lang=lang)
    return {"warroom": room.to_dict(), **report_from(a, events, period, repeat_days, lang)}
