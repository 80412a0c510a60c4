"""The root causes and owner breakdowns of the war room from the kept conditions
(:mod:`klantreis.contacts.conditions`): a few grouped queries in the store's DuckDB instead
of pandas over the log. The counts are those of :func:`~klantreis.contacts.rootcause.root_causes`
and :func:`~klantreis.contacts.rootcause.owner_breakdown` (the portable reference; a property
test checks they agree); the table and the lifts are computed from them by the same code
(:func:`~klantreis.contacts.rootcause.cause_table`, ``owner_table``).

All counts are taken at once (the war room asks for a handful of owner breakdowns, each a
lookup here): the window's conditions of the population (the journeys with an order in the
window), the contacts' held conditions, the owners' exposure and, for the preconditions, the
journeys two conditions share when one is a broken promise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from klantreis.contacts.cause_totals import WindowTotals
from klantreis.contacts.conditions import ConditionViews
from klantreis.contacts.rootcause import CauseCounts, cause_table, mostly_inside, owner_table
from klantreis.contacts.window_sql import (
    Window,
    days_in_window,
    first_in_window,
    window_condition_rows_sql,
)
from klantreis.model.journey import JourneyConfig
from klantreis.store import EventStore

__all__ = ["KeptCauses"]

_TEMPS = ("_kc_pop", "_kc_k", "_kc_p", "_kc_w", "_kc_held")


def _frame(cur: Any, sql: str, params: Any = None) -> pd.DataFrame:
    rel = cur.sql(sql, params=params) if params else cur.sql(sql)
    df: pd.DataFrame = rel.to_arrow_table().to_pandas()
    return df


def _named(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with ``name`` and ``broken`` as rows with the condition's name (``kind:...`` or
    ``broken:...``): the names are made on the few grouped rows, not on millions."""
    prefix = np.where(df["broken"].to_numpy(bool), "broken:", "kind:")
    condition = pd.Series(prefix, index=df.index, dtype=object) + df["name"].astype(object)
    out = df.drop(columns=["name", "broken"])
    out.insert(0, "condition", condition)
    return out


class KeptCauses:
    """Root causes of ``contacts`` (with reasons; their ``occurred_at`` and frame order
    decide, as in the reference) in ``window`` of local days, from the kept tables: the
    journey counts from the window's kept totals (``views``, :meth:`ConditionViews.cause_totals`;
    without them a ``ConditionViews`` of ``store`` is made), the held-before join from the
    kept rows of the contacts' journeys."""

    def __init__(
        self,
        store: EventStore,
        journey: JourneyConfig,
        window: Window,
        contacts: pd.DataFrame,
        confidence: float = 0.95,
        views: ConditionViews | None = None,
    ) -> None:
        self.confidence = confidence
        views = views if views is not None else ConditionViews(store, journey)
        self._journey_counts(views.cause_totals(window))
        cur = store.cursor()
        try:
            self._load(cur, journey, window, contacts)
        finally:
            for temp in _TEMPS:
                cur.execute(f"DROP TABLE IF EXISTS {temp}").fetchall()
            cur.close()

    def _journey_counts(self, totals: WindowTotals) -> None:
        per_owner = _named(totals.conditions)
        self._per_condition = per_owner.groupby("condition")["n"].sum()
        self._n = totals.journeys
        self._exposure = totals.owners
        owners = per_owner[per_owner["owner"].notna()]
        self._owners = owners.groupby("condition")["owner"].agg(set).to_dict()
        pairs = _named(totals.pairs.assign(broken=True))
        outer = _named(
            pairs[["outer_name", "outer_broken"]].rename(
                columns={"outer_name": "name", "outer_broken": "broken"}
            )
        )["condition"]
        self._shared = {
            (i, o): int(n) for i, o, n in zip(pairs["condition"], outer, pairs["n"], strict=True)
        }

    def _load(self, cur: Any, journey: JourneyConfig, window: Window, c: pd.DataFrame) -> None:
        contacts = pa.table(
            {
                "contact_id": pa.array(c["contact_id"].astype(object), pa.string()),
                "journey_id": pa.array(c["journey_id"].astype(object), pa.string()),
                "reason": pa.array(c["reason"].astype(object), pa.string()),
                "occurred_at": pa.array(c["occurred_at"], pa.timestamp("us", tz="UTC")),
                "pos": pa.array(range(len(c)), pa.int64()),
            }
        )
        cur.register("_kc_c", contacts)
        try:
            self._contacts_rows(cur, journey, window)
            self._counts(cur)
        finally:
            cur.unregister("_kc_c")

    def _contacts_rows(self, cur: Any, journey: JourneyConfig, window: Window) -> None:
        """The window's conditions of the contacts' journeys in the population (``_kc_w``,
        integer-keyed by ``_kc_pop``): a fraction of the window's rows."""
        where, params = first_in_window(window, {"start": journey.journey_start})
        cur.execute(
            "CREATE OR REPLACE TEMP TABLE _kc_pop AS SELECT journey_id,"
            " CAST(row_number() OVER () AS INTEGER) AS jk FROM dk_kinds"
            f" WHERE kind = $start AND {where}"
            " AND journey_id IN (SELECT journey_id FROM _kc_c)",
            params,
        ).fetchall()
        days, bounds = days_in_window(window)
        for temp, table in (("_kc_k", "dk_kinds"), ("_kc_p", "dk_promised")):
            cur.execute(
                f"CREATE OR REPLACE TEMP TABLE {temp} AS SELECT t.* FROM {table} t"
                f" SEMI JOIN _kc_pop p ON t.journey_id = p.journey_id WHERE {days}",
                bounds or None,
            ).fetchall()
        conds, params = window_condition_rows_sql(journey, window, "_kc_k", "_kc_p")
        cur.execute(
            # a hash join (pop holds each journey once); ``IN (subquery)`` was ~7x the CPU
            "CREATE OR REPLACE TEMP TABLE _kc_w AS SELECT p.jk, w.name, w.broken, w.at,"
            f" w.owner FROM ({conds}) w JOIN _kc_pop p USING (journey_id)",
            params,
        ).fetchall()

    def _counts(self, cur: Any) -> None:
        # the contacts of the population's journeys, with their journey's key
        cur.execute(
            "CREATE OR REPLACE TEMP TABLE _kc_held AS SELECT c.contact_id, c.reason, c.pos,"
            " w.name, w.broken, w.owner FROM (SELECT c.*, p.jk FROM _kc_c c"
            " JOIN _kc_pop p USING (journey_id)) c JOIN _kc_w w USING (jk)"
            " WHERE w.at < c.occurred_at"
        ).fetchall()
        # the first contact (frame order) per contact id and condition, as drop_duplicates
        held = _named(
            _frame(
                cur,
                # one row per contact id and condition: the frame's first (pos is unique)
                "SELECT reason, name, broken, count(*) AS with_condition FROM (SELECT"
                " arg_min_null(reason, pos) AS reason, name, broken FROM _kc_held"
                " GROUP BY contact_id, name, broken) GROUP BY ALL",
            )
        )
        held = held[["reason", "condition", "with_condition"]]
        held = held.sort_values(["reason", "condition"], kind="stable").reset_index(drop=True)
        # per reason the same, among that reason's contacts only (``owner_breakdown``)
        self._per_owner = _named(
            _frame(
                cur,
                "SELECT reason, name, broken, owner, count(*) AS contacts FROM (SELECT reason,"
                " name, broken, arg_min_null(owner, pos) AS owner FROM _kc_held"
                " GROUP BY reason, contact_id, name, broken) WHERE owner IS NOT NULL"
                " GROUP BY ALL",
            )
        )
        n1 = _frame(
            cur,
            "SELECT reason, count(*) AS n FROM _kc_c"
            " WHERE journey_id IN (SELECT journey_id FROM _kc_pop) GROUP BY ALL",
        )
        self.counts = CauseCounts(held, n1.set_index("reason")["n"], self._per_condition, self._n)

    def _inside(self, inner: str, outer: str) -> bool:
        both = self._shared.get((inner, outer), 0)
        return mostly_inside(both, int(self.counts.journeys.get(inner, 0)))

    def table(self, min_contacts: int = 5) -> pd.DataFrame:
        """:func:`~klantreis.contacts.rootcause.root_causes` of the window."""
        return cause_table(self.counts, self._inside, self.confidence, min_contacts)

    def owners(self, reason: str, condition: str) -> pd.DataFrame:
        """:func:`~klantreis.contacts.rootcause.owner_breakdown` of one reason and condition."""
        p = self._per_owner
        rows = p[(p["reason"] == reason) & (p["condition"] == condition)]
        per_owner = rows.set_index("owner")["contacts"]
        exposure = self._exposure[self._exposure.index.isin(self._owners.get(condition, set()))]
        return owner_table(per_owner, exposure, self.confidence)
