"""The validation rules of the canonical event, side by side, each defined once.

A rule is data: a name, the reason a rejected row gets, and the condition under which a row
fails it, written in the small expression language of ``klantreis.model.expressions``, which
compiles both ways:

* to Arrow compute (``validate_events``: files, the demo, HTTP batches), and
* to one DuckDB ``CASE`` expression (``validation_reason_sql``: the Parquet SQL path and the
  HTTP writer's prebuilt requests).

The first failing rule of a row is its reason, in the order of :data:`RULES`. Conditions
follow SQL's three-valued logic on both sides (a NULL verdict does not reject), so the two
compilations agree rule by rule; ``tests/model/test_validation.py`` checks that for every rule.

``quick_valid`` is not a third copy of the rules but a shortcut in front of them: a per-record
check in Python that says "plainly valid" (cheaper than the vectorised rules for small HTTP
batches) or "ask the rules". The same test checks it refuses every rule's example.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from klantreis.model.events import EVENT_COLUMNS, conform, years_ahead
from klantreis.model.expressions import (
    And,
    ArrowEnv,
    Col,
    Column,
    Compare,
    Expr,
    IsIn,
    IsNan,
    IsNull,
    IsValid,
    JsonValid,
    Latest,
    Length,
    Not,
    NotMatching,
    Or,
    Otherwise,
    Params,
    StartsWith,
    Value,
    sql_text,
)

__all__ = [
    "EARLIEST",
    "KIND_PATTERN",
    "LATEST_YEARS_AHEAD",
    "MAX_FIELD_CHARS",
    "MAX_TEXT_CHARS",
    "METRIC_RANGES",
    "RULES",
    "Rule",
    "ValidationResult",
    "quick_valid",
    "validate_events",
    "validation_reason_sql",
]

#: Allowed inclusive score range per feedback metric.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "nps": (0, 10),
    "ces": (1, 7),
    "csat": (1, 5),
    "stars": (1, 5),
}

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")

#: Time stamps outside this window are treated as impossible.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST_YEARS_AHEAD = 5
MAX_TEXT_CHARS = 100_000
MAX_FIELD_CHARS = 1_000

# -- the rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One validation rule: a row for which ``fails`` is true is rejected with ``reason``.

    ``example`` holds changes to a valid record that make it fail this rule (documentation,
    and the test cases of both compilations)."""

    name: str
    reason: str
    fails: Expr
    example: dict[str, Any] = field(default_factory=dict)


def _rules() -> tuple[Rule, ...]:
    eid, ts, kind = Col("event_id"), Col("occurred_at"), Col("kind")
    metric, score, attrs = Col("metric"), Col("score"), Col("attrs")
    known = tuple(METRIC_RANGES)
    rules = [
        Rule(
            "event_id.missing",
            "missing event_id",
            Or((IsNull(eid), Compare(Length(eid), "=", Value(0)))),
            {"event_id": ""},
        ),
        Rule(
            "occurred_at.missing",
            "missing or unparseable occurred_at",
            IsNull(ts),
            {"occurred_at": "yesterday"},
        ),
        Rule(
            "occurred_at.too_early",
            "impossible occurred_at (before 1990)",
            Compare(ts, "<", Value(EARLIEST)),
            {"occurred_at": "1989-12-31T23:59:59Z"},
        ),
        Rule(
            "occurred_at.too_late",
            f"impossible occurred_at (more than {LATEST_YEARS_AHEAD} years ahead)",
            Compare(ts, ">", Latest()),
            {"occurred_at": "2999-01-01T00:00:00Z"},
        ),
        Rule("kind.missing", "missing kind", IsNull(kind), {"kind": None}),
        Rule(
            "kind.pattern",
            "kind must be dotted lower-case, e.g. order.placed",
            NotMatching(kind, KIND_PATTERN.pattern),
            {"kind": "Order Placed"},
        ),
    ]
    rules += [
        Rule(
            f"{name}.too_long",
            f"{name} longer than {MAX_FIELD_CHARS} characters",
            Compare(Length(Col(name)), ">", Value(MAX_FIELD_CHARS)),
            {name: "x" * (MAX_FIELD_CHARS + 1)},
        )
        for name, (typ, _) in EVENT_COLUMNS.items()
        if typ == pa.string() and name not in ("text", "attrs")
    ]
    rules += [
        Rule(
            "text.too_long",
            f"text longer than {MAX_TEXT_CHARS} characters",
            Compare(Length(Col("text")), ">", Value(MAX_TEXT_CHARS)),
            {"text": "x" * (MAX_TEXT_CHARS + 1)},
        ),
        Rule(
            "score.nan",
            "score is not a number",
            And((IsValid(score), IsNan(score))),
            {"metric": "nps", "score": "hoog"},
        ),
        Rule(
            "score.without_metric",
            f"score without a known metric ({', '.join(known)})",
            And((IsValid(score), Otherwise(Not(IsIn(metric, known)), True))),
            {"score": 3},
        ),
        Rule(
            "metric.without_score",
            "metric without a score",
            And((IsValid(metric), IsNull(score))),
            {"metric": "nps"},
        ),
        # Shadowed by the two rules above (a row with an unknown metric fails one of them
        # first); kept so that no order of the rules could let such a row through.
        Rule(
            "metric.unknown",
            f"unknown metric (use {', '.join(known[:-1])} or {known[-1]})",
            Not(IsIn(metric, known)),
            {"metric": "effort", "score": 3},
        ),
    ]
    rules += [
        Rule(
            f"{name}.out_of_range",
            f"{name} score outside {lo:g}-{hi:g}",
            And(
                (
                    Compare(metric, "=", Value(name)),
                    Not(IsNan(score)),  # DuckDB orders NaN above every number; Arrow does not
                    Or((Compare(score, "<", Value(lo)), Compare(score, ">", Value(hi)))),
                )
            ),
            {"metric": name, "score": hi + 1},
        )
        for name, (lo, hi) in METRIC_RANGES.items()
    ]
    rules += [
        Rule(
            "attrs.not_object",
            "attrs must be a JSON object",
            Not(StartsWith(attrs, "{")),
            {"attrs": "[1, 2]"},
        ),
        Rule(
            "attrs.invalid_json",
            "attrs is not valid JSON",
            Not(JsonValid(attrs)),
            {"attrs": "{bad json"},
        ),
    ]
    return tuple(rules)


#: Every rule, in the order they are checked (the first failing one is a row's reason).
RULES: tuple[Rule, ...] = _rules()


def _params(now: datetime | None, known_kinds: Iterable[str] = ()) -> Params:
    now = now or datetime.now(UTC)
    return Params(years_ahead(now, LATEST_YEARS_AHEAD), tuple(known_kinds))


# -- the Arrow compilation ------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationResult:
    """Valid rows conforming to EVENT_SCHEMA, and rejected row indices with reasons."""

    valid: pa.Table
    rejected_index: list[int]
    rejected_reason: list[str]


def validate_events(table: pa.Table, now: datetime | None = None) -> ValidationResult:
    """Check every row against :data:`RULES`; the first failing rule of a row is its reason.

    Rules: occurred_at present and within [1990, now + 5 years]; kind present and dotted
    lower-case; event_id present (callers derive one when the source has none); a score has a
    known metric and lies in its range; text at most 100,000 characters, other text fields at
    most 1,000; attrs, when present, is a JSON object.
    """
    table = conform(table)
    env = ArrowEnv(table, _params(now))
    reasons = _Reasons(table.num_rows)
    for rule in RULES:
        reasons.mark(env.eval(rule.fails), rule.reason)
    if not reasons.by_index:
        return ValidationResult(table, [], [])
    bad = sorted(reasons.by_index)
    keep = pa.array(~reasons.marked)
    return ValidationResult(table.filter(keep), bad, [reasons.by_index[i] for i in bad])


class _Reasons:
    """First failing rule per row; vectorised bookkeeping (Python touches bad rows only)."""

    def __init__(self, n: int) -> None:
        self.marked = np.zeros(n, dtype=bool)
        self.by_index: dict[int, str] = {}

    def mark(self, mask: Column, reason: str) -> None:
        hits = pc.fill_null(mask, False)
        if not pc.any(hits).as_py():
            return
        new = np.asarray(hits.to_numpy(zero_copy_only=False), dtype=bool) & ~self.marked
        for i in np.flatnonzero(new).tolist():
            self.by_index[i] = reason
        self.marked |= new


# -- the SQL compilation --------------------------------------------------------------------


def validation_reason_sql(now: datetime | None = None, known_kinds: Iterable[str] = ()) -> str:
    """:data:`RULES` as one DuckDB CASE expression over the canonical columns: the first
    failing rule's reason, or NULL for a valid row.

    ``known_kinds`` (e.g. the journey's) only spare the regular expression for kinds that
    pass it anyway.
    """
    params = _params(now, known_kinds)
    whens = " ".join(
        static or f"WHEN {rule.fails.sql(params)} THEN {sql_text(rule.reason)}"
        for rule, static in zip(RULES, _static_whens(), strict=True)
    )
    return f"(CASE {whens} END)"


@functools.cache
def _static_whens() -> tuple[str | None, ...]:
    """Each rule's ``WHEN`` clause when it does not depend on the parameters (rendered once:
    the HTTP writer asks for the expression per batch), else None."""
    one = Params(datetime(2000, 1, 1, tzinfo=UTC), ("a.b",))
    two = Params(datetime(2001, 1, 1, tzinfo=UTC), ())
    return tuple(
        f"WHEN {rule.fails.sql(one)} THEN {sql_text(rule.reason)}"
        if rule.fails.sql(one) == rule.fails.sql(two)
        else None
        for rule in RULES
    )


# -- the per-record shortcut ----------------------------------------------------------------

_PLAIN_FIELDS = ("customer_id", "journey_id", "touchpoint", "channel", "owner", "lang", "source")


def quick_valid(
    records: Sequence[Mapping[str, Any]], table: pa.Table, now: datetime | None = None
) -> bool:
    """True only when ``validate_events(table)`` would reject no row, where ``table`` is
    ``conform(events_from_records(records))``: the plain case (text fields are strings, a
    score is a number with its metric) checked per record in Python, cheaper than the
    vectorised rules for small batches. False means "run ``validate_events``" (which finds
    the reasons), not necessarily that a row is invalid."""
    if not all(_plain_record(rec) for rec in records):
        return False
    ts = table.column("occurred_at")
    if ts.null_count or table.num_rows != len(records):
        return False
    params = _params(now)
    if table.num_rows:
        bounds_ts = pc.min_max(ts)
        earliest, latest = bounds_ts["min"].as_py(), bounds_ts["max"].as_py()
        if earliest < EARLIEST or latest > params.latest:
            return False
    attrs = table.column("attrs")
    if attrs.null_count != len(attrs):
        reasons = _Reasons(table.num_rows)
        env = ArrowEnv(table, params)
        for rule in _ATTRS_RULES:
            reasons.mark(env.eval(rule.fails), rule.reason)
        if reasons.by_index:
            return False
    return True


_ATTRS_RULES = tuple(rule for rule in RULES if rule.name.startswith("attrs."))


def _plain_record(rec: Mapping[str, Any]) -> bool:
    """The record's id, kind, text fields and score are plainly valid (time stamps and
    attrs are checked on the table)."""
    eid = rec.get("event_id")
    if type(eid) is not str or not 0 < len(eid) <= MAX_FIELD_CHARS:
        return False
    kind = rec.get("kind")
    if type(kind) is not str or not _plain_kind(kind):
        return False
    for name in _PLAIN_FIELDS:
        value = rec.get(name)
        if value is not None and (type(value) is not str or len(value) > MAX_FIELD_CHARS):
            return False
    text = rec.get("text")
    if text is not None and (type(text) is not str or len(text) > MAX_TEXT_CHARS):
        return False
    metric, score = rec.get("metric"), rec.get("score")
    if metric is None:
        return score is None
    bounds = METRIC_RANGES.get(metric) if type(metric) is str else None
    if bounds is None or not (type(score) is int or type(score) is float):
        return False
    return bool(bounds[0] <= score <= bounds[1])  # also False for NaN


@functools.lru_cache(maxsize=4096)
def _plain_kind(kind: str) -> bool:
    """The kind rules for one value (Arrow's RE2 ``$`` does not match before a final
    newline, so a newline is never plain)."""
    return len(kind) <= MAX_FIELD_CHARS and "\n" not in kind and bool(KIND_PATTERN.fullmatch(kind))
