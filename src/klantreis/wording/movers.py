"""Sentences for the movers of the CX index: "Bezorging -4,1: VlotBezorgd, 312 te late
pakketten". The analytics (:mod:`klantreis.analytics.movers`) hand over a mover's numbers and
its driver (a type, a key and counts); the words are chosen here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

from klantreis.wording.names import Names

__all__ = ["driver_noun", "driver_phrase", "mover_label", "mover_sentence"]


def _fields(mover: Any) -> Mapping[str, Any]:
    if is_dataclass(mover) and not isinstance(mover, type):
        return asdict(mover)
    assert isinstance(mover, Mapping)
    return mover


def driver_noun(key: str, count: float, names: Names) -> str:
    """What ``count`` counts: "te late pakketten", "bounced invoice", ...

    A promise is named by its ``promised`` kind when the catalogue has a noun for it
    (``driver.delivery.promised``), else by its configured name."""
    w = names.w
    promise = next((p for p in names.journey.promises if p.id == key), None)
    noun_key = f"driver.{promise.promised if promise else key}"
    if w.has(f"{noun_key}.other"):
        return w.noun(noun_key, count)
    if promise:
        return w.noun("driver.promise_broken", count, name=names.promise(key))
    return w.noun("driver.other", count, kind=key)


def driver_phrase(driver: Mapping[str, Any], dimension: str, delta: float, names: Names) -> str:
    """The fact behind a move: a score change, or a count with its change and owner."""
    w = names.w
    if driver["type"] == "score":
        before, after = driver["score_before"], driver["score_after"]
        answers = w.count("noun.answer", driver["n_after"])
        if before is None or after is None:
            shown = after if after is not None else before
            return w("mover.score", score=w.number(shown, 1), answers=answers)
        return w(
            "mover.score_change",
            before=w.number(before, 1),
            after=w.number(after, 1),
            answers=answers,
        )
    count, previous = driver["count"], driver["previous"]
    text = f"{w.number(count, 0)} {driver_noun(driver['key'], count, names)}"
    if driver["type"] == "contacts" and previous > 0:
        change = w.number(100 * (count - previous) / previous, 0, signed=True)
        text = w("mover.count_change", text=text, change=change)
    elif delta > 0 and previous != count:
        text = w("mover.count_was", text=text, previous=w.number(previous, 0))
    if driver.get("owner") and dimension != "owner":
        text = w("mover.at_owner", owner=names.owner(driver["owner"]), text=text)
    return text


def mover_label(mover: Any, names: Names) -> str:
    """The name of the group that moved (its configured name)."""
    m = _fields(mover)
    return names(m["dimension"], m["key"])


def mover_sentence(mover: Any, names: Names) -> str:
    """One mover (a :class:`~klantreis.analytics.movers.Mover` or its dict) as a sentence."""
    m = _fields(mover)
    w = names.w
    return w(
        "mover.sentence",
        label=mover_label(m, names),
        delta=w.number(m["delta_points"], 1, signed=True),
        phrase=driver_phrase(m["driver"], m["dimension"], m["delta_points"], names),
    )
