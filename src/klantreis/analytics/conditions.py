"""Journey conditions: things that are true or false per journey, for filters and impact.

Each condition gives ``journeys(events, journey)``: the ids of the journeys where it holds,
and ``population(events, journey)``: the journeys it is fairly compared within (None = all).
A broken promise, for example, is compared with kept promises, not with orders that were never
shipped.

``parse_condition`` reads the short form used by the CLI and the web page:

==========================================  ==================================================
``broken:op_tijd_bezorgd``                   the promise was broken: late or not delivered
                                             (compared with kept promises)
``broken:op_tijd_bezorgd@carrier:snelpost``  ... and its owner was this carrier
``late:op_tijd_bezorgd[@owner]``             fulfilled, but after the deadline (compared
                                             with promises fulfilled in time)
``undelivered:op_tijd_bezorgd[@owner]``      deadline passed and never fulfilled, cancelled
                                             orders included (compared with fulfilled ones)
``kind:delivery.failed``                     the journey has an event of this kind
``contacts>1``                               more than 1 inbound contact
``handover>1440``                            a hand-over between owners waited > 1440 minutes
``handover:carrier:snelpost>1440``           ... a hand-over *to* this owner
``variant:order.placed,payment.completed``   the journey's path (kinds) is exactly this
``attr:segment=business``                    an event has this value (column or attrs key)
==========================================  ==================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import ibis
import ibis.expr.types as ir

from klantreis.analytics.discovery import handovers_expr
from klantreis.analytics.journeys import attr_value, journey_events, paths
from klantreis.analytics.promises import promise_outcomes_expr
from klantreis.model.journey import JourneyConfig

__all__ = [
    "PROMISE_OUTCOMES",
    "Attribute",
    "HasKind",
    "ManyContacts",
    "PromiseBroken",
    "SlowHandover",
    "Variant",
    "parse_condition",
]

CONTACT_KIND = "contact.inbound"


def _ids(table: ir.Table) -> ir.Table:
    return table.select("journey_id").distinct()


#: Promise outcomes a condition can name: which outcomes hold, and which population the
#: journeys are compared within (see :mod:`klantreis.analytics.promises`).
PROMISE_OUTCOMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "broken": (("late", "undelivered"), ("kept", "late", "undelivered")),
    "late": (("late",), ("kept", "late")),
    "undelivered": (("undelivered",), ("kept", "late", "undelivered")),
}


@dataclass(frozen=True)
class PromiseBroken:
    """The promise was broken (``outcome="broken"``: late or not delivered), or only late,
    or only not delivered (optionally: by this owner); compared within the population of
    :data:`PROMISE_OUTCOMES`."""

    promise_id: str
    owner: str | None = None
    now: datetime | None = field(default=None, compare=False)
    outcome: Literal["broken", "late", "undelivered"] = "broken"

    @property
    def label(self) -> str:
        return f"{self.outcome}:{self.promise_id}" + (f"@{self.owner}" if self.owner else "")

    def _outcomes(self, events: ir.Table, journey: JourneyConfig) -> ir.Table:
        return promise_outcomes_expr(events, journey, [self.promise_id], self.now)

    def journeys(self, events: ir.Table, journey: JourneyConfig) -> ir.Table:
        out = self._outcomes(events, journey)
        out = out.filter(out.outcome.isin(list(PROMISE_OUTCOMES[self.outcome][0])))
        if self.owner:
            out = out.filter(out.owner == self.owner)
        return _ids(out)

    def population(self, events: ir.Table, journey: JourneyConfig) -> ir.Table | None:
        out = self._outcomes(events, journey)
        return _ids(out.filter(out.outcome.isin(list(PROMISE_OUTCOMES[self.outcome][1]))))


@dataclass(frozen=True)
class HasKind:
    """The journey has at least one event of this kind."""

    kind: str

    @property
    def label(self) -> str:
        return f"kind:{self.kind}"

    def journeys(self, events: ir.Table, journey: JourneyConfig) -> ir.Table:
        ev = journey_events(events)
        return _ids(ev.filter(ev.kind == self.kind))

    def population(self, events: ir.Table, journey: JourneyConfig) -> ir.Table | None:
        return None


@dataclass(frozen=True)
class ManyContacts:
    """More than ``n`` inbound contacts in the journey."""

    n: int

    @property
    def label(self) -> str:
        return f"contacts>{self.n}"

    def journeys(self, events: ir.Table, journey: JourneyConfig) -> ir.Table:
        ev = journey_events(events)
        ev = ev.filter(ev.kind == CONTACT_KIND)
        per = ev.group_by("journey_id").aggregate(k=ev.count())
        return _ids(per.filter(per.k > self.n))

    def population(self, events: ir.Table, journey: JourneyConfig) -> ir.Table | None:
        return None


@dataclass(frozen=True)
class SlowHandover:
    """A hand-over between owners (optionally to ``to_owner``) waited more than ``minutes``;
    compared with journeys that had such a hand-over in time."""

    minutes: float
    to_owner: str | None = None

    @property
    def label(self) -> str:
        to = f":{self.to_owner}" if self.to_owner else ""
        return f"handover{to}>{self.minutes:g}"

    def _handovers(self, events: ir.Table) -> ir.Table:
        h = handovers_expr(journey_events(events))
        return h.filter(h.next_owner == self.to_owner) if self.to_owner else h

    def journeys(self, events: ir.Table, journey: JourneyConfig) -> ir.Table:
        h = self._handovers(events)
        return _ids(h.filter(h.wait_s > self.minutes * 60))

    def population(self, events: ir.Table, journey: JourneyConfig) -> ir.Table | None:
        return _ids(self._handovers(events))


@dataclass(frozen=True)
class Variant:
    """The journey's path of kinds is exactly ``path``."""

    path: tuple[str, ...]

    @property
    def label(self) -> str:
        return "variant:" + ",".join(self.path)

    def journeys(self, events: ir.Table, journey: JourneyConfig) -> ir.Table:
        p = paths(journey_events(events), "kind")
        wanted = ibis.literal(list(self.path), type="array<string>")
        return _ids(p.filter(p.variant == wanted))

    def population(self, events: ir.Table, journey: JourneyConfig) -> ir.Table | None:
        return None


@dataclass(frozen=True)
class Attribute:
    """An event of the journey has ``value`` in column ``key`` (or in ``attrs[key]``)."""

    key: str
    value: str

    @property
    def label(self) -> str:
        return f"attr:{self.key}={self.value}"

    def journeys(self, events: ir.Table, journey: JourneyConfig) -> ir.Table:
        ev = journey_events(events)
        return _ids(ev.filter(attr_value(ev, self.key) == self.value))

    def population(self, events: ir.Table, journey: JourneyConfig) -> ir.Table | None:
        return None


Condition = PromiseBroken | HasKind | ManyContacts | SlowHandover | Variant | Attribute

_HANDOVER = re.compile(r"^handover(?::(?P<to>.+))?>(?P<minutes>\d+(?:\.\d+)?)$")


def parse_condition(text: str, now: datetime | None = None) -> Condition:
    """A condition from its short form (see the module docstring); ValueError if unreadable."""
    text = text.strip()
    kind, _, rest = text.partition(":")
    if text.startswith("contacts>") and text[9:].isdigit():
        return ManyContacts(int(text[9:]))
    if m := _HANDOVER.match(text):
        return SlowHandover(float(m["minutes"]), m["to"] or None)
    if kind in PROMISE_OUTCOMES and rest:
        promise, _, owner = rest.partition("@")
        return PromiseBroken(promise, owner or None, now, kind)  # type: ignore[arg-type]
    if kind == "kind" and rest:
        return HasKind(rest)
    if kind == "variant" and rest:
        return Variant(tuple(p.strip() for p in rest.split(",") if p.strip()))
    if kind == "attr" and "=" in rest:
        key, _, value = rest.partition("=")
        return Attribute(key.strip(), value.strip())
    raise ValueError(
        f"cannot read condition {text!r}; use broken:<promise>[@owner] (or late:,"
        " undelivered:), kind:<kind>,"
        " contacts>N, handover[:owner]>MINUTES, variant:a,b,c or attr:key=value"
    )
