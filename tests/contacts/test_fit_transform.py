"""``NgramTfidf.fit_transform`` computes the n-grams of the training texts once and gives
exactly ``fit(texts).transform(texts)``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from klantreis.contacts.features import NgramTfidf
from klantreis.contacts.lexicon import default_analyzer
from klantreis.text.comments import generate_comments

TEXTS = [c.text for c in generate_comments(300, seed=1)] + ["", "geld terug aub!!", "te laat"]


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"analyzer": "default"},
        {"analyzer": "default", "embed_dims": 20},
        {"min_df": 2, "char_min": 3},
    ],
)
def test_fit_transform_equals_fit_then_transform(kw: dict[str, Any]) -> None:
    if kw.get("analyzer") == "default":
        kw = {**kw, "analyzer": default_analyzer()}
    a = NgramTfidf(**kw).fit(TEXTS).transform(TEXTS).toarray()
    b = NgramTfidf(**kw).fit_transform(TEXTS).toarray()
    assert a.shape == b.shape and a.shape[1] > 100
    assert np.array_equal(a, b)
