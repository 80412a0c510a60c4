"""The contact overview's sums from the kept tables, where the data is: grouped queries over
the kept contacts (``dc_contacts``, :mod:`klantreis.contacts.derived`), the kept orders and
CSAT answers (``dk_kinds``, ``dk_csat``, :mod:`klantreis.contacts.conditions`), so the page
reads a few hundred rows, not a frame of every contact of the window (3.9M contacts at 100M
events did not fit).

Each part gives what the pandas functions of :mod:`klantreis.contacts.metrics` and
:mod:`klantreis.contacts.warroom` count over the frames (the portable reference; a property
test checks they agree), and the same code makes the tables from the counts
(``rates_table``, ``repeat_table``, ``pareto_table``, ``service_table``, ``war_room_from``):
the sort orders and ties are theirs. Counts come in the groups' key order (ascending, a
missing key last), as ``groupby`` gives them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

from klantreis.contacts.conditions import Window, first_in_window
from klantreis.contacts.derived import scope_where
from klantreis.contacts.kept_gaps import KeptGaps, gap_sql
from klantreis.contacts.metrics import (
    PERIODS,
    pareto_table,
    rates_table,
    repeat_table,
    service_table,
)
from klantreis.contacts.taxonomy import UNKNOWN
from klantreis.model.journey import JourneyConfig
from klantreis.store import EventStore

__all__ = ["KeptContacts"]


def _frame(cur: Any, sql: str, params: Any) -> pd.DataFrame:
    df: pd.DataFrame = cur.sql(sql, params=params).to_arrow_table().to_pandas()
    for col in df.columns:
        if df[col].dtype == object or str(df[col].dtype).startswith("string"):
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


@dataclass
class KeptContacts:
    """The kept contacts of ``store`` in [since, until) on ``channels`` (as
    :meth:`~klantreis.contacts.derived.ContactViews.frame`) and the kept orders of ``window``
    (local days, as :meth:`~klantreis.contacts.conditions.ConditionViews.orders`); both
    views refreshed by the caller."""

    store: EventStore
    journey: JourneyConfig
    since: Any
    until: Any
    channels: tuple[str | None, ...]
    window: Window
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict, init=False, repr=False)

    def _query(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """``sql`` with ``c`` the scope's contacts and ``o`` the window's orders."""
        cond, named = self._scope(self.channels)
        owhere, oparams = first_in_window(self.window, {"start": self.journey.journey_start})
        full = (
            f"WITH c AS (SELECT * FROM dc_contacts WHERE {cond}),"
            " o AS (SELECT journey_id, day, first_at AS occurred_at FROM dk_kinds"
            f" WHERE kind = $start AND {owhere}) {sql}"
        )
        all_params = {**named, **oparams, **(params or {}), "zone": self.journey.timezone}
        used = {k: v for k, v in all_params.items() if f"${k}" in full}
        cur = self.store.cursor()
        try:
            return _frame(cur, full, used)
        finally:
            cur.close()

    def _scope(self, channels: tuple[str | None, ...]) -> tuple[str, dict[str, Any]]:
        """The condition on the kept contacts of the period on ``channels`` (named
        parameters ``$a0``, ...)."""
        where, args = scope_where(self.since, self.until, channels)
        cond = " AND ".join(where)
        for i in range(len(args)):
            cond = cond.replace("?", f"$a{i}", 1)
        return cond, {f"a{i}": v for i, v in enumerate(args)}

    def _cost(self) -> tuple[str, dict[str, Any]]:
        """SQL of one contact's cost (``contact_cost``) and its parameters."""
        costs = self.journey.contact_costs
        if not costs:
            return "0.0", {}
        names = {f"ch{i}": k for i, k in enumerate(costs)}
        whens = " ".join(
            f"WHEN channel = $ch{i} THEN CAST($co{i} AS DOUBLE)" for i in range(len(costs))
        )
        values = {f"co{i}": float(v) for i, v in enumerate(costs.values())}
        return f"CASE {whens} ELSE 0.0 END", {**names, **values}

    # -- contact rates -------------------------------------------------------------------
    def _order_days(self) -> pd.DataFrame:
        """The window's orders per local day (``n``) with the first and last order time: one
        scan of the kept orders, kept for this object's other questions. A kept row's
        ``day`` is the local day of its ``first_at`` (no time zone arithmetic per order)."""
        if "days" not in self._cache:
            self._cache["days"] = self._query(
                "SELECT day, count(*) AS n,"
                " min(occurred_at) AS first, max(occurred_at) AS last FROM o"
                " GROUP BY ALL ORDER BY day"
            )
        return self._cache["days"]

    def orders(self) -> int:
        return int(self._order_days()["n"].sum())

    def orders_per(self, period: str) -> pd.Series:
        """Orders per period (``orders.groupby(period).size()``)."""
        days = self._order_days()
        labels = [_period_start(d, period) for d in days["day"]]
        per = days.assign(period=labels).groupby("period")["n"].sum()
        return per.astype("int64")

    def _cells(self) -> pd.DataFrame:
        """The scope's contacts per local day, reason and channel (``n``, ``cost``, the first
        and last time and the first contact's log position): one scan of the kept contacts,
        from which the counts of every table below are summed (a few thousand rows)."""
        if "cells" not in self._cache:
            cost, params = self._cost()
            self._cache["cells"] = self._query(
                "SELECT CAST(timezone($zone, occurred_at) AS DATE) AS day, reason, channel,"
                f" count(*) AS n, sum({cost}) AS cost, min(occurred_at) AS first_at,"
                " arg_min(ord, (occurred_at, ord)) AS first_ord, max(occurred_at) AS last_at"
                " FROM c GROUP BY ALL ORDER BY day, reason, channel",
                params,
            )
        return self._cache["cells"]

    def rates(
        self, by: tuple[str, ...] = (), period: str | None = None, reasons: Any = None
    ) -> pd.DataFrame:
        """:func:`~klantreis.contacts.metrics.contact_rates` (of the contacts of ``reasons``
        only, when given)."""
        cells = self._cells()
        if reasons is not None:
            cells = cells[cells["reason"].isin(list(reasons))]
        if period:
            cells = cells.assign(period=[_period_start(d, period) for d in cells["day"]])
        keys = [*(["period"] if period else []), *by]
        if keys:
            out = cells.groupby(keys, dropna=False)["n"].sum().rename("contacts").reset_index()
        else:
            out = pd.DataFrame({"contacts": [int(cells["n"].sum())]})
        out["contacts"] = out["contacts"].astype("int64")
        orders: pd.Series | int = self.orders_per(period) if period else self.orders()
        return rates_table(out, orders, bool(period))

    # -- repeats, Pareto, service --------------------------------------------------------
    def repeats(self, within_days: float, by: str | None = None) -> pd.DataFrame:
        """:func:`~klantreis.contacts.metrics.repeat_contacts` (the earlier contact of the
        same customer and journey, in time and then log order): summed from the kept gaps
        (:mod:`klantreis.contacts.kept_gaps`) per channel, one query for both tables of a
        view; a scope of channels runs the window over its contacts."""
        if self.channels or by not in (None, "channel"):
            return repeat_table(self._window_repeats(within_days, by))
        per = self._gap_counts(within_days)
        if by:
            return repeat_table(per.reset_index(drop=True))
        total = pd.DataFrame({"size": [int(per["size"].sum())], "sum": [int(per["sum"].sum())]})
        return repeat_table(total.astype("int64"))

    def _gap_counts(self, within_days: float) -> pd.DataFrame:
        """Contacts (``size``) and repeats (``sum``) per channel (a missing one last)."""
        key = f"gaps:{within_days!r}"
        if key not in self._cache:
            KeptGaps(self.store).ensure()
            gap, params = gap_sql(self.since)
            cond, named = self._scope(())
            self._cache[key] = self._read(
                "SELECT channel, count(*) AS size, CAST(count(*) FILTER"
                f" ({gap} <= $days) AS BIGINT) AS sum FROM dc_gaps WHERE {cond}"
                " GROUP BY ALL ORDER BY channel ASC NULLS LAST",
                {**named, **params, "days": float(within_days)},
            )
        return self._cache[key]

    def _read(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        cur = self.store.cursor()
        try:
            return _frame(cur, sql, params)
        finally:
            cur.close()

    def _window_repeats(self, within_days: float, by: str | None) -> pd.DataFrame:
        """The repeat counts of the scope's contacts by a window over them."""
        keys = f"{by}, " if by else ""
        return self._query(
            f"SELECT {keys}count(*) AS size, CAST(count(*) FILTER (gap <= $days) AS BIGINT)"
            " AS sum FROM (SELECT *, CASE WHEN customer_id IS NOT NULL AND journey_id IS NOT"
            " NULL THEN (epoch_us(occurred_at) - epoch_us(lag(occurred_at) OVER (PARTITION BY"
            " customer_id, journey_id ORDER BY occurred_at, ord))) / 1e6 / 86400.0 END AS gap"
            f" FROM c) GROUP BY ALL {f'ORDER BY {by} ASC NULLS LAST' if by else ''}",
            {"days": float(within_days)},
        )

    def pareto(self) -> pd.DataFrame:
        """:func:`~klantreis.contacts.metrics.pareto` under the journey's contact costs."""
        cells = self._cells()
        out = cells.groupby("reason").agg(contacts=("n", "sum"), cost=("cost", "sum"))
        out["contacts"] = out["contacts"].astype("int64")
        return pareto_table(out.reset_index(), int(cells["n"].sum()))

    def service(self) -> pd.DataFrame:
        """:func:`~klantreis.contacts.metrics.channel_service` with the kept CSAT answers of
        the window (on the channel of the contact they are about when it is in scope)."""
        out = self._query(
            "SELECT channel, count(*) AS contacts,"
            " quantile_cont(response_minutes, 0.5) AS response_median_min,"
            " quantile_cont(response_minutes, 0.9) AS response_p90_min,"
            " count(resolved) AS resolved_n, CAST(sum(CAST(resolved AS INTEGER)) AS DOUBLE)"
            " AS resolved_k FROM c WHERE channel IS NOT NULL GROUP BY ALL ORDER BY channel"
        ).set_index("channel")
        out["resolved_k"] = out["resolved_k"].fillna(0.0)
        where, params = ["TRUE"], {}
        if self.window[0] is not None:
            where.append("day >= $first")
            params["first"] = self.window[0]
        if self.window[1] is not None:
            where.append("day <= $last")
            params["last"] = self.window[1]
        csat = self._query(
            "SELECT CASE WHEN l.contact_id IS NOT NULL THEN l.channel ELSE a.fallback END"
            " AS channel, count(*) AS csat_n, CAST(count(*) FILTER (a.score >= 4) AS BIGINT)"
            f" AS csat_k, FROM (SELECT * FROM dk_csat WHERE {' AND '.join(where)}) a"
            " LEFT JOIN (SELECT contact_id, channel FROM c QUALIFY row_number() OVER"
            " (PARTITION BY contact_id ORDER BY occurred_at DESC, ord DESC) = 1) l"
            " USING (contact_id) GROUP BY ALL ORDER BY channel NULLS LAST",
            params,
        )
        answered = int(csat["csat_n"].sum()) if len(csat) else 0
        rated = csat[csat["channel"].notna()].set_index("channel") if answered else None
        return service_table(out, rated)

    # -- war room and trend --------------------------------------------------------------
    def sums(self) -> Any:
        """The war room's :class:`~klantreis.contacts.warroom.ContactSums`."""
        from klantreis.contacts.warroom import ContactSums

        cells = self._cells()
        known = cells[cells["reason"] != UNKNOWN].groupby("reason")
        days = self._order_days()
        stamps = [
            _utc(v.min() if i % 2 == 0 else v.max()) if len(v) else None
            for i, v in enumerate(
                (cells["first_at"], cells["last_at"], days["first"], days["last"])
            )
        ]
        seen = [t for t in stamps if t is not None]
        span = max((max(seen) - min(seen)).total_seconds() / 86400.0, 1.0) if seen else 0.0
        return ContactSums(
            reason_cost=known["cost"].sum().astype(float),
            reason_contacts=known["n"].sum().astype("int64"),
            contacts=int(cells["n"].sum()),
            orders=self.orders(),
            cost=float(cells["cost"].sum()),
            unknown=int(cells.loc[cells["reason"] == UNKNOWN, "n"].sum()),
            first=stamps[0],
            last=stamps[1],
            days=span,
        )

    def top_reasons(self, top: int) -> list[str]:
        """The ``top`` reasons by contacts (``value_counts``: ties in first-seen order)."""
        cells = self._cells().dropna(subset=["reason"])
        first = cells.sort_values(["first_at", "first_ord"], kind="stable")
        seen = first.drop_duplicates("reason")["reason"].tolist()
        counts = cells.groupby("reason")["n"].sum().reindex(seen)
        return [str(r) for r in counts.sort_values(ascending=False, kind="stable").index[:top]]


def _utc(value: Any) -> pd.Timestamp | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).tz_convert("UTC")


def _period_start(day: date, period: str) -> str:
    """The start of the period (``period_of``: weeks from Monday) of a local day, as text."""
    if period == "week":
        day = day - timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    elif period != "day":
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    return day.isoformat()
