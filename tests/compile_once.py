"""Ibis compiles each distinct expression to SQL once per test module.

The property tests compare kept tables with their portable references (Ibis expressions over
the event log) after every append of random batches, on a fresh store per example. The
references' expressions are the same after every append and in every example -- only the data
under them moves -- yet Ibis compiled each again: most of those tests' time (60% of one check of
the derived-views test). :func:`compile_once` keeps each expression's SQL, keyed by the
expression with its database tables unbound from their connection (the SQL names the table,
never the connection); every query still runs on the current store, so every comparison is
the same as before.

Use as a module's autouse fixture: ``compiled = pytest.fixture(scope="module",
autouse=True)(compile_once)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def compile_once() -> Iterator[dict[tuple[Any, ...], str]]:
    """Patch Ibis's SQL backends to compile each distinct expression once; yields the memo."""
    import ibis.expr.operations as ops
    from ibis.backends.sql import SQLBackend

    compile = SQLBackend.compile
    memo: dict[tuple[Any, ...], str] = {}
    # Unbinding rebuilds the expression's whole graph (a third of the patched compile's
    # time): the same backend's expressions are first looked up as they are (an expression
    # hashes once, when built), for the current backend only -- an old store's connection
    # is not kept alive by the memo.
    bound: dict[tuple[Any, ...], str] = {}
    backend: list[Any] = [None]

    def unbound(op: Any) -> Any:
        tables = op.find(ops.DatabaseTable)
        return op.replace({t: t.copy(source=None) for t in tables}) if tables else op

    def compile_cached(
        self: Any, expr: Any, /, *, limit: Any = None, params: Any = None, pretty: bool = False
    ) -> str:
        if params:  # bound values: not worth a key
            return compile(self, expr, limit=limit, params=params, pretty=pretty)
        if backend[0] is not self:
            backend[0] = self
            bound.clear()
        op = expr.op()
        sql = bound.get(near := (type(self), op, limit, pretty))
        if sql is None:
            key = (type(self), unbound(op), limit, pretty)
            sql = memo.get(key)
            if sql is None:
                sql = memo[key] = compile(self, expr, limit=limit, pretty=pretty)
            bound[near] = sql
        return sql

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SQLBackend, "compile", compile_cached)
        yield memo
