"""Strategies: score every pool item (higher = more worth labeling) and select a batch.

Every strategy is fitted once on the pool's embedding ``X`` (n_items, n_components), then asked repeatedly::

    strategy.fit(X)
    idx = strategy.select(batch_size, labeled_idx, labels=labels, proba=proba, reconstruction_error=err)

``labeled_idx`` (n_labeled,) are pool positions already labeled (never selected again), oldest first (the
adaptive strategy reads which label found each class); ``labels`` their labels
((n_labeled,) classes or (n_labeled, n_labels) 0/1 for multi-label); ``proba`` the current model's probabilities
for every pool item ((n_items, n_classes), or None before a model exists); ``reconstruction_error`` the
autoencoder's (n_items,) errors. After each call ``scores_`` maps score names to (n_items,) arrays (NaN for
labeled items); ``reasons_`` gives, per selected item, a sentence saying what picked it, so a UI can say why, and
``rules_`` the same as a code of ``RULES`` (typicality, uncertainty, novelty, diversity, random, score). Strategies
are made by name with ``make_strategy`` from the registry (``active_learning.core.registry``).
Ties break towards the lower index, so results are deterministic for a given ``random_state``.
"""

from __future__ import annotations

from active_learning.core.registry import make_strategy
from active_learning.core.strategies.adaptive import AdaptiveStrategy
from active_learning.core.strategies.base import RULES, PoolExhaustedError, Strategy, labeled_mask, top_k
from active_learning.core.strategies.blocks import (
    DiversityStrategy,
    KCenterStrategy,
    NoveltyStrategy,
    RandomStrategy,
    TypicalityStrategy,
    UncertaintyStrategy,
    WeightedStrategy,
)

__all__ = [
    "KIND_DEFAULTS",
    "RULES",
    "AdaptiveStrategy",
    "DiversityStrategy",
    "KCenterStrategy",
    "NoveltyStrategy",
    "PoolExhaustedError",
    "RandomStrategy",
    "Strategy",
    "TypicalityStrategy",
    "UncertaintyStrategy",
    "WeightedStrategy",
    "labeled_mask",
    "make_strategy",
    "top_k",
]

#: AdaptiveStrategy's defaults by data kind: images' classifier reads the embedding that typicality is measured
#: in, so typical items are worth more there (in the first batch and in each diversity group); tables' reads the
#: raw columns, where margin is the strategy to beat (see AdaptiveStrategy).
KIND_DEFAULTS = {
    "image": {"typicality_weight": 0.5, "cold_exploration_share": 0.1},
    "tabular": {"typicality_weight": 0.0, "cold_exploration_share": 0.2},
}
