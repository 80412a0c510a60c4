"""Score statistics against straightforward reference computations and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from klantreis.analytics import stats
from klantreis.analytics.stats import Summary
from klantreis.wording import Wording, test_label

Z95 = 1.959963984540054


# -- references, written out by hand --------------------------------------------------------
def ref_nps(scores: list[int], z: float = Z95) -> tuple[float, float, float]:
    n = len(scores)
    p = sum(1 for s in scores if s >= 9) / n
    d = sum(1 for s in scores if s <= 6) / n
    value = 100 * (p - d)
    se = 100 * math.sqrt((p + d - (p - d) ** 2) / n)
    return value, max(-100.0, value - z * se), min(100.0, value + z * se)


def ref_wilson(k: int, n: int, z: float = Z95) -> tuple[float, float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return 100 * p, 100 * (centre - half), 100 * (centre + half)


def ref_mean(scores: list[int], confidence: float = 0.95) -> tuple[float, float, float]:
    n = len(scores)
    mean = sum(scores) / n
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
    t = sps.t.ppf(0.5 + confidence / 2, n - 1)
    return mean, mean - t * sd / math.sqrt(n), mean + t * sd / math.sqrt(n)


def _triple(e: stats.Estimate) -> tuple[float, float, float]:
    assert e.value is not None and e.ci_low is not None and e.ci_high is not None
    return e.value, e.ci_low, e.ci_high


# -- estimates ------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10), min_size=1, max_size=400))
def test_nps_matches_reference(scores: list[int]) -> None:
    s = Summary.from_scores(scores)
    got = _triple(stats.estimate("nps", s, min_answers=1))
    assert got == pytest.approx(ref_nps(scores), abs=1e-9)
    assert -100 <= got[1] <= got[0] <= got[2] <= 100


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=400))
def test_csat_wilson_matches_reference(scores: list[int]) -> None:
    k = sum(1 for s in scores if s >= 4)
    got = _triple(stats.csat(k, len(scores), min_answers=1))
    assert got == pytest.approx(ref_wilson(k, len(scores)), abs=1e-9)
    assert 0 <= got[1] <= got[0] <= got[2] <= 100


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 7), min_size=2, max_size=400), st.sampled_from([0.8, 0.9, 0.95, 0.99])
)
def test_ces_t_interval_matches_reference(scores: list[int], confidence: float) -> None:
    s = Summary.from_scores(scores)
    got = _triple(stats.ces(s.n, s.total, s.total_sq, confidence=confidence, min_answers=1))
    want = ref_mean(scores, confidence)
    if math.isnan(want[1]):  # all answers equal: no spread
        assert got[0] == pytest.approx(want[0]) and got[1] == got[2] == got[0]
    else:
        assert got == pytest.approx(want, abs=1e-9)


def test_stars_matches_scipy_t_interval() -> None:
    scores = [5, 4, 4, 3, 5, 1, 2, 5, 4, 4]
    s = Summary.from_scores(scores)
    e = stats.stars(s.n, s.total, s.total_sq, min_answers=1)
    lo, hi = sps.t.interval(0.95, len(scores) - 1, loc=np.mean(scores), scale=sps.sem(scores))
    assert (e.value, e.ci_low, e.ci_high) == pytest.approx((3.7, lo, hi), abs=1e-12)


def test_nps_hand_computed() -> None:
    # 50 promoters, 20 detractors of 100: NPS 30, variance (0.7 - 0.09)/100 = 0.0061.
    e = stats.nps(promoters=50, detractors=20, n=100, min_answers=30)
    se = math.sqrt(0.0061) * 100
    assert e.value == pytest.approx(30.0)
    assert e.std_error == pytest.approx(se)
    assert (e.ci_low, e.ci_high) == pytest.approx((30 - Z95 * se, 30 + Z95 * se))


def test_nps_interval_is_clipped() -> None:
    e = stats.nps(promoters=9, detractors=0, n=10, min_answers=1)
    assert e.value == 90.0 and e.ci_high == 100.0 and e.ci_low is not None and e.ci_low < 90


def test_confidence_level_widens_interval() -> None:
    narrow = stats.nps(40, 30, 200, confidence=0.8, min_answers=1)
    wide = stats.nps(40, 30, 200, confidence=0.99, min_answers=1)
    assert narrow.ci_low is not None and wide.ci_low is not None
    assert wide.ci_low < narrow.ci_low < narrow.value == wide.value  # type: ignore[operator]
    with pytest.raises(ValueError, match="confidence"):
        stats.nps(1, 1, 10, confidence=1.5)


@pytest.mark.parametrize("metric", stats.METRICS)
def test_too_few_answers(metric: str) -> None:
    s = Summary.from_scores([4, 5, 1])
    low = stats.estimate(metric, s, min_answers=4)
    assert low.too_few and low.value is None and low.ci_low is None and low.n == 3
    ok = stats.estimate(metric, s, min_answers=3)
    assert not ok.too_few and ok.value is not None


def test_zero_answers_is_too_few_even_with_minimum_one() -> None:
    e = stats.estimate("nps", Summary(n=0), min_answers=1)
    assert e.too_few and e.value is None


def test_unknown_metric_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        stats.estimate("happiness", Summary(n=10))


# -- comparisons ----------------------------------------------------------------------------
def test_nps_difference_z_test_by_hand() -> None:
    a = Summary(n=400, promoters=160, detractors=80)  # NPS 20
    b = Summary(n=300, promoters=150, detractors=45)  # NPS 35
    var_a = (0.4 + 0.2 - 0.2**2) / 400
    var_b = (0.5 + 0.15 - 0.35**2) / 300
    se = 100 * math.sqrt(var_a + var_b)
    z = 15 / se
    c = stats.compare_nps(a, b)
    assert c.diff == pytest.approx(15.0)
    assert c.p_value == pytest.approx(2 * (1 - sps.norm.cdf(z)))
    assert (c.ci_low, c.ci_high) == pytest.approx((15 - Z95 * se, 15 + Z95 * se))
    assert c.significant == (c.p_value is not None and c.p_value < 0.05)


def test_csat_two_proportion_matches_chi_square() -> None:
    # The pooled two-proportion z-test is the 2x2 chi-square test without correction.
    a, b = Summary(n=250, top2=180), Summary(n=230, top2=185)
    c = stats.compare_proportions(a, b)
    table = [[180, 70], [185, 45]]
    _, p, _, _ = sps.chi2_contingency(table, correction=False)
    assert c.p_value == pytest.approx(p, rel=1e-9)
    assert c.diff == pytest.approx(100 * (185 / 230 - 180 / 250))
    pa_, pb_ = 180 / 250, 185 / 230
    se = 100 * math.sqrt(pa_ * (1 - pa_) / 250 + pb_ * (1 - pb_) / 230)
    assert c.ci_high - c.ci_low == pytest.approx(2 * Z95 * se)  # type: ignore[operator]


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(11)
    xa = rng.integers(1, 8, 80).tolist()
    xb = (rng.integers(2, 8, 60)).tolist()
    c = stats.compare_means("ces", Summary.from_scores(xa), Summary.from_scores(xb))
    res = sps.ttest_ind(xb, xa, equal_var=False)
    assert c.p_value == pytest.approx(res.pvalue, rel=1e-9)
    ci = res.confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert c.diff == pytest.approx(np.mean(xb) - np.mean(xa))
    assert c.test == "welch-t-test"
    assert test_label(c.test, Wording("en")) == "Welch t-test"


def test_no_difference_is_not_significant() -> None:
    a = Summary.from_scores([9, 7, 3, 10] * 20)
    c = stats.compare("nps", a, a)
    assert c.diff == 0 and c.p_value == pytest.approx(1.0) and not c.significant


def test_comparison_with_too_few_answers() -> None:
    a, b = Summary(n=10, promoters=9), Summary(n=500, detractors=400)
    c = stats.compare("nps", a, b, min_answers=30)
    assert c.too_few and c.p_value is None and c.diff is None and not c.significant


def test_degenerate_groups_without_variance() -> None:
    a = Summary.from_scores([5] * 40)
    b = Summary.from_scores([4] * 40)
    c = stats.compare("stars", a, b)
    assert c.diff == -1 and c.p_value == 0.0 and c.ci_low == c.ci_high == -1


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 10), min_size=2, max_size=200),
    st.lists(st.integers(0, 10), min_size=2, max_size=200),
)
def test_compare_arrays_equals_scalar_compare(xa: list[int], xb: list[int]) -> None:
    a, b = Summary.from_scores(xa), Summary.from_scores(xb)
    arrays = stats.compare_arrays("nps", a.as_arrays(), b.as_arrays(), min_answers=2)
    scalar = stats.compare("nps", a, b, min_answers=2)
    assert arrays["diff"][0] == pytest.approx(scalar.diff)
    assert bool(arrays["significant"][0]) == scalar.significant


def test_poisson_rate_interval_matches_exact_formula() -> None:
    r = stats.poisson_rate_arrays([12, 0], [200, 50])
    assert r.value[0] == pytest.approx(6.0)
    assert r.ci_low[0] == pytest.approx(100 * sps.chi2.ppf(0.025, 24) / 2 / 200)
    assert r.ci_high[0] == pytest.approx(100 * sps.chi2.ppf(0.975, 26) / 2 / 200)
    assert r.value[1] == 0 and r.ci_low[1] == 0 and r.ci_high[1] > 0


def test_summary_from_scores_counts() -> None:
    s = Summary.from_scores([10, 9, 8, 7, 6, 0])
    assert (s.n, s.promoters, s.detractors, s.total) == (6, 2, 2, 40.0)


@pytest.mark.parametrize(
    "module", ["klantreis.analytics.stats", "klantreis.analytics.periods", "klantreis.app"]
)
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
