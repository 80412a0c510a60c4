"""One data function for the contact-reasons report (CLI table, JSON endpoint and web page
share it): rates per 100 orders, repeats, the cost Pareto and service by channel; the weekly
trend per reason with the promise breaks beside it; the contacts of one reason.

A :class:`~klantreis.analytics.scope.Scope` narrows everything (:func:`contact_events`): the
period and the customer segment select orders and contacts alike; a channel selects the
contacts on that channel (the orders stay all orders, so "per 100 orders" keeps its meaning).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from klantreis.analytics import promises
from klantreis.analytics.scope import Scope, select
from klantreis.contacts.classifier import ContactClassifier
from klantreis.contacts.conditions import ConditionViews, Window
from klantreis.contacts.held_counts import FrameId, FrameSource
from klantreis.contacts.kept_causes import KeptCauses
from klantreis.contacts.kept_reports import KeptContacts
from klantreis.contacts.metrics import (
    channel_service,
    contact_rates,
    csat_channels,
    pareto,
    period_of,
    repeat_contacts,
    survey_csat_frame,
)
from klantreis.contacts.rootcause import Causes
from klantreis.contacts.taxonomy import Taxonomy
from klantreis.contacts.warroom import (
    ContactAnalysis,
    WarRoom,
    build_war_room,
    load_analysis,
    war_room_from,
)
from klantreis.model.journey import JourneyConfig

__all__ = [
    "OverviewOptions",
    "app_reason_report",
    "app_root_causes",
    "app_war_room",
    "broken_per_week",
    "contact_events",
    "contacts_overview",
    "kept_analysis",
    "kept_overview",
    "kept_report",
    "kept_trend",
    "reason_contacts",
    "reason_page",
    "reason_report",
    "records",
    "report_from",
    "trend_from",
    "weekly_trend",
]

CONTACT_KINDS = ("contact.inbound", "contact.outbound")


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


def app_reason_report(
    app: Any, period: str | None = None, repeat_days: float = 7, lang: str = "nl"
) -> dict[str, Any]:
    """:func:`reason_report` of ``app``'s store over all time, summed in the store from its
    kept contacts and conditions (``App.contact_views``, ``App.condition_views``: grouped
    queries, the same rows) when the store can hold them, else from the log (a frame of every
    contact and order: 6.3 GiB and more at 100M events)."""
    views = app.contact_views()
    conditions = app.condition_views() if views is not None else None
    if views is None or conditions is None:
        return reason_report(
            app.events_table(),
            app.journey,
            app.contacts.taxonomy,
            app.contacts.model(),
            period=period,
            repeat_days=repeat_days,
            lang=lang,
        )
    names = {r.id: r.name(lang) for r in app.contacts.taxonomy.reasons()}
    kept = KeptContacts(app.store, app.journey, None, None, (), (None, None))
    return kept_report(kept, period, repeat_days, names)


def report_from(
    a: ContactAnalysis,
    events: Any,
    period: str | None = None,
    repeat_days: float = 7,
    lang: str = "nl",
) -> dict[str, Any]:
    c, o, journey = a.contacts, a.orders, a.journey
    names = {r.id: r.name(lang) for r in a.taxonomy.reasons()}
    csat = survey_csat_frame(events, c) if a.answers is None else csat_channels(a.answers, c)
    report: dict[str, Any] = {
        "overall": records(contact_rates(c, o)),
        "by_reason": records(_named(contact_rates(c, o, by=["reason"]), names)),
        "by_channel": records(contact_rates(c, o, by=["channel"])),
        "repeats": records(repeat_contacts(c, repeat_days)),
        "repeats_by_channel": records(repeat_contacts(c, repeat_days, by="channel")),
        "pareto": records(pareto(c, journey.contact_costs)),
        "service_by_channel": records(channel_service(c, csat)),
    }
    if period:
        report["by_period"] = records(contact_rates(c, o, period=period))
    return report


def _named(by_reason: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    by_reason.insert(1, "name", by_reason["reason"].map(names).fillna(by_reason["reason"]))
    return by_reason


def kept_report(
    k: KeptContacts, period: str | None, repeat_days: float, names: dict[str, str]
) -> dict[str, Any]:
    """:func:`report_from` from the kept tables (grouped queries; the same rows)."""
    report: dict[str, Any] = {
        "overall": records(k.rates()),
        "by_reason": records(_named(k.rates(("reason",)), names)),
        "by_channel": records(k.rates(("channel",))),
        "repeats": records(k.repeats(repeat_days)),
        "repeats_by_channel": records(k.repeats(repeat_days, by="channel")),
        "pareto": records(k.pareto()),
        "service_by_channel": records(k.service()),
    }
    if period:
        report["by_period"] = records(k.rates(period=period))
    return report


def kept_trend(
    k: KeptContacts,
    events: ir.Table,
    now: Any,
    broken: pd.DataFrame | None,
    names: dict[str, str],
    top: int = 6,
) -> dict[str, Any]:
    """:func:`weekly_trend` from the kept tables (``broken``: the kept weekly breaks; None:
    counted from the ``events``)."""
    rates = k.rates(("reason",), period="week", reasons=k.top_reasons(top))
    per_week = k.orders_per("week")
    counts = None
    if k.journey.promises and per_week.sum() > 0:
        counts = (
            broken_per_week(events, k.journey, now)
            if broken is None
            else broken.set_index(["period", "promise_id"])["broken"]
        )
    return trend_from(rates, per_week, counts, names)


@dataclass
class _KeptInputs:
    """What the war room reads besides the sums (:class:`~.warroom.WarRoomInputs`)."""

    journey: JourneyConfig
    taxonomy: Taxonomy
    causes: Causes | None


def _kept_room(
    k: KeptContacts,
    conditions: ConditionViews,
    causes_of: pd.DataFrame | FrameSource,
    taxonomy: Taxonomy,
    top: int,
    lang: str,
    causes_id: FrameId | None,
) -> WarRoom:
    """The war room from the kept tables (see :func:`kept_overview`)."""
    causes = _kept_causes(k, conditions, causes_of, causes_id)
    return war_room_from(_KeptInputs(k.journey, taxonomy, causes), k.sums(), top, lang)


def _kept_causes(
    k: KeptContacts,
    conditions: ConditionViews,
    causes_of: pd.DataFrame | FrameSource,
    causes_id: FrameId | None,
) -> KeptCauses:
    """The kept root causes of ``k``'s window and the contacts ``causes_of``."""
    # one kept window of held counts per channel choice (the frame differs)
    return KeptCauses(
        conditions.store,
        k.journey,
        k.window,
        causes_of,
        views=conditions,
        frame_key=repr(k.channels),
        frame_id=causes_id,
    )


def _all_time(app: Any) -> tuple[KeptContacts, KeptCauses] | None:
    """The kept contacts and root causes of ``app``'s store over all time (the page's, with
    no scope), the kept tables brought up to date; None when the store cannot hold them."""
    views = app.contact_views()
    conditions = app.condition_views() if views is not None else None
    if views is None or conditions is None:
        return None
    conditions.ensure()
    causes_of = views.cause_source(None, None, ())
    kept = KeptContacts(app.store, app.journey, None, None, (), (None, None))
    return kept, _kept_causes(kept, conditions, causes_of, None)


def _log_analysis(app: Any) -> ContactAnalysis:
    """:func:`load_analysis` of ``app``'s whole log (frames of every event: a read-only
    store, or one whose kept tables cannot be made)."""
    contacts = app.contacts
    return load_analysis(app.events_table(), app.journey, contacts.taxonomy, contacts.model())


def app_war_room(app: Any, top: int = 10, lang: str = "nl") -> WarRoom:
    """:func:`~klantreis.contacts.warroom.build_war_room` of ``app``'s store over all time,
    from its kept contacts and conditions when the store can hold them (the page's kept war
    room), else from frames of the whole log (≥ 8.9 GiB at 100M events)."""
    kept = _all_time(app)
    if kept is None:
        return build_war_room(_log_analysis(app), top=top, lang=lang)
    k, causes = kept
    inputs = _KeptInputs(app.journey, app.contacts.taxonomy, causes)
    return war_room_from(inputs, k.sums(), top, lang)


def app_root_causes(app: Any) -> pd.DataFrame:
    """:func:`~klantreis.contacts.rootcause.root_causes` of ``app``'s store over all time
    (the table the war room ranks its causes from), from the kept tables when the store can
    hold them (the war room's kept held counts), else from frames of the whole log (≥ 9.2
    GiB at 100M events)."""
    kept = _all_time(app)
    if kept is not None:
        return kept[1].table()
    causes = _log_analysis(app).causes
    if causes is None:  # load_analysis always builds them
        raise RuntimeError("the contact analysis has no root causes")
    return causes.table()


def kept_overview(
    k: KeptContacts,
    conditions: ConditionViews,
    causes_of: pd.DataFrame | FrameSource,
    taxonomy: Taxonomy,
    events: ir.Table,
    options: OverviewOptions,
    causes_id: FrameId | None = None,
) -> dict[str, Any]:
    """:func:`contacts_overview` from the kept tables: the war room, the report and the
    trend as grouped queries (``causes_of``: the contacts the kept root causes read, their
    id, journey, reason and time in the kept frame's order, or a source the held counts read
    them from, :meth:`~klantreis.contacts.derived.ContactViews.cause_source`; ``causes_id``:
    a frame's identity, :meth:`~klantreis.contacts.derived.ContactViews.cause_frame_with_id`)."""
    names = {r.id: r.name(options.lang) for r in taxonomy.reasons()}
    room = _kept_room(k, conditions, causes_of, taxonomy, options.top, options.lang, causes_id)
    broken = None
    if options.now is not None and conditions.supports_breaks():
        broken = conditions.weekly_breaks(k.window, options.now)
    return {
        "warroom": room.to_dict(),
        **kept_report(k, options.period, options.repeat_days, names),
        "trend": kept_trend(k, events, options.now, broken, names),
        "reason_contacts": [],
        "reason_total": None,
    }


@dataclass(frozen=True)
class OverviewOptions:
    """The choices of :func:`kept_overview` (those of :func:`contacts_overview`)."""

    top: int = 5
    period: str | None = None
    repeat_days: float = 7
    lang: str = "nl"
    now: Any = None


def contact_events(events: ir.Table, journey: JourneyConfig, scope: Scope | None) -> ir.Table:
    """The events the contact reports read under ``scope``: its window and segment for every
    event; its channels only for contacts."""
    if scope is None or scope.is_empty:
        return events
    rest = select(events, replace(scope, channels=()), journey, journey.timezone)
    if not scope.channels:
        return rest
    is_contact = rest.kind.isin(list(CONTACT_KINDS))
    return rest.filter(~is_contact | rest.channel.isin([c for c in scope.channels if c]))


def weekly_trend(
    a: ContactAnalysis,
    events: ir.Table,
    now: Any = None,
    lang: str = "nl",
    top: int = 6,
    broken: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Contacts per 100 orders per reason per week (the ``top`` reasons by contacts) and the
    broken promises per week (by deadline) per 100 orders of that week (``broken``: those
    counts when kept, :meth:`~klantreis.contacts.conditions.ConditionViews.weekly_breaks`)."""
    tz = a.journey.timezone
    names = {r.id: r.name(lang) for r in a.taxonomy.reasons()}
    c = a.contacts
    chosen = c["reason"].value_counts().index[:top]
    rates = contact_rates(
        c[c["reason"].isin(chosen)], a.orders, by=["reason"], period="week", tz=tz
    )
    orders = a.orders.assign(period=period_of(a.orders["occurred_at"], "week", tz))
    per_week = orders.groupby("period").size()
    counts = None
    if a.journey.promises and len(a.orders):
        counts = (
            broken_per_week(events, a.journey, now)
            if broken is None
            else broken.set_index(["period", "promise_id"])["broken"]
        )
    return trend_from(rates, per_week, counts, names)


def trend_from(
    rates: pd.DataFrame, per_week: pd.Series, counts: pd.Series | None, names: dict[str, str]
) -> dict[str, Any]:
    """:func:`weekly_trend` from the contact rates per week and reason, the orders per week
    and the broken promises per (week, promise) (None: no promises or no orders)."""
    rates.insert(2, "name", rates["reason"].map(names).fillna(rates["reason"]))
    breaks: list[dict[str, Any]] = []
    if counts is not None:
        for (week, pid), n in counts.items():
            if week in per_week.index:
                breaks.append(
                    {
                        "period": week,
                        "promise_id": pid,
                        "broken": int(n),
                        "orders": int(per_week[week]),
                        "per_100_orders": round(100.0 * n / per_week[week], 3),
                    }
                )
    return {"contacts": records(rates), "breaks": breaks}


def broken_per_week(events: ir.Table, journey: JourneyConfig, now: Any) -> pd.Series:
    """Broken promises per (local week of the deadline, promise), from the events."""
    out = promises.promise_outcomes_expr(events, journey, now=now)
    broken = out.filter(out.status == "broken").select("promise_id", "deadline").to_pandas()
    broken["period"] = (
        period_of(broken["deadline"], "week", journey.timezone) if len(broken) else []
    )
    return broken.groupby(["period", "promise_id"]).size()


def reason_contacts(a: ContactAnalysis, reason: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest contacts of one reason: contact id, journey, time, channel and text."""
    return reason_page(a.contacts, reason, limit)[0]


def reason_page(
    contacts: pd.DataFrame, reason: str, limit: int = 20, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """One page of the ``contacts`` of ``reason``, newest first (at one time the larger
    contact id first): contact id, journey, customer, time, channel and text, and how many
    there are in all. The order of :meth:`klantreis.contacts.derived.ContactViews.reason_page`
    on the kept contacts, so a page shows the same contacts on either path."""
    c = contacts[contacts["reason"] == reason]
    c = c.sort_values(["occurred_at", "contact_id"], ascending=False, kind="stable")
    return records(c[list(_PAGE_COLUMNS)].iloc[offset : offset + limit]), len(c)


#: The columns of one listed contact.
_PAGE_COLUMNS = ("contact_id", "journey_id", "customer_id", "occurred_at", "channel", "text")


def kept_analysis(
    conditions: ConditionViews,
    window: Window,
    contacts: pd.DataFrame,
    journey: JourneyConfig,
    taxonomy: Taxonomy,
    frame_key: str = "",
) -> ContactAnalysis:
    """The analysis of ``window`` (local days) from the kept conditions and orders: what
    :func:`~klantreis.contacts.warroom.load_analysis` gives for the window's events
    (``frame_key``: what chose the ``contacts``, e.g. their channels)."""
    causes = KeptCauses(
        conditions.store, journey, window, contacts, views=conditions, frame_key=frame_key
    )
    orders = conditions.orders(window)
    answers = conditions.answers(window)
    return ContactAnalysis(contacts, orders, None, journey, taxonomy, causes, answers)


def contacts_overview(
    events: Any,
    journey: JourneyConfig,
    taxonomy: Taxonomy,
    model: ContactClassifier | None = None,
    top: int = 5,
    period: str | None = None,
    repeat_days: float = 7,
    lang: str = "nl",
    scope: Scope | None = None,
    reason: str | None = None,
    now: Any = None,
    contacts: pd.DataFrame | None = None,
    conditions: ConditionViews | None = None,
    page: tuple[int, int] = (20, 0),
) -> dict[str, Any]:
    """The war room, the reason report, the weekly trend and (with ``reason``) that reason's
    contacts, from one analysis of the events in ``scope`` (the contacts web page).
    ``contacts``: the contacts in ``scope`` with their reasons when they are kept (else they
    are read and classified now); ``conditions``: the kept conditions and orders (with kept
    ``contacts`` and a scope of whole days only: its window and channels); ``page``: the
    ``(limit, offset)`` of ``reason``'s contacts (``reason_total``: how many in all)."""
    events = contact_events(events, journey, scope)
    broken = None
    if conditions is not None and contacts is not None:
        window = (scope or Scope()).days()
        channels = repr((scope or Scope()).channels)
        a = kept_analysis(conditions, window, contacts, journey, taxonomy, channels)
        if now is not None and conditions.supports_breaks():
            broken = conditions.weekly_breaks(window, now)
    else:
        a = load_analysis(events, journey, taxonomy, model, contacts=contacts)
    room = build_war_room(a, top=top, lang=lang)
    return {
        "warroom": room.to_dict(),
        **report_from(a, events, period, repeat_days, lang),
        "trend": weekly_trend(a, events, now, lang, broken=broken),
        **_reason_page(a, reason, *page),
    }


def _reason_page(a: ContactAnalysis, reason: str | None, limit: int, offset: int) -> dict[str, Any]:
    """``reason_contacts`` (one page) and ``reason_total`` (None without a reason)."""
    if not reason:
        return {"reason_contacts": [], "reason_total": None}
    rows, total = reason_page(a.contacts, reason, limit, offset)
    return {"reason_contacts": rows, "reason_total": total}
