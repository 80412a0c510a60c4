"""Expressions over the canonical event columns, written once and compiled two ways.

A condition (:class:`Expr`) is a small tree — columns, constants, comparisons, ``AND``/``OR``/
``NOT``, ``IN``, lengths, a regular expression, ``json_valid`` — that evaluates with Arrow
compute (``Expr.arrow``) and renders as DuckDB SQL (``Expr.sql``). Both follow SQL's
three-valued logic (``AND``/``OR`` are Kleene's, ``IN`` of NULL is NULL), so a condition means
the same on both sides. The validation rules (``klantreis.model.validation``) are written in it.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "And",
    "ArrowEnv",
    "Col",
    "Column",
    "Compare",
    "Expr",
    "IsIn",
    "IsNan",
    "IsNull",
    "IsValid",
    "JsonValid",
    "Latest",
    "Length",
    "Not",
    "NotMatching",
    "Or",
    "Otherwise",
    "Params",
    "StartsWith",
    "Value",
    "sql_text",
]

_TS = pa.timestamp("us", tz="UTC")
#: What a compiled expression gives in Arrow: an array, a chunked array or a scalar.
Column: TypeAlias = pa.Array | pa.ChunkedArray | pa.Scalar


@dataclass(frozen=True)
class Params:
    """What a condition may depend on besides the row: the latest possible time stamp, and
    (SQL only, an optimisation) kinds known to be valid so their pattern check is spared."""

    latest: datetime
    known_kinds: tuple[str, ...] = ()


class Expr:
    """A condition or value over the canonical columns, compiled to Arrow or to SQL."""

    def arrow(self, table: pa.Table, p: Params) -> Column:
        """Evaluate on ``table`` with Arrow compute."""
        return ArrowEnv(table, p).eval(self)

    def _arrow(self, env: ArrowEnv) -> Column:
        raise NotImplementedError

    def sql(self, p: Params) -> str:
        raise NotImplementedError


class ArrowEnv:
    """One evaluation over one table: a subexpression shared by several rules (a column's
    null mask, the known-metric test) is computed once."""

    def __init__(self, table: pa.Table, params: Params) -> None:
        self.table = table
        self.params = params
        self._memo: dict[Expr, Column] = {}

    def eval(self, expr: Expr) -> Column:
        value = self._memo.get(expr)
        if value is None:
            value = self._memo[expr] = expr._arrow(self)
        return value


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Col(Expr):
    name: str

    def _arrow(self, env: ArrowEnv) -> Column:
        return env.table.column(self.name)

    def sql(self, p: Params) -> str:
        return self.name


@dataclass(frozen=True)
class Value(Expr):
    """A constant: a string, a number or a time stamp."""

    value: str | float | datetime

    def _arrow(self, env: ArrowEnv) -> Column:
        if isinstance(self.value, datetime):
            return pa.scalar(self.value, _TS)
        return pa.scalar(self.value)

    def sql(self, p: Params) -> str:
        if isinstance(self.value, datetime):
            return f"TIMESTAMPTZ {sql_text(self.value.astimezone(UTC).isoformat())}"
        if isinstance(self.value, str):
            return sql_text(self.value)
        return repr(self.value)


@dataclass(frozen=True)
class Latest(Expr):
    """The latest possible time stamp (``now`` + ``LATEST_YEARS_AHEAD`` years)."""

    def _arrow(self, env: ArrowEnv) -> Column:
        return pa.scalar(env.params.latest, _TS)

    def sql(self, p: Params) -> str:
        return Value(p.latest).sql(p)


@dataclass(frozen=True)
class IsNull(Expr):
    arg: Expr

    def _arrow(self, env: ArrowEnv) -> Column:
        return pc.is_null(env.eval(self.arg))

    def sql(self, p: Params) -> str:
        return f"{self.arg.sql(p)} IS NULL"


@dataclass(frozen=True)
class IsValid(Expr):
    arg: Expr

    def _arrow(self, env: ArrowEnv) -> Column:
        return pc.is_valid(env.eval(self.arg))

    def sql(self, p: Params) -> str:
        return f"{self.arg.sql(p)} IS NOT NULL"


@dataclass(frozen=True)
class Length(Expr):
    """Length in code points (Arrow's ``utf8_length``, DuckDB's ``length``)."""

    arg: Expr

    def _arrow(self, env: ArrowEnv) -> Column:
        return pc.utf8_length(env.eval(self.arg))

    def sql(self, p: Params) -> str:
        return f"length({self.arg.sql(p)})"


_COMPARE = {"<": pc.less, ">": pc.greater, "=": pc.equal}


@dataclass(frozen=True)
class Compare(Expr):
    left: Expr
    op: str  # one of _COMPARE
    right: Expr

    def _arrow(self, env: ArrowEnv) -> Column:
        return _COMPARE[self.op](env.eval(self.left), env.eval(self.right))

    def sql(self, p: Params) -> str:
        return f"{self.left.sql(p)} {self.op} {self.right.sql(p)}"


@dataclass(frozen=True)
class And(Expr):
    args: tuple[Expr, ...]

    def _arrow(self, env: ArrowEnv) -> Column:
        return functools.reduce(pc.and_kleene, (env.eval(a) for a in self.args))

    def sql(self, p: Params) -> str:
        return "(" + " AND ".join(a.sql(p) for a in self.args) + ")"


@dataclass(frozen=True)
class Or(Expr):
    args: tuple[Expr, ...]

    def _arrow(self, env: ArrowEnv) -> Column:
        return functools.reduce(pc.or_kleene, (env.eval(a) for a in self.args))

    def sql(self, p: Params) -> str:
        return "(" + " OR ".join(a.sql(p) for a in self.args) + ")"


@dataclass(frozen=True)
class Not(Expr):
    arg: Expr

    def _arrow(self, env: ArrowEnv) -> Column:
        return pc.invert(env.eval(self.arg))

    def sql(self, p: Params) -> str:
        return f"NOT ({self.arg.sql(p)})"


@dataclass(frozen=True)
class IsIn(Expr):
    """SQL's ``IN``: NULL for a NULL value."""

    arg: Expr
    values: tuple[str, ...]

    def _arrow(self, env: ArrowEnv) -> Column:
        values = env.eval(self.arg)
        found = pc.is_in(values, value_set=pa.array(self.values, pa.string()))
        return pc.if_else(pc.is_valid(values), found, pa.scalar(None, pa.bool_()))

    def sql(self, p: Params) -> str:
        return f"{self.arg.sql(p)} IN ({', '.join(map(sql_text, self.values))})"


@dataclass(frozen=True)
class Otherwise(Expr):
    """The condition, or ``default`` where it is NULL."""

    arg: Expr
    default: bool

    def _arrow(self, env: ArrowEnv) -> Column:
        return pc.fill_null(env.eval(self.arg), self.default)

    def sql(self, p: Params) -> str:
        return f"coalesce({self.arg.sql(p)}, {str(self.default).upper()})"


@dataclass(frozen=True)
class IsNan(Expr):
    arg: Expr

    def _arrow(self, env: ArrowEnv) -> Column:
        return pc.is_nan(env.eval(self.arg))

    def sql(self, p: Params) -> str:
        return f"isnan({self.arg.sql(p)})"


@dataclass(frozen=True)
class StartsWith(Expr):
    arg: Expr
    prefix: str

    def _arrow(self, env: ArrowEnv) -> Column:
        return pc.starts_with(env.eval(self.arg), self.prefix)

    def sql(self, p: Params) -> str:
        return f"starts_with({self.arg.sql(p)}, {sql_text(self.prefix)})"


@dataclass(frozen=True)
class NotMatching(Expr):
    """Not matching the regular expression ``pattern`` (RE2 on both sides: Arrow's
    ``match_substring_regex``, DuckDB's ``regexp_matches``). In SQL the known values
    (``Params.known_kinds``) that match it are spared the regular expression."""

    arg: Expr
    pattern: str

    def _arrow(self, env: ArrowEnv) -> Column:
        return pc.invert(pc.match_substring_regex(env.eval(self.arg), self.pattern))

    def sql(self, p: Params) -> str:
        value = self.arg.sql(p)
        rule = f"NOT regexp_matches({value}, {sql_text(self.pattern)})"
        matcher = re.compile(self.pattern)
        # RE2's ``$`` does not match before a final newline (Python's does): never spared
        spared = sorted(k for k in p.known_kinds if matcher.fullmatch(k) and "\n" not in k)
        if spared:
            rule = f"{value} NOT IN ({', '.join(map(sql_text, spared))}) AND {rule}"
        return f"({rule})"


@dataclass(frozen=True)
class JsonValid(Expr):
    """DuckDB's ``json_valid`` (in Arrow: run by a small in-memory DuckDB, vectorised)."""

    arg: Expr

    def _arrow(self, env: ArrowEnv) -> Column:
        values = env.eval(self.arg)
        if values.null_count == len(values):
            return pa.nulls(len(values), pa.bool_())
        con = _json_connection()
        con.register("_attrs", pa.table({"a": values}))
        try:
            return con.sql("SELECT json_valid(a) AS ok FROM _attrs").to_arrow_table().column("ok")
        finally:
            con.unregister("_attrs")

    def sql(self, p: Params) -> str:
        return f"json_valid({self.arg.sql(p)})"


_local = threading.local()


def _json_connection() -> duckdb.DuckDBPyConnection:
    """One small in-memory DuckDB per thread for vectorised JSON checks (connecting costs
    tens of milliseconds, too much per batch)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
    return con
