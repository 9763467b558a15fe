"""Paired comparisons of two methods or training arms: the mean difference with a bootstrap interval.

The unit of resampling is the photo (Efron and Tibshirani 1993, the percentile bootstrap): a photo's scores
under several masks or bins are correlated, so rows (photos) are drawn with replacement and each row keeps all
its columns. Used by `evaluate --upscale` and `evaluate --arms`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["paired_bootstrap"]


def paired_bootstrap(
    differences: np.ndarray, resamples: int = 10_000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(mean, low, high) of the mean of `differences` (n,) or (n, k): n photos, k paired comparisons each; the
    interval is the `confidence` percentile interval of the mean over `resamples` draws of n photos. NaN entries
    (undefined scores) are left out. Raises ValueError when no photo has a value."""
    values = np.asarray(differences, dtype=np.float64)
    values = values.reshape(values.shape[0], -1)
    counts = np.isfinite(values).sum(axis=1)
    sums = np.where(np.isfinite(values), values, 0.0).sum(axis=1)
    keep = counts > 0
    if not keep.any():
        raise ValueError("no paired difference to bootstrap")
    sums, counts = sums[keep], counts[keep]
    draws = np.random.default_rng(seed).integers(0, sums.size, (resamples, sums.size))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(sums.sum() / counts.sum()), float(low), float(high)
