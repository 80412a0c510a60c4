"""DuckDB's memory limit lowered for a block of bulk work (a journey-index build, a file
ingest), then put back: past the limit DuckDB evicts its block cache and spills to its
temporary directory, so the process stays near the limit whatever the store's size."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

log = logging.getLogger(__name__)

__all__ = ["bytes_of", "memory_limit"]


@contextmanager
def memory_limit(con: duckdb.DuckDBPyConnection, mb: int) -> Iterator[None]:
    """DuckDB's ``memory_limit`` lowered to ``mb`` MiB for the block (never raised; 0: left
    alone), then put back: reset to DuckDB's default when it was that, else set again. The
    limit is the database's, so other connections to it share the lower limit meanwhile."""
    before = _current_limit(con)
    lower = 0 < mb * 2**20 < bytes_of(before)
    if lower:
        con.execute("SET memory_limit = '" + str(int(mb)) + "MiB'").fetchall()  # SQL
    try:
        yield
    except BaseException:
        if lower:
            # an aborted transaction refuses every statement, and the block's own error (e.g.
            # DuckDB's out-of-memory message) is what the caller must see: the limit is the
            # database's, so a fresh cursor outside the transaction puts it back
            try:
                cursor = con.cursor()
                try:
                    _put_back(cursor, before)
                finally:
                    cursor.close()
            except duckdb.Error:
                log.warning("memory limit not put back after an error", exc_info=True)
        raise
    if lower:
        _put_back(con, before)


def _put_back(con: duckdb.DuckDBPyConnection, before: str) -> None:
    con.execute("RESET memory_limit").fetchall()
    if _current_limit(con) != before:
        con.execute("SET memory_limit = '" + before.replace("'", "''") + "'").fetchall()


def _current_limit(con: duckdb.DuckDBPyConnection) -> str:
    return str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])


_UNITS = {"bytes": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_UNITS |= {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}


def bytes_of(size: str) -> float:
    """Bytes of a DuckDB size text such as ``18.8 GiB`` (unknown units: infinite)."""
    number, _, unit = size.strip().partition(" ")
    try:
        return float(number) * _UNITS[unit.lower() or "bytes"]
    except (KeyError, ValueError):
        return float("inf")
