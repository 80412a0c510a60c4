"""Response rates and non-response of the invitations, and the invitations not sent by
reason: keys and numbers (the pages word them).

An invitation counts as *invited* once the outbox really sent it (``sent_at``, copied from
the outbox by :func:`klantreis.listen.delivery.sync_from_outbox`; handed over but not yet sent,
failed or doubtful ones do not count), and as *answered* once it has ``answered_at`` (or
status ``answered``: an answer proves the link arrived).
Invitations handed out by staff (``origin = 'staff'``, :mod:`klantreis.listen.staff`) count
too — by default the rate is over both, with the staff share in its own columns
(``staff_invited``, ``staff_answered``), because staff pick whom they ask and their customers
answer more often; ``origin="system"`` gives the sampled population alone (the unbiased
rate), ``origin="staff"`` the staff's. The response rate is answered / invited with a Wilson
interval.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa

from klantreis.analytics.stats import wilson_arrays
from klantreis.listen import ledger
from klantreis.store.duckdb_store import EventStore

__all__ = ["GROUPS", "ORIGINS", "response_rates", "status_counts", "suppressed_by_reason"]

Group = Literal["touchpoint", "owner", "channel", "survey_id"]
GROUPS: tuple[str, ...] = ("touchpoint", "owner", "channel", "survey_id")
Origin = Literal["all", "system", "staff"]
ORIGINS: tuple[str, ...] = ("all", "system", "staff")


def response_rates(
    store: EventStore,
    by: Group = "touchpoint",
    confidence: float = 0.95,
    origin: Origin = "all",
) -> pa.Table:
    """Per ``by`` value: invited, answered, staff_invited, staff_answered, non_response
    (invited - answered), rate (a share 0-1), ci_low, ci_high (Wilson); the groups sorted by
    key. ``origin``: every invitation (default), the system's or staff's only."""
    if by not in GROUPS:
        raise ValueError(f"group by one of {', '.join(GROUPS)}, not '{by}'")
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {', '.join(ORIGINS)}, not '{origin}'")
    ledger.ensure_schema(store)
    answered = "(answered_at IS NOT NULL OR status = 'answered')"
    table = store.query(
        f"""SELECT {by} AS "group", count(*) AS invited,
                   count(*) FILTER (WHERE {answered}) AS answered,
                   count(*) FILTER (WHERE origin = 'staff') AS staff_invited,
                   count(*) FILTER (WHERE origin = 'staff' AND {answered}) AS staff_answered
            FROM survey_invitations
            WHERE (? = 'all' OR origin = ?)
              AND (sent_at IS NOT NULL OR answered_at IS NOT NULL OR status = 'answered')
            GROUP BY ALL ORDER BY "group" NULLS LAST""",
        [origin, origin],
    )
    invited = table.column("invited").to_numpy(zero_copy_only=False).astype(float)
    answered = table.column("answered").to_numpy(zero_copy_only=False).astype(float)
    interval = wilson_arrays(answered, invited, confidence)
    return (
        table.append_column("non_response", pa.array((invited - answered).astype("int64")))
        .append_column("rate", pa.array(interval.value / 100.0, pa.float64()))
        .append_column("ci_low", pa.array(interval.ci_low / 100.0, pa.float64()))
        .append_column("ci_high", pa.array(interval.ci_high / 100.0, pa.float64()))
    )


def suppressed_by_reason(store: EventStore) -> pa.Table:
    """Invitations not sent, per reason (most first): reason, invitations, customers."""
    ledger.ensure_schema(store)
    return store.query(
        """SELECT reason, count(*) AS invitations, count(DISTINCT customer_id) AS customers
           FROM survey_invitations WHERE reason IS NOT NULL AND status <> 'unknown'
           GROUP BY reason ORDER BY invitations DESC, reason"""
    )


def status_counts(store: EventStore) -> pa.Table:
    """Invitations per survey and status: survey_id, status, invitations."""
    ledger.ensure_schema(store)
    return store.query(
        """SELECT survey_id, status, count(*) AS invitations FROM survey_invitations
           GROUP BY ALL ORDER BY survey_id, status"""
    )
