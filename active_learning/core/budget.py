"""Budgets and stopping rules: how many labels in all, how many between refits, and when more stop paying."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator


class StabilizingPredictions(BaseEstimator):
    """Stop when successive models agree: Cohen's kappa between the predictions of consecutive rounds on the
    same stop set stays at or above ``threshold`` for ``patience`` rounds in a row (Bloodgood & Vijay-Shanker,
    2009).

    Call :meth:`update` once per round with the new model's predictions on a fixed set of items (the pool,
    or a sample of it): ``(n_items,)`` labels, or ``(n_items, n_labels)`` 0/1 for multi-label (then kappa
    is computed over the flattened indicators).
    """

    def __init__(self, threshold: float = 0.99, patience: int = 3):
        self.threshold = threshold
        self.patience = patience

    def update(self, predictions: ArrayLike) -> bool:
        """Record this round's predictions; returns True when labeling can stop."""
        array = np.asarray(predictions)
        predictions = array.reshape(len(array), -1)
        if not hasattr(self, "history_"):
            self.history_: list[float] = []
            self.streak_ = 0
        previous = getattr(self, "last_predictions_", None)
        if previous is not None:
            if previous.shape != predictions.shape:
                raise ValueError("the stop set must stay the same between rounds")
            kappa = cohen_kappa(previous.ravel(), predictions.ravel())
            self.history_.append(kappa)
            self.streak_ = self.streak_ + 1 if kappa >= self.threshold else 0
        self.last_predictions_ = predictions
        self.should_stop_ = self.streak_ >= self.patience
        return self.should_stop_


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """(n,) and (n,) labels -> Cohen's kappa; 1.0 when both are identical, even when constant."""
    a, b = np.asarray(a), np.asarray(b)
    if np.array_equal(a, b):
        return 1.0
    _, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    ca, cb = codes[: len(a)], codes[len(a) :]
    n_classes = int(codes.max()) + 1
    observed = float(np.mean(ca == cb))
    expected = float(np.dot(np.bincount(ca, minlength=n_classes), np.bincount(cb, minlength=n_classes))) / len(a) ** 2
    return 1.0 if expected >= 1.0 else (observed - expected) / (1.0 - expected)


class Budget(BaseEstimator):
    """A labeling budget: ``total`` labels at most, asked for ``batch_size`` at a time (the model is refitted
    between batches), with an optional ``stopping_rule`` (e.g. :class:`StabilizingPredictions`) that may end
    the run earlier."""

    def __init__(self, total: int = 200, batch_size: int = 10, stopping_rule: StabilizingPredictions | None = None):
        self.total = total
        self.batch_size = batch_size
        self.stopping_rule = stopping_rule

    def next_batch_size(self, n_labeled: int, n_unlabeled: int | None = None) -> int:
        """Size of the next batch given ``n_labeled`` labels so far (0 when the budget or the pool is spent, or
        the stopping rule has fired)."""
        if self.stopping_rule is not None and getattr(self.stopping_rule, "should_stop_", False):
            return 0
        size = max(0, min(self.batch_size, self.total - n_labeled))
        return size if n_unlabeled is None else min(size, n_unlabeled)

    def is_spent(self, n_labeled: int, n_unlabeled: int | None = None) -> bool:
        return self.next_batch_size(n_labeled, n_unlabeled) == 0
