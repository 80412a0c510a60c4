"""The root causes and owner breakdowns of the war room from the kept conditions
(:mod:`klantreis.contacts.conditions`): a few grouped queries in the store's DuckDB instead
of pandas over the log. The counts are those of :func:`~klantreis.contacts.rootcause.root_causes`
and :func:`~klantreis.contacts.rootcause.owner_breakdown` (the portable reference; a property
test checks they agree); the table and the lifts are computed from them by the same code
(:func:`~klantreis.contacts.rootcause.cause_table`, ``owner_table``).

All counts are taken at once (the war room asks for a handful of owner breakdowns, each a
lookup here): the window's conditions of the population (the journeys with an order in the
window), the contacts' held conditions, the owners' exposure and, for the preconditions, the
journeys two conditions share when one is a broken promise. Both the journey counts
(:mod:`~klantreis.contacts.cause_totals`) and the contacts' held counts
(:mod:`~klantreis.contacts.held_counts`) are kept per window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from klantreis.contacts.cause_totals import WindowTotals
from klantreis.contacts.conditions import ConditionViews
from klantreis.contacts.held_counts import FrameId, FrameSource, HeldCounts, HeldTotals
from klantreis.contacts.rootcause import CauseCounts, cause_table, mostly_inside, owner_table
from klantreis.contacts.window_sql import Window
from klantreis.model.journey import JourneyConfig
from klantreis.store import EventStore

__all__ = ["KeptCauses"]


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
    without them a ``ConditionViews`` of ``store`` is made), the held-before counts from the
    window's kept held counts (:class:`~klantreis.contacts.held_counts.HeldCounts`, one window
    per ``frame_key``: what chose the contacts, e.g. their channels), brought up to date with
    ``contacts`` (``held.last``: how; ``frame_id``: the frame's identity, see
    :meth:`HeldCounts.window`)."""

    def __init__(
        self,
        store: EventStore,
        journey: JourneyConfig,
        window: Window,
        contacts: pd.DataFrame | FrameSource,
        confidence: float = 0.95,
        views: ConditionViews | None = None,
        frame_key: str = "",
        frame_id: str | FrameId | None = None,
    ) -> None:
        self.confidence = confidence
        views = views if views is not None else ConditionViews(store, journey)
        self._journey_counts(views.cause_totals(window))
        self.held = HeldCounts(journey, views.memory_mb)
        with store.transaction() as con:
            self._held_counts(self.held.window(con, window, contacts, frame_key, frame_id))

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

    def _held_counts(self, held: HeldTotals) -> None:
        counts = _named(held.held)[["reason", "condition", "with_condition"]]
        counts = counts.sort_values(["reason", "condition"], kind="stable").reset_index(drop=True)
        self._per_owner = _named(held.owners)
        n1 = held.n1.set_index("reason")["n"]
        self.counts = CauseCounts(counts, n1, self._per_condition, self._n)

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
