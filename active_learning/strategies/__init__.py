"""Strategies: score every pool item (higher = more worth labeling) and select a batch.

Every strategy is fitted once on the pool's embedding ``X`` (n_items, n_components), then asked repeatedly::

    strategy.fit(X)
    idx = strategy.select(batch_size, labeled_idx, labels=labels, proba=proba, reconstruction_error=err)

``labeled_idx`` (n_labeled,) are pool positions already labeled (never selected again), oldest first (the
adaptive strategy reads which label found each class); ``labels`` their labels
((n_labeled,) classes or (n_labeled, n_labels) 0/1 for multi-label); ``proba`` the current model's probabilities
for every pool item ((n_items, n_classes), or None before a model exists); ``reconstruction_error`` the
autoencoder's (n_items,) errors. After each call ``scores_`` maps score names to (n_items,) arrays (NaN for
labeled items) and ``reasons_`` gives, per selected item, the score that picked it, so a UI can say why.
Ties break towards the lower index, so results are deterministic for a given ``random_state``.
"""

from __future__ import annotations

from active_learning.strategies.adaptive import AdaptiveStrategy
from active_learning.strategies.base import PoolExhaustedError, Strategy, labeled_mask, top_k
from active_learning.strategies.blocks import (
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
    "STRATEGIES",
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

#: AdaptiveStrategy's defaults by data kind: images' classifier reads the embedding that typicality is measured
#: in, so typical items are worth more there (in the first batch and in each diversity group); tables' reads the
#: raw columns, where margin is the strategy to beat (see AdaptiveStrategy).
KIND_DEFAULTS = {
    "image": {"typicality_weight": 0.5, "cold_exploration_share": 0.1},
    "tabular": {"typicality_weight": 0.0, "cold_exploration_share": 0.2},
}


def make_strategy(name: str, random_state: int | None = None, data_kind: str | None = None, **params) -> Strategy:
    """A strategy by name (keys of ``STRATEGIES``), seeded. ``data_kind`` ("image" or "tabular") tunes the
    adaptive default for it (without one, AdaptiveStrategy's own defaults: the tabular behaviour); ``params`` go
    to AdaptiveStrategy (e.g. ``exploration_share``)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}")
    if name == "adaptive":
        if data_kind is not None:
            if data_kind not in KIND_DEFAULTS:
                raise ValueError(f"unknown data kind {data_kind!r}; choose from {sorted(KIND_DEFAULTS)}")
            params = {**KIND_DEFAULTS[data_kind], **params}
        return AdaptiveStrategy(random_state=random_state, **params)
    if params:
        raise ValueError(f"{name} takes no parameters here, got {sorted(params)}")
    return STRATEGIES[name](random_state=random_state)
