from __future__ import annotations

import pandas as pd

from klantreis.contacts.clusters import new_reason_clusters
from klantreis.contacts.text import normalise, stop_words

from .helpers import at


def frame(rows: list[tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"text": [t for t, _ in rows], "occurred_at": [at(d) for _, d in rows], "reason": "unknown"}
    )


def test_a_new_topic_that_grows_is_flagged() -> None:
    cadeau = [
        "ik wil een cadeaubon inwisselen",
        "hoe werkt de cadeaubon code",
        "mijn cadeaubon werkt niet",
        "cadeaubon saldo opvragen",
        "cadeaubon verlopen?",
        "kan ik met een cadeaubon betalen",
    ]
    sticker = [
        "de sticker op de doos laat los",
        "sticker verkeerd geplakt op de doos",
        "sticker op de doos is onleesbaar",
        "waarom zit er een sticker op de doos",
        "de sticker van de doos",
        "doos sticker scheef",
    ]
    rows = [(cadeau[0], 1)] + [(t, 8) for t in cadeau[1:]]  # 1 last week, 5 this week
    rows += [(t, 1 + (i % 2) * 7) for i, t in enumerate(sticker)]  # 3 and 3
    found = {tuple(c.top_terms[:1]): c for c in new_reason_clusters(frame(rows), k=2)}
    assert len(found) == 2
    grow = next(c for c in found.values() if "cadeaubon" in c.top_terms)
    flat = next(c for c in found.values() if "sticker" in c.top_terms)
    assert grow.size == 6 and (grow.previous_week, grow.last_week) == (1, 5) and grow.growing
    assert (flat.previous_week, flat.last_week) == (3, 3) and not flat.growing
    assert all(w not in stop_words() for c in found.values() for w in c.top_terms)
    assert grow.examples[0] in cadeau


def test_only_unknown_contacts_are_clustered() -> None:
    df = frame([("a b c", 1), ("d e f", 2)]).assign(reason=["productvraag", "unknown"])
    assert new_reason_clusters(df) == []


def test_normalise_folds_digits_case_and_contractions() -> None:
    assert normalise("I CAN'T find order #HH2600123!") == "i can not find order #hh0!"
    assert normalise(None) == "" and {"de", "the"} <= stop_words()


def test_normalise_many_equals_normalise_per_text() -> None:
    from klantreis.contacts.text import normalise_many

    texts = ["Waar IS mijn pakket #123?", None, "", "  a \t b  ", "I won't", "x\x01y", "Ünïcode 7"]
    got = normalise_many(texts)
    assert len(got) == len(texts)
    assert got[:5] == [normalise(t) for t in texts[:5]] and got[6] == normalise(texts[6])
    assert got[5] == "x y"  # the batch separator never leaks into a text
