"""Honest score statistics: values with n, confidence intervals and significance tests.

Pure numpy/scipy, no engine. The engines aggregate each group to its *sufficient statistics*
(:class:`Summary`: n, sum, sum of squares, promoters, detractors, top-2 boxes); everything
here works on those few numbers, so DuckDB and Spark give identical results.

Scales of the reported values:

- ``nps``: points in [-100, 100] = 100 x (share of 9-10 minus share of 0-6). Variance of the
  share difference: (p + d - (p - d)^2) / n; normal-approximation CI, clipped to [-100, 100].
- ``csat``: percent of top-2 boxes (4-5 on 1-5), Wilson score interval.
- ``ces`` (1-7) and ``stars`` (1-5): mean score with a Student t interval.

Below ``min_answers`` a value is not reported: ``value`` is None and ``too_few`` is True.

Two-group tests (period B versus period A, or group B versus group A; ``diff`` = B - A):

- NPS: z-test on the difference with variance var_A + var_B (the formula above, per group).
- CSAT: two-proportion z-test (pooled variance for the p-value, unpooled for the CI).
- CES / stars: Welch's t-test from n, mean and sample variance.

Each scalar function has a vectorised ``*_arrays`` twin used by :mod:`klantreis.analytics.metrics`
for many groups at once. The scalar names below are a stable API (the CX index builds on them).

>>> e = nps(promoters=50, detractors=20, n=100, min_answers=30)
>>> round(e.value, 1), round(e.ci_low, 2), round(e.ci_high, 2)
(30.0, 14.69, 45.31)
>>> nps(promoters=5, detractors=2, n=10, min_answers=30).too_few
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "DETRACTOR_MAX",
    "METRICS",
    "METRIC_SCALES",
    "PROMOTER_MIN",
    "TOP2_MIN",
    "Comparison",
    "Estimate",
    "Interval",
    "Summary",
    "ces",
    "compare",
    "compare_arrays",
    "compare_means",
    "compare_nps",
    "compare_proportions",
    "csat",
    "estimate",
    "estimate_arrays",
    "mean_arrays",
    "mean_score",
    "nps",
    "nps_arrays",
    "nps_variance",
    "poisson_rate_arrays",
    "stars",
    "test_name",
    "wilson_arrays",
    "z_critical",
]


def _sps() -> Any:
    """scipy.stats, imported on first use (about 1 s at start-up; a command that computes
    no interval, such as ``journeys dfg --owner``, never pays it)."""
    from scipy import stats

    return stats


#: The feedback metrics, and how each is reported.
METRICS = ("nps", "ces", "csat", "stars")
METRIC_SCALES: dict[str, str] = {
    "nps": "points (-100..100)",
    "ces": "mean (1..7)",
    "csat": "% top-2 box (4-5 of 5)",
    "stars": "mean (1..5)",
}
PROMOTER_MIN = 9  # nps 9-10
DETRACTOR_MAX = 6  # nps 0-6
TOP2_MIN = 4  # csat 4-5

ArrayLike = Any  # a float, int or numpy array


# -- data types -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    """Sufficient statistics of one group's answers: what the engine aggregates.

    ``total`` and ``total_sq`` are the sum and the sum of squares of the scores;
    ``promoters``/``detractors`` count nps 9-10 / 0-6; ``top2`` counts csat 4-5.
    """

    n: int
    total: float = 0.0
    total_sq: float = 0.0
    promoters: int = 0
    detractors: int = 0
    top2: int = 0

    @classmethod
    def from_scores(cls, scores: Iterable[float]) -> Summary:
        """Summarise raw scores (for tests, notebooks and small data).

        >>> Summary.from_scores([10, 9, 7, 3])
        Summary(n=4, total=29.0, total_sq=239.0, promoters=2, detractors=1, top2=3)
        """
        xs = [float(x) for x in scores]
        return cls(
            n=len(xs),
            total=float(sum(xs)),
            total_sq=float(sum(x * x for x in xs)),
            promoters=sum(x >= PROMOTER_MIN for x in xs),
            detractors=sum(x <= DETRACTOR_MAX for x in xs),
            top2=sum(x >= TOP2_MIN for x in xs),
        )

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray([v], dtype=float) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Estimate:
    """One reported score. ``value`` and the interval are None when ``too_few``."""

    metric: str
    n: int
    value: float | None
    ci_low: float | None
    ci_high: float | None
    std_error: float | None
    too_few: bool
    confidence: float


@dataclass(frozen=True)
class Comparison:
    """B versus A: ``diff`` = value_B - value_A, its CI at 1 - alpha, the test's p-value."""

    metric: str
    test: str
    n_a: int
    n_b: int
    value_a: float | None
    value_b: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    significant: bool
    too_few: bool
    alpha: float


class Interval(NamedTuple):
    """Vectorised estimate: arrays of value, standard error and interval bounds."""

    value: np.ndarray
    std_error: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


# -- vectorised cores ---------------------------------------------------------------------
def z_critical(confidence: float) -> float:
    """Two-sided normal critical value, e.g. 1.959964 for 0.95."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return float(_sps().norm.ppf(0.5 + confidence / 2))


def _f(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=float)


def nps_variance(p: ArrayLike, d: ArrayLike, n: ArrayLike) -> np.ndarray:
    """Variance of the share difference p - d: (p + d - (p - d)^2) / n (shares in 0..1)."""
    p, d, n = _f(p), _f(d), _f(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        variance: np.ndarray = (p + d - (p - d) ** 2) / n
    return variance


def nps_arrays(
    promoters: ArrayLike, detractors: ArrayLike, n: ArrayLike, confidence: float = 0.95
) -> Interval:
    """NPS in points with a normal-approximation CI clipped to [-100, 100]."""
    n = _f(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p, d = _f(promoters) / n, _f(detractors) / n
    value = 100.0 * (p - d)
    se = 100.0 * np.sqrt(np.clip(nps_variance(p, d, n), 0.0, None))
    z = z_critical(confidence)
    return Interval(
        value, se, np.clip(value - z * se, -100.0, 100.0), np.clip(value + z * se, -100.0, 100.0)
    )


def wilson_arrays(successes: ArrayLike, n: ArrayLike, confidence: float = 0.95) -> Interval:
    """Share in percent with the Wilson score interval."""
    n, k = _f(n), _f(successes)
    z = z_critical(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        se = np.sqrt(p * (1 - p) / n)
    # Exact ends when all or none are successes (rounding would leave 1e-15 off).
    low = np.where(k <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k >= n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return Interval(100.0 * p, 100.0 * se, 100.0 * low, 100.0 * high)


def _sample_variance(n: np.ndarray, total: np.ndarray, total_sq: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (total_sq - total * total / n) / (n - 1)
    return np.where(n > 1, np.clip(var, 0.0, None), np.nan)


def mean_arrays(
    n: ArrayLike, total: ArrayLike, total_sq: ArrayLike, confidence: float = 0.95
) -> Interval:
    """Mean score with a Student t interval (n - 1 degrees of freedom)."""
    n, total, total_sq = _f(n), _f(total), _f(total_sq)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        se = np.sqrt(_sample_variance(n, total, total_sq) / n)
        t = _sps().t.ppf(0.5 + confidence / 2, np.where(n > 1, n - 1, np.nan))
    return Interval(mean, se, mean - t * se, mean + t * se)


def _interval(metric: str, s: Mapping[str, np.ndarray], confidence: float) -> Interval:
    if metric == "nps":
        return nps_arrays(s["promoters"], s["detractors"], s["n"], confidence)
    if metric == "csat":
        return wilson_arrays(s["top2"], s["n"], confidence)
    if metric in ("ces", "stars"):
        return mean_arrays(s["n"], s["total"], s["total_sq"], confidence)
    raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")


def estimate_arrays(
    metric: str, summaries: Mapping[str, ArrayLike], confidence: float = 0.95, min_answers: int = 30
) -> dict[str, np.ndarray]:
    """Estimates for many groups: ``summaries`` maps Summary field names to arrays.

    Returns arrays ``value, std_error, ci_low, ci_high`` (NaN where too few) and ``too_few``.
    """
    s = {k: _f(v) for k, v in summaries.items()}
    iv = _interval(metric, s, confidence)
    too_few = (s["n"] < max(min_answers, 1)) | (s["n"] < 1)
    out = {name: np.where(too_few, np.nan, arr) for name, arr in iv._asdict().items()}
    out["too_few"] = too_few
    return out


def _p_and_ci(
    diff: np.ndarray, se: np.ndarray, crit: np.ndarray, p_value: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Degenerate case (no variance in either group): p = 1 if equal else 0, CI = [diff, diff]."""
    degenerate = se == 0
    p = np.where(degenerate, np.where(diff == 0, 1.0, 0.0), p_value)
    half = np.where(degenerate, 0.0, crit * se)
    return p, diff - half, diff + half


def _compare_nps(
    a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], alpha: float
) -> tuple[np.ndarray, ...]:
    ia, ib = (
        nps_arrays(a["promoters"], a["detractors"], a["n"]),
        nps_arrays(b["promoters"], b["detractors"], b["n"]),
    )
    diff = ib.value - ia.value
    se = np.sqrt(ia.std_error**2 + ib.std_error**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * _sps().norm.sf(np.abs(diff / se))
    return (ia.value, ib.value, diff, *_p_and_ci(diff, se, np.asarray(z_critical(1 - alpha)), p))


def _compare_props(
    a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], alpha: float
) -> tuple[np.ndarray, ...]:
    na, nb = a["n"], b["n"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pa_, pb_ = a["top2"] / na, b["top2"] / nb
        pooled = (a["top2"] + b["top2"]) / (na + nb)
        se_pooled = np.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
        se = np.sqrt(pa_ * (1 - pa_) / na + pb_ * (1 - pb_) / nb)
        p = 2 * _sps().norm.sf(np.abs((pb_ - pa_) / se_pooled))
    diff = 100.0 * (pb_ - pa_)
    p = np.where(se_pooled == 0, np.where(diff == 0, 1.0, 0.0), p)
    crit = np.asarray(z_critical(1 - alpha))
    _, low, high = _p_and_ci(diff, 100.0 * se, crit, p)
    return 100.0 * pa_, 100.0 * pb_, diff, p, low, high


def _compare_means(
    a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], alpha: float
) -> tuple[np.ndarray, ...]:
    na, nb = a["n"], b["n"]
    va = _sample_variance(na, a["total"], a["total_sq"]) / na
    vb = _sample_variance(nb, b["total"], b["total_sq"]) / nb
    with np.errstate(divide="ignore", invalid="ignore"):
        ma, mb = a["total"] / na, b["total"] / nb
        diff, se = mb - ma, np.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
        p = 2 * _sps().t.sf(np.abs(diff / se), df)
        crit = _sps().t.ppf(1 - alpha / 2, df)
    return (ma, mb, diff, *_p_and_ci(diff, se, crit, p))


_COMPARERS = {
    "nps": (_compare_nps, "nps-z-test"),
    "csat": (_compare_props, "two-proportion-z-test"),
    "ces": (_compare_means, "welch-t-test"),
    "stars": (_compare_means, "welch-t-test"),
}


def test_name(metric: str) -> str:
    """The key of the two-group test used for ``metric`` (``welch-t-test``, ...).

    Its name for people is :func:`klantreis.wording.test_label`."""
    if metric not in _COMPARERS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    return _COMPARERS[metric][1]


test_name.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported


def poisson_rate_arrays(
    counts: ArrayLike, exposure: ArrayLike, confidence: float = 0.95, per: float = 100.0
) -> Interval:
    """Rate ``per`` x counts / exposure with the exact (Garwood) Poisson interval.

    Used for contacts per 100 journeys; NaN where the exposure is 0.
    """
    k, e = _f(counts), _f(exposure)
    alpha = 1 - confidence
    lo = np.where(k > 0, _sps().chi2.ppf(alpha / 2, 2 * k) / 2, 0.0)
    hi = _sps().chi2.ppf(1 - alpha / 2, 2 * (k + 1)) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(e > 0, per / e, np.nan)
    return Interval(k * scale, np.sqrt(k) * scale, lo * scale, hi * scale)


def compare_arrays(
    metric: str,
    a: Mapping[str, ArrayLike],
    b: Mapping[str, ArrayLike],
    alpha: float = 0.05,
    min_answers: int = 30,
) -> dict[str, np.ndarray]:
    """B versus A for many pairs of groups at once (Summary field name -> array).

    Returns arrays ``value_a, value_b, diff, p_value, ci_low, ci_high`` (NaN where either
    side has fewer than ``max(min_answers, 2)`` answers), ``too_few`` and ``significant``.
    """
    if metric not in _COMPARERS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    sa = {k: _f(v) for k, v in a.items()}
    sb = {k: _f(v) for k, v in b.items()}
    values = _COMPARERS[metric][0](sa, sb, alpha)
    too_few = (sa["n"] < max(min_answers, 2)) | (sb["n"] < max(min_answers, 2))
    names = ("value_a", "value_b", "diff", "p_value", "ci_low", "ci_high")
    out = {name: np.where(too_few, np.nan, arr) for name, arr in zip(names, values, strict=True)}
    out["too_few"] = too_few
    out["significant"] = ~too_few & (np.nan_to_num(out["p_value"], nan=1.0) < alpha)
    return out


# -- scalar API ---------------------------------------------------------------------------
def _opt(x: Any) -> float | None:
    v = float(np.asarray(x).reshape(-1)[0])
    return None if np.isnan(v) else v


def estimate(
    metric: str, summary: Summary, confidence: float = 0.95, min_answers: int = 30
) -> Estimate:
    """The estimate of ``metric`` for one group's :class:`Summary`."""
    r = estimate_arrays(metric, summary.as_arrays(), confidence, min_answers)
    return Estimate(
        metric=metric,
        n=int(summary.n),
        value=_opt(r["value"]),
        ci_low=_opt(r["ci_low"]),
        ci_high=_opt(r["ci_high"]),
        std_error=_opt(r["std_error"]),
        too_few=bool(r["too_few"][0]),
        confidence=confidence,
    )


def nps(
    promoters: int, detractors: int, n: int, confidence: float = 0.95, min_answers: int = 30
) -> Estimate:
    """NPS in points from counts of promoters (9-10), detractors (0-6) and answers."""
    return estimate(
        "nps", Summary(n=n, promoters=promoters, detractors=detractors), confidence, min_answers
    )


def csat(top2: int, n: int, confidence: float = 0.95, min_answers: int = 30) -> Estimate:
    """CSAT as percent top-2 box (scores 4-5 of 5) with a Wilson interval.

    >>> e = csat(top2=80, n=100)
    >>> round(e.value, 1), round(e.ci_low, 2), round(e.ci_high, 2)
    (80.0, 71.12, 86.66)
    """
    return estimate("csat", Summary(n=n, top2=top2), confidence, min_answers)


def mean_score(
    metric: str,
    n: int,
    total: float,
    total_sq: float,
    confidence: float = 0.95,
    min_answers: int = 30,
) -> Estimate:
    """Mean of a scale metric (ces, stars) with a t interval, from n, sum and sum of squares."""
    return estimate(metric, Summary(n=n, total=total, total_sq=total_sq), confidence, min_answers)


def ces(
    n: int, total: float, total_sq: float, confidence: float = 0.95, min_answers: int = 30
) -> Estimate:
    """CES (1-7) mean with a t interval."""
    return mean_score("ces", n, total, total_sq, confidence, min_answers)


def stars(
    n: int, total: float, total_sq: float, confidence: float = 0.95, min_answers: int = 30
) -> Estimate:
    """Star rating (1-5) mean with a t interval."""
    return mean_score("stars", n, total, total_sq, confidence, min_answers)


def compare(
    metric: str, a: Summary, b: Summary, alpha: float = 0.05, min_answers: int = 30
) -> Comparison:
    """Is B different from A? The metric's test, with diff = B - A, its CI and p-value.

    >>> a = Summary(n=400, promoters=160, detractors=80)
    >>> b = Summary(n=400, promoters=200, detractors=60)
    >>> c = compare("nps", a, b)
    >>> round(c.diff, 1), c.significant
    (15.0, True)
    """
    r = compare_arrays(metric, a.as_arrays(), b.as_arrays(), alpha, min_answers)
    return Comparison(
        metric=metric,
        test=_COMPARERS[metric][1],
        n_a=int(a.n),
        n_b=int(b.n),
        value_a=_opt(r["value_a"]),
        value_b=_opt(r["value_b"]),
        diff=_opt(r["diff"]),
        ci_low=_opt(r["ci_low"]),
        ci_high=_opt(r["ci_high"]),
        p_value=_opt(r["p_value"]),
        significant=bool(r["significant"][0]),
        too_few=bool(r["too_few"][0]),
        alpha=alpha,
    )


def compare_nps(a: Summary, b: Summary, alpha: float = 0.05, min_answers: int = 30) -> Comparison:
    """NPS B - A with a z-test using var_A + var_B."""
    return compare("nps", a, b, alpha, min_answers)


def compare_proportions(
    a: Summary, b: Summary, alpha: float = 0.05, min_answers: int = 30
) -> Comparison:
    """CSAT top-2 share B - A (in percent points) with a two-proportion z-test."""
    return compare("csat", a, b, alpha, min_answers)


def compare_means(
    metric: str, a: Summary, b: Summary, alpha: float = 0.05, min_answers: int = 30
) -> Comparison:
    """Mean B - A (ces or stars) with Welch's t-test."""
    return compare(metric, a, b, alpha, min_answers)
