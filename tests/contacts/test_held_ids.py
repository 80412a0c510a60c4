"""The held counts' trusted path picks the contact ids to read in Arrow (decision 100): the
ids with a row on a touched journey or a row added since the kept frame, then every row of
those ids, a missing id counted as one id (as ``IS NOT DISTINCT FROM`` in the counts)."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pandas as pd
import pytest

from klantreis.contacts.held_counts import _load_frame, _touched_ids

ROWS = [  # contact id, journey, ord
    ("c1", "j1", 0),
    ("c2", "j2", 1),
    ("c1", "j3", 2),
    (None, "j1", 3),
    (None, "j4", 4),
    ("c3", None, 5),
    ("c4", "j5", 6),
]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE _kh_touched AS SELECT 'j1' AS journey_id")
    yield con
    con.close()


def _contacts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The rows as the kept contacts' frame comes (text columns as pandas reads DuckDB's)."""
    values = ", ".join(
        f"({'NULL' if c is None else repr(c)}, {'NULL' if j is None else repr(j)}, {o})"
        for c, j, o in ROWS
    )
    df: pd.DataFrame = con.execute(
        "SELECT contact_id, journey_id, 'waar' AS reason,"
        " TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_hours(ord) AS occurred_at, ord"
        f" FROM (VALUES {values}) t(contact_id, journey_id, ord) ORDER BY ord"
    ).fetchdf()
    return df


def test_touched_ids_are_those_on_touched_journeys(con: duckdb.DuckDBPyConnection) -> None:
    ids = _touched_ids(con, _contacts(con), None)
    assert ids.to_pylist() == ["c1", None]


def test_touched_ids_add_the_rows_added_since_the_kept_frame(
    con: duckdb.DuckDBPyConnection,
) -> None:
    ids = _touched_ids(con, _contacts(con), 5)
    assert ids.to_pylist() == ["c1", None, "c3", "c4"]


def test_every_row_of_the_ids_is_loaded(con: duckdb.DuckDBPyConnection) -> None:
    contacts = _contacts(con)
    _load_frame(con, contacts, _touched_ids(con, contacts, 6))
    rows = con.execute("SELECT contact_id, rank, pos FROM _kh_f ORDER BY pos").fetchall()
    assert rows == [("c1", 1, 0), ("c1", 2, 2), (None, 1, 3), (None, 2, 4), ("c4", 1, 6)]


def test_no_touched_journey_and_nothing_added_reads_no_row(
    con: duckdb.DuckDBPyConnection,
) -> None:
    con.execute("DELETE FROM _kh_touched")
    contacts = _contacts(con)
    ids = _touched_ids(con, contacts, None)
    _load_frame(con, contacts, ids)
    assert len(ids) == 0
    assert con.execute("SELECT count(*) FROM _kh_f").fetchall() == [(0,)]
