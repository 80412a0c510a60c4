"""What customers write, in numbers: how often each theme is mentioned (with a Wilson
interval), per week, per owner and per touchpoint; which themes are new or growing (a test,
not a threshold); and which themes move the score (key drivers).

Everything works on a frame of tagged comments with the columns ``event_id``,
``occurred_at`` (UTC), ``touchpoint``, ``owner``, ``metric``, ``score``, ``themes`` (a dict
theme id -> confidence) and ``sentiment`` (-1..1); see :func:`tagged_frame`. Results are
keys and numbers only; names come from the wording layer.

- **Shares**: the share of comments mentioning a theme, ``k`` of ``n``, with the Wilson
  score interval (95%).
- **New and growing**: this window against the window of the same length before it, per
  theme a one-sided Fisher exact test (is the share larger now?), with the Benjamini-Hochberg
  correction over the themes so that twelve themes tested do not produce a false alarm every
  week. ``growing``: adjusted p < alpha; ``new``: growing and not mentioned at all before.
- **Key drivers**: the score regressed on the theme indicators (least squares with an
  intercept; coefficient = points of score a mention goes with, 95% t-interval), and the
  relative weights of Johnson (2000): each theme's share of the explained variance R²,
  which splits R² fairly between correlated themes (a bare correlation or a coefficient
  does not). Intervals of the weights from a seeded bootstrap. Association, not proof of
  cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from klantreis.analytics.stats import wilson_arrays

__all__ = [
    "GROUPS",
    "key_drivers",
    "score_group",
    "tagged_frame",
    "theme_changes",
    "theme_shares",
    "top_themes_by",
    "weekly_shares",
    "wilson_share",
]

#: Score groups: low = detractors (NPS 0-6), CSAT/stars 1-2, CES 5-7 (effort: higher is
#: worse); mid = passives; high = promoters, CSAT/stars 4-5, CES 1-3.
GROUPS = ("low", "mid", "high")
_CUTS = {"nps": (6, 9), "csat": (2, 4), "stars": (2, 4)}


def score_group(metric: str | None, score: float | None) -> str | None:
    """``low``, ``mid`` or ``high`` for a scored answer; None without a (known) score."""
    if metric is None or score is None or pd.isna(score):
        return None
    if metric == "ces":
        return "low" if score >= 5 else "high" if score <= 3 else "mid"
    if metric not in _CUTS:
        return None
    low, high = _CUTS[metric]
    return "low" if score <= low else "high" if score >= high else "mid"


def tagged_frame(comments: pd.DataFrame, tags: Sequence[Any]) -> pd.DataFrame:
    """``comments`` (a frame of comment events) with ``themes``, ``sentiment`` and
    ``group`` columns from ``tags`` (:class:`klantreis.text.models.Tags`, one per row)."""
    df = comments.copy()
    df["themes"] = [t.themes for t in tags]
    df["sentiment"] = [t.sentiment for t in tags]
    df["group"] = [score_group(m, s) for m, s in zip(df["metric"], df["score"], strict=True)]
    return df


def _mentions(df: pd.DataFrame, theme: str) -> np.ndarray:
    return np.array([theme in t for t in df["themes"]], dtype=bool)


def wilson_share(k: int, n: int) -> dict[str, float | None]:
    """``k`` of ``n`` as a share (0-1) with its 95% Wilson interval (None when n is 0)."""
    if n <= 0:
        return {"share": None, "low": None, "high": None}
    iv = wilson_arrays(np.array([k]), np.array([n]))
    return {
        "share": float(iv.value[0]) / 100,
        "low": float(iv.ci_low[0]) / 100,
        "high": float(iv.ci_high[0]) / 100,
    }


def theme_shares(df: pd.DataFrame, theme_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Per theme: comments mentioning it (``k``) of all (``n``), the share with its Wilson
    interval, and the mean sentiment of the mentioning comments; most mentioned first."""
    n = len(df)
    rows: list[dict[str, Any]] = []
    for theme in theme_ids:
        hit = _mentions(df, theme) if n else np.zeros(0, bool)
        k = int(hit.sum())
        sentiment = float(np.mean(df["sentiment"].to_numpy()[hit])) if k else None
        rows.append({"theme": theme, "k": k, "n": n, **wilson_share(k, n), "sentiment": sentiment})
    rows.sort(key=lambda r: (-r["k"], r["theme"]))
    return rows


def weekly_shares(
    df: pd.DataFrame, theme_ids: Sequence[str], zone: str = "Europe/Amsterdam"
) -> list[dict[str, Any]]:
    """Per local week (Monday) and theme: ``k`` of ``n`` comments and the Wilson interval."""
    if df.empty:
        return []
    local = pd.to_datetime(df["occurred_at"], utc=True).dt.tz_convert(zone)
    week = (local.dt.normalize() - pd.to_timedelta(local.dt.weekday, unit="D")).dt.date
    rows = []
    for day, part in df.groupby(week.to_numpy(), sort=True):
        n = len(part)
        for theme in theme_ids:
            k = int(_mentions(part, theme).sum())
            rows.append(
                {"week": day.isoformat(), "theme": theme, "k": k, "n": n, **wilson_share(k, n)}
            )
    return rows


def _fisher_greater(k1: int, n1: int, k0: int, n0: int) -> float:
    """One-sided Fisher exact p: is the share now (k1/n1) larger than before (k0/n0)?"""
    if n1 == 0 or n0 == 0:
        return 1.0
    from scipy.stats import fisher_exact

    _, p = fisher_exact([[k1, n1 - k1], [k0, n0 - k0]], alternative="greater")
    return float(p)


def _bh(p: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (same order as ``p``)."""
    m = len(p)
    if not m:
        return []
    order = np.argsort(p)
    ranked = np.asarray(p, dtype=float)[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(0, 1)
    out = np.empty(m)
    out[order] = adjusted
    return [float(x) for x in out]


def theme_changes(
    now: pd.DataFrame, before: pd.DataFrame, theme_ids: Sequence[str], alpha: float = 0.05
) -> dict[str, dict[str, Any]]:
    """Per theme: the share now and before, the one-sided Fisher p, the Benjamini-Hochberg
    adjusted ``q`` over the themes, and the flags ``growing`` (q < alpha) and ``new``
    (growing, and no mention before)."""
    n1, n0 = len(now), len(before)
    counts = {
        t: (int(_mentions(now, t).sum()) if n1 else 0, int(_mentions(before, t).sum()) if n0 else 0)
        for t in theme_ids
    }
    p = [_fisher_greater(counts[t][0], n1, counts[t][1], n0) for t in theme_ids]
    q = _bh(p)
    out = {}
    for theme, p_i, q_i in zip(theme_ids, p, q, strict=True):
        k1, k0 = counts[theme]
        growing = n0 > 0 and q_i < alpha
        out[theme] = {
            "k_now": k1,
            "n_now": n1,
            "k_before": k0,
            "n_before": n0,
            "share_before": k0 / n0 if n0 else None,
            "p": p_i,
            "q": q_i,
            "growing": bool(growing),
            "new": bool(growing and k0 == 0),
        }
    return out


def top_themes_by(
    df: pd.DataFrame, column: str, theme_ids: Sequence[str], top: int = 3
) -> list[dict[str, Any]]:
    """Per value of ``column`` (owner or touchpoint): its comments and its ``top`` most
    mentioned themes with shares and Wilson intervals; the most commented value first."""
    out: list[dict[str, Any]] = []
    for key, part in df.groupby(column, sort=True):
        shares = [r for r in theme_shares(part, theme_ids) if r["k"] > 0][:top]
        out.append({"key": str(key), "n": len(part), "themes": shares})
    out.sort(key=lambda r: (-r["n"], r["key"]))
    return out


@dataclass(frozen=True)
class _Fit:
    r2: float
    weights: np.ndarray  # raw relative weights (sum = r2)


def _relative_weights(x: np.ndarray, y: np.ndarray) -> _Fit:
    """Johnson's relative weights of the columns of ``x`` for ``y``."""
    xs, ys = x.std(axis=0), y.std()
    if ys == 0:
        return _Fit(0.0, np.zeros(x.shape[1]))
    z = np.where(xs > 0, (x - x.mean(axis=0)) / np.where(xs > 0, xs, 1), 0.0)
    zy = (y - y.mean()) / ys
    n = len(y)
    rxx = z.T @ z / n + np.diag((xs == 0).astype(float))  # a constant column: its own axis
    rxy = z.T @ zy / n
    evals, evecs = np.linalg.eigh(rxx)
    lam = evecs @ np.diag(np.sqrt(np.clip(evals, 1e-12, None))) @ evecs.T
    beta = np.linalg.solve(lam, rxy)
    weights = (lam**2) @ (beta**2)
    return _Fit(float(weights.sum()), weights)


def key_drivers(
    df: pd.DataFrame,
    theme_ids: Sequence[str],
    min_mentions: int = 10,
    min_answers: int = 30,
    boot: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """The score of the comments in ``df`` (one metric) regressed on their theme
    indicators. Themes with fewer than ``min_mentions`` mentions are left out (listed in
    ``left_out``). Per theme: mentions, coefficient (score points) with a 95% t-interval,
    the relative weight as a share of R² with a bootstrap 95% interval (``boot`` samples).
    ``rows`` is empty below ``min_answers`` scored comments."""
    from scipy import stats

    d = df[df["score"].notna()]
    n = len(d)
    counts = {t: int(_mentions(d, t).sum()) if n else 0 for t in theme_ids}
    used = [t for t in theme_ids if counts[t] >= min_mentions and counts[t] < n]
    base = {
        "n": n,
        "r2": None,
        "rows": [],
        "left_out": [t for t in theme_ids if t not in used and counts[t] > 0],
    }
    if n < min_answers or not used or n <= len(used) + 1:
        return base
    x = np.column_stack([_mentions(d, t) for t in used]).astype(float)
    y = d["score"].to_numpy(dtype=float)
    design = np.column_stack([np.ones(n), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    dof = n - design.shape[1]
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    t_crit = float(stats.t.ppf(0.975, dof))
    fit = _relative_weights(x, y)
    rng = np.random.default_rng(seed)
    samples = np.empty((boot, len(used)))
    for b in range(boot):
        idx = rng.integers(0, n, n)
        f = _relative_weights(x[idx], y[idx])
        samples[b] = f.weights / f.r2 if f.r2 > 0 else 0.0
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    rows: list[dict[str, Any]] = []
    for j, theme in enumerate(used):
        share = float(fit.weights[j] / fit.r2) if fit.r2 > 0 else 0.0
        rows.append(
            {
                "theme": theme,
                "mentions": counts[theme],
                "coef": float(coef[j + 1]),
                "coef_low": float(coef[j + 1] - t_crit * se[j + 1]),
                "coef_high": float(coef[j + 1] + t_crit * se[j + 1]),
                "weight": share,
                "weight_low": float(low[j]),
                "weight_high": float(high[j]),
            }
        )
    rows.sort(key=lambda r: (-r["weight"], r["theme"]))
    return {**base, "r2": fit.r2, "rows": rows, "boot": boot}
