"""Exact bootstrap confidence intervals for accuracies (means of 0/1 outcomes).

Resampling the n rows of a 0/1 column with replacement and taking the mean gives exactly
Binomial(n, k/n) / n, so we draw that variable directly: B numbers per group instead of n * B row
indices. The intervals follow scipy.stats.bootstrap (same quantile rule, same BCa formulas), so
they agree with it within Monte-Carlo error.

Two conventions for every interval here: each group draws from a stream seeded by the counts it holds
(content_seed), so two groups holding the same questions (a subset's total and its only dataset) get the same
interval, whatever they are called and whichever other groups exist; and an interval is clipped to the range its
statistic can take (an accuracy to [0, 1]): the basic interval reflects the resamples around the estimate and can
reach past it.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np
from scipy.special import ndtr, ndtri

METHODS = ("basic", "percentile", "bca")

# Resampled macro means are float sums; values closer than this to the estimate count as ties.
_TIE_TOLERANCE = 1e-12


ACCURACY_RANGE = (0.0, 1.0)

# Fewer questions than this and a bootstrap interval of an accuracy means little: the resampled accuracy moves in
# steps of 1/n, the basic and percentile intervals cover the true value well below their nominal level, and a group
# answered all right (or all wrong) gets a zero-width interval. Tables flag such rows (``small_n``).
SMALL_N = 30


def content_seed(base_seed: int, *counts) -> int:
    """A group's seed from ``base_seed`` and the integer arrays it holds (its counts), never from its name: the same
    counts draw the same resamples, so give the same interval."""
    digest = hashlib.sha256(str(int(base_seed)).encode())
    for array in counts:
        array = np.ascontiguousarray(array, dtype=np.int64)
        digest.update(repr(array.shape).encode() + array.tobytes())
    return int.from_bytes(digest.digest()[:8], "big")


def proportion_ci(
    k: Sequence[int],
    n: Sequence[int],
    *,
    seed: int,
    method: str = "basic",
    confidence: float = 0.95,
    n_resamples: int = 9999,
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) per group for the accuracy k/n; NaN where n == 0.

    ``method``: ``basic`` (reverse percentile, what the authors ran), ``percentile`` or ``bca``
    (SciPy's default). Intervals are clipped to [0, 1] (SciPy does not clip).
    """
    k = np.asarray(k, dtype=np.int64).reshape(-1, 1)
    n = np.asarray(n, dtype=np.int64).reshape(-1, 1)
    return macro_mean_ci(
        list(k), list(n), seed=seed, method=method, confidence=confidence, n_resamples=n_resamples
    )


def macro_mean_ci(
    k_parts: Sequence[Sequence[int]],
    n_parts: Sequence[Sequence[int]],
    *,
    seed: int,
    method: str = "basic",
    confidence: float = 0.95,
    n_resamples: int = 9999,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) per group for the unweighted mean of its components' accuracies k_j/n_j.

    Stratified bootstrap, as scipy.stats.bootstrap does with one sample per component: each
    component is resampled within itself and the macro mean is taken per resample. BCa is exact
    here too, because SciPy's per-sample jackknife of a mean of means is analytic. A group with no
    components or an empty component gets NaN. One component = a pooled accuracy.

    Each group draws from its own stream, seeded by ``seed`` and its counts (content_seed), so the
    loop is over groups (``threads`` at a time: the result does not depend on it); within a group, components ×
    resamples are drawn in one call.
    """
    check_settings(method, confidence, n_resamples)
    if len(k_parts) != len(n_parts):
        raise ValueError("k_parts and n_parts must have one entry per group")
    alpha = (1.0 - confidence) / 2.0
    low = np.full(len(k_parts), np.nan)
    high = np.full(len(k_parts), np.nan)
    drawn = []
    for group, (k, n) in enumerate(zip(k_parts, n_parts)):
        k = np.asarray(k, dtype=np.int64).reshape(-1)
        n = np.asarray(n, dtype=np.int64).reshape(-1)
        if k.shape != n.shape:
            raise ValueError(f"group {group}: k and n differ in length")
        if np.any((k < 0) | (k > n)):
            raise ValueError(f"group {group}: need 0 <= k <= n, got k={k.tolist()}, n={n.tolist()}")
        if n.size and np.all(n > 0):
            drawn.append((group, k, n))
    intervals = in_threads(lambda g: _group_interval(g[1], g[2], content_seed(seed, g[1], g[2]), method, alpha,
                                                     n_resamples), drawn, threads)
    for (group, _, _), (group_low, group_high) in zip(drawn, intervals):
        low[group], high[group] = group_low, group_high
    return low, high


def in_threads(fn: Callable, items: Sequence, threads: int) -> list:
    """``[fn(item) for item in items]``, ``threads`` at a time: NumPy's generators release the GIL while they draw,
    and every group draws from its own seeded stream, so the results are the same for any number of threads."""
    if threads <= 1 or len(items) < 2:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(min(threads, len(items))) as pool:
        return list(pool.map(fn, items))


def check_settings(method: str, confidence: float, n_resamples: int) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if int(n_resamples) != n_resamples or n_resamples < 2:
        raise ValueError(f"n_resamples must be an integer >= 2, got {n_resamples}")


def _group_interval(
    k: np.ndarray, n: np.ndarray, seed: int, method: str, alpha: float, n_resamples: int
) -> tuple[float, float]:
    p = k / n
    estimate = float(p.mean())
    rng = np.random.default_rng(seed)
    draws = rng.binomial(n[:, None], p[:, None], size=(n.size, n_resamples))
    resampled = (draws / n[:, None]).mean(axis=0)
    return interval(resampled, estimate, method, alpha, lambda: _row_acceleration(p, n), ACCURACY_RANGE)


def interval(
    resampled: np.ndarray, estimate: float, method: str, alpha: float, acceleration: Callable[[], float],
    bounds: tuple[float, float],
) -> tuple[float, float]:
    """(low, high) from the resampled statistics, as scipy.stats.bootstrap computes it, clipped to ``bounds`` (the
    range the statistic can take).

    ``acceleration`` (BCa only) returns the jackknife acceleration; it is called only for ``bca``.
    """
    if method == "bca":
        levels = _bca_levels(resampled, estimate, acceleration(), alpha)
    else:
        levels = np.array([alpha, 1.0 - alpha])
    q_low, q_high = _linear_quantiles(resampled, levels)
    if method == "basic":
        q_low, q_high = 2.0 * estimate - q_high, 2.0 * estimate - q_low
    return float(np.clip(q_low, *bounds)), float(np.clip(q_high, *bounds))


def _row_acceleration(p: np.ndarray, n: np.ndarray) -> float:
    """SciPy's per-sample jackknife acceleration of a mean of 0/1 means, in closed form.

    Leaving out a 1 gives (k-1)/(n-1) and a 0 gives k/(n-1), so the jackknife sums reduce to
    p(1-p)/n (spread) and p(1-p)(1-2p)/n^2 (skew) per component. Degenerate groups (every
    component at 0 or 1) have no spread: acceleration 0.
    """
    return jackknife_acceleration(float(np.sum(p * (1 - p) / n)), float(np.sum(p * (1 - p) * (1 - 2 * p) / n**2)))


def jackknife_acceleration(spread: float, skew: float) -> float:
    """a = skew / (6 spread^1.5) from SciPy's jackknife sums (sum U^3/n^3 and sum U^2/n^2); 0 without spread."""
    return skew / (6.0 * spread**1.5) if spread > 0 else 0.0


def _bca_levels(resampled: np.ndarray, estimate: float, acceleration: float, alpha: float) -> np.ndarray:
    """BCa quantile levels (Efron & Tibshirani eq. 14.10) with SciPy's z0.

    A group with no spread has every resample at the estimate: z0 is 0 and the CI collapses to the
    estimate instead of NaN.
    """
    below = np.count_nonzero(resampled < estimate - _TIE_TOLERANCE)
    at_or_below = np.count_nonzero(resampled <= estimate + _TIE_TOLERANCE)
    z0 = ndtri((below + at_or_below) / (2.0 * resampled.size))
    z = ndtri(np.array([alpha, 1.0 - alpha]))
    return ndtr(z0 + (z0 + z) / (1.0 - acceleration * (z0 + z)))


def _linear_quantiles(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles by linear interpolation of order statistics (Hyndman-Fan 7, SciPy's default)."""
    positions = (values.size - 1) * levels
    lower = np.floor(positions).astype(np.int64)
    upper = np.minimum(lower + 1, values.size - 1)
    ordered = np.partition(values, np.unique(np.concatenate([lower, upper])))
    return ordered[lower] + (positions - lower) * (ordered[upper] - ordered[lower])
