"""Compile a Mapping to one DuckDB SELECT over a raw batch registered as ``_raw``.

The raw batch carries the source columns plus ``__row`` (its row index in the batch; named
by ``row_column`` when the source has a column ``__row``). The
query returns the canonical event columns plus ``__row``, ``__event`` (which event of the
row), ``__reason`` (why the event cannot be used, e.g. an unparseable time stamp, or
NULL) and ``__end_of_day`` (how many of its deadlines were dates, read as end of day). Rows
the mapping's ``where`` filters out give no events. Derived event ids are ``md5`` over the mapped content (not the file name), so sending
the same rows again, from any file, adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from klantreis.ingest.mapping import (
    FieldSpec,
    Mapping,
    MappingError,
    ResolvedEvent,
    RowCondition,
    conditions_of,
    template_columns,
    template_parts,
)
from klantreis.model.events import EVENT_COLUMNS
from klantreis.model.journey import JourneyConfig

__all__ = ["compile_mapping", "condition_sql", "deadline_rules", "slug_sql", "where_sql"]

#: Matched against the last 6 characters of a time stamp that contains ':' (a time):
#: cheaper than a regular expression over the whole text.
_ZONE_SUFFIX = r"(Z|z|UTC|[+-]\d{2}(:?\d{2})?)$"
#: The mapped content (``source_order`` is set by the runner: the row's record number and the
#: event's place in ``[[events]]``).
_CONTENT = [c for c in EVENT_COLUMNS if c not in ("event_id", "source", "source_order")]


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def slug_sql(expr: str) -> str:
    """Lower-case ASCII with runs of other characters as '_' (dots kept)."""
    return (
        f"NULLIF(trim(regexp_replace(lower(strip_accents({expr})), '[^a-z0-9.]+', '_', 'g'),"
        f" '_'), '')"
    )


def _column_text(column: str) -> str:
    return f"NULLIF(trim(CAST({ident(column)} AS VARCHAR)), '')"


def _raw_text(spec: FieldSpec) -> str:
    """The source text of a field: a column, a template (NULL when a column in it is empty)
    or the first non-empty of several columns."""
    if spec.column is not None:
        return _column_text(spec.column)
    if spec.template is not None:
        pieces = []
        for text, col in template_parts(spec.template):
            pieces += [lit(text)] if text else []
            pieces += [_column_text(col)] if col else []
        cols = template_columns(spec.template)
        missing = " OR ".join(f"{_column_text(c)} IS NULL" for c in cols)
        return f"(CASE WHEN {missing} THEN NULL ELSE concat({', '.join(pieces)}) END)"
    assert spec.coalesce is not None
    return f"coalesce({', '.join(_column_text(c) for c in spec.coalesce)})"


def text_expr(spec: FieldSpec) -> str:
    """The text of a field; a constant "" is empty (it clears a field set in [fields])."""
    if spec.value is not None:
        return lit(str(spec.value)) if str(spec.value) != "" else "CAST(NULL AS VARCHAR)"
    v = _raw_text(spec)
    if spec.map:
        cases = " ".join(f"WHEN {lit(k)} THEN {lit(str(val))}" for k, val in spec.map.items())
        v = f"(CASE {v} {cases} ELSE {v} END)"
    if spec.transform == "slug":
        v = slug_sql(v)
    elif spec.transform in ("lower", "upper"):
        v = f"{spec.transform}({v})"
    if spec.prefix:
        v = f"({lit(spec.prefix)} || {v})"
    if spec.default is not None:
        v = f"coalesce({v}, {lit(str(spec.default))})"
    return v


#: strptime directives that read a time of day: a format without them reads dates only.
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%T", "%R", "%c", "%X", "%s", "%f")


def _date_only_cond(s: str, fmts: list[str]) -> str:
    """True when the text is a date without a time of day."""
    if not fmts:
        return f"(NOT contains({s}, ':') AND TRY_CAST({s} AS DATE) IS NOT NULL)"
    dates = [f for f in fmts if not any(d in f for d in _TIME_DIRECTIVES)]
    if not dates:
        return "FALSE"
    return f"(try_strptime({s}, [{', '.join(map(lit, dates))}]) IS NOT NULL)"


def timestamp_expr(
    spec: FieldSpec, timezone: str, formats: list[str], date_only: str = "start_of_day"
) -> str:
    """A TIMESTAMPTZ: with offset as given, naive as local time in ``timezone``; a date
    without a time is the start (or with ``date_only="end_of_day"``, the last second) of
    that local day."""
    if spec.value is not None:
        return f"TRY_CAST({lit(spec.value)} AS TIMESTAMPTZ)"
    s = _raw_text(spec)
    fmts = spec.formats or formats
    tz = lit(timezone)
    shift = ""
    if date_only == "end_of_day":
        shift = f" + (CASE WHEN {_date_only_cond(s, fmts)} THEN INTERVAL 86399 SECOND"
        shift += " ELSE INTERVAL 0 SECOND END)"
    if not fmts:
        return (
            f"(CASE WHEN contains({s}, ':') AND regexp_matches(right({s}, 6),"
            f" {lit(_ZONE_SUFFIX)})"
            f" THEN TRY_CAST({s} AS TIMESTAMPTZ)"
            f" ELSE timezone({tz}, TRY_CAST({s} AS TIMESTAMP){shift}) END)"
        )
    zoned = [f for f in fmts if "%z" in f or "%Z" in f]
    naive = [f for f in fmts if f not in zoned]
    parts = []
    if zoned:
        parts.append(f"CAST(try_strptime({s}, [{', '.join(map(lit, zoned))}]) AS TIMESTAMPTZ)")
    if naive:
        parts.append(
            f"timezone({tz}, CAST(try_strptime({s}, [{', '.join(map(lit, naive))}])"
            f" AS TIMESTAMP){shift})"
        )
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _integer(base: str) -> str:
    """An integer from text: "3", "3.0" and "3e0" give 3; "3.5" gives NULL (not rounded)."""
    d = f"TRY_CAST({base} AS DOUBLE)"
    return (
        f"(CASE WHEN regexp_full_match({base}, '[+-]?[0-9]+') THEN TRY_CAST({base} AS BIGINT)"
        f" WHEN {d} = trunc({d}) THEN TRY_CAST({d} AS BIGINT) END)"
    )


def _typed_expr(
    spec: FieldSpec, kind: str, timezone: str, formats: list[str], date_only: str = "start_of_day"
) -> tuple[str, str | None]:
    """(value expression, failure condition or None) for a typed field or attribute."""
    if kind == "timestamp":
        ts = timestamp_expr(spec, timezone, formats, date_only)
        return ts, (
            f"({_raw_text(spec)} IS NOT NULL AND {ts} IS NULL)" if spec.value is None else None
        )
    base = text_expr(spec)
    casts = {
        "number": f"coalesce(TRY_CAST({base} AS DOUBLE),"
        f" TRY_CAST(replace({base}, ',', '.') AS DOUBLE))",
        "integer": _integer(base),
        "bool": f"TRY_CAST({base} AS BOOLEAN)",
        "json": f"(CASE WHEN json_valid({base}) THEN json({base}) END)",
    }
    if kind not in casts:
        return base, None
    if spec.value is not None:  # a constant: no per-row failure
        return casts[kind], None
    return casts[kind], f"({base} IS NOT NULL AND {casts[kind]} IS NULL)"


def _as_text(expr: str, kind: str) -> str:
    """A typed value as the text an event field stores: 3 (not 3.0), 2.5, true."""
    if kind == "integer":
        return f"CAST({expr} AS VARCHAR)"
    if kind == "number":
        return (
            f"(CASE WHEN {expr} = trunc({expr}) AND abs({expr}) < 1e15"
            f" THEN CAST(CAST({expr} AS BIGINT) AS VARCHAR) ELSE CAST({expr} AS VARCHAR) END)"
        )
    if kind == "bool":
        return f"CAST({expr} AS VARCHAR)"
    return expr


def _failure(cond: str, what: str, spec: FieldSpec) -> str:
    return (
        f"CASE WHEN {cond} THEN {lit(f'{what} in {spec.label}: ')}"
        f" || left({_raw_text(spec)}, 60) END"
    )


def _what(kind: str) -> str:
    return "unparseable time stamp" if kind == "timestamp" else f"not a {kind}"


class _Dates:
    """How date-only time stamps are read, and a count of the deadlines read as end of day."""

    def __init__(self, mapping: Mapping, deadline_rules: dict[str, str]) -> None:
        self.source_rule = mapping.source.date_only
        self.deadline_rules = deadline_rules
        self.counted: list[str] = []

    def rule(self, spec: FieldSpec, attr: str | None) -> str:
        if spec.date_only:
            return spec.date_only
        if attr is not None and attr in self.deadline_rules:
            return self.deadline_rules[attr]
        return self.source_rule or "start_of_day"

    def note(self, spec: FieldSpec, fmts: list[str], attr: str) -> None:
        """Count date-only deadlines (the summary says how they were read)."""
        if attr in self.deadline_rules and spec.value is None:
            self.counted.append(
                f"(CASE WHEN {_date_only_cond(_raw_text(spec), spec.formats or fmts)}"
                " THEN 1 ELSE 0 END)"
            )


def _attrs_expr(
    ev: ResolvedEvent, timezone: str, formats: list[str], failures: list[str], dates: _Dates
) -> str:
    pairs = []
    for key, spec in ev.attrs.items():
        expr, bad = _typed_expr(spec, spec.type, timezone, formats, dates.rule(spec, key))
        if spec.type == "timestamp":
            expr = f"strftime(timezone('UTC', {expr}), '%Y-%m-%dT%H:%M:%SZ')"
            dates.note(spec, formats, key)
        if bad:
            failures.append(_failure(bad, _what(spec.type), spec))
        pairs.append(f"{lit(key)}, {expr}")
    obj = f"CAST(json_object({', '.join(pairs)}) AS VARCHAR)" if pairs else None
    base = text_expr(ev.fields["attrs"]) if "attrs" in ev.fields else None
    if base and obj:
        return (
            f"(CASE WHEN json_valid({base}) THEN CAST(json_merge_patch({base}, {obj})"
            f" AS VARCHAR) ELSE {base} END)"
        )
    return base or obj or "CAST(NULL AS VARCHAR)"


def row_column(available: Iterable[str]) -> str:
    """The name of the raw batch's row-index column: ``__row``, unless the source has a
    column of that name (then ``__row_1``, ...), so a source column is never shadowed."""
    taken = set(available)
    name, n = "__row", 0
    while name in taken:
        n += 1
        name = f"__row_{n}"
    return name


def _field_expr(
    name: str, spec: FieldSpec, tz: str, fmts: list[str], failures: list[str], dates: _Dates
) -> str:
    """One event column (not attrs): typed as its ``type`` says, stored as the column's type."""
    if name == "occurred_at":
        expr, bad = _typed_expr(spec, "timestamp", tz, fmts, dates.rule(spec, None))
        what = "unparseable time stamp"
    elif name == "score":
        kind = "integer" if spec.type == "integer" else "number"
        expr, bad = _typed_expr(spec, kind, tz, fmts)
        expr = f"CAST({expr} AS DOUBLE)"
        what = "score is not a number" if kind == "number" else "score is not an integer"
    elif spec.type in ("integer", "number", "bool"):
        typed, bad = _typed_expr(spec, spec.type, tz, fmts)
        expr, what = _as_text(typed, spec.type), _what(spec.type)
    else:
        return text_expr(spec)
    if bad:
        failures.append(_failure(bad, what, spec))
    return expr


def condition_sql(cond: RowCondition) -> str:
    """SQL for one ``where``/``when`` condition on the source text of a column."""
    v = _column_text(cond.column)
    tests = []
    if cond.empty is not None:
        tests.append(f"{v} IS {'' if cond.empty else 'NOT '}NULL")
    if cond.equals is not None:
        tests.append(f"{v} = {lit(str(cond.equals))}")
    if cond.not_equals is not None:
        tests.append(f"{v} IS DISTINCT FROM {lit(str(cond.not_equals))}")
    if cond.in_ is not None:
        tests.append(f"{v} IN ({', '.join(lit(str(x)) for x in cond.in_)})")
    if cond.not_in is not None:
        values = ", ".join(lit(str(x)) for x in cond.not_in)
        tests.append(f"({v} IS NULL OR {v} NOT IN ({values}))")
    if cond.matches is not None:
        tests.append(f"regexp_matches({v}, {lit(cond.matches)})")
    if not tests:
        tests.append(f"{v} IS NOT NULL")
    return "(" + " AND ".join(f"coalesce({t}, FALSE)" for t in tests) + ")"


def where_sql(mapping: Mapping) -> str | None:
    """The mapping's row filter (``[source] where``) as SQL, or None without one."""
    conds = conditions_of(mapping.source.where)
    return " AND ".join(condition_sql(c) for c in conds) if conds else None


def _event_select(
    ev: ResolvedEvent,
    index: int,
    mapping: Mapping,
    multi: bool,
    dates: _Dates,
    row: str = "__row",
) -> str:
    tz, fmts = mapping.source.timezone, mapping.source.timestamp_formats
    failures: list[str] = []
    dates.counted = []
    cols = [f'"{row}" AS __row, {index} AS __event']
    for name in _CONTENT:
        spec = ev.fields.get(name)
        if name == "attrs":
            cols.append(f"{_attrs_expr(ev, tz, fmts, failures, dates)} AS attrs")
        elif spec is None:
            cols.append(f"CAST(NULL AS {'DOUBLE' if name == 'score' else 'VARCHAR'}) AS {name}")
        else:
            cols.append(f"{_field_expr(name, spec, tz, fmts, failures, dates)} AS {name}")
    src = ev.fields.get("source")
    cols.append(f"{text_expr(src) if src else 'CAST(NULL AS VARCHAR)'} AS source")
    cols.append(f"{_event_id_expr(ev, multi)} AS __given_id")
    reason = f"coalesce({', '.join(failures)})" if failures else "CAST(NULL AS VARCHAR)"
    cols.append(f"{reason} AS __reason")
    cols.append(f"{' + '.join(dates.counted) if dates.counted else '0'} AS __end_of_day")
    conds = [condition_sql(c) for c in ev.when]
    if ev.filled is not None and ev.filled.value is None:
        conds.append(f"{_raw_text(ev.filled)} IS NOT NULL")
    if (row_filter := where_sql(mapping)) is not None:
        conds.insert(0, row_filter)
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    return f"SELECT {', '.join(cols)} FROM _raw{where}"


def _event_id_expr(ev: ResolvedEvent, multi: bool) -> str:
    spec = ev.fields.get("event_id")
    if spec is None:
        return "CAST(NULL AS VARCHAR)"
    expr = text_expr(spec)
    return f"({expr} || ':' || {text_expr(ev.fields['kind'])})" if multi else expr


def _derived_id() -> str:
    parts = ", ".join(f"coalesce(CAST({c} AS VARCHAR), '')" for c in _CONTENT)
    return f"md5(concat_ws(chr(31), {parts}))"


def check_columns(mapping: Mapping, available: Iterable[str], path: str) -> None:
    have = set(available)
    missing = sorted(mapping.columns() - have)
    if missing:
        raise MappingError(
            path,
            [
                f"the mapping uses column(s) {', '.join(map(repr, missing))} that the file does"
                f" not have (it has: {', '.join(sorted(have))[:400]})"
            ],
        )


def deadline_rules(journey: JourneyConfig | None) -> dict[str, str]:
    """Attribute key -> how a date-only deadline is read, from the journey's promises
    (``deadline_date``, default end of day)."""
    if journey is None:
        return {"deadline": "end_of_day"}
    return {p.deadline_attr: p.deadline_date for p in journey.promises} or {
        "deadline": "end_of_day"
    }


def compile_mapping(
    mapping: Mapping,
    available: Iterable[str],
    path: str = "<file>",
    journey: JourneyConfig | None = None,
) -> str:
    """The SELECT turning ``_raw`` into candidate events (see module docs). ``journey``
    names the deadline attributes of its promises: a date-only deadline is read as the end
    of that local day unless the promise or the mapping says otherwise."""
    check_columns(mapping, available, path)
    events = mapping.resolved_events()
    multi = len(events) > 1
    available = list(available)
    row = row_column(available)
    dates = _Dates(mapping, deadline_rules(journey))
    union = " UNION ALL ".join(
        _event_select(ev, i, mapping, multi, dates, row) for i, ev in enumerate(events)
    )
    derived = "event_id" not in events[0].fields
    event_id = _derived_id() if derived else "__given_id"
    content = ", ".join(_CONTENT)
    return (
        f"SELECT {event_id} AS event_id, {content}, source,"
        f" CAST(NULL AS BIGINT) AS source_order, __row, __event, __reason,"
        f" __end_of_day FROM ({union})"
    )
