"""The mapping file (TOML): how a foreign export becomes canonical events.

A mapping names, per event field, a source column (a plain string) or a table with
``column``, ``value`` (a constant), ``template`` (``"{review_id}-{order_id}"``) or
``coalesce`` (the first non-empty of several columns) and optional ``map`` (value map),
``transform`` (slug/lower/upper), ``prefix``, ``default``, ``type`` (honoured on every field)
and, for time stamps, ``formats`` and ``date_only``. ``[fields]`` are shared by every event of
a row; each ``[[events]]`` entry adds one event per row (an order export row can give
order.placed, payment.completed, ... ); an event is produced only when its ``when``
conditions hold (default: its ``occurred_at`` is not empty, when there are several events).
``[source] where`` keeps only the rows meeting its conditions; ``[source] atomic_rows``
stores a row's events all or none. ``[attrs]`` and ``events.attrs`` build the ``attrs`` JSON
object. docs/ingest.md has a worked example of each.

Example::

    [source]
    timezone = "Europe/Amsterdam"          # naive time stamps are local time here
    timestamp_formats = ["%d-%m-%Y %H:%M"]  # strptime patterns, tried in order

    [fields]
    journey_id = "order_id"
    channel = { column = "kanaal", map = { Telefoon = "phone" } }

    [[events]]
    kind = { value = "order.placed" }
    occurred_at = "besteld_op"

``parse_mapping``/``load_mapping`` validate with readable messages (``MappingError``).
The mapping compiles to one DuckDB SELECT (``compile_mapping``), so the conversion runs
vectorised; rows whose time stamp or number cannot be parsed get a ``__reason``.
"""

from __future__ import annotations

import codecs
import math
import string
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from klantreis.model.events import EVENT_COLUMNS
from klantreis.model.tomlfile import ConfigFileError, parse_toml_model

__all__ = [
    "EventSpec",
    "FieldSpec",
    "Mapping",
    "MappingError",
    "RowCondition",
    "SourceOptions",
    "conditions_of",
    "identity_mapping",
    "load_mapping",
    "parse_mapping",
]

Scalar = str | int | float | bool


class MappingError(ConfigFileError):
    """A mapping file that cannot be used; ``problems`` lists every reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """Where one event field (or attribute) comes from: exactly one of ``column``, ``value``
    (a constant), ``template`` (``"{review_id}-{order_id}"``: empty when a column in it is
    empty) or ``coalesce`` (the first non-empty of several columns)."""

    column: str | None = None
    value: Scalar | None = None
    template: str | None = None
    coalesce: list[str] | None = Field(default=None, min_length=1)
    map: dict[str, Scalar] | None = None
    transform: Literal["slug", "lower", "upper"] | None = None
    prefix: str = ""
    default: Scalar | None = None
    formats: list[str] | None = None
    type: Literal["string", "number", "integer", "bool", "timestamp", "json"] = "string"
    #: A time stamp given as a date only: the end or the start of that local day.
    date_only: Literal["end_of_day", "start_of_day"] | None = None

    @field_validator("value", "default")
    @classmethod
    def _finite(cls, value: Scalar | None) -> Scalar | None:
        return _finite_scalar(value)

    @field_validator("map")
    @classmethod
    def _finite_map(cls, value: dict[str, Scalar] | None) -> dict[str, Scalar] | None:
        for v in (value or {}).values():
            _finite_scalar(v)
        return value

    @field_validator("formats")
    @classmethod
    def _formats(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _strptime_formats(value)

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        given = [self.column, self.value, self.template, self.coalesce]
        if sum(g is not None for g in given) != 1:
            raise ValueError(
                "give exactly one of 'column' (a source column), 'value' (a constant),"
                " 'template' (e.g. \"{review_id}-{order_id}\") or 'coalesce' (a list of columns)"
            )
        if self.template is not None and not template_columns(self.template):
            raise ValueError(f"template {self.template!r} names no column (write {{column}})")
        return self

    def source_columns(self) -> list[str]:
        """The source columns this field reads."""
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return template_columns(self.template)
        return list(self.coalesce or [])

    @property
    def label(self) -> str:
        """How messages name the source: a column, a template or a coalesce."""
        if self.column is not None:
            return f"column {self.column!r}"
        if self.template is not None:
            return f"template {self.template!r}"
        if self.coalesce is not None:
            return f"columns {', '.join(map(repr, self.coalesce))}"
        return "a constant"


def template_parts(template: str) -> list[tuple[str, str | None]]:
    """``(literal text, column or None)`` pieces of a template (``{{``/``}}`` are braces)."""
    try:
        return [(lit, col) for lit, col, _, _ in string.Formatter().parse(template)]
    except ValueError as exc:
        raise ValueError(f"template {template!r}: {exc}") from exc


def template_columns(template: str) -> list[str]:
    return [col for _, col in template_parts(template) if col]


class RowCondition(_Strict):
    """A test on one source column: not empty (only ``column`` given), or ``equals``,
    ``not_equals``, ``in``, ``not_in``, ``matches`` (a regular expression), ``empty``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    column: str
    equals: Scalar | None = None
    not_equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    matches: str | None = None
    empty: bool | None = None


RowConditions = str | RowCondition | list[RowCondition]


def conditions_of(value: RowConditions | None) -> list[RowCondition]:
    """A ``where``/``when`` value as a list of conditions (all must hold)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [RowCondition(column=value)]
    if isinstance(value, RowCondition):
        return [value]
    return list(value)


FieldInput = str | FieldSpec

#: The directives of DuckDB's strptime (a ``-`` may follow the ``%``).
_STRPTIME_DIRECTIVES = set("aAwdbBmyYHIpMSfgnzZjUWcxX%")


def _strptime_formats(formats: list[str]) -> list[str]:
    """Refuse a format DuckDB's strptime does not know (it would fail every file)."""
    for fmt in formats:
        i = 0
        while (i := fmt.find("%", i)) >= 0:
            j = i + 2 if fmt[i + 1 : i + 2] == "-" else i + 1
            directive = fmt[j : j + 1]
            if directive not in _STRPTIME_DIRECTIVES or not directive:
                raise ValueError(f"unknown strptime directive %{directive} in {fmt!r}")
            i = j + 1
    return formats


def _finite_scalar(value: Scalar | None) -> Scalar | None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a usable constant (use a finite number)")
    return value


def _spec(value: FieldInput | None) -> FieldSpec | None:
    if value is None or isinstance(value, FieldSpec):
        return value
    return FieldSpec(column=value)


class SourceOptions(_Strict):
    timezone: str = "Europe/Amsterdam"
    timestamp_formats: list[str] = Field(default_factory=list)
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str | None = None
    #: Only rows meeting these conditions become events; the others are counted as
    #: "skipped by where" (not quarantined).
    where: RowConditions | None = None
    #: All or nothing per source row: when one event of a row fails, the whole row goes to
    #: the quarantine (one entry, with the reason) and none of its events is stored.
    atomic_rows: bool = False
    #: Time stamps given as a date only (default: deadlines of promises end of day, other
    #: time stamps start of day); a field's own ``date_only`` wins.
    date_only: Literal["end_of_day", "start_of_day"] | None = None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError as exc:
                raise ValueError(f"unknown encoding {value!r} (use e.g. utf-8, cp1252)") from exc
        return value

    @field_validator("timestamp_formats")
    @classmethod
    def _formats(cls, value: list[str]) -> list[str]:
        return _strptime_formats(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use e.g. Europe/Amsterdam)") from exc
        return value


class _Fields(_Strict):
    event_id: FieldInput | None = None
    occurred_at: FieldInput | None = None
    customer_id: FieldInput | None = None
    journey_id: FieldInput | None = None
    kind: FieldInput | None = None
    touchpoint: FieldInput | None = None
    channel: FieldInput | None = None
    owner: FieldInput | None = None
    metric: FieldInput | None = None
    score: FieldInput | None = None
    text: FieldInput | None = None
    lang: FieldInput | None = None
    attrs: FieldInput | None = None
    source: FieldInput | None = None

    def specs(self) -> dict[str, FieldSpec]:
        out = {}
        for name in EVENT_COLUMNS:
            spec = _spec(getattr(self, name, None))  # source_order is not mapped
            if spec is not None:
                out[name] = spec
        return out


class EventSpec(_Fields):
    """One event produced per source row (fields here override ``[fields]``)."""

    when: RowConditions | None = None
    attrs_map: dict[str, FieldInput] = Field(default_factory=dict)


_TEXT_TYPES = ("string", "integer", "number", "bool")
#: The ``type`` each event field accepts (text fields: the value is stored as text, so an
#: ``integer`` 3.0 is stored as "3").
FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "occurred_at": ("string", "timestamp"),
    "score": ("string", "number", "integer"),
    "attrs": ("string", "json"),
}


class Mapping(_Strict):
    source: SourceOptions = Field(default_factory=SourceOptions)
    fields: _Fields = Field(default_factory=_Fields)
    attrs: dict[str, FieldInput] = Field(default_factory=dict)
    events: list[EventSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> Mapping:
        problems = []
        for i, ev in enumerate(self.resolved_events()):
            for name in ("kind", "occurred_at"):
                if name not in ev.fields:
                    where = f"events.{i}" if self.events else "fields"
                    problems.append(f"{where}: no '{name}' (set it in [fields] or the event)")
            for name, spec in ev.fields.items():
                allowed = FIELD_TYPES.get(name, _TEXT_TYPES)
                if spec.type not in allowed:
                    where = f"events.{i}" if self.events else "fields"
                    problems.append(
                        f"{where}.{name}: type {spec.type!r} does not fit this field"
                        f" (use {' or '.join(map(repr, allowed))})"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def resolved_events(self) -> list[ResolvedEvent]:
        """Every event a row produces, with shared fields and attrs merged in."""
        shared = self.fields.specs()
        shared_attrs = {k: s for k, v in self.attrs.items() if (s := _spec(v)) is not None}
        if not self.events:
            return [ResolvedEvent(shared, shared_attrs, [])]
        out = []
        for ev in self.events:
            fields = {**shared, **ev.specs()}
            attrs = {
                **shared_attrs,
                **{k: s for k, v in ev.attrs_map.items() if (s := _spec(v)) is not None},
            }
            filled = None
            if ev.when is None and len(self.events) > 1:
                filled = fields.get("occurred_at")
            out.append(ResolvedEvent(fields, attrs, conditions_of(ev.when), filled))
        return out

    def columns(self) -> set[str]:
        """Every source column the mapping reads."""
        cols: set[str] = set()
        for ev in self.resolved_events():
            for spec in [*ev.fields.values(), *ev.attrs.values()]:
                cols.update(spec.source_columns())
            cols.update(c.column for c in ev.when)
        cols.update(c.column for c in conditions_of(self.source.where))
        return cols


class ResolvedEvent:
    """Fields, attributes and the conditions (``when``, all must hold) of one event of a row."""

    def __init__(
        self,
        fields: dict[str, FieldSpec],
        attrs: dict[str, FieldSpec],
        when: list[RowCondition],
        filled: FieldSpec | None = None,
    ) -> None:
        self.fields = fields
        self.attrs = attrs
        self.when = when
        #: The event is produced only when this field (its time stamp) is not empty.
        self.filled = filled


def _messages(err: ValidationError) -> list[str]:
    """Readable messages; for a field that is 'a column name or a table', the message of
    the branch the user meant (a table) wins over 'should be a valid string'."""
    found: list[tuple[str, str]] = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"] if "[" not in str(p) and p not in ("str", "FieldSpec")]
        where = ".".join(loc).replace("attrs_map", "attrs")
        found.append((where, e["msg"].removeprefix("Value error, ")))
    out = []
    for where, msg in found:
        deeper = any(w != where and w.startswith(where + ".") for w, _ in found)
        same_place = sum(1 for w, _ in found if w == where) > 1
        if msg == "Input should be a valid string" and (deeper or same_place):
            continue
        out.append(f"{where}: {msg}" if where else msg)
    return out


def parse_mapping(text: str, path: str = "<mapping>") -> Mapping:
    """Validate a mapping TOML text; raises MappingError listing every problem."""
    return parse_toml_model(text, path, Mapping, MappingError, _rename_event_attrs, _messages)


def _rename_event_attrs(data: dict[str, Any]) -> None:
    """``attrs`` of an ``[[events]]`` entry is the model's ``attrs_map``."""
    for ev in data.get("events", []) if isinstance(data.get("events"), list) else []:
        if isinstance(ev, dict) and "attrs" in ev:
            ev["attrs_map"] = ev.pop("attrs")


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping file. The file is opened and read once, so a pipe or
    process substitution (``--mapping <(...)``) works as well as a regular file."""
    p = Path(path)
    try:
        with open(p, encoding="utf-8-sig") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise MappingError(str(p), ["file not found"]) from None
    except IsADirectoryError:
        raise MappingError(str(p), ["is a folder, not a mapping file"]) from None
    except UnicodeDecodeError as exc:
        raise MappingError(
            str(p), [f"not UTF-8 text (byte {exc.start}); save it as UTF-8"]
        ) from None
    except OSError as exc:
        raise MappingError(str(p), [f"cannot be read: {exc.strerror or exc}"]) from None
    return parse_mapping(text, str(p))


def identity_mapping(columns: list[str], timezone: str = "Europe/Amsterdam") -> Mapping:
    """The mapping for files that already have canonical column names."""
    fields = {c: FieldSpec(column=c) for c in columns if c in EVENT_COLUMNS and c != "source_order"}
    missing = [c for c in ("occurred_at", "kind") if c not in fields]
    if missing:
        raise MappingError(
            "<no mapping>",
            [
                f"the file has no column {', '.join(missing)} and no mapping was given; "
                "pass --mapping to say which columns hold the time stamp and the event kind"
            ],
        )
    return Mapping(source=SourceOptions(timezone=timezone), fields=_Fields(**fields))
