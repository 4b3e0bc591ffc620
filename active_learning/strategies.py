"""Strategies: score every pool item (higher = more worth labeling) and select a batch.

Every strategy is fitted once on the pool's embedding ``X`` (n_items, n_components), then asked repeatedly::

    strategy.fit(X)
    idx = strategy.select(batch_size, labeled_idx, labels=labels, proba=proba, reconstruction_error=err)

``labeled_idx`` (n_labeled,) are pool positions already labeled (never selected again); ``labels`` their labels
((n_labeled,) classes or (n_labeled, n_labels) 0/1 for multi-label); ``proba`` the current model's probabilities
for every pool item ((n_items, n_classes), or None before a model exists); ``reconstruction_error`` the
autoencoder's (n_items,) errors. After each call ``scores_`` maps score names to (n_items,) arrays (NaN for
labeled items) and ``reasons_`` gives, per selected item, the score that picked it, so a UI can say why.
Ties break towards the lower index, so results are deterministic for a given ``random_state``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.cluster import KMeans, MiniBatchKMeans

from active_learning.scores import (
    entropy_scores,
    least_confidence_scores,
    margin_scores,
    multilabel_uncertainty_scores,
    nearest_labeled_distances,
    novelty_scores,
    rank_normalize,
    typicality_scores,
)

_MEASURES = {
    "margin": margin_scores,
    "entropy": entropy_scores,
    "least_confidence": least_confidence_scores,
    "multilabel": multilabel_uncertainty_scores,
}


class PoolExhaustedError(RuntimeError):
    """Raised when a batch is asked for but every pool item is already labeled."""


def labeled_mask(n_items: int, labeled_idx) -> np.ndarray:
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
    """Indices of the ``k`` best ``candidates`` by ``scores`` (n_items,), highest first, ties to the lower index."""
    candidates = np.asarray(candidates, dtype=np.int64)
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order[:k]]


def _masked(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.asarray(scores, dtype=np.float64).copy()
    out[mask] = np.nan
    return out


def _random_priority(n_items: int, random_state) -> np.ndarray:
    return np.random.default_rng(random_state).random(n_items)


def _kmeans(n_clusters: int, n_items: int, random_state):
    if n_items > 20_000:
        return MiniBatchKMeans(n_clusters, n_init=1, batch_size=4096, max_iter=20, random_state=random_state)
    return KMeans(n_clusters, n_init=1, max_iter=100, random_state=random_state)


class Strategy(BaseEstimator):
    """Base class: subclasses implement ``_score`` (and may override ``select``)."""

    def fit(self, X, y=None):
        """X: (n_items, n_components) embedding of the whole pool. Returns self."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"expected a non-empty (n_items, n_components) embedding, got shape {X.shape}")
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
        return self.X_[np.sort(rng.choice(self.n_items_, self.max_reference, replace=False))]

    def _score(self, mask, labels, proba, reconstruction_error) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def score(self, labeled_idx, labels=None, proba=None, reconstruction_error=None) -> np.ndarray:
        """-> (n_items,) scores, higher = more worth labeling; NaN for labeled items. Also sets ``scores_``."""
        mask = labeled_mask(self.n_items_, labeled_idx)
        parts = self._score(mask, labels, proba, reconstruction_error)
        self.scores_ = {name: _masked(values, mask) for name, values in parts.items()}
        return self.scores_["total"]

    def select(self, batch_size: int, labeled_idx, labels=None, proba=None, reconstruction_error=None) -> np.ndarray:
        """-> (min(batch_size, n_unlabeled),) pool indices, best first. Raises PoolExhaustedError when none is left."""
        mask = labeled_mask(self.n_items_, labeled_idx)
        unlabeled = _unlabeled_or_raise(mask, batch_size)
        total = self.score(labeled_idx, labels, proba, reconstruction_error)
        chosen = top_k(total, unlabeled, batch_size)
        self.reasons_ = [self._reason] * len(chosen)
        return chosen

    _reason = "score"


class RandomStrategy(Strategy):
    """Uniformly random order over the pool, fixed by ``random_state``."""

    _reason = "random"

    def __init__(self, random_state: int | None = None):
        self.random_state = random_state

    def _fit_pool(self):
        self.priority_ = _random_priority(self.n_items_, self.random_state)

    def _score(self, mask, labels, proba, reconstruction_error):
        return {"random": self.priority_, "total": self.priority_}


class UncertaintyStrategy(Strategy):
    """Uncertainty of the current model: ``measure`` in margin, entropy, least_confidence, multilabel, or
    ``auto`` (multilabel when labels are 2-D, else margin). Without usable probabilities (no model yet, or a
    single class seen) it falls back to a seeded random order, the usual random initial set."""

    def __init__(self, measure: str = "margin", random_state: int | None = None):
        self.measure = measure
        self.random_state = random_state

    def _fit_pool(self):
        if self.measure != "auto" and self.measure not in _MEASURES:
            raise ValueError(f"unknown measure {self.measure!r}; use auto or one of {sorted(_MEASURES)}")
        self.priority_ = _random_priority(self.n_items_, self.random_state)

    def _measure(self, labels) -> str:
        if self.measure != "auto":
            return self.measure
        return "multilabel" if labels is not None and np.ndim(labels) == 2 else "margin"

    def _score(self, mask, labels, proba, reconstruction_error):
        measure = self._measure(labels)
        if proba is None or (measure != "multilabel" and np.shape(proba)[1] < 2):
            self._reason = "random (no model yet)"
            return {"random": self.priority_, "total": self.priority_}
        if len(proba) != self.n_items_:
            raise ValueError(f"proba has {len(proba)} rows but the pool has {self.n_items_} items")
        values = _MEASURES[measure](proba)
        self._reason = measure
        return {measure: values, "total": values}


class TypicalityStrategy(Strategy):
    """Typical items first (TypiClust-style cold start).

    With ``coverage`` the pool is clustered into ``n_labeled + batch_size`` clusters (at most
    ``max_clusters``) and the most typical item of each of the largest clusters holding no labeled item is
    taken, so the batch covers the data; clusters smaller than ``min_cluster_size`` are skipped, as in the
    paper (a lone outlier makes its own cluster). Without ``coverage``, plain top typicality. Typicality is
    computed once at ``fit`` against at most ``max_reference`` items, over ``n_neighbors`` neighbours (5, as in
    scikit-activeml's TypiClust: a small tight group, such as a rare class, then counts as typical).
    """

    _reason = "typicality"

    def __init__(
        self,
        n_neighbors: int = 5,
        coverage: bool = True,
        max_clusters: int = 500,
        min_cluster_size: int = 5,
        max_reference: int = 20_000,
        random_state: int | None = None,
    ):
        self.n_neighbors = n_neighbors
        self.coverage = coverage
        self.max_clusters = max_clusters
        self.min_cluster_size = min_cluster_size
        self.max_reference = max_reference
        self.random_state = random_state

    def _fit_pool(self):
        self.typicality_ = typicality_scores(self.X_, self.n_neighbors, self._density_reference())

    def _score(self, mask, labels, proba, reconstruction_error):
        return {"typicality": self.typicality_, "total": self.typicality_}

    def select(self, batch_size, labeled_idx, labels=None, proba=None, reconstruction_error=None):
        if not self.coverage:
            return super().select(batch_size, labeled_idx, labels, proba, reconstruction_error)
        mask = labeled_mask(self.n_items_, labeled_idx)
        unlabeled = _unlabeled_or_raise(mask, batch_size)
        self.score(labeled_idx)
        n_clusters = min(int(mask.sum()) + batch_size, self.max_clusters, self.n_items_)
        cluster = _kmeans(n_clusters, self.n_items_, self.random_state).fit_predict(self.X_)
        sizes = np.bincount(cluster, minlength=n_clusters)
        covered = np.zeros(n_clusters, dtype=bool)
        covered[cluster[mask]] = True
        chosen: list[int] = []
        for c in np.lexsort((np.arange(n_clusters), -sizes)):
            members = np.flatnonzero((cluster == c) & ~mask)
            if covered[c] or members.size == 0 or sizes[c] < self.min_cluster_size:
                continue
            chosen.append(int(top_k(self.typicality_, members, 1)[0]))
            if len(chosen) == batch_size:
                break
        if len(chosen) < batch_size:  # fewer uncovered clusters than asked: the most typical of the rest
            rest = np.setdiff1d(unlabeled, chosen)
            chosen += top_k(self.typicality_, rest, batch_size - len(chosen)).tolist()
        self.scores_["cluster"] = _masked(cluster.astype(np.float64), mask)
        self.reasons_ = ["typical item of an unlabeled cluster"] * len(chosen)
        return np.asarray(chosen, dtype=np.int64)


class NoveltyStrategy(Strategy):
    """Outlier-guarded novelty: badly reconstructed and far from every labeled item, but not isolated.

    An item's novelty is a weighted mean of two ranks over the pool: its autoencoder reconstruction error
    (items unlike what the encoder learned from the bulk of the pool; weight ``reconstruction_weight``) and
    its distance to the nearest labeled item (which also spreads the batch).
    Items whose local density (typicality over ``guard_neighbors`` neighbours) is in the lowest
    ``guard_quantile`` are only taken when nothing else is left: single outliers are rarely useful labels.
    The batch is built farthest-first (each pick counts as labeled for the next), so it spreads out as far as
    the distance has weight: with ``reconstruction_weight=1`` it is simply the worst-reconstructed items.
    """

    _reason = "novelty"

    def __init__(
        self,
        reconstruction_weight: float = 0.75,
        guard_quantile: float = 0.05,
        guard_neighbors: int = 5,
        max_reference: int = 20_000,
        random_state: int | None = None,
    ):
        self.reconstruction_weight = reconstruction_weight
        self.guard_quantile = guard_quantile
        self.guard_neighbors = guard_neighbors
        self.max_reference = max_reference
        self.random_state = random_state

    def fit(self, X, y=None, density=None):
        """X: (n_items, n_components) pool embedding. ``density``: (n_items,) typicality over ``guard_neighbors``
        neighbours against the same reference, when the caller has it already (it is the slow part). Returns self."""
        self.density_ = None if density is None else np.asarray(density)
        return super().fit(X, y)

    def _fit_pool(self):
        density = self.density_
        if density is None:
            density = typicality_scores(self.X_, self.guard_neighbors, self._density_reference())
        self.outlier_ = density < np.quantile(density, self.guard_quantile)

    def _combined(self, distance, reconstruction_error):
        novelty = novelty_scores(reconstruction_error, distance, self.reconstruction_weight)
        return np.where(self.outlier_, novelty - 1.0, novelty)  # guarded: below every other item

    def _score(self, mask, labels, proba, reconstruction_error):
        distance = nearest_labeled_distances(self.X_, np.flatnonzero(mask))
        parts = {
            "distance_to_labeled": distance,
            "outlier": self.outlier_.astype(np.float64),
            "total": self._combined(distance, reconstruction_error),
        }
        if reconstruction_error is not None:
            parts["reconstruction_error"] = np.asarray(reconstruction_error, dtype=np.float64)
        return parts

    def select(self, batch_size, labeled_idx, labels=None, proba=None, reconstruction_error=None):
        mask = labeled_mask(self.n_items_, labeled_idx)
        unlabeled = _unlabeled_or_raise(mask, batch_size)
        total = self.score(labeled_idx, labels, proba, reconstruction_error)
        distance = nearest_labeled_distances(self.X_, np.flatnonzero(mask))
        taken = mask.copy()
        chosen = [int(top_k(total, unlabeled, 1)[0])]
        while len(chosen) < min(batch_size, unlabeled.size):
            taken[chosen[-1]] = True
            distance = np.minimum(distance, nearest_labeled_distances(self.X_, [chosen[-1]]))
            current = self._combined(distance, reconstruction_error)
            chosen.append(int(top_k(current, np.flatnonzero(~taken), 1)[0]))
        if reconstruction_error is None:
            why = "far from the labels"
        else:
            why = "unlike the pool's bulk" + (", far from the labels" if self.reconstruction_weight < 1 else "")
        self.reasons_ = [f"novelty ({why})"] * len(chosen)
        return np.asarray(chosen, dtype=np.int64)


class KCenterStrategy(Strategy):
    """Greedy k-center core-set (Sener & Savarese, 2018): repeatedly the item farthest from every labeled or
    already chosen item. The first item of an empty labeled set is drawn with ``random_state``."""

    _reason = "farthest from the labeled set (k-center)"

    def __init__(self, random_state: int | None = None):
        self.random_state = random_state

    def _fit_pool(self):
        self.priority_ = _random_priority(self.n_items_, self.random_state)

    def _score(self, mask, labels, proba, reconstruction_error):
        if not mask.any():
            return {"random": self.priority_, "total": self.priority_}
        distance = nearest_labeled_distances(self.X_, np.flatnonzero(mask))
        return {"distance_to_labeled": distance, "total": distance}

    def select(self, batch_size, labeled_idx, labels=None, proba=None, reconstruction_error=None):
        mask = labeled_mask(self.n_items_, labeled_idx)
        unlabeled = _unlabeled_or_raise(mask, batch_size)
        total = self.score(labeled_idx, labels, proba, reconstruction_error)
        chosen = [int(top_k(total, unlabeled, 1)[0])]
        taken = mask.copy()
        distance = (
            nearest_labeled_distances(self.X_, np.flatnonzero(mask)) if mask.any() else np.full(self.n_items_, np.inf)
        )
        while len(chosen) < min(batch_size, unlabeled.size):
            taken[chosen[-1]] = True
            distance = np.minimum(distance, nearest_labeled_distances(self.X_, [chosen[-1]]))
            chosen.append(int(top_k(distance, np.flatnonzero(~taken), 1)[0]))
        self.reasons_ = [self._reason] * len(chosen)
        return np.asarray(chosen, dtype=np.int64)


class DiversityStrategy(Strategy):
    """Diversity-aware batches: the best ``candidate_factor * batch_size`` items by ``base`` are grouped, and
    one item per group is taken, so a batch is not ten near-duplicates.

    ``method="kmeans"`` clusters the candidates' embeddings into ``batch_size`` groups and takes each group's
    best item: by ``base``'s score, or, with ``typicality_weight`` w > 0, by ``(1 - w) * rank(score) +
    w * rank(typicality)`` among the candidates, so a group is represented by an uncertain item that is also
    typical of the pool (information density, Settles & Craven 2008). ``method="kcenter"`` runs greedy
    k-center over the candidates, starting from the best. ``base`` defaults to margin uncertainty.
    """

    def __init__(
        self,
        base: Strategy | None = None,
        candidate_factor: int = 10,
        method: str = "kmeans",
        typicality_weight: float = 0.0,
        random_state: int | None = None,
    ):
        self.base = base
        self.candidate_factor = candidate_factor
        self.method = method
        self.typicality_weight = typicality_weight
        self.random_state = random_state

    def fit(self, X, y=None, typicality=None):
        """X: (n_items, n_components) pool embedding. ``typicality``: (n_items,) the pool's typicality when the
        caller has it already (only read with ``typicality_weight`` > 0). Returns self."""
        self.typicality_ = None if typicality is None else np.asarray(typicality, dtype=np.float64)
        return super().fit(X, y)

    def _fit_pool(self):
        if self.method not in ("kmeans", "kcenter"):
            raise ValueError(f"unknown diversity method {self.method!r}; use kmeans or kcenter")
        if not 0.0 <= self.typicality_weight <= 1.0:
            raise ValueError(f"typicality_weight must be within [0, 1], got {self.typicality_weight}")
        base = self.base if self.base is not None else UncertaintyStrategy("margin", random_state=self.random_state)
        self.base_ = clone(base).fit(self.X_)
        if self.typicality_weight > 0 and self.typicality_ is None:
            self.typicality_ = TypicalityStrategy(random_state=self.random_state).fit(self.X_).typicality_

    def _score(self, mask, labels, proba, reconstruction_error):
        self.base_.score(np.flatnonzero(mask), labels, proba, reconstruction_error)
        return dict(self.base_.scores_)

    def select(self, batch_size, labeled_idx, labels=None, proba=None, reconstruction_error=None):
        mask = labeled_mask(self.n_items_, labeled_idx)
        unlabeled = _unlabeled_or_raise(mask, batch_size)
        total = self.score(labeled_idx, labels, proba, reconstruction_error)
        candidates = top_k(total, unlabeled, max(batch_size * self.candidate_factor, batch_size))
        k = min(batch_size, candidates.size)
        representative = ""
        if self.method == "kmeans" and candidates.size > k:
            groups = KMeans(k, n_init=1, random_state=self.random_state).fit_predict(self.X_[candidates])
            pick = total[candidates]
            if self.typicality_weight > 0:
                w = self.typicality_weight
                pick = (1 - w) * rank_normalize(pick) + w * rank_normalize(self.typicality_[candidates])
                pick = np.round(pick, 9)  # equal rank sums are ties, whatever the float rounding
                representative = ", representative"
            # candidates come best first by `total`, so argmax breaks a tie by uncertainty
            chosen = np.array(
                [candidates[groups == g][np.argmax(pick[groups == g])] for g in range(k) if (groups == g).any()]
            )
            chosen = top_k(total, chosen, k)
        else:
            chosen = self._kcenter(candidates, mask, k)
        self.reasons_ = [f"{self.base_._reason}, diversified{representative}"] * len(chosen)
        return chosen

    def _kcenter(self, candidates: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
        """Greedy k-center over the candidates, seeded with the best one; labeled items count as centres."""
        points = self.X_[candidates]
        distance = np.full(len(candidates), np.inf)
        if mask.any():
            distance = nearest_labeled_distances(
                np.vstack([points, self.X_[mask]]), np.arange(len(points), len(points) + int(mask.sum()))
            )[: len(points)]
        picked = [0]
        while len(picked) < k:
            distance = np.minimum(distance, nearest_labeled_distances(points, [picked[-1]]))
            picked.append(int(np.argmax(distance)))  # picked ones have distance 0, so never again
        return candidates[picked]


class WeightedStrategy(Strategy):
    """Weighted mix of strategies: ``components`` is a sequence of ``(name, strategy, weight)``; each score is
    rank-normalised over the unlabeled items (so scales do not matter) and the weighted sum ranks the pool."""

    _reason = "weighted mix"

    def __init__(self, components: Sequence[tuple[str, Strategy, float]] = ()):
        self.components = components

    def _fit_pool(self):
        if not self.components:
            raise ValueError("a weighted strategy needs at least one (name, strategy, weight) component")
        self.components_ = [(name, clone(s).fit(self.X_), float(w)) for name, s, w in self.components]

    def _score(self, mask, labels, proba, reconstruction_error):
        parts: dict[str, np.ndarray] = {}
        total = np.zeros(self.n_items_)
        unlabeled = ~mask
        for name, strategy, weight in self.components_:
            values = strategy.score(np.flatnonzero(mask), labels, proba, reconstruction_error)
            ranked = np.zeros(self.n_items_)
            ranked[unlabeled] = rank_normalize(values[unlabeled])
            parts[name] = values
            total += weight * ranked
        parts["total"] = total
        return parts


class AdaptiveStrategy(Strategy):
    """The default: typicality/coverage at cold start, then margin uncertainty with diversity, plus a
    reserved exploration share of outlier-guarded novelty.

    The cold start lasts while there is no model (``proba`` is None), fewer than two classes are seen, or a
    seen class has fewer than ``min_labels_per_class`` labels while the labels so far are fewer than twice
    ``min_labels_per_class`` per seen class. ``round(share * batch_size)`` items of every batch come from
    :class:`NoveltyStrategy` (items the autoencoder reconstructs badly, where unseen classes hide; weight
    ``novelty_reconstruction_weight`` on the reconstruction error, the rest on the distance to the labels);
    ``share`` is ``exploration_share`` after the cold start and ``cold_exploration_share`` during it. After the
    cold start, each diversity group of margin candidates is represented by its best item by uncertainty, or,
    with ``typicality_weight`` w > 0, by a mix of uncertainty and typicality (see :class:`DiversityStrategy`).
    Typical items help a classifier that reads the embedding typicality is measured in (images), not one
    that reads raw columns (tables, where margin is the strategy to beat): :func:`make_strategy` and
    :class:`~active_learning.selector.ActiveSelector` set w from ``WARM_TYPICALITY_WEIGHT`` by data kind.
    The defaults (cold start until a model sees two classes, one novelty pick per batch of ten from the first
    batch, novelty by reconstruction error, w = 0.5 on images) were chosen on design seeds 0..9 and 100..109 of
    the benchmark and reported on seeds 200..219 (docs/active-learning.md). ``phase_`` tells which phase made
    the last batch.
    """

    def __init__(
        self,
        min_labels_per_class: int = 1,
        exploration_share: float = 0.1,
        cold_exploration_share: float = 0.1,
        novelty_reconstruction_weight: float = 1.0,
        typicality_weight: float = 0.0,
        candidate_factor: int = 10,
        n_neighbors: int = 5,
        guard_quantile: float = 0.05,
        max_clusters: int = 500,
        random_state: int | None = None,
    ):
        self.min_labels_per_class = min_labels_per_class
        self.exploration_share = exploration_share
        self.cold_exploration_share = cold_exploration_share
        self.novelty_reconstruction_weight = novelty_reconstruction_weight
        self.typicality_weight = typicality_weight
        self.candidate_factor = candidate_factor
        self.n_neighbors = n_neighbors
        self.guard_quantile = guard_quantile
        self.max_clusters = max_clusters
        self.random_state = random_state

    def _fit_pool(self):
        self.cold_ = TypicalityStrategy(
            self.n_neighbors, max_clusters=self.max_clusters, random_state=self.random_state
        ).fit(self.X_)
        self.warm_ = DiversityStrategy(
            UncertaintyStrategy("auto", random_state=self.random_state),
            candidate_factor=self.candidate_factor,
            typicality_weight=self.typicality_weight,
            random_state=self.random_state,
        ).fit(self.X_, typicality=self.cold_.typicality_)
        explore = NoveltyStrategy(
            self.novelty_reconstruction_weight, guard_quantile=self.guard_quantile, random_state=self.random_state
        )
        same = explore.guard_neighbors == self.n_neighbors and explore.max_reference == self.cold_.max_reference
        self.explore_ = explore.fit(self.X_, density=self.cold_.typicality_ if same else None)  # one k-NN pass

    def _is_cold(self, labels, proba) -> bool:
        if labels is None or proba is None or len(labels) == 0:
            return True
        labels = np.asarray(labels)
        counts = (
            labels.sum(axis=0)[labels.sum(axis=0) > 0] if labels.ndim == 2 else np.unique(labels, return_counts=True)[1]
        )
        if len(counts) < 2:
            return True
        # A class found late (a rare one) does not send a mature project back to the cold start: past twice
        # the labels the seen classes need, it is left to uncertainty and exploration.
        young = len(labels) < 2 * self.min_labels_per_class * len(counts)
        return young and int(counts.min()) < self.min_labels_per_class

    def _score(self, mask, labels, proba, reconstruction_error):
        main = self.cold_ if self._is_cold(labels, proba) else self.warm_
        main.score(np.flatnonzero(mask), labels, proba, reconstruction_error)
        return dict(main.scores_)

    def select(self, batch_size, labeled_idx, labels=None, proba=None, reconstruction_error=None):
        mask = labeled_mask(self.n_items_, labeled_idx)
        unlabeled = _unlabeled_or_raise(mask, batch_size)
        batch_size = min(batch_size, unlabeled.size)
        cold = self._is_cold(labels, proba)
        share = self.cold_exploration_share if cold else self.exploration_share
        n_explore = math.floor(share * batch_size + 0.5)
        self.phase_ = "cold_start" if cold else "uncertainty"
        main = self.cold_ if cold else self.warm_
        chosen = (
            main.select(batch_size - n_explore, labeled_idx, labels, proba, reconstruction_error)
            if (batch_size > n_explore)
            else np.zeros(0, np.int64)
        )
        reasons = list(getattr(main, "reasons_", []))[: len(chosen)]
        scores = dict(main.scores_)
        if n_explore:
            taken = np.concatenate([np.flatnonzero(mask), chosen])
            extra = self.explore_.select(n_explore, taken, labels, proba, reconstruction_error)
            scores.update({f"novelty_{k}": v for k, v in self.explore_.scores_.items()})
            chosen = np.concatenate([chosen, extra])
            reasons += self.explore_.reasons_
        self.scores_ = {name: _masked(values, mask) for name, values in scores.items()}
        self.reasons_ = reasons
        return chosen.astype(np.int64)


STRATEGIES = {
    "adaptive": AdaptiveStrategy,
    "random": RandomStrategy,
    "margin": lambda random_state=None: UncertaintyStrategy("margin", random_state=random_state),
    "entropy": lambda random_state=None: UncertaintyStrategy("entropy", random_state=random_state),
    "least_confidence": lambda random_state=None: UncertaintyStrategy("least_confidence", random_state=random_state),
    "typicality": TypicalityStrategy,
    "novelty": NoveltyStrategy,
    "kcenter": KCenterStrategy,
    "margin_diversity": lambda random_state=None: DiversityStrategy(random_state=random_state),
}

#: AdaptiveStrategy's ``typicality_weight`` by data kind: images' classifier reads the embedding that
#: typicality is measured in; tables' reads the raw columns (see AdaptiveStrategy).
WARM_TYPICALITY_WEIGHT = {"image": 0.5, "tabular": 0.0}


def make_strategy(name: str, random_state: int | None = None, data_kind: str | None = None, **params) -> Strategy:
    """A strategy by name (keys of ``STRATEGIES``), seeded. ``data_kind`` ("image" or "tabular") tunes the
    adaptive default for it (without one, AdaptiveStrategy's own defaults: the tabular behaviour); ``params`` go
    to AdaptiveStrategy (e.g. ``exploration_share``)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}")
    if name == "adaptive":
        if data_kind is not None:
            if data_kind not in WARM_TYPICALITY_WEIGHT:
                raise ValueError(f"unknown data kind {data_kind!r}; choose from {sorted(WARM_TYPICALITY_WEIGHT)}")
            params.setdefault("typicality_weight", WARM_TYPICALITY_WEIGHT[data_kind])
        return AdaptiveStrategy(random_state=random_state, **params)
    if params:
        raise ValueError(f"{name} takes no parameters here, got {sorted(params)}")
    return STRATEGIES[name](random_state=random_state)
