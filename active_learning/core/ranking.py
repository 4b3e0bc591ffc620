"""One ranking of a whole pool: the next batch a strategy picks, an order for every other unlabeled item, the
model's suggestion for each item and the scores that explain the order. Pure numpy/scikit-learn, no Django.

:func:`rank_pool` is the engine's one batch-selection path: ``ActiveSelector.next_batch`` (the library), the
simulator, a project's replay and the ranking workers all choose their batches through it.

>>> ranking = rank_pool(strategy.fit(embedding), classifier, features, labeled_idx, labels, batch_size=10)
>>> ranking.order[:10]            # == ranking.batch: what the strategy picked, best first
>>> ranking.why["novelty"][i]     # 0..1, for the UI's "why this item"
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import clone

from active_learning.core.classifiers import ProbabilisticClassifier
from active_learning.core.scores import (
    margin_scores,
    multilabel_uncertainty_scores,
    nearest_labeled_distances,
    novelty_scores,
    rank_normalize,
)
from active_learning.core.strategies import Strategy, labeled_mask, make_strategy

DISAGREEMENT_REASON = "another model's imported prediction disagrees with this model"
DRIFT_REASON = "new data unlike what was labeled so far (a drift alert)"


def strategy_from_spec(
    name: str,
    mix: dict[str, float] | None = None,
    exploration_share: float = 0.1,
    random_state: int | None = None,
    *,
    data_kind: str,
) -> Strategy:
    """An unfitted strategy from a project's settings: "adaptive" with its exploration share (tuned for
    ``data_kind``, "image" or "tabular"), "mix" of named strategies weighted by ``mix``, or any other registered
    strategy by name."""
    if name == "adaptive":
        return make_strategy(name, random_state, data_kind, exploration_share=exploration_share)
    if name == "mix":
        return make_strategy(name, random_state, data_kind, mix=mix or {})
    return make_strategy(name, random_state, data_kind)


@dataclass
class Ranking:
    """The outcome of :func:`rank_pool` (n = pool size).

    order : (n_unlabeled,) pool positions, best first; the first ``len(batch)`` are the batch.
    batch : (k,) the strategy's picks, best first; ``reasons``/``rules`` say why each was picked.
    priority : (n,) float, higher first: the batch above 1, the others by the strategy's score in [0, 1), labeled
        items -1.
    why : name -> (n,) float in [0, 1] or NaN: "uncertainty" (NaN without a model), "typicality", "novelty".
    proba : (n, n_classes) or None; classes : the classifier's classes (or label positions for multi-label).
    classifier : the fitted classifier, or None when fewer than two classes are labeled.
    """

    order: np.ndarray
    batch: np.ndarray
    reasons: list[str]
    rules: list[str]
    priority: np.ndarray
    why: dict[str, np.ndarray]
    proba: np.ndarray | None
    classes: np.ndarray | None
    classifier: ProbabilisticClassifier | None
    phase: str


def uncertainty(proba: np.ndarray, multilabel: bool) -> np.ndarray:
    """(n, n_classes) probabilities -> (n,) uncertainty in [0, 1] (top-2 margin; mean binary for multi-label)."""
    return multilabel_uncertainty_scores(proba) if multilabel else margin_scores(proba)


def fit_classifier(
    classifier: ProbabilisticClassifier,
    features: np.ndarray,
    labeled_idx: np.ndarray,
    labels: np.ndarray,
    previous: ProbabilisticClassifier | None = None,
) -> ProbabilisticClassifier | None:
    """A fresh clone fitted on the labeled rows, or None when the labels cannot make a model (under two classes).
    ``previous``: the last batch's fitted model, to start the solver from (see ``ProbabilisticClassifier.fit``)."""
    if labeled_idx.size == 0:
        return None
    labels = np.asarray(labels)
    if labels.ndim == 1 and np.unique(labels).size < 2:
        return None
    if previous is None:
        return clone(classifier).fit(features[labeled_idx], labels)
    return clone(classifier).fit(features[labeled_idx], labels, init=previous)


def rank_pool(
    strategy: Strategy,
    classifier: ProbabilisticClassifier,
    features: np.ndarray,
    labeled_idx: ArrayLike,
    labels: ArrayLike,
    batch_size: int,
    reconstruction_error: np.ndarray | None = None,
    typicality: np.ndarray | None = None,
    previous: ProbabilisticClassifier | None = None,
) -> Ranking:
    """Rank every unlabeled pool item.

    Parameters
    ----------
    strategy : a Strategy already fitted on the pool's embedding (n items).
    classifier : unfitted template (cloned), e.g. ProbabilisticClassifier.
    features : (n, n_features) the classifier's input for every pool item, standardized over the pool (as
        ``ActiveSelector.classifier_input_`` and :func:`~active_learning.core.features.pool_standardized` give it).
    labeled_idx : (n_labeled,) pool positions with a final label; labels : (n_labeled,) classes, or
        (n_labeled, n_labels) 0/1 rows for multi-label.
    batch_size : items the strategy picks as the next batch.
    reconstruction_error : (n,) the autoencoder's, for novelty.
    typicality : (n,) pool typicality (any scale; rank-normalised here), label independent.
    previous : the last batch's fitted classifier: the new fit starts from its coefficients (fewer solver
        iterations, the same model within the solver's tolerance); None fits from scratch.
    """
    labeled_idx = np.asarray(labeled_idx, dtype=np.int64)
    labels = np.asarray(labels)
    n = len(features)
    mask = labeled_mask(n, labeled_idx)
    model = fit_classifier(classifier, features, labeled_idx, labels, previous)
    multilabel = labels.ndim == 2
    proba = model.predict_proba(features) if model is not None else None
    if mask.all():  # everything is labeled: still a model (its figures, its label issues), nothing to rank
        batch, reasons, rules, total = np.zeros(0, dtype=np.int64), [], [], np.zeros(n)
    else:
        batch = strategy.select(
            batch_size, labeled_idx, labels if labels.size else None, proba, reconstruction_error
        ).astype(np.int64)
        # A strategy of the user's own may say nothing: its picks are then "score", by the strategy's score.
        reasons = list(getattr(strategy, "reasons_", []))[: len(batch)]
        reasons += ["score"] * (len(batch) - len(reasons))
        rules = list(getattr(strategy, "rules_", []))[: len(batch)]
        rules += ["score"] * (len(batch) - len(rules))
        total = np.nan_to_num(np.asarray(strategy.scores_["total"], dtype=np.float64), nan=-np.inf)
    rest = np.flatnonzero(~mask)
    rest = rest[~np.isin(rest, batch)]
    rest = rest[np.lexsort((rest, -total[rest]))]  # score, then pool order: deterministic
    priority = np.full(n, -1.0)
    if rest.size:
        priority[rest] = 0.999 * rank_normalize(total[rest])
    priority[batch] = 2.0 - np.arange(len(batch)) / max(len(batch), 1)

    why = {
        "uncertainty": uncertainty(proba, multilabel) if proba is not None else np.full(n, np.nan),
        "typicality": rank_normalize(typicality) if typicality is not None else np.full(n, np.nan),
        "novelty": _novelty(strategy, labeled_idx, reconstruction_error),
    }
    return Ranking(
        order=np.concatenate([batch, rest]),
        batch=batch,
        reasons=reasons,
        rules=rules,
        priority=priority,
        why=why,
        proba=proba,
        classes=None if model is None else np.asarray(model.classes_),
        classifier=model,
        phase=str(getattr(strategy, "phase_", type(strategy).__name__)),
    )


def disagreement_scores(proba: np.ndarray, predicted: np.ndarray, multilabel: bool) -> np.ndarray:
    """(n, n_classes) this model's probabilities and (n, n_classes) 0/1 rows of another model's predicted classes
    (all zero where it predicted nothing) -> (n,) disagreement in [0, 1], NaN without a prediction: one minus the
    probability this model gives the other's class (multi-label: the mean absolute difference over labels)."""
    has = predicted.any(axis=1)
    scores = np.abs(proba - predicted).mean(axis=1) if multilabel else 1.0 - (proba * predicted).sum(axis=1)
    return np.where(has, np.clip(scores, 0.0, 1.0), np.nan)


def with_disagreement_picks(ranking: Ranking, disagreement: np.ndarray, share: float) -> Ranking:
    """The ranking with the last ``round(share * batch size)`` picks of its batch given to the unlabeled items whose
    imported prediction this model disagrees with most (disagreement >= 0.5, ties by pool order), and the
    disagreement among its "why" scores. ``disagreement``: (n,) as :func:`disagreement_scores`, NaN = none."""
    picked = with_picks(ranking, disagreement, share, rule="disagreement", reason=DISAGREEMENT_REASON)
    return replace(picked, why={**picked.why, "disagreement": disagreement})


def with_picks(ranking: Ranking, scores: np.ndarray, share: float, *, rule: str, reason: str) -> Ranking:
    """The ranking with the last ``round(share * batch size)`` picks of its batch given to the unlabeled items of
    highest ``scores`` (n,) among those >= 0.5 (NaN: never), ties by pool order; items already in the batch stay
    where they are, and the picks they replace head the rest of the order."""
    k = round(share * len(ranking.batch))
    unlabeled = ranking.priority >= 0
    candidates = np.flatnonzero(unlabeled & (np.nan_to_num(scores, nan=-1.0) >= 0.5))
    candidates = candidates[~np.isin(candidates, ranking.batch)]
    picks = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
    if picks.size == 0:
        return ranking
    keep = ranking.batch[: len(ranking.batch) - picks.size]
    batch = np.concatenate([keep, picks])
    dropped = ranking.batch[len(keep) :]
    rest = ranking.order[len(ranking.batch) :]
    rest = np.concatenate([dropped, rest[~np.isin(rest, picks)]])
    priority = ranking.priority.copy()
    priority[dropped] = 0.999
    priority[batch] = 2.0 - np.arange(len(batch)) / len(batch)
    return replace(
        ranking,
        order=np.concatenate([batch, rest]),
        batch=batch,
        reasons=ranking.reasons[: len(keep)] + [reason] * picks.size,
        rules=ranking.rules[: len(keep)] + [rule] * picks.size,
        priority=priority,
    )


def _novelty(strategy: Strategy, labeled_idx: np.ndarray, reconstruction_error: np.ndarray | None) -> np.ndarray:
    """(n,) novelty in [0, 1] as the default exploration reads it: how badly the autoencoder reconstructs an item;
    without reconstruction errors, how far the item lies from the labels."""
    if reconstruction_error is not None:
        return rank_normalize(reconstruction_error)
    return novelty_scores(None, nearest_labeled_distances(strategy.X_, labeled_idx))


def suggestions(proba: np.ndarray, classes: np.ndarray, multilabel: bool) -> tuple[list[list[Any]], np.ndarray]:
    """(n, n_classes) probabilities -> per item the suggested classes and a confidence in [0, 1].

    Single-label: the most probable class and its probability. Multi-label: every label at p >= 0.5 (the most
    probable one when none is), with the confidence of the least certain decision among all labels.
    """
    if not multilabel:
        best = np.argmax(proba, axis=1)
        return [[classes[j]] for j in best], proba[np.arange(len(proba)), best]
    chosen = proba >= 0.5
    empty = ~chosen.any(axis=1)
    chosen[empty, np.argmax(proba[empty], axis=1)] = True
    confidence = np.abs(2.0 * proba - 1.0).min(axis=1) * 0.5 + 0.5
    return [list(classes[row]) for row in chosen], confidence
