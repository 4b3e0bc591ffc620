"""The strategy contract and the helpers every strategy shares (see the package docstring)."""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans, MiniBatchKMeans

#: The machine-readable rule codes a strategy reports per picked item (``rules_``), next to its ``reasons_``:
#: typicality (typical of the pool), uncertainty (the model is unsure), novelty (unlike the pool's bulk or the
#: labels), diversity (far from everything labeled), random, disagreement (another model's imported prediction
#: disagrees with this one; set by the ranking, not by a strategy), score (any other score, e.g. a weighted mix).
RULES = ("typicality", "uncertainty", "novelty", "diversity", "random", "disagreement", "score")


class PoolExhaustedError(RuntimeError):
    """Raised when a batch is asked for but every pool item is already labeled."""


def labeled_mask(n_items: int, labeled_idx: ArrayLike | None) -> np.ndarray:
    """(n_labeled,) pool indices -> (n_items,) bool mask; refuses indices outside the pool."""
    labeled_idx = np.asarray(labeled_idx if labeled_idx is not None else [], dtype=np.int64).ravel()
    if labeled_idx.size and (labeled_idx.min() < 0 or labeled_idx.max() >= n_items):
        raise IndexError(f"labeled indices must lie in [0, {n_items}), got {labeled_idx.min()}..{labeled_idx.max()}")
    mask = np.zeros(n_items, dtype=bool)
    mask[labeled_idx] = True
    return mask


def _unlabeled_or_raise(mask: np.ndarray, batch_size: int) -> np.ndarray:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    unlabeled = np.flatnonzero(~mask)
    if unlabeled.size == 0:
        raise PoolExhaustedError(f"all {mask.size} pool items are labeled: nothing left to select")
    return unlabeled


def top_k(scores: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best ``candidates`` by ``scores`` (n_items,), highest first, ties to the lower index,
    NaN last."""
    candidates = np.asarray(candidates, dtype=np.int64)
    keys = -scores[candidates]
    if 0 < k < len(candidates) // 2:
        # Only candidates scoring at least the k-th best can be among the k: a partition (linear time) finds them,
        # then only they are sorted (a million candidates' full sort took 0.1 s; a batch needs ten).
        scored = keys[~np.isnan(keys)]
        if len(scored) >= k:
            near = np.flatnonzero(keys <= np.partition(scored, k - 1)[k - 1])
            candidates, keys = candidates[near], keys[near]
    order = np.lexsort((candidates, keys))
    return candidates[order[:k]]


def _masked(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.asarray(scores, dtype=np.float64).copy()
    out[mask] = np.nan
    return out


def _random_priority(n_items: int, random_state: int | None) -> np.ndarray:
    return np.random.default_rng(random_state).random(n_items)


def _kmeans(n_clusters: int, n_items: int, random_state: int | None) -> KMeans | MiniBatchKMeans:
    if n_items > 20_000:
        return MiniBatchKMeans(n_clusters, n_init=1, batch_size=4096, max_iter=20, random_state=random_state)
    return KMeans(n_clusters, n_init=1, max_iter=100, random_state=random_state)


class Strategy(BaseEstimator):
    """Base class: subclasses implement ``_score`` (and may override ``select``)."""

    def fit(self, X: ArrayLike, y: object = None) -> Self:
        """X: (n_items, n_components) embedding of the whole pool. Returns self."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"expected a non-empty (n_items, n_components) embedding, got shape {X.shape}")
        # A read-only copy: distances to the labels computed on it are remembered (scores.nearest_labeled_distances),
        # so the novelty score, the novelty picks and a ranking's "why" share one computation per label set.
        # Sub-strategies fitted on it share it as it is.
        if X.flags.writeable:
            X = X.copy()
            X.setflags(write=False)
        self.X_ = X
        self.n_items_ = len(X)
        self._fit_pool()
        return self

    def _fit_pool(self) -> None:
        """Label-independent precomputation (typicality, random priorities...)."""

    def _density_reference(self) -> np.ndarray | None:
        """A seeded sample of `max_reference` pool items to measure densities against (None: the whole pool),
        so neighbour searches stay bounded on large pools. For subclasses with `max_reference`/`random_state`."""
        if self.n_items_ <= self.max_reference:
            return None
        rng = np.random.default_rng(self.random_state)
        return np.asarray(self.X_[np.sort(rng.choice(self.n_items_, self.max_reference, replace=False))])

    def _score(
        self,
        mask: np.ndarray,
        labels: ArrayLike | None,
        proba: np.ndarray | None,
        reconstruction_error: np.ndarray | None,
    ) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def score(
        self,
        labeled_idx: ArrayLike,
        labels: ArrayLike | None = None,
        proba: np.ndarray | None = None,
        reconstruction_error: np.ndarray | None = None,
    ) -> np.ndarray:
        """-> (n_items,) scores, higher = more worth labeling; NaN for labeled items. Also sets ``scores_``."""
        mask = labeled_mask(self.n_items_, labeled_idx)
        parts = self._score(mask, labels, proba, reconstruction_error)
        self.scores_ = {name: _masked(values, mask) for name, values in parts.items()}
        return self.scores_["total"]

    def select(
        self,
        batch_size: int,
        labeled_idx: ArrayLike,
        labels: ArrayLike | None = None,
        proba: np.ndarray | None = None,
        reconstruction_error: np.ndarray | None = None,
    ) -> np.ndarray:
        """-> (min(batch_size, n_unlabeled),) pool indices, best first. Raises PoolExhaustedError when none is left."""
        mask = labeled_mask(self.n_items_, labeled_idx)
        unlabeled = _unlabeled_or_raise(mask, batch_size)
        total = self.score(labeled_idx, labels, proba, reconstruction_error)
        chosen = top_k(total, unlabeled, batch_size)
        self._explain(len(chosen))
        return chosen

    _reason = "score"
    _rule = "score"

    def _explain(self, n_chosen: int, reason: str | None = None) -> None:
        """Set ``reasons_`` (a sentence per pick, for people) and ``rules_`` (a code of RULES per pick)."""
        self.reasons_ = [reason or self._reason] * n_chosen
        self.rules_ = [self._rule] * n_chosen
