"""The building-block strategies: random, uncertainty, typicality, novelty, k-center, diversity, weighted mixes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import clone
from sklearn.cluster import KMeans

from active_learning.core.scores import (
    entropy_scores,
    least_confidence_scores,
    margin_scores,
    multilabel_uncertainty_scores,
    nearest_labeled_distances,
    novelty_scores,
    rank_normalize,
    typicality_scores,
)
from active_learning.core.strategies.base import (
    Strategy,
    _kmeans,
    _masked,
    _random_priority,
    _unlabeled_or_raise,
    labeled_mask,
    top_k,
)

_MEASURES = {
    "margin": margin_scores,
    "entropy": entropy_scores,
    "least_confidence": least_confidence_scores,
    "multilabel": multilabel_uncertainty_scores,
}


class RandomStrategy(Strategy):
    """Uniformly random order over the pool, fixed by ``random_state``."""

    _reason = "random"
    _rule = "random"

    def __init__(self, random_state: int | None = None):
        self.random_state = random_state

    def _fit_pool(self) -> None:
        self.priority_ = _random_priority(self.n_items_, self.random_state)

    def _score(
        self,
        mask: np.ndarray,
        labels: ArrayLike | None,
        proba: np.ndarray | None,
        reconstruction_error: np.ndarray | None,
    ) -> dict[str, np.ndarray]:
        return {"random": self.priority_, "total": self.priority_}


class UncertaintyStrategy(Strategy):
    """Uncertainty of the current model: ``measure`` in margin, entropy, least_confidence, multilabel, or
    ``auto`` (multilabel when labels are 2-D, else margin). Without usable probabilities (no model yet, or a
    single class seen) it falls back to a seeded random order, the usual random initial set."""

    def __init__(self, measure: str = "margin", random_state: int | None = None):
        self.measure = measure
        self.random_state = random_state

    def _fit_pool(self) -> None:
        if self.measure != "auto" and self.measure not in _MEASURES:
            raise ValueError(f"unknown measure {self.measure!r}; use auto or one of {sorted(_MEASURES)}")
        self.priority_ = _random_priority(self.n_items_, self.random_state)

    def _measure(self, labels: ArrayLike | None) -> str:
        if self.measure != "auto":
            return self.measure
        return "multilabel" if labels is not None and np.ndim(labels) == 2 else "margin"

    def _score(
        self,
        mask: np.ndarray,
        labels: ArrayLike | None,
        proba: np.ndarray | None,
        reconstruction_error: np.ndarray | None,
    ) -> dict[str, np.ndarray]:
        measure = self._measure(labels)
        if proba is None or (measure != "multilabel" and np.shape(proba)[1] < 2):
            self._reason, self._rule = "random (no model yet)", "random"
            return {"random": self.priority_, "total": self.priority_}
        if len(proba) != self.n_items_:
            raise ValueError(f"proba has {len(proba)} rows but the pool has {self.n_items_} items")
        values = _MEASURES[measure](proba)
        self._reason, self._rule = measure, "uncertainty"
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
    _rule = "typicality"

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

    def _fit_pool(self) -> None:
        self.typicality_ = typicality_scores(self.X_, self.n_neighbors, self._density_reference())

    def _score(
        self,
        mask: np.ndarray,
        labels: ArrayLike | None,
        proba: np.ndarray | None,
        reconstruction_error: np.ndarray | None,
    ) -> dict[str, np.ndarray]:
        return {"typicality": self.typicality_, "total": self.typicality_}

    def select(
        self,
        batch_size: int,
        labeled_idx: ArrayLike,
        labels: ArrayLike | None = None,
        proba: np.ndarray | None = None,
        reconstruction_error: np.ndarray | None = None,
    ) -> np.ndarray:
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
        self._explain(len(chosen), "typical item of an unlabeled cluster")
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
    _rule = "novelty"

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

    def fit(self, X: ArrayLike, y: object = None, density: np.ndarray | None = None) -> Self:
        """X: (n_items, n_components) pool embedding. ``density``: (n_items,) typicality over ``guard_neighbors``
        neighbours against the same reference, when the caller has it already (it is the slow part). Returns self."""
        self.density_ = None if density is None else np.asarray(density)
        return super().fit(X, y)

    def _fit_pool(self) -> None:
        density = self.density_
        if density is None:
            density = typicality_scores(self.X_, self.guard_neighbors, self._density_reference())
        self.outlier_ = density < np.quantile(density, self.guard_quantile)

    def exploration_order(self, reconstruction_error: np.ndarray | None) -> np.ndarray:
        """(n_items,) pool positions in the order reconstruction-error exploration takes them: worst reconstructed
        first, guarded outliers last, ties to the lower index. Labels do not move it."""
        error = np.asarray(reconstruction_error, dtype=np.float64)
        return np.lexsort((np.arange(self.n_items_), -error, self.outlier_))

    def _reads_distance(self, reconstruction_error: np.ndarray | None) -> bool:
        return reconstruction_error is None or self.reconstruction_weight < 1

    def _distance(self, mask: np.ndarray, reconstruction_error: np.ndarray | None) -> np.ndarray:
        """(n_items,) distance to the nearest labeled item; zeros when the novelty does not weigh it (the
        n_items x n_labeled distances are a selection's costliest part on a large, well-labeled pool)."""
        if not self._reads_distance(reconstruction_error):
            return np.zeros(self.n_items_)
        return nearest_labeled_distances(self.X_, np.flatnonzero(mask))

    def _combined(self, distance: np.ndarray, reconstruction_error: np.ndarray | None) -> np.ndarray:
        novelty = novelty_scores(reconstruction_error, distance, self.reconstruction_weight)
        return np.where(self.outlier_, novelty - 1.0, novelty)  # guarded: below every other item

    def _score(
        self,
        mask: np.ndarray,
        labels: ArrayLike | None,
        proba: np.ndarray | None,
        reconstruction_error: np.ndarray | None,
    ) -> dict[str, np.ndarray]:
        distance = self._distance(mask, reconstruction_error)
        parts = {
            "outlier": self.outlier_.astype(np.float64),
            "total": self._combined(distance, reconstruction_error),
        }
        if self._reads_distance(reconstruction_error):
            parts["distance_to_labeled"] = distance
        if reconstruction_error is not None:
            parts["reconstruction_error"] = np.asarray(reconstruction_error, dtype=np.float64)
        return parts

    def select(
        self,
        batch_size: int,
        labeled_idx: ArrayLike,
        labels: ArrayLike | None = None,
        proba: np.ndarray | None = None,
        reconstruction_error: np.ndarray | None = None,
    ) -> np.ndarray:
        mask = labeled_mask(self.n_items_, labeled_idx)
        unlabeled = _unlabeled_or_raise(mask, batch_size)
        total = self.score(labeled_idx, labels, proba, reconstruction_error)
        distance = self._distance(mask, reconstruction_error)
        taken = mask.copy()
        chosen = [int(top_k(total, unlabeled, 1)[0])]
        while len(chosen) < min(batch_size, unlabeled.size):
            taken[chosen[-1]] = True
            if self._reads_distance(reconstruction_error):
                distance = np.minimum(distance, nearest_labeled_distances(self.X_, [chosen[-1]]))
            current = self._combined(distance, reconstruction_error)
            chosen.append(int(top_k(current, np.flatnonzero(~taken), 1)[0]))
        if reconstruction_error is None:
            why = "far from the labels"
        else:
            why = "unlike the pool's bulk" + (", far from the labels" if self.reconstruction_weight < 1 else "")
        self._explain(len(chosen), f"novelty ({why})")
        return np.asarray(chosen, dtype=np.int64)


class KCenterStrategy(Strategy):
    """Greedy k-center core-set (Sener & Savarese, 2018): repeatedly the item farthest from every labeled or
    already chosen item. The first item of an empty labeled set is drawn with ``random_state``."""

    _reason = "farthest from the labeled set (k-center)"
    _rule = "diversity"

    def __init__(self, random_state: int | None = None):
        self.random_state = random_state

    def _fit_pool(self) -> None:
        self.priority_ = _random_priority(self.n_items_, self.random_state)

    def _score(
        self,
        mask: np.ndarray,
        labels: ArrayLike | None,
        proba: np.ndarray | None,
        reconstruction_error: np.ndarray | None,
    ) -> dict[str, np.ndarray]:
        if not mask.any():
            return {"random": self.priority_, "total": self.priority_}
        distance = nearest_labeled_distances(self.X_, np.flatnonzero(mask))
        return {"distance_to_labeled": distance, "total": distance}

    def select(
        self,
        batch_size: int,
        labeled_idx: ArrayLike,
        labels: ArrayLike | None = None,
        proba: np.ndarray | None = None,
        reconstruction_error: np.ndarray | None = None,
    ) -> np.ndarray:
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
        self._explain(len(chosen))
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

    def fit(self, X: ArrayLike, y: object = None, typicality: np.ndarray | None = None) -> Self:
        """X: (n_items, n_components) pool embedding. ``typicality``: (n_items,) the pool's typicality when the
        caller has it already (only read with ``typicality_weight`` > 0). Returns self."""
        self.typicality_ = None if typicality is None else np.asarray(typicality, dtype=np.float64)
        return super().fit(X, y)

    def _fit_pool(self) -> None:
        if self.method not in ("kmeans", "kcenter"):
            raise ValueError(f"unknown diversity method {self.method!r}; use kmeans or kcenter")
        if not 0.0 <= self.typicality_weight <= 1.0:
            raise ValueError(f"typicality_weight must be within [0, 1], got {self.typicality_weight}")
        base = self.base if self.base is not None else UncertaintyStrategy("margin", random_state=self.random_state)
        self.base_ = clone(base).fit(self.X_)
        if self.typicality_weight > 0 and self.typicality_ is None:
            self.typicality_ = TypicalityStrategy(random_state=self.random_state).fit(self.X_).typicality_

    def _score(
        self,
        mask: np.ndarray,
        labels: ArrayLike | None,
        proba: np.ndarray | None,
        reconstruction_error: np.ndarray | None,
    ) -> dict[str, np.ndarray]:
        self.base_.score(np.flatnonzero(mask), labels, proba, reconstruction_error)
        return dict(self.base_.scores_)

    def select(
        self,
        batch_size: int,
        labeled_idx: ArrayLike,
        labels: ArrayLike | None = None,
        proba: np.ndarray | None = None,
        reconstruction_error: np.ndarray | None = None,
    ) -> np.ndarray:
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
                w = float(self.typicality_weight)
                assert self.typicality_ is not None  # measured at fit whenever the weight is positive
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
        self._rule = self.base_._rule
        self._explain(len(chosen), f"{self.base_._reason}, diversified{representative}")
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

    def _fit_pool(self) -> None:
        if not self.components:
            raise ValueError("a weighted strategy needs at least one (name, strategy, weight) component")
        self.components_ = [(name, clone(s).fit(self.X_), float(w)) for name, s, w in self.components]

    def _score(
        self,
        mask: np.ndarray,
        labels: ArrayLike | None,
        proba: np.ndarray | None,
        reconstruction_error: np.ndarray | None,
    ) -> dict[str, np.ndarray]:
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
