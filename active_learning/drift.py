"""Has the data changed? A two-sample test between new items and the items already there, in the embedding: the
maximum mean discrepancy (MMD) with a Gaussian kernel, its p-value from a permutation test. Pure numpy, no Django.

Under the null hypothesis (both samples from one distribution) the permutation p-value is never below ``alpha``
more often than ``alpha`` of the time, whatever the data: a drift alert at ``alpha = 0.01`` is a false alarm for at
most 1 import in 100 drawn from the same distribution.

>>> test = mmd_permutation_test(reference, new, random_state=0)
>>> test.drift, test.p_value
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHA = 0.01  # the stated false-alarm rate
N_PERMUTATIONS = 200
MAX_SAMPLES = 400  # per side: the kernel matrix is (2 x MAX_SAMPLES)^2


@dataclass(frozen=True)
class DriftTest:
    """statistic: the (biased) squared MMD of the two samples; p_value: its permutation p-value;
    threshold: the (1 - alpha) quantile of the permuted statistics; drift: p_value <= alpha."""

    statistic: float
    p_value: float
    threshold: float
    drift: bool
    alpha: float
    n_reference: int
    n_new: int


def mmd_permutation_test(
    reference: np.ndarray,
    new: np.ndarray,
    *,
    alpha: float = ALPHA,
    n_permutations: int = N_PERMUTATIONS,
    max_samples: int = MAX_SAMPLES,
    random_state: int | None = None,
) -> DriftTest:
    """Test whether ``new`` (n_new, n_features) comes from the distribution of ``reference`` (n_ref, n_features).

    Each side is subsampled to ``max_samples`` rows; the kernel's bandwidth is the median pairwise distance of
    the pooled sample. The p-value is ``(1 + #{permuted >= observed}) / (1 + n_permutations)``, so it is exact
    (never anti-conservative) for any sample size.
    """
    rng = np.random.default_rng(random_state)
    X = _subsample(np.asarray(reference, dtype=np.float64), max_samples, rng)
    Y = _subsample(np.asarray(new, dtype=np.float64), max_samples, rng)
    if len(X) < 2 or len(Y) < 2:
        raise ValueError(f"need at least two items on each side (got {len(X)} and {len(Y)})")
    pooled = np.vstack([X, Y])
    squared = _squared_distances(pooled)
    off_diagonal = squared[np.triu_indices(len(pooled), k=1)]
    bandwidth = float(np.median(off_diagonal)) or float(off_diagonal.mean()) or 1.0
    K = np.exp(-squared / bandwidth)
    n = len(X)
    observed = _mmd2(K, np.arange(len(pooled)) < n)
    permuted = np.empty(n_permutations)
    labels = np.arange(len(pooled)) < n
    for p in range(n_permutations):
        permuted[p] = _mmd2(K, rng.permutation(labels))
    p_value = (1.0 + np.count_nonzero(permuted >= observed)) / (1.0 + n_permutations)
    return DriftTest(
        statistic=float(observed),
        p_value=float(p_value),
        threshold=float(np.quantile(permuted, 1.0 - alpha)),
        drift=bool(p_value <= alpha),
        alpha=alpha,
        n_reference=len(X),
        n_new=len(Y),
    )


def _subsample(X: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if len(X) <= size:
        return X
    return X[np.sort(rng.choice(len(X), size, replace=False))]


def _squared_distances(X: np.ndarray) -> np.ndarray:
    norms = (X**2).sum(axis=1)
    return np.maximum(norms[:, None] + norms[None, :] - 2.0 * X @ X.T, 0.0)


def _mmd2(K: np.ndarray, first: np.ndarray) -> float:
    """Biased squared MMD between the rows marked ``first`` and the others, from the pooled kernel matrix:
    w' K w with w = 1/n_first on the first rows and -1/n_other on the others."""
    w = np.where(first, 1.0 / np.count_nonzero(first), -1.0 / np.count_nonzero(~first))
    return float(w @ K @ w)
