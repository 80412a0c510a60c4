"""Each kept contact's previous contact of the same customer and journey, kept beside the
kept contacts (:mod:`klantreis.contacts.derived`), so the repeat counts of ``/contacts``
are a grouped scan and not a ``lag()`` window over every contact of the period per view.

Why: :meth:`klantreis.contacts.kept_reports.KeptContacts.repeats` ran the window (partition
by customer and journey, order by time and log order) over the period's contacts twice per
view (overall and per channel). The previous contact of a contact does not depend on the
period: inside a period [since, until) the window's previous contact is the kept one when it
lies in the period (``prev_at >= since``; it is never later than the contact) and none
otherwise. A channel filter changes which contacts precede, so a scope with channels still
runs the window.

Table (derived, safe to drop):

- ``dc_gaps``: per kept contact its ``ord``, time, channel, customer and journey and
  ``prev_at``, the time of the contact before it (time, then ``ord``) of the same customer and
  journey (null when either is missing or it is the first);
- ``dc_gaps_state``: the kept contacts' version counter it follows, the highest ``ord`` seen,
  the rows and a checksum of the rows' keys (a rebuilt contacts table is noticed).

A refresh (when the kept contacts' version moved) recomputes the rows of the customer and
journey pairs of the new contacts (``ord`` above the one seen) only.
"""

from __future__ import annotations

from typing import Any

import duckdb

from klantreis.contacts.kept_follow import Follower
from klantreis.contacts.kept_follow import rows as _rows

__all__ = ["GAPS_LAYOUT", "KeptGaps", "gap_sql"]

#: Bump when a table below changes: tables of another layout are rebuilt.
GAPS_LAYOUT = 1

_DDL = (
    "CREATE TABLE IF NOT EXISTS dc_gaps (ord BIGINT, occurred_at TIMESTAMPTZ, channel VARCHAR,"
    " customer_id VARCHAR, journey_id VARCHAR, prev_at TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS dc_gaps_state (contacts_version BIGINT, top BIGINT,"
    " n BIGINT, checksum HUGEINT, layout INTEGER)",
)

_ROWS_SQL = """
SELECT ord, occurred_at, channel, customer_id, journey_id,
       CASE WHEN customer_id IS NOT NULL AND journey_id IS NOT NULL
            THEN lag(occurred_at) OVER (PARTITION BY customer_id, journey_id
                                        ORDER BY occurred_at, ord) END AS prev_at
FROM dc_contacts c {where}
"""

#: What identifies the kept contacts' rows for the gaps (a rebuild that numbers them anew
#: changes it).
_CHECK = "SELECT count(*), coalesce(sum(hash(ord, occurred_at, customer_id, journey_id, channel)), 0) FROM {table}"


def gap_sql(since: Any) -> tuple[str, dict[str, Any]]:
    """SQL of a ``dc_gaps`` row's gap in days to the contact before it inside a period from
    ``since`` (null: none there), as the window over the period's contacts gives it."""
    gap = "(epoch_us(occurred_at) - epoch_us(prev_at)) / 1e6 / 86400.0"
    if since is None:
        return gap, {}
    return f"CASE WHEN prev_at >= $gap_since THEN {gap} END", {"gap_since": since}


class KeptGaps(Follower):
    """The kept previous contacts of ``store`` (see the module docstring)."""

    DDL = _DDL

    def _follow(self, con: duckdb.DuckDBPyConnection) -> str:
        version = _rows(con, "SELECT version FROM dc_state")
        if not version:
            return "current"  # no kept contacts (yet)
        state = _rows(con, "SELECT contacts_version, top, n, checksum, layout FROM dc_gaps_state")
        if state and state[0][4] == GAPS_LAYOUT and state[0][0] == version[0][0]:
            return "current"
        mode = "full"
        if state and state[0][4] == GAPS_LAYOUT:
            mode = self._incremental(con, int(state[0][1]), state[0][2:4])
        if mode == "full":
            _rows(con, "DELETE FROM dc_gaps")
            _rows(con, "INSERT INTO dc_gaps " + _ROWS_SQL.format(where=""))
        self._save(con, int(version[0][0]))
        return mode

    def _incremental(self, con: duckdb.DuckDBPyConnection, top: int, seen: Any) -> str:
        """Recompute the pairs of the contacts after ``top``; ``full`` when the kept
        contacts were rebuilt (the rows seen then are not a prefix of them)."""
        before = _rows(con, _CHECK.format(table="dc_contacts") + " WHERE ord <= ?", [top])[0]
        if tuple(before) != tuple(seen):
            return "full"
        pairs = (
            "EXISTS (SELECT 1 FROM _dg_pairs p WHERE p.customer_id = {t}.customer_id"
            " AND p.journey_id = {t}.journey_id)"
        )
        _rows(
            con,
            "CREATE OR REPLACE TEMP TABLE _dg_pairs AS SELECT DISTINCT customer_id, journey_id"
            " FROM dc_contacts WHERE ord > ? AND customer_id IS NOT NULL"
            " AND journey_id IS NOT NULL",
            [top],
        )
        try:
            _rows(con, "DELETE FROM dc_gaps WHERE " + pairs.format(t="dc_gaps"))
            where = f"WHERE ord > $top OR {pairs.format(t='c')}"
            _rows(con, "INSERT INTO dc_gaps " + _ROWS_SQL.format(where=where), {"top": top})
        finally:
            _rows(con, "DROP TABLE IF EXISTS _dg_pairs")
        return "incremental"

    def _save(self, con: duckdb.DuckDBPyConnection, version: int) -> None:
        n, checksum = _rows(con, _CHECK.format(table="dc_gaps"))[0]
        top = _rows(con, "SELECT coalesce(max(ord), -1) FROM dc_gaps")[0][0]
        _rows(con, "DELETE FROM dc_gaps_state")
        _rows(
            con,
            "INSERT INTO dc_gaps_state VALUES (?, ?, ?, ?, ?)",
            [version, top, n, checksum, GAPS_LAYOUT],
        )
