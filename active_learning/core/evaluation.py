"""How good the model is on the labels so far, which given labels look wrong, and what more labels would buy.
Pure numpy/scikit-learn/cleanlab, no Django. scikit-learn is imported by the cross-validation alone: web processes
project learning curves for the learning status and must not load it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


@dataclass
class Metrics:
    """Cross-validated figures on the labeled items (None when there are too few labels to cross-validate).

    oof_proba : (n_used, n_classes) out-of-fold probabilities of the rows in ``used`` (positions into the labels).
    """

    n_labels: int
    accuracy: float | None = None
    macro_f1: float | None = None
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)  # class -> {precision, recall, f1, support}
    folds: int = 0
    used: np.ndarray | None = None
    oof_proba: np.ndarray | None = None


def cross_validated_metrics(
    estimator: Any, X: np.ndarray, y: np.ndarray, cv: int = 5, random_state: int | None = None
) -> Metrics:
    """Out-of-fold accuracy and macro-F1 of ``estimator`` (cloned per fold; any classifier with ``classes_`` and
    ``predict_proba``, multi-label ones answering (n, n_labels)) on (X, y).

    Single-label: stratified folds over the classes with at least two labels (rarer classes cannot be
    cross-validated and are left out, reported with their support only). Multi-label (y of 0/1 rows): plain
    folds, subset accuracy and macro-F1 over labels.
    """
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
    from sklearn.model_selection import KFold, StratifiedKFold

    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    metrics = Metrics(n_labels=len(y))
    multilabel = y.ndim == 2
    if multilabel:
        used = np.arange(len(y))
        folds = min(cv, len(y))
        splitter = KFold(folds, shuffle=True, random_state=random_state) if folds >= 2 else None
    else:
        classes, counts = np.unique(y, return_counts=True)
        keep = classes[counts >= 2]
        used = np.flatnonzero(np.isin(y, keep))
        folds = min(cv, int(counts[counts >= 2].min())) if keep.size >= 2 else 0
        splitter = StratifiedKFold(folds, shuffle=True, random_state=random_state) if folds >= 2 else None
        metrics.per_class = {str(c): {"support": int(n)} for c, n in zip(classes, counts, strict=True)}
    if splitter is None:
        return metrics
    Xu, yu = X[used], y[used]
    names = np.arange(y.shape[1]) if multilabel else np.unique(yu)
    proba = np.zeros((len(used), len(names)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for train, test in splitter.split(Xu, None if multilabel else yu):
            model = clone(estimator).fit(Xu[train], yu[train])
            columns = np.arange(len(names)) if multilabel else np.searchsorted(names, model.classes_)
            proba[np.ix_(test, columns)] = model.predict_proba(Xu[test])
    truth = y[used]
    if multilabel:
        predicted = (proba >= 0.5).astype(int)
        metrics.accuracy = float(accuracy_score(truth, predicted))
        metrics.macro_f1 = float(f1_score(truth, predicted, average="macro", zero_division=0))
        p, r, f, s = precision_recall_fscore_support(truth, predicted, zero_division=0)
    else:
        predicted = names[np.argmax(proba, axis=1)]
        metrics.accuracy = float(accuracy_score(truth, predicted))
        metrics.macro_f1 = float(f1_score(truth, predicted, average="macro", zero_division=0))
        p, r, f, s = precision_recall_fscore_support(truth, predicted, labels=names, zero_division=0)
    for i, name in enumerate(names):
        metrics.per_class[str(name)] = {
            "precision": round(float(p[i]), 4),
            "recall": round(float(r[i]), 4),
            "f1": round(float(f[i]), 4),
            "support": int(s[i]),
        }
    metrics.folds, metrics.used, metrics.oof_proba = folds, used, proba
    return metrics


def label_issues(labels: np.ndarray, oof_proba: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confident learning (cleanlab): positions of labels the model confidently disagrees with, worst first,
    and every label's quality score (its out-of-fold self-confidence, 0..1). Single-label only.

    labels : (n,) classes, all in ``classes``; oof_proba : (n, len(classes)) out-of-fold probabilities.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    codes = np.searchsorted(classes, labels)
    if len(classes) < 2 or len(labels) < len(classes) * 2:
        return np.zeros(0, dtype=np.int64), np.ones(len(labels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # n_jobs=1: cleanlab's default forks a multiprocessing pool, which hung a Celery worker (seen in the
        # learning benchmark); the work is tiny anyway.
        issues = find_label_issues(codes, oof_proba, return_indices_ranked_by="self_confidence", n_jobs=1)
        quality = get_label_quality_scores(codes, oof_proba, method="self_confidence")
    return np.asarray(issues, dtype=np.int64), np.asarray(quality, dtype=np.float64)


def _power_law(n: np.ndarray | float, a: float, b: float, c: float) -> Any:
    return a - b * np.power(n, -c)


A_BOUNDS, B_BOUNDS = (0.0, 1.0), (0.0, 100.0)
C_GRID = np.linspace(0.0, 3.0, 601)  # the exponent, in steps of 0.005


def projected_score(n_labels: ArrayLike, scores: ArrayLike, at: int) -> float | None:
    """Extrapolate a learning curve (score after n labels) to ``at`` labels with an inverse power law
    ``a - b * n^-c`` (a in [0, 1], b in [0, 100], c in [0, 3]), the usual shape of learning curves. None with
    fewer than three points; clipped to [0, 1]."""
    n = np.asarray(n_labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    keep = np.isfinite(s) & (n > 0)
    n, s = n[keep], s[keep]
    if np.unique(n).size < 3:
        return None
    a, b, c = _power_law_fit(n, s)
    return float(np.clip(_power_law(float(at), a, b, c), 0.0, 1.0))


def projected_range(n_labels: ArrayLike, scores: ArrayLike, at: int) -> tuple[float, float, float] | None:
    """The projection of :func:`projected_score` with a range: (low, projected, high) at ``at`` labels.

    The range spans the projections of the curve refitted without each one of its points, widened by the fit's
    residual spread (one standard deviation). Nothing is projected below the accuracy measured last when ``at``
    is at least its label count: more labels are not expected to cost accuracy, and a curve fitted through
    noisy points would otherwise say so. None with fewer than three points; all clipped to [0, 1].
    """
    n = np.asarray(n_labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    keep = np.isfinite(s) & (n > 0)
    n, s = n[keep], s[keep]
    if np.unique(n).size < 3:
        return None
    a, b, c = _power_law_fit(n, s)
    middle = _power_law(float(at), a, b, c)
    spread = float(np.std(s - _power_law(n, a, b, c)))
    refits = [middle]
    for left_out in range(len(n)):
        rest = np.arange(len(n)) != left_out
        if np.unique(n[rest]).size >= 3:
            refits.append(_power_law(float(at), *_power_law_fit(n[rest], s[rest])))
    low, high = min(refits) - spread, max(refits) + spread
    last = int(np.argmax(n))
    floor = float(s[last]) if at >= n[last] else 0.0
    low, middle, high = (float(np.clip(max(value, floor), 0.0, 1.0)) for value in (low, middle, high))
    return low, middle, high


def _power_law_fit(n: np.ndarray, s: np.ndarray) -> tuple[float, float, float]:
    """Least squares within the bounds, in numpy alone (scipy's optimizer costs a web process ~40 MB): for each c
    on a fine grid, s ~ a - b * x with x = n^-c is a bounded linear fit in (a, b), solved exactly: the best of
    the unbounded optimum (when inside the box) and the optimum along each edge of the box.

    n, s : (n_points,) label counts and scores. Returns (a, b, c).
    """
    x = np.power(n[None, :], -C_GRID[:, None])  # (n_grid, n_points)
    xm, sm = x.mean(axis=1), s.mean()
    sxx = ((x - xm[:, None]) ** 2).sum(axis=1)
    sxs = ((x - xm[:, None]) * (s - sm)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        b_free = np.where(sxx > 1e-12, -sxs / sxx, np.nan)
    inside = (b_free >= B_BOUNDS[0]) & (b_free <= B_BOUNDS[1]) & (sm + b_free * xm >= A_BOUNDS[0])
    inside &= sm + b_free * xm <= A_BOUNDS[1]
    candidates = [(np.where(inside, sm + b_free * xm, np.nan), np.where(inside, b_free, np.nan))]
    for a in A_BOUNDS:  # a on an edge: the best b for it
        b = np.clip((x * (a - s)).sum(axis=1) / (x**2).sum(axis=1), *B_BOUNDS)
        candidates.append((np.full_like(b, a), b))
    for b in B_BOUNDS:  # b on an edge: the best a for it
        a = np.clip((s + b * x).mean(axis=1), *A_BOUNDS)
        candidates.append((a, np.full_like(a, b)))
    a_all = np.stack([a for a, _ in candidates])  # (n_candidates, n_grid)
    b_all = np.stack([b for _, b in candidates])
    sse = ((a_all[:, :, None] - b_all[:, :, None] * x[None] - s) ** 2).sum(axis=2)
    k, j = np.unravel_index(np.nanargmin(sse), sse.shape)
    return float(a_all[k, j]), float(b_all[k, j]), float(C_GRID[j])
