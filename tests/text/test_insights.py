"""What customers write in numbers: shares with Wilson intervals, new/growing themes by a
test, key drivers with relative weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from klantreis.analytics.stats import wilson_arrays
from klantreis.text.insights import (
    key_drivers,
    score_group,
    theme_changes,
    theme_shares,
    top_themes_by,
    weekly_shares,
    wilson_share,
)

THEMES = ["late", "rude", "price"]


def frame(themes: list[dict[str, float]], scores: list[float] | None = None) -> pd.DataFrame:
    n = len(themes)
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "occurred_at": pd.date_range("2026-03-02", periods=n, freq="h", tz="UTC"),
            "owner": ["a" if i % 2 else "b" for i in range(n)],
            "touchpoint": "bezorging",
            "metric": "nps",
            "score": scores if scores is not None else [5.0] * n,
            "themes": themes,
            "sentiment": [-0.5] * n,
        }
    )


@pytest.mark.parametrize(
    ("metric", "score", "group"),
    [
        ("nps", 6, "low"),
        ("nps", 7, "mid"),
        ("nps", 9, "high"),
        ("csat", 2, "low"),
        ("csat", 4, "high"),
        ("ces", 6, "low"),  # effort: higher is worse
        ("ces", 2, "high"),
        ("ces", 4, "mid"),
        ("nps", None, None),
        ("unknown", 3, None),
    ],
)
def test_score_group(metric: str, score: float | None, group: str | None) -> None:
    assert score_group(metric, score) == group


def test_shares_use_the_wilson_interval() -> None:
    df = frame([{"late": 0.9}] * 3 + [{}] * 7)
    rows = {r["theme"]: r for r in theme_shares(df, THEMES)}
    iv = wilson_arrays(np.array([3]), np.array([10]))
    assert rows["late"]["k"] == 3 and rows["late"]["n"] == 10
    assert rows["late"]["share"] == pytest.approx(0.3)
    assert rows["late"]["low"] == pytest.approx(iv.ci_low[0] / 100)
    assert rows["late"]["high"] == pytest.approx(iv.ci_high[0] / 100)
    assert rows["rude"]["k"] == 0 and rows["rude"]["sentiment"] is None
    assert wilson_share(0, 0)["share"] is None


def test_weekly_shares_per_local_monday() -> None:
    df = frame([{"late": 1.0}] * 200)  # 200 hours from Monday 2 March: two weeks and a bit
    weeks = sorted({r["week"] for r in weekly_shares(df, THEMES)})
    assert weeks[0] == "2026-03-02" and len(weeks) == 2
    assert all(r["share"] == 1.0 for r in weekly_shares(df, THEMES) if r["theme"] == "late")


def test_a_real_increase_is_flagged_growing_and_new() -> None:
    before = frame([{}] * 200)
    now = frame([{"late": 1.0}] * 30 + [{}] * 170)
    changes = theme_changes(now, before, THEMES)
    assert changes["late"]["growing"] and changes["late"]["new"]
    assert changes["late"]["q"] < 0.001
    assert not changes["rude"]["growing"]


def test_noise_is_not_flagged() -> None:
    """Same true rate in both windows: over 200 random pairs at most a few false alarms."""
    rng = np.random.default_rng(1)
    alarms = 0
    for _ in range(200):
        a = frame([{"late": 1.0} if x else {} for x in rng.random(150) < 0.2])
        b = frame([{"late": 1.0} if x else {} for x in rng.random(150) < 0.2])
        alarms += theme_changes(b, a, THEMES)["late"]["growing"]
    assert alarms <= 10  # alpha 0.05, one-sided: about 10 expected at most


def test_key_drivers_split_correlated_themes_fairly() -> None:
    """``late`` costs 3 points; ``rude`` costs nothing but mostly comes with ``late``: the
    regression and the relative weights give the score to ``late``."""
    rng = np.random.default_rng(1)
    n = 3000
    late = rng.random(n) < 0.3
    rude = np.where(late, rng.random(n) < 0.6, rng.random(n) < 0.05)
    price = rng.random(n) < 0.2
    score = 8 - 3 * late + 0.5 * price + rng.normal(0, 1.5, n)
    themes = [
        {k: 1.0 for k, v in (("late", a), ("rude", b), ("price", c)) if v}
        for a, b, c in zip(late, rude, price, strict=True)
    ]
    result = key_drivers(frame(themes, list(score)), THEMES, boot=100)
    rows = {r["theme"]: r for r in result["rows"]}
    assert result["n"] == n
    assert rows["late"]["coef_low"] < -3 < rows["late"]["coef_high"]
    assert rows["rude"]["coef_low"] < 0 < rows["rude"]["coef_high"]
    assert rows["late"]["weight"] > 0.8
    assert sum(r["weight"] for r in rows.values()) == pytest.approx(1.0)
    assert rows["late"]["weight_low"] <= rows["late"]["weight"] <= rows["late"]["weight_high"]
    assert result["rows"][0]["theme"] == "late"


def test_key_drivers_need_enough_answers() -> None:
    result = key_drivers(frame([{"late": 1.0}] * 5 + [{}] * 5), THEMES)
    assert result["rows"] == [] and result["n"] == 10


def test_top_themes_by_owner() -> None:
    df = frame([{"late": 1.0}, {"rude": 1.0}] * 10)
    groups = {g["key"]: g for g in top_themes_by(df, "owner", THEMES)}
    assert groups["b"]["themes"][0]["theme"] == "late"
    assert groups["a"]["themes"][0]["theme"] == "rude"
