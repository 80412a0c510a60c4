"""One line per condition of the journey impact ranking: "broken:op_tijd_bezorgd: CSAT -21,0
[-25,1, -16,9], +38 contacten per 100 klantreizen"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from klantreis.wording.core import Wording
from klantreis.wording.names import Names

__all__ = ["impact_summary"]


def _get(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, Mapping) else getattr(obj, name)


def impact_summary(effect: Any, w: Wording, names: Names | None = None) -> str:
    """An :class:`~klantreis.analytics.impact.Impact` (or its ``as_dict()``) in one line;
    with ``names`` the condition is named ("Belofte gebroken: Op tijd bezorgd"), else its
    id."""
    parts = []
    for metric, c in _get(effect, "metrics").items():
        diff, low, high = _get(c, "diff"), _get(c, "ci_low"), _get(c, "ci_high")
        if diff is None or low is None or high is None:
            continue
        parts.append(
            w(
                "impact.metric",
                metric=w(f"metric.{metric}") if w.has(f"metric.{metric}") else metric.upper(),
                diff=w.number(diff, 1, signed=True),
                low=w.number(low, 1),
                high=w.number(high, 1),
            )
        )
    contacts = _get(effect, "contacts")
    if _get(contacts, "diff") is not None:
        parts.append(w("impact.contacts", diff=w.number(_get(contacts, "diff"), 0, signed=True)))
    body = ", ".join(parts) or w("impact.too_few")
    condition = _get(effect, "condition")
    named = names.condition(condition) if names is not None else condition
    return w("impact.summary", condition=named, body=body)
