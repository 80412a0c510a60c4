"""Names of configured things in the reader's language: touchpoints, stages and promises
carry ``name_nl``/``name_en`` in the journey configuration, owners a ``name`` (and
optionally ``name_nl``/``name_en``), contact
reasons and their categories ``name_nl``/``name_en`` in the contacts taxonomy; channels,
metrics, segments and "unknown" come from the catalogue; event kinds the source's own label
(``kind_labels``, e.g. "Resolve ticket" from an XES log), else the catalogue. An id without a name
is shown as it is.

>>> from klantreis.app import default_journey_config
>>> from klantreis.wording.core import Wording
>>> nl = Names(default_journey_config(), Wording("nl"))
>>> nl("owner", "carrier:vlotbezorgd"), nl("stage", "orientatie"), nl("channel", "email")
('VlotBezorgd', 'Oriëntatie', 'E-mail')
>>> nl.score("stars", 4), nl.condition("broken:op_tijd_bezorgd@carrier:vlotbezorgd")
('4 sterren', 'Belofte gebroken: Op tijd bezorgd (VlotBezorgd)')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from klantreis.wording.core import Wording

if TYPE_CHECKING:  # a hint only: naming the built-in journey's steps needs no pydantic
    from klantreis.model.journey import JourneyConfig

__all__ = ["UNKNOWN", "Names"]

#: The key of rows without a touchpoint, owner or channel.
UNKNOWN = "unknown"


class _Named(Protocol):
    id: str

    def name(self, lang: str = "nl") -> str: ...


class Names:
    """``names("touchpoint", "bezorging")`` -> "Bezorging" / "Delivery".

    ``taxonomy`` (a :class:`klantreis.contacts.taxonomy.Taxonomy`, optional) names contact
    reasons and their categories; ``kind_labels`` the event kinds by the source's own labels."""

    def __init__(
        self,
        journey: JourneyConfig,
        wording: Wording,
        taxonomy: Any = None,
        kind_labels: Mapping[str, str] | None = None,
    ) -> None:
        self.journey = journey
        self.w = wording
        self.taxonomy = taxonomy
        self.kind_labels = dict(kind_labels or {})

    def __call__(self, dimension: str, key: Any) -> str:
        if key is None or key == "":
            return self.w("name.unknown")
        key = str(key)
        if key == UNKNOWN:
            return self.w("name.unknown")
        named = {
            "owner": self.owner,
            "channel": self.channel,
            "promise": self.promise,
            "reason": self.reason,
            "category": self.category,
            "metric": self.metric,
            "segment": self.segment,
            "kind": self.kind,
            "condition": self.condition,
        }.get(dimension)
        if named is not None:
            worded: str = named(key)
            return worded
        if dimension in ("touchpoint", "stage"):
            return str(self.journey.label(dimension, key, self.w.lang))
        return str(key)

    def owner(self, owner_id: str) -> str:
        found = next((o for o in self.journey.owners if o.id == owner_id), None)
        return found.label(self.w.lang) if found is not None else owner_id

    def _catalogued(self, prefix: str, key: str, default: str | None = None) -> str:
        full = f"{prefix}.{key}"
        return self.w(full) if self.w.has(full) else (key if default is None else default)

    def channel(self, channel: str) -> str:
        return self._catalogued("channel", channel)

    def metric(self, metric: str) -> str:
        """``nps`` -> "NPS", ``stars`` -> "Sterren"."""
        return self._catalogued("metric", metric, metric.upper())

    def segment(self, segment: str) -> str:
        """A customer segment (a data value, not configured): the catalogue's word, else the
        value with a capital."""
        return self._catalogued("segment", segment, segment[:1].upper() + segment[1:])

    def kind(self, kind: str) -> str:
        """An event kind: the source's label when known, else the catalogue's
        (``invoice.bounced`` -> "Factuur onbestelbaar")."""
        if kind in self.kind_labels:
            return self.kind_labels[kind]
        return self._catalogued("kind", kind)

    def promise(self, promise_id: str) -> str:
        pr = next((p for p in self.journey.promises if p.id == promise_id), None)
        if pr is None:
            return promise_id
        return pr.name_nl if self.w.lang == "nl" else pr.name_en

    def _taxonomy_item(self, items: list[_Named], item_id: str) -> str:
        found = next((i for i in items if i.id == item_id), None)
        return found.name(self.w.lang) if found is not None else item_id

    def reason(self, reason_id: str) -> str:
        """A contact reason's name from the taxonomy: "Waar is mijn pakket?"."""
        if self.taxonomy is None:
            return reason_id
        return self._taxonomy_item(self.taxonomy.reasons(), reason_id)

    def category(self, category_id: str) -> str:
        if self.taxonomy is None:
            return category_id
        cat = next((c for c in self.taxonomy.categories if c.id == category_id), None)
        if cat is None:
            return category_id
        return str(cat.name_nl if self.w.lang == "nl" else cat.name_en)

    def condition(self, condition: str) -> str:
        """A journey condition: ``broken:<promise>[@<owner>]`` -> "Belofte gebroken: Op tijd
        bezorgd (VlotBezorgd)", ``late:<promise>`` -> "Te laat: Op tijd bezorgd",
        ``undelivered:<promise>`` -> "Niet bezorgd: …", ``kind:<kind>[@<owner>]`` ->
        "Gebeurtenis: Factuur onbestelbaar"."""
        body, _, owner = condition.partition("@")
        kind, _, value = body.partition(":")
        if kind in ("broken", "late", "undelivered"):
            text = self.w(f"warroom.condition.{kind}", name=self.promise(value))
        elif kind == "kind":
            text = self.w("warroom.condition.kind", name=self.kind(value))
        else:
            return condition
        return f"{text} ({self.owner(owner)})" if owner else text

    def score(self, metric: str, score: float | None) -> str:
        """One answer's score: "4 sterren", "NPS 9", "CES 2"."""
        if score is None:
            return self.metric(metric)
        if metric == "stars":
            return self.w.count("noun.star", score)
        return f"{self.metric(metric)} {self.w.short(score)}"
