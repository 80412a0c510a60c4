"""The App's analyses for Python and notebooks: the functions the ``journeys`` and
``contacts`` commands call, as typed methods of :class:`klantreis.app.App` (this mixin).

Each is a thin delegate to a documented function in ``klantreis.analytics`` or
``klantreis.contacts`` with the App's store, journey and contacts context filled in, and
returns an Arrow table (discovery, promises, timelines: what the function returns) or a
pandas DataFrame (impact, contact metrics, classification, war room). Filters are one typed
:class:`~klantreis.analytics.scope.Scope` (``scope=``); groupings are ``by=`` and
``period=`` with the allowed values spelled out, so an editor completes them.

>>> from klantreis.app import open_app
>>> from klantreis.model.events import events_from_records
>>> app = open_app(":memory:")
>>> rows = [{"event_id": f"e{i}", "journey_id": "o1", "kind": kind,
...          "occurred_at": f"2026-04-01T10:0{i}:00Z"}
...         for i, kind in enumerate(["order.placed", "payment.completed", "order.shipped"])]
>>> _ = app.store.append(events_from_records(rows))
>>> app.variants().to_pylist()[0]["variant"]
['order.placed', 'payment.completed', 'order.shipped']
>>> app.dfg().num_rows
2
>>> app.close()
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from klantreis.analytics.conditions import Condition
    from klantreis.analytics.discovery_tables import Discovery
    from klantreis.analytics.scope import Scope
    from klantreis.contacts.context import ContactsContext
    from klantreis.contacts.warroom import ContactAnalysis
    from klantreis.model.journey import JourneyConfig

__all__ = ["Activity", "AnalysesMixin", "ContactsBy", "Period", "PromisesBy", "RankBy"]

#: What a step of a journey is: the event kind or its touchpoint.
Activity = Literal["kind", "touchpoint"]
#: Calendar periods, taken in the journey's time zone.
Period = Literal["day", "week", "month"]
#: How promise-kept rates are grouped.
PromisesBy = Literal["owner", "touchpoint", "period", "promise"]
#: What an impact ranking orders by.
RankBy = Literal["contacts", "nps", "ces", "csat"]
#: How contacts per 100 orders are grouped (None: overall).
ContactsBy = Literal["reason", "channel"]


class AnalysesMixin:
    """Journeys (graph, variants, hand-overs, promises, impact, timelines) and contacts
    (classify, contacts per 100 orders, the reason report, the war room) of one App."""

    if TYPE_CHECKING:  # provided by App
        journey: JourneyConfig
        defaults: Any  # MetricDefaults (min_answers, confidence), narrowed by App
        contacts: ContactsContext

        def events_table(self) -> Any: ...
        def journey_index(self) -> Any: ...

    # -- journeys ------------------------------------------------------------------------
    def discover(
        self,
        *,
        scope: Scope | None = None,
        activity: Activity = "kind",
        top: int | None = 20,
        use_index: bool = True,
    ) -> Discovery:
        """Graph, variants, start and end activities of the journeys in ``scope`` at once
        (``.dfg``, ``.variants``, ``.start``, ``.end``, ``.journeys``); see
        ``analytics.discovery.discover``. ``use_index``: answer from the journey index
        (same numbers, faster on large logs)."""
        from klantreis.analytics.discovery import discover

        index = self.journey_index() if use_index else None
        return discover(self.events_table(), self.journey, scope, activity, top, index=index)

    def dfg(
        self, *, scope: Scope | None = None, activity: Activity = "kind", use_index: bool = True
    ) -> pa.Table:
        """The directly-follows graph: one row per edge (source, target) with its count and
        durations in seconds (``klantreis journeys dfg``)."""
        return self.discover(scope=scope, activity=activity, use_index=use_index).dfg

    def variants(
        self,
        *,
        top: int | None = 20,
        scope: Scope | None = None,
        activity: Activity = "kind",
        use_index: bool = True,
    ) -> pa.Table:
        """The ``top`` most frequent paths (``variant`` as a list of steps) with count,
        share (0-1) and length (``klantreis journeys variants``)."""
        return self.discover(scope=scope, activity=activity, top=top, use_index=use_index).variants

    def handovers(self, *, scope: Scope | None = None) -> pa.Table:
        """Hand-overs between owners with their waiting times in seconds
        (``klantreis journeys handovers``)."""
        from klantreis.analytics.discovery import handovers

        return handovers(self.events_table(), self.journey, scope)

    def promises(
        self,
        *,
        by: PromisesBy = "owner",
        period: Period = "week",
        promise_ids: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> pa.Table:
        """Promise-kept rates per promise and group, with a Wilson interval at the App's
        confidence level (``klantreis journeys promises``); ``now`` judges open promises
        (default: now)."""
        from klantreis.analytics.promises import promise_rates

        ids = list(promise_ids) if promise_ids else None
        return promise_rates(
            self.events_table(), self.journey, by, period, ids, now, self.defaults.confidence
        )

    def promises_at_risk(
        self, *, now: datetime | None = None, promise_ids: Sequence[str] | None = None
    ) -> pa.Table:
        """Open promises whose deadline is near, soonest first
        (``klantreis journeys promises --at-risk``)."""
        from klantreis.analytics.promises import at_risk

        ids = list(promise_ids) if promise_ids else None
        return at_risk(self.events_table(), self.journey, now, ids)

    def impact(
        self,
        conditions: Sequence[str | Condition] | None = None,
        *,
        rank_by: RankBy = "contacts",
        scope: Scope | None = None,
        now: datetime | None = None,
    ) -> pd.DataFrame:
        """What conditions cost, costliest first (``klantreis journeys impact``): one row
        per condition and measure (``metric``: nps, ces, csat or contacts) with the value
        with and without the condition, the difference, its interval and p-value.
        ``conditions`` as text (``"broken:op_tijd_bezorgd"``, ``"contacts>1"``) or parsed;
        default: every promise broken and every trouble kind found."""
        import pandas as pd

        from klantreis.analytics.conditions import parse_condition
        from klantreis.analytics.impact import impact_ranking

        chosen = None
        if conditions is not None:
            chosen = [parse_condition(c, now) if isinstance(c, str) else c for c in conditions]
        items = impact_ranking(
            self.events_table(),
            self.journey,
            chosen,
            scope,
            rank_by=rank_by,
            alpha=round(1 - self.defaults.confidence, 10),
            min_answers=self.defaults.min_answers,
            now=now,
        )
        rows: list[dict[str, Any]] = []
        for rank, item in enumerate(items, start=1):
            found = item.as_dict()
            head = {k: found[k] for k in ("condition", "journeys_with", "journeys_without")}
            for metric, values in [*found["metrics"].items(), ("contacts", found["contacts"])]:
                values = {k: v for k, v in values.items() if k not in head}
                rows.append({"rank": rank, **head, "metric": metric, **values})
        return pd.DataFrame(rows)

    def timeline(
        self,
        journey_id: str | None = None,
        *,
        customer_id: str | None = None,
        limit: int = 1000,
    ) -> pa.Table:
        """All events of one journey or of one customer (exactly one of both), oldest first
        (``klantreis journeys timeline``)."""
        from klantreis.analytics.timeline import timeline

        return timeline(self.events_table(), journey_id, customer_id, limit)

    # -- contacts ------------------------------------------------------------------------
    def classify(self, texts: Sequence[str]) -> pd.DataFrame:
        """The reason of each text with its confidence and method (the current model, or
        the taxonomy's keyword rules before one is trained; ``klantreis contacts
        classify``). Below the model's threshold the reason is ``unknown``."""
        import pandas as pd

        model = self.contacts.model() or self.contacts.cold_start()
        found = model.predict(list(texts))
        return pd.DataFrame(
            {
                "text": list(texts),
                "reason": [p.reason for p in found],
                "confidence": [p.confidence for p in found],
                "method": [p.method for p in found],
            }
        )

    def _contact_analysis(self) -> ContactAnalysis:
        from klantreis.contacts.warroom import load_analysis

        return load_analysis(
            self.events_table(), self.journey, self.contacts.taxonomy, self.contacts.model()
        )

    def contacts_per_100_orders(
        self, *, by: ContactsBy | None = None, period: Period | None = None
    ) -> pd.DataFrame:
        """Contacts per 100 orders, overall or by reason or channel, and per period in the
        journey's time zone (``klantreis contacts reasons``); contacts without a stored
        reason get the model's."""
        from klantreis.contacts.metrics import contact_rates

        a = self._contact_analysis()
        keys = [by] if by else []
        return contact_rates(a.contacts, a.orders, keys, period, self.journey.timezone)

    def contact_report(
        self, *, period: Period | None = None, repeat_days: float = 7, lang: str = "nl"
    ) -> dict[str, pd.DataFrame]:
        """Every table of ``klantreis contacts reasons``: overall, by_reason, by_channel,
        repeats, repeats_by_channel, pareto, service_by_channel (and by_period with
        ``period``), each a DataFrame."""
        import pandas as pd

        from klantreis.contacts.reports import report_from

        a = self._contact_analysis()
        report = report_from(a, self.events_table(), period, repeat_days, lang)
        return {name: pd.DataFrame(rows) for name, rows in report.items()}

    def war_room(self, *, top: int = 10, lang: Literal["nl", "en"] = "nl") -> pd.DataFrame:
        """The war room (``klantreis contacts warroom``): the ``top`` avoidable reasons by
        yearly cost with root cause, owner and saving, one row each; the headline sentence
        is in ``.attrs["headline"]``, the period and totals in ``.attrs["room"]``."""
        from dataclasses import asdict

        import pandas as pd

        from klantreis.contacts.warroom import build_war_room
        from klantreis.wording import Names, Wording
        from klantreis.wording.warroom import worded_war_room

        room = build_war_room(self._contact_analysis(), top=top, lang=lang)
        room = worded_war_room(room, Names(self.journey, Wording(lang)))
        frame = pd.DataFrame([asdict(r) for r in room.rows])
        frame.attrs["headline"] = room.headline
        frame.attrs["room"] = {k: v for k, v in asdict(room).items() if k not in ("rows",)}
        return frame
