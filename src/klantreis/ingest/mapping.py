"""The mapping file (TOML): how a foreign export becomes canonical events.

A mapping names, per event field, a source column (a plain string) or a table with
``column`` or ``value`` (a constant) and optional ``map`` (value map), ``transform``
(slug/lower/upper), ``prefix``, ``default`` and, for time stamps, ``formats``. ``[fields]``
are shared by every event of a row; each ``[[events]]`` entry adds one event per row (an
order export row can give order.placed, payment.completed, ... ); an event is produced only
when its ``when`` column (default: its ``occurred_at`` column, when there are several
events) is not empty. ``[attrs]`` and ``events.attrs`` build the ``attrs`` JSON object.

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
    "SourceOptions",
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
    """Where one event field (or attribute) comes from."""

    column: str | None = None
    value: Scalar | None = None
    map: dict[str, Scalar] | None = None
    transform: Literal["slug", "lower", "upper"] | None = None
    prefix: str = ""
    default: Scalar | None = None
    formats: list[str] | None = None
    type: Literal["string", "number", "integer", "bool", "timestamp", "json"] = "string"

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        if (self.column is None) == (self.value is None):
            raise ValueError(
                "give exactly one of 'column' (a source column) or 'value' (a constant)"
            )
        return self


FieldInput = str | FieldSpec


def _spec(value: FieldInput | None) -> FieldSpec | None:
    if value is None or isinstance(value, FieldSpec):
        return value
    return FieldSpec(column=value)


class SourceOptions(_Strict):
    timezone: str = "Europe/Amsterdam"
    timestamp_formats: list[str] = Field(default_factory=list)
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str | None = None

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

    when: str | None = None
    attrs_map: dict[str, FieldInput] = Field(default_factory=dict)


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
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def resolved_events(self) -> list[ResolvedEvent]:
        """Every event a row produces, with shared fields and attrs merged in."""
        shared = self.fields.specs()
        shared_attrs = {k: s for k, v in self.attrs.items() if (s := _spec(v)) is not None}
        if not self.events:
            return [ResolvedEvent(shared, shared_attrs, None)]
        out = []
        for ev in self.events:
            fields = {**shared, **ev.specs()}
            attrs = {
                **shared_attrs,
                **{k: s for k, v in ev.attrs_map.items() if (s := _spec(v)) is not None},
            }
            when = ev.when
            if when is None and len(self.events) > 1:
                when = fields["occurred_at"].column if "occurred_at" in fields else None
            out.append(ResolvedEvent(fields, attrs, when))
        return out

    def columns(self) -> set[str]:
        """Every source column the mapping reads."""
        cols: set[str] = set()
        for ev in self.resolved_events():
            for spec in [*ev.fields.values(), *ev.attrs.values()]:
                if spec.column is not None:
                    cols.add(spec.column)
            if ev.when:
                cols.add(ev.when)
        return cols


class ResolvedEvent:
    """Fields, attributes and the ``when`` column of one event of a row."""

    def __init__(
        self, fields: dict[str, FieldSpec], attrs: dict[str, FieldSpec], when: str | None
    ) -> None:
        self.fields = fields
        self.attrs = attrs
        self.when = when


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
    p = Path(path)
    if not p.is_file():
        raise MappingError(str(p), ["file not found"])
    return parse_mapping(p.read_text(encoding="utf-8"), str(p))


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
