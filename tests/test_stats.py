"""The binomial bootstrap gives SciPy's intervals: exactly on equal draws, else within MC error."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from mubench.scoring.bootstrap import METHODS, content_seed, macro_mean_ci, proportion_ci

B = 9999


def _rows(k, n):
    return np.r_[np.ones(k), np.zeros(n - k)]


def _mean_of_means(*samples, axis):
    return np.mean([np.mean(x, axis=axis) for x in samples], axis=0)


def _our_bootstrap_distribution(k, n, seed):
    """The resampled macro means mubench.scoring.bootstrap draws for one group (mirrors its draw layout)."""
    k, n = np.asarray(k), np.asarray(n)
    draws = np.random.default_rng(content_seed(seed, k, n)).binomial(n[:, None], (k / n)[:, None], size=(n.size, B))
    return (draws / n[:, None]).mean(axis=0)


def test_content_seed_is_stable_and_sensitive_to_seed_and_counts():
    assert content_seed(0, [3, 4], [10, 10]) == content_seed(0, np.array([3, 4]), np.array([10, 10]))
    assert content_seed(0, [3], [10]) != content_seed(1, [3], [10])
    assert content_seed(0, [3], [10]) != content_seed(0, [10], [3])
    assert content_seed(0, [3, 4]) != content_seed(0, [[3, 4]])  # the shape counts, not only the numbers
    assert 0 <= content_seed(0, [1]) < 2**64


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("k", "n"), [([137], [500]), ([3, 40, 90], [10, 50, 100])])
def test_interval_math_equals_scipy_on_the_same_resamples(method, k, n):
    """Given our bootstrap distribution, SciPy's quantile, reflection and BCa give our numbers."""
    ours = macro_mean_ci([k], [n], seed=11, method=method)
    given = SimpleNamespace(bootstrap_distribution=_our_bootstrap_distribution(k, n, 11))
    samples = tuple(_rows(a, b) for a, b in zip(k, n))
    theirs = stats.bootstrap(
        samples, _mean_of_means, method=method, n_resamples=0, bootstrap_result=given
    ).confidence_interval
    np.testing.assert_allclose([ours[0][0], ours[1][0]], [theirs.low, theirs.high], atol=1e-12)


def _quantile_tolerance(p, n, confidence=0.95):
    """4 SDs of the difference of two independent bootstrap quantiles, plus one lattice step.

    SD of a sample q-quantile ≈ sqrt(q(1-q)/B) / density at the quantile; the bootstrap mean is
    ≈ Normal(p, p(1-p)/n), and resampled means move in steps of 1/n.
    """
    q = (1 - confidence) / 2
    sd_mean = np.sqrt(p * (1 - p) / n)
    density = np.exp(-0.5 * stats.norm.ppf(q) ** 2) / np.sqrt(2 * np.pi) / sd_mean
    return 4 * np.sqrt(2) * np.sqrt(q * (1 - q) / B) / density + 1 / n


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("k", [40, 260, 470])
def test_proportion_ci_matches_scipy_bootstrap_within_monte_carlo_error(method, k):
    n = 500
    low, high = proportion_ci([k], [n], seed=3, method=method)
    ci = stats.bootstrap(
        (_rows(k, n),), np.mean, method=method, n_resamples=B, rng=np.random.default_rng(k)
    ).confidence_interval
    tolerance = _quantile_tolerance(k / n, n)  # ≈ 0.004-0.005 here
    assert abs(low[0] - ci.low) < tolerance
    assert abs(high[0] - ci.high) < tolerance


@pytest.mark.parametrize("method", METHODS)
def test_macro_mean_ci_matches_scipy_stratified_bootstrap(method):
    k, n = [30, 200, 90], [100, 250, 300]
    low, high = macro_mean_ci([k], [n], seed=5, method=method)
    samples = tuple(_rows(a, b) for a, b in zip(k, n))
    ci = stats.bootstrap(
        samples, _mean_of_means, method=method, n_resamples=B, rng=np.random.default_rng(0)
    ).confidence_interval
    # SD of the macro mean = sqrt(sum p(1-p)/n) / 3 ≈ 0.017 (like a proportion with n ≈ 600).
    tolerance = _quantile_tolerance(0.5, 600)
    assert abs(low[0] - ci.low) < tolerance
    assert abs(high[0] - ci.high) < tolerance


def test_basic_interval_covers_true_p_about_95_percent():
    p, n, datasets = 0.3, 400, 1000
    k = np.random.default_rng(2024).binomial(n, p, size=datasets)
    low, high = proportion_ci(k, np.full(datasets, n), seed=0)
    coverage = np.mean((low <= p) & (p <= high))
    assert 0.92 <= coverage <= 0.98  # ±4 binomial SEs (0.007) around 0.95


@pytest.mark.parametrize("method", METHODS)
def test_degenerate_and_empty_groups(method):
    low, high = proportion_ci([0, 7, 0, 1], [5, 7, 0, 1], seed=1, method=method)
    np.testing.assert_array_equal(low[[0, 1, 3]], [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(high[[0, 1, 3]], [0.0, 1.0, 1.0])
    assert np.isnan(low[2]) and np.isnan(high[2])

    k_parts, n_parts = [[5, 0], [], [1, 0]], [[5, 4], [], [3, 0]]
    low, high = macro_mean_ci(k_parts, n_parts, seed=1, method=method)
    assert (low[0], high[0]) == (0.5, 0.5)
    assert np.isnan(low[1:]).all() and np.isnan(high[1:]).all()


def test_results_depend_only_on_each_groups_own_counts():
    k, n = np.array([10, 50, 90, 3, 50]), np.array([100, 100, 120, 9, 100])
    low, high = proportion_ci(k, n, seed=0, method="bca")
    order = [2, 0, 3, 1, 4]
    low_p, high_p = proportion_ci(k[order], n[order], seed=0, method="bca")
    np.testing.assert_array_equal(low_p, low[order])
    np.testing.assert_array_equal(high_p, high[order])
    alone = proportion_ci(k[:1], n[:1], seed=0, method="bca")
    assert (alone[0][0], alone[1][0]) == (low[0], high[0])
    assert (low[1], high[1]) == (low[4], high[4])  # the same counts: the same interval
    assert proportion_ci(k, n, seed=1, method="bca")[0][1] != low[1]  # another seed, other resamples


@pytest.mark.parametrize("method", METHODS)
def test_intervals_stay_inside_the_possible_range(method):
    """The basic interval reflects the resamples around the estimate: 1 of 4 right would reach below 0 % unclipped."""
    low, high = proportion_ci([1, 3, 1, 29], [4, 4, 30, 30], seed=0, method=method)
    assert (low >= 0).all() and (high <= 1).all()
    if method == "basic":
        assert low[0] == 0.0 and high[1] == 1.0  # 2 × 0.25 − 0.75 < 0, 2 × 0.75 − 0.25 > 1: clipped
    macro_low, macro_high = macro_mean_ci([[1, 3]], [[4, 4]], seed=0, method=method)
    assert 0 <= macro_low[0] <= 0.5 <= macro_high[0] <= 1


def test_invalid_input_is_rejected():
    with pytest.raises(ValueError, match="method"):
        proportion_ci([1], [2], seed=0, method="studentized")
    with pytest.raises(ValueError, match="0 <= k <= n"):
        proportion_ci([3], [2], seed=0)
    with pytest.raises(ValueError, match="one entry per group"):
        macro_mean_ci([[1], [1]], [[2]], seed=0)


def test_bca_acceleration_shifts_levels_toward_the_long_tail():
    """A skewed proportion (p small) must get a wider upper side than the percentile interval."""
    low_p, high_p = proportion_ci([4], [200], seed=9, method="percentile")
    low_b, high_b = proportion_ci([4], [200], seed=9, method="bca")
    assert high_b[0] > high_p[0] and low_b[0] >= low_p[0]


@pytest.mark.parametrize(("k", "n"), [(1, 10), (2, 30)])
def test_basic_and_percentile_differ_beyond_monte_carlo_error_on_a_skewed_small_sample(k, n):
    """Where the two intervals are closer than the SciPy comparisons' tolerance, those comparisons pass with either
    formula. On a skewed proportion with small n the bootstrap distribution is Binomial(n, k/n)/n on a coarse
    lattice: when no lattice point's CDF lies within 6 Monte-Carlo SDs of the 2.5 %/97.5 % levels, every run's
    quantiles are the exact binomial ones, so the intervals are known exactly — and basic ≠ percentile by a
    whole lattice step."""
    p, q = k / n, 0.025
    cdf = stats.binom.cdf(np.arange(n + 1), n, p)
    assert np.min(np.abs(cdf[:, None] - [q, 1 - q])) > 6 * np.sqrt(q * (1 - q) / B)  # quantiles are MC-exact
    q_low, q_high = stats.binom.ppf([q, 1 - q], n, p) / n
    expected = {"percentile": (q_low, q_high), "basic": (2 * p - q_high, 2 * p - q_low)}
    assert abs(expected["basic"][0] - expected["percentile"][0]) >= 1 / n - 1e-12  # the choice is visible
    for method, (low, high) in expected.items():
        ours = proportion_ci([k], [n], seed=4, method=method)
        scipy_ci = stats.bootstrap((_rows(k, n),), np.mean, method=method, n_resamples=B,
                                   rng=np.random.default_rng(n)).confidence_interval
        np.testing.assert_allclose([scipy_ci.low, scipy_ci.high], [low, high], atol=1e-12, err_msg=method)
        # ours is SciPy's interval clipped to [0, 1] (basic on 1 of 10 reaches down to −0.1)
        np.testing.assert_allclose([ours[0][0], ours[1][0]], np.clip([low, high], 0, 1), atol=1e-12, err_msg=method)
