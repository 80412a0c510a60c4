"""Ibis compiles each distinct expression to SQL once per test module.

The property tests compare kept tables with their portable references (Ibis expressions over
the event log) after every append of random batches, on a fresh store per example. The
references' expressions are the same after every append and in every example -- only the data
under them moves -- yet Ibis compiled each again: most of those tests' time (60% of one check of
the derived-views test). :func:`compile_once` keeps each expression's SQL, keyed by the
expression's shape without its store (:func:`shape`: the SQL names the table, never the
connection); every query still runs on the current store, so every comparison is the same as
before. :func:`build_once` goes one step further for functions that only build expressions:
the same arguments on the same store give the same expression, built once.

Use as a module's autouse fixture: ``compiled = pytest.fixture(scope="module",
autouse=True)(compile_once)``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import ibis
import pytest

#: Expressions the compile memo keeps as they are (with their store) at most.
_BOUND_KEPT = 2000


def compile_once() -> Iterator[dict[tuple[Any, ...], str]]:
    """Patch Ibis's SQL backends to compile each distinct expression once; yields the memo."""
    from ibis.backends.sql import SQLBackend

    compile = SQLBackend.compile
    memo: dict[tuple[Any, ...], str] = {}
    # The memo's key is the expression's shape without its store (``shape``). Expressions
    # are first looked up as they are (an expression hashes once, when built; Ibis compares
    # the tables of two DuckDB connections as equal, so this finds them on every store);
    # that lookup is emptied now and then, so old stores' connections are not kept alive.
    bound: dict[tuple[Any, ...], str] = {}
    shapes: dict[tuple[Any, ...], int] = {}

    def compile_cached(
        self: Any, expr: Any, /, *, limit: Any = None, params: Any = None, pretty: bool = False
    ) -> str:
        if params:  # bound values: not worth a key
            return compile(self, expr, limit=limit, params=params, pretty=pretty)
        if len(bound) > _BOUND_KEPT:
            bound.clear()
        op = expr.op()
        sql = bound.get(near := (type(self), op, limit, pretty))
        if sql is None:
            key = (type(self), shape(op, shapes), limit, pretty)
            sql = memo.get(key)
            if sql is None:
                sql = memo[key] = compile(self, expr, limit=limit, pretty=pretty)
            bound[near] = sql
        return sql

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SQLBackend, "compile", compile_cached)
        yield memo


def shape(op: Any, shapes: dict[tuple[Any, ...], int]) -> int:
    """A number for the expression ``op`` with its tables' store left out: equal for two
    expressions exactly when they are equal but for the store their tables are on.

    Each node is numbered by its type and arguments (its children by their numbers), in
    ``shapes``: one pass over the graph, where rebuilding the graph without its store (the
    memo's key before) created and validated every node again.
    """
    import ibis.expr.operations as ops

    def number(node: Any, _: Any, **args: Any) -> _Node:
        if isinstance(node, ops.DatabaseTable):
            args["source"] = None
        key = (type(node), *(_frozen(v) for v in args.values()))
        return _Node(shapes.setdefault(key, len(shapes)))

    return op.map(number)[op].n


@dataclasses.dataclass(frozen=True, slots=True)
class _Node:
    """A child node's number among a node's arguments (never equal to a plain int)."""

    n: int


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return (dict, *((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value), *map(_frozen, value))
    return value


def build_once(*builders: Callable[..., Any]) -> Callable[[], Iterator[None]]:
    """A module fixture: each of ``builders`` (functions that only build an Ibis expression,
    never run one) returns the same expression object for the same arguments, until another
    store's tables come in.

    The property tests call the portable references with the same arguments many times per
    check (the impact reference builds each promise's outcomes 48 times per check) and again
    after every append; Ibis builds every expression node anew, and each new expression is
    compiled or looked up again. Every query still runs on the current store, so every
    comparison is the same as before. A call that reads the clock (a ``now`` of None) runs
    as it is; arguments are compared by value (expressions also by the store they are on),
    other objects (a journey configuration) by identity, kept alive by the memo so their
    identity is not reused.

    Use: ``built = pytest.fixture(scope="module", autouse=True)(build_once(f, g))``.
    """

    def fixture() -> Iterator[None]:
        import ibis.expr.operations as ops

        memo: dict[tuple[Any, ...], Any] = {}
        kept: dict[int, Any] = {}  # objects keyed by identity
        # The stores an expression's tables are on, by the expression's identity: Ibis
        # compares tables on two DuckDB connections as equal, so the memo's keys name them.
        stores: dict[int, tuple[Any, tuple[Any, ...]]] = {}
        current: list[Any] = [None]  # the store whose expressions the memo holds

        def key(x: Any) -> Any:
            if isinstance(x, ibis.Expr):
                op = x.op()
                if id(op) not in stores:
                    tables = op.find(ops.DatabaseTable)
                    stores[id(op)] = (op, tuple({id(t.source): t.source for t in tables}.values()))
                mine = stores[id(op)][1]
                if len(mine) == 1 and mine[0] is not current[0]:  # the next store: start again
                    memo.clear()
                    kept.clear()
                    stores.clear()
                    stores[id(op)] = (op, mine)
                    current[0] = mine[0]
                return (op, *map(id, mine))
            if x is None or isinstance(x, str | int | float | date | timedelta):
                return x
            if isinstance(x, list | tuple):
                return (type(x), *map(key, x))
            if dataclasses.is_dataclass(x) and not isinstance(x, type):
                values = {f.name: getattr(x, f.name) for f in dataclasses.fields(x)}
                if "now" in values and values["now"] is None:
                    raise _ReadsTheClock
                return (type(x), *map(key, values.values()))
            kept[id(x)] = x
            return (id(x),)

        def once(fn: Callable[..., Any]) -> Callable[..., Any]:
            signature = inspect.signature(fn)

            @functools.wraps(fn)
            def built(*args: Any, **kwargs: Any) -> Any:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                if bound.arguments.get("now", 0) is None:
                    return fn(*args, **kwargs)
                try:
                    k = (fn, *map(key, bound.arguments.values()))
                except _ReadsTheClock:
                    return fn(*args, **kwargs)
                if k not in memo:
                    memo[k] = fn(*args, **kwargs)
                return memo[k]

            return built

        with pytest.MonkeyPatch.context() as mp:
            for fn in builders:
                wrapped = once(fn)
                for module in list(sys.modules.values()):  # every module that imported it
                    name = getattr(module, "__name__", "")
                    if name.startswith("klantreis") and getattr(module, fn.__name__, None) is fn:
                        mp.setattr(module, fn.__name__, wrapped)
            yield

    return fixture


class _ReadsTheClock(Exception):
    """A condition without its ``now``: its expression depends on the time it is built."""
