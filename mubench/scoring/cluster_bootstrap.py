"""Image-clustered bootstrap: resample images with all their questions, not question rows.

μ-Bench asks several questions about each image (five coarse ones), and answers about one image go together, so
question rows are not independent and a row bootstrap understates the uncertainty. Here a group is a matrix of
per-image counts: ``k[i, j]`` (correct answers, or any integer score such as a paired difference) and ``n[i, j]``
(questions) of image ``i`` in component ``j``; the statistic is the mean over components of Σ_i k_ij / Σ_i n_ij.

The statistic depends on an image only through its row of counts, so images with equal rows are interchangeable:
resampling m images with replacement is exactly a multinomial draw of how many times each distinct row is taken
(a few dozen categories instead of m images). That keeps the draw exact and vectorised: B × categories numbers per
group instead of B × m indices. Intervals and BCa follow scipy.stats.bootstrap (jackknife over images).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mubench.scoring.bootstrap import ACCURACY_RANGE, check_settings, content_seed, interval, jackknife_acceleration


@dataclass(frozen=True)
class ClusterResample:
    """One group's estimate, its resampled statistics and the jackknife sums BCa needs."""

    estimate: float
    resampled: np.ndarray
    spread: float  # Σ U² / m² of the image jackknife (SciPy's denominator term)
    skew: float  # Σ U³ / m³

    def ci(self, method: str, confidence: float, bounds: tuple[float, float] = ACCURACY_RANGE) -> tuple[float, float]:
        """(low, high), clipped to ``bounds``: [0, 1] for an accuracy, [-1, 1] for a paired difference."""
        alpha = (1.0 - confidence) / 2.0
        return interval(self.resampled, self.estimate, method, alpha,
                        lambda: jackknife_acceleration(self.spread, self.skew), bounds)


def image_categories(k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct per-image count rows (k_u, n_u) and how many images have each, in a fixed (sorted) order."""
    k, n = _as_matrix(k), _as_matrix(n)
    if k.shape != n.shape:
        raise ValueError(f"k and n differ in shape: {k.shape} vs {n.shape}")
    if np.any(n < 0) or np.any(np.abs(k) > n):
        raise ValueError("need n >= 0 and |k| <= n for every image and component")
    rows = np.hstack([k, n])
    ordered = rows[np.lexsort(rows.T[::-1])]  # np.unique(axis=0) is ~100× slower on 10⁴ rows
    first = np.r_[True, np.any(ordered[1:] != ordered[:-1], axis=1)] if len(ordered) else np.zeros(0, bool)
    counts = np.diff(np.r_[np.flatnonzero(first), len(ordered)])
    distinct = ordered[first]
    return distinct[:, : k.shape[1]], distinct[:, k.shape[1]:], counts


def resample_images(k, n, *, seed: int, n_resamples: int) -> ClusterResample:
    """Resample the images jointly (all components at once) ``n_resamples`` times, from a stream seeded by ``seed``
    and the group's distinct image rows (content_seed): the same images give the same resamples, whatever the group.

    With several components, a resample in which some component drew no image has no value and is left out
    (only possible when a component sits on very few images).
    """
    k_u, n_u, counts = image_categories(k, n)
    m = int(counts.sum())
    if m == 0 or np.any(n_u.sum(axis=0) == 0):
        raise ValueError("every component needs at least one question")
    rng = np.random.default_rng(content_seed(seed, k_u, n_u, counts))
    weights = rng.multinomial(m, counts / m, size=n_resamples)
    with np.errstate(invalid="ignore", divide="ignore"):
        resampled = ((weights @ k_u) / (weights @ n_u)).mean(axis=1)
    resampled = resampled[np.isfinite(resampled)]
    estimate = float(np.mean(k_u.T @ counts / (n_u.T @ counts)))
    spread, skew = _jackknife_sums(k_u, n_u, counts)
    return ClusterResample(estimate, resampled, spread, skew)


def stratified(parts: list[ClusterResample]) -> ClusterResample:
    """Mean over components that were resampled separately (each image in one component), as SciPy does with one
    sample per component; the 1/J of the mean cancels in the acceleration, so the jackknife sums just add up."""
    return ClusterResample(
        float(np.mean([p.estimate for p in parts])),
        np.mean([p.resampled for p in parts], axis=0),
        sum(p.spread for p in parts),
        sum(p.skew for p in parts),
    )


def cluster_ci(
    k, n, *, seed: int, method: str = "basic", confidence: float = 0.95, n_resamples: int = 9999,
    bounds: tuple[float, float] = ACCURACY_RANGE,
) -> tuple[float, float]:
    """(low, high) of the statistic of one group, resampling its images jointly, clipped to ``bounds``."""
    check_settings(method, confidence, n_resamples)
    return resample_images(k, n, seed=seed, n_resamples=n_resamples).ci(method, confidence, bounds)


def _jackknife_sums(k_u: np.ndarray, n_u: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """SciPy's jackknife sums with one image left out at a time (equal images give equal values).

    A component left empty by removing its only image has no value; the acceleration is then taken as 0.
    """
    m = int(counts.sum())
    if m < 2:
        return 0.0, 0.0
    k_sum, n_sum = k_u.T @ counts, n_u.T @ counts
    with np.errstate(invalid="ignore", divide="ignore"):
        left_out = ((k_sum - k_u) / (n_sum - n_u)).mean(axis=1)  # statistic without one image of each kind
    if not np.all(np.isfinite(left_out)):
        return 0.0, 0.0
    mean = float(left_out @ counts) / m
    u = (m - 1) * (mean - left_out)
    return float((u**2) @ counts) / m**2, float((u**3) @ counts) / m**3


def _as_matrix(values) -> np.ndarray:
    array = np.asarray(values, dtype=np.int64)
    return array.reshape(-1, 1) if array.ndim == 1 else array
