"""Compile a Mapping to one DuckDB SELECT over a raw batch registered as ``_raw``.

The raw batch carries the source columns plus ``__row`` (its row index in the batch). The
query returns the canonical event columns plus ``__row``, ``__event`` (which event of the
row) and ``__reason`` (why the event cannot be used, e.g. an unparseable time stamp, or
NULL). Derived event ids are ``md5`` over the mapped content (not the file name), so sending
the same rows again, from any file, adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from klantreis.ingest.mapping import FieldSpec, Mapping, MappingError, ResolvedEvent
from klantreis.model.events import EVENT_COLUMNS

__all__ = ["compile_mapping", "slug_sql"]

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


def _raw_text(spec: FieldSpec) -> str:
    assert spec.column is not None
    return f"NULLIF(trim(CAST({ident(spec.column)} AS VARCHAR)), '')"


def text_expr(spec: FieldSpec) -> str:
    if spec.value is not None:
        return lit(str(spec.value))
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


def timestamp_expr(spec: FieldSpec, timezone: str, formats: list[str]) -> str:
    """A TIMESTAMPTZ: with offset as given, naive as local time in ``timezone``."""
    if spec.value is not None:
        return f"TRY_CAST({lit(spec.value)} AS TIMESTAMPTZ)"
    s = _raw_text(spec)
    fmts = spec.formats or formats
    tz = lit(timezone)
    if not fmts:
        return (
            f"(CASE WHEN contains({s}, ':') AND regexp_matches(right({s}, 6),"
            f" {lit(_ZONE_SUFFIX)})"
            f" THEN TRY_CAST({s} AS TIMESTAMPTZ)"
            f" ELSE timezone({tz}, TRY_CAST({s} AS TIMESTAMP)) END)"
        )
    zoned = [f for f in fmts if "%z" in f or "%Z" in f]
    naive = [f for f in fmts if f not in zoned]
    parts = []
    if zoned:
        parts.append(f"CAST(try_strptime({s}, [{', '.join(map(lit, zoned))}]) AS TIMESTAMPTZ)")
    if naive:
        parts.append(
            f"timezone({tz}, CAST(try_strptime({s}, [{', '.join(map(lit, naive))}]) AS TIMESTAMP))"
        )
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _typed_expr(
    spec: FieldSpec, kind: str, timezone: str, formats: list[str]
) -> tuple[str, str | None]:
    """(value expression, failure condition or None) for a typed field or attribute."""
    if kind == "timestamp":
        ts = timestamp_expr(spec, timezone, formats)
        return ts, (f"({_raw_text(spec)} IS NOT NULL AND {ts} IS NULL)" if spec.column else None)
    base = text_expr(spec)
    casts = {
        "number": f"coalesce(TRY_CAST({base} AS DOUBLE),"
        f" TRY_CAST(replace({base}, ',', '.') AS DOUBLE))",
        "integer": f"TRY_CAST({base} AS BIGINT)",
        "bool": f"TRY_CAST({base} AS BOOLEAN)",
        "json": f"(CASE WHEN json_valid({base}) THEN json({base}) END)",
    }
    if kind not in casts:
        return base, None
    return casts[kind], f"({base} IS NOT NULL AND {casts[kind]} IS NULL)"


def _failure(cond: str, what: str, spec: FieldSpec) -> str:
    col = spec.column or "?"
    return (
        f"CASE WHEN {cond} THEN {lit(f'{what} in column {col!r}: ')}"
        f" || left({_raw_text(spec)}, 60) END"
    )


def _attrs_expr(ev: ResolvedEvent, timezone: str, formats: list[str], failures: list[str]) -> str:
    pairs = []
    for key, spec in ev.attrs.items():
        expr, bad = _typed_expr(spec, spec.type, timezone, formats)
        if spec.type == "timestamp":
            expr = f"strftime(timezone('UTC', {expr}), '%Y-%m-%dT%H:%M:%SZ')"
        if bad:
            what = "unparseable time stamp" if spec.type == "timestamp" else f"not a {spec.type}"
            failures.append(_failure(bad, what, spec))
        pairs.append(f"{lit(key)}, {expr}")
    obj = f"CAST(json_object({', '.join(pairs)}) AS VARCHAR)" if pairs else None
    base = text_expr(ev.fields["attrs"]) if "attrs" in ev.fields else None
    if base and obj:
        return (
            f"(CASE WHEN json_valid({base}) THEN CAST(json_merge_patch({base}, {obj})"
            f" AS VARCHAR) ELSE {base} END)"
        )
    return base or obj or "CAST(NULL AS VARCHAR)"


def _event_select(ev: ResolvedEvent, index: int, mapping: Mapping, multi: bool) -> str:
    tz, fmts = mapping.source.timezone, mapping.source.timestamp_formats
    failures: list[str] = []
    cols = [f"__row, {index} AS __event"]
    for name in _CONTENT:
        spec = ev.fields.get(name)
        if name == "attrs":
            cols.append(f"{_attrs_expr(ev, tz, fmts, failures)} AS attrs")
        elif spec is None:
            cols.append(f"CAST(NULL AS {'DOUBLE' if name == 'score' else 'VARCHAR'}) AS {name}")
        elif name in ("occurred_at", "score"):
            expr, bad = _typed_expr(
                spec, "timestamp" if name == "occurred_at" else "number", tz, fmts
            )
            if bad:
                what = (
                    "unparseable time stamp" if name == "occurred_at" else "score is not a number"
                )
                failures.append(_failure(bad, what, spec))
            cols.append(f"{expr} AS {name}")
        else:
            cols.append(f"{text_expr(spec)} AS {name}")
    src = ev.fields.get("source")
    cols.append(f"{text_expr(src) if src else 'CAST(NULL AS VARCHAR)'} AS source")
    cols.append(f"{_event_id_expr(ev, multi)} AS __given_id")
    reason = f"coalesce({', '.join(failures)})" if failures else "CAST(NULL AS VARCHAR)"
    cols.append(f"{reason} AS __reason")
    where = f" WHERE {_raw_text(FieldSpec(column=ev.when))} IS NOT NULL" if ev.when else ""
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


def compile_mapping(mapping: Mapping, available: Iterable[str], path: str = "<file>") -> str:
    """The SELECT turning ``_raw`` into candidate events (see module docs)."""
    check_columns(mapping, available, path)
    events = mapping.resolved_events()
    multi = len(events) > 1
    union = " UNION ALL ".join(_event_select(ev, i, mapping, multi) for i, ev in enumerate(events))
    derived = "event_id" not in events[0].fields
    event_id = _derived_id() if derived else "__given_id"
    content = ", ".join(_CONTENT)
    return (
        f"SELECT {event_id} AS event_id, {content}, source,"
        f" CAST(NULL AS BIGINT) AS source_order, __row, __event, __reason FROM ({union})"
    )
