"""Names of configured things in the reader's language: touchpoints, stages and promises
carry ``name_nl``/``name_en`` in the journey configuration, owners one ``name``; channels and
"unknown" come from the catalogue; event kinds the source's own label (``kind_labels``, e.g.
"Resolve ticket" for ``resolve_ticket`` from an XES log). An id without a name is shown as it
is.
"""

from __future__ import annotations

from collections.abc import Mapping

from klantreis.model.journey import JourneyConfig
from klantreis.wording.core import Wording

__all__ = ["UNKNOWN", "Names"]

#: The key of rows without a touchpoint, owner or channel.
UNKNOWN = "unknown"


class Names:
    """``names("touchpoint", "bezorging")`` -> "Bezorging" / "Delivery"."""

    def __init__(
        self,
        journey: JourneyConfig,
        wording: Wording,
        kind_labels: Mapping[str, str] | None = None,
    ) -> None:
        self.journey = journey
        self.w = wording
        self.kind_labels = dict(kind_labels or {})

    def __call__(self, dimension: str, key: str) -> str:
        if key == UNKNOWN:
            return self.w("name.unknown")
        if dimension == "owner":
            return self.owner(key)
        if dimension == "channel":
            return self.channel(key)
        if dimension == "promise":
            return self.promise(key)
        if dimension in ("touchpoint", "stage"):
            return self.journey.label(dimension, key, self.w.lang)
        if dimension == "kind":
            return self.kind_labels.get(key, key)
        return key

    def owner(self, owner_id: str) -> str:
        return next((o.name for o in self.journey.owners if o.id == owner_id), owner_id)

    def channel(self, channel: str) -> str:
        key = f"channel.{channel}"
        return self.w(key) if self.w.has(key) else channel

    def promise(self, promise_id: str) -> str:
        pr = next((p for p in self.journey.promises if p.id == promise_id), None)
        if pr is None:
            return promise_id
        return pr.name_nl if self.w.lang == "nl" else pr.name_en
