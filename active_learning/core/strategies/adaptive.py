"""The default strategy: typicality at cold start, then margin with diversity, plus a share of novelty."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from active_learning.core.strategies.base import Strategy, _masked, _unlabeled_or_raise, labeled_mask
from active_learning.core.strategies.blocks import (
    DiversityStrategy,
    NoveltyStrategy,
    TypicalityStrategy,
    UncertaintyStrategy,
)


class AdaptiveStrategy(Strategy):
    """The default: typicality/coverage at cold start, then margin uncertainty with diversity, plus a
    reserved exploration share of outlier-guarded novelty.

    The cold start lasts while there is no model (``proba`` is None), fewer than two classes are seen, or a
    seen class has fewer than ``min_labels_per_class`` labels while the labels so far are fewer than twice
    ``min_labels_per_class`` per seen class. ``round(share * batch_size)`` items of every batch come from
    :class:`NoveltyStrategy` (items the autoencoder reconstructs badly, where unseen classes hide; weight
    ``novelty_reconstruction_weight`` on the reconstruction error, the rest on the distance to the labels);
    ``share`` is ``exploration_share`` after the cold start and ``cold_exploration_share`` during it.
    Exploration pauses once it stops finding classes: when the last ``exploration_patience`` items of the
    *explored head* of the novelty ranking (its best-ranked items, all labeled) each hold a class that an earlier
    label already had (``labels`` come oldest first); ``None`` never pauses, and neither does a project that has
    seen one class only. The head is judged afresh on every call, so new items at the top of the ranking (a pool
    that grew) are explored again.

    After the cold start, each diversity group of margin candidates is represented by its best item by
    uncertainty, or, with ``typicality_weight`` w > 0, by a mix of uncertainty and typicality (see
    :class:`DiversityStrategy`). Typical items help a classifier that reads the embedding typicality is
    measured in (images), not one that reads raw columns (tables, where margin is the strategy to beat), so
    :func:`make_strategy` and :class:`~active_learning.core.selector.ActiveSelector` take w and
    ``cold_exploration_share`` from ``KIND_DEFAULTS`` by data kind: on images w = 0.5 and one novelty pick in a
    first batch of ten (the young classifier needs the typical items more), on tables w = 0 and two, as the
    constructor's defaults.
    The defaults (cold start until a model sees two classes, one novelty pick per later batch of ten, novelty by
    reconstruction error, a pause after three fruitless novelty picks, the per-kind values) were chosen on one set
    of benchmark runs and reported on others; docs/active-learning.md says how.
    ``phase_`` tells which phase made the last batch, and whether exploration was paused.
    """

    def __init__(
        self,
        min_labels_per_class: int = 1,
        exploration_share: float = 0.1,
        cold_exploration_share: float = 0.2,
        novelty_reconstruction_weight: float = 1.0,
        typicality_weight: float = 0.0,
        exploration_patience: int | None = 3,
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
        self.exploration_patience = exploration_patience
        self.candidate_factor = candidate_factor
        self.n_neighbors = n_neighbors
        self.guard_quantile = guard_quantile
        self.max_clusters = max_clusters
        self.random_state = random_state

    def _fit_pool(self) -> None:
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

    def _is_cold(self, labels: ArrayLike | None, proba: np.ndarray | None) -> bool:
        if labels is None or proba is None or np.size(labels) == 0:
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

    def _exploration_stalled(
        self,
        mask: np.ndarray,
        labeled_idx: ArrayLike,
        labels: ArrayLike | None,
        reconstruction_error: np.ndarray | None,
    ) -> bool:
        """Whether the last ``exploration_patience`` items of the novelty ranking's explored head found no class.

        The head is read on :meth:`NoveltyStrategy.exploration_order`: the part of the novelty ranking that labels
        do not move, and all of it at the default ``novelty_reconstruction_weight=1``."""
        patience = self.exploration_patience
        if patience is None or reconstruction_error is None or labels is None or np.size(labels) == 0:
            return False
        labels = np.asarray(labels)
        if (labels.any(axis=0).sum() if labels.ndim == 2 else np.unique(labels).size) < 2:
            return False  # one class seen: finding a second is what exploration is for
        order = self.explore_.exploration_order(reconstruction_error)
        unlabeled = np.flatnonzero(~mask[order])
        head = order[: unlabeled[0] if unlabeled.size else order.size]
        if head.size < patience:
            return False
        if labels.ndim == 2:  # multi-label: a row that holds a label no earlier row has
            firsts = np.argmax(labels > 0, axis=0)[labels.any(axis=0)]
        else:
            firsts = np.unique(labels, return_index=True)[1]
        found = labeled_mask(self.n_items_, np.asarray(labeled_idx)[firsts])
        return not found[head[-patience:]].any()

    def _score(
        self,
        mask: np.ndarray,
        labels: ArrayLike | None,
        proba: np.ndarray | None,
        reconstruction_error: np.ndarray | None,
    ) -> dict[str, np.ndarray]:
        main = self.cold_ if self._is_cold(labels, proba) else self.warm_
        main.score(np.flatnonzero(mask), labels, proba, reconstruction_error)
        return dict(main.scores_)

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
        batch_size = min(batch_size, unlabeled.size)
        cold = self._is_cold(labels, proba)
        share = self.cold_exploration_share if cold else self.exploration_share
        n_explore = math.floor(share * batch_size + 0.5)
        self.phase_ = "cold_start" if cold else "uncertainty"
        if n_explore and self._exploration_stalled(mask, labeled_idx, labels, reconstruction_error):
            n_explore = 0
            self.phase_ += ", exploration paused"
        main = self.cold_ if cold else self.warm_
        chosen = (
            main.select(batch_size - n_explore, labeled_idx, labels, proba, reconstruction_error)
            if (batch_size > n_explore)
            else np.zeros(0, np.int64)
        )
        reasons = list(getattr(main, "reasons_", []))[: len(chosen)]
        rules = list(getattr(main, "rules_", []))[: len(chosen)]
        scores = dict(main.scores_)
        if n_explore:
            taken = np.concatenate([np.flatnonzero(mask), chosen])
            extra = self.explore_.select(n_explore, taken, labels, proba, reconstruction_error)
            scores.update({f"novelty_{k}": v for k, v in self.explore_.scores_.items()})
            chosen = np.concatenate([chosen, extra])
            reasons += self.explore_.reasons_
            rules += self.explore_.rules_
        self.scores_ = {name: _masked(values, mask) for name, values in scores.items()}
        self.reasons_ = reasons
        self.rules_ = rules
        return chosen.astype(np.int64)
