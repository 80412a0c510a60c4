"""Kept rows that follow other kept tables of the store (the kept fulfilments of
:mod:`klantreis.contacts.kept_breaks`, the kept previous contacts of
:mod:`klantreis.contacts.kept_gaps`): one refresh in one transaction."""

from __future__ import annotations

from typing import Any

import duckdb

from klantreis.store import EventStore

__all__ = ["Follower", "rows"]


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or []).fetchall()


class Follower:
    """Kept tables (``DDL``) brought up to the tables they follow by :meth:`ensure`."""

    DDL: tuple[str, ...] = ()

    def __init__(self, store: EventStore) -> None:
        self.store = store
        #: How the last :meth:`ensure` went (``current``, ``incremental``, ``full``).
        self.last = ""

    def ensure(self) -> str:
        """Follow the tables followed (refreshed by the caller): ``current``,
        ``incremental`` or ``full``."""
        with self.store.transaction() as con:
            for ddl in self.DDL:
                rows(con, ddl)
            self.last = self._follow(con)
        return self.last

    def _follow(self, con: duckdb.DuckDBPyConnection) -> str:
        raise NotImplementedError
