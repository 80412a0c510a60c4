"""Durations in words and numbers without a negative zero (issue 13: "Min. te laat 19.343",
"[-0,0, 1,2]")."""

from __future__ import annotations

import pytest

from klantreis.wording import Wording


@pytest.mark.parametrize(
    ("lang", "minutes", "text"),
    [
        ("nl", 1, "1 minuut"),
        ("nl", 45, "45 minuten"),
        ("nl", 1033, "17 uur"),
        ("nl", 19_343, "13 dagen"),
        ("nl", 3000, "2,1 dagen"),
        ("nl", 1440 * 2, "2 dagen"),
        ("en", 1, "1 minute"),
        ("en", 60 * 17, "17 hours"),
        ("en", 3000, "2.1 days"),
        ("en", None, "–"),
    ],
)
def test_durations_read_as_time(lang: str, minutes: float | None, text: str) -> None:
    assert Wording(lang).duration(minutes) == text


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_no_negative_zero(lang: str) -> None:
    t = Wording(lang)
    assert t.number(-0.04, 1) in ("0,0", "0.0")
    assert t.number(-0.4, 0) == "0"
    assert t.number(-0.06, 1) in ("-0,1", "-0.1")
