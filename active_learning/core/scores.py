"""Per-item scores for choosing what to label: pure functions, arrays in, arrays out, higher = more worth labeling.

Uncertainty scores take predicted probabilities, typicality and novelty take the pool's embedding.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.neighbors import NearestNeighbors

_EPS = 1e-12


def _check_proba(proba: np.ndarray) -> np.ndarray:
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(f"expected probabilities of shape (n_items, n_classes), got {proba.shape}")
    return proba


def margin_scores(proba: np.ndarray) -> np.ndarray:
    """(n_items, n_classes>=2) probabilities -> (n_items,) scores; small top-2 margin = high score, in [0, 1]."""
    proba = _check_proba(proba)
    if proba.shape[1] < 2:
        return np.zeros(len(proba))
    top2 = np.sort(proba, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy_scores(proba: np.ndarray) -> np.ndarray:
    """(n_items, n_classes) probabilities -> (n_items,) Shannon entropy normalised to [0, 1] by log(n_classes)."""
    proba = _check_proba(proba)
    if proba.shape[1] < 2:
        return np.zeros(len(proba))
    entropy = -(proba * np.log(np.clip(proba, _EPS, 1.0))).sum(axis=1)
    return entropy / np.log(proba.shape[1])


def least_confidence_scores(proba: np.ndarray) -> np.ndarray:
    """(n_items, n_classes) probabilities -> (n_items,) scores ``1 - max probability``."""
    return 1.0 - _check_proba(proba).max(axis=1)


def multilabel_uncertainty_scores(proba: np.ndarray) -> np.ndarray:
    """(n_items, n_labels) independent per-label probabilities -> (n_items,) mean binary uncertainty in [0, 1].

    Each label contributes ``1 - |2p - 1|`` (1 at p = 0.5, 0 at p in {0, 1}); the item's score is the mean
    over labels, so an item is uncertain when many of its labels are undecided.
    """
    proba = _check_proba(proba)
    return (1.0 - np.abs(2.0 * proba - 1.0)).mean(axis=1)


POOL_TYPICALITY_REFERENCE = 20_000  # neighbours searched in a sample this big on larger pools


def pool_typicality(embedding: np.ndarray) -> np.ndarray:
    """(n_items, n_components) -> (n_items,) typicality over 5 neighbours, against a seeded sample of
    ``POOL_TYPICALITY_REFERENCE`` items on larger pools: what a ranking shows as an item's typicality."""
    reference = None
    if len(embedding) > POOL_TYPICALITY_REFERENCE:
        pick = np.random.default_rng(0).choice(len(embedding), POOL_TYPICALITY_REFERENCE, replace=False)
        reference = embedding[np.sort(pick)]
    return typicality_scores(embedding, 5, reference)


def typicality_scores(X: np.ndarray, n_neighbors: int = 20, reference: np.ndarray | None = None) -> np.ndarray:
    """(n_items, n_components) embedding -> (n_items,) typicality = 1 / mean distance to the k nearest neighbours.

    As in TypiClust (Hacohen et al., ICML 2022): items in dense regions score high. Neighbours are searched
    in ``reference`` (n_reference, n_components) when given (a subsample keeps large pools fast), else in X
    itself; an item's own point is not counted as a neighbour when it searches itself.
    """
    X = np.asarray(X, dtype=np.float64)
    same = reference is None
    ref = X if same else np.asarray(reference, dtype=np.float64)
    k = min(n_neighbors + int(same), len(ref))
    if k <= int(same):
        return np.ones(len(X))
    dist, _ = NearestNeighbors(n_neighbors=k).fit(ref).kneighbors(X)
    if same:
        dist = dist[:, 1:]
    return 1.0 / (dist.mean(axis=1) + _EPS)


def nearest_labeled_distances(X: np.ndarray, labeled_idx: ArrayLike, chunk_size: int = 4096) -> np.ndarray:
    """(n_items, n_components) embedding, (n_labeled,) indices -> (n_items,) Euclidean distance to the nearest
    labeled item (0 for labeled items; +inf for every item when nothing is labeled). Chunked: bounded memory.

    Remembered per read-only array (held weakly), for the last few label sets it was asked with: asked again for
    the same `X` with a superset of one of them (a ranking after a few more labels, a batch's picks added, or the
    same set twice), only the new items' distances are computed. The answer is the same as a fresh computation;
    the work falls from n_items x n_labeled to n_items x n_new."""
    labeled_idx = np.unique(np.asarray(labeled_idx, dtype=np.int64))
    if labeled_idx.size == 0:
        return np.full(len(X), np.inf)
    entry = _nearest_memo.get(id(X)) if _memoizable(X) else None
    known = entry[1] if entry is not None and entry[0]() is X else []
    subsets = [(idx, dist) for idx, dist in known if np.isin(idx, labeled_idx, assume_unique=True).all()]
    if subsets:
        base_idx, base = max(subsets, key=lambda pair: pair[0].size)
        new = np.setdiff1d(labeled_idx, base_idx, assume_unique=True)
        out = base.copy() if new.size == 0 else np.minimum(base, _nearest_distances(X, new, chunk_size))
    else:
        out = _nearest_distances(X, labeled_idx, chunk_size)
    out[labeled_idx] = 0.0
    out.setflags(write=False)
    if _memoizable(X) and labeled_idx.size > 1:  # one-item queries (a greedy pick's update) are not worth keeping
        if entry is None or entry[0]() is not X:
            weakref.finalize(X, _nearest_memo.pop, id(X), None)
        kept = [(idx, dist) for idx, dist in known if not np.array_equal(idx, labeled_idx)]
        _nearest_memo[id(X)] = (weakref.ref(X), [*kept[-(NEAREST_KEPT - 1) :], (labeled_idx, out)])
    return out.copy()


NEAREST_KEPT = 4  # label sets remembered per embedding (an 8 MB array each at a million items)
# id(X) -> (weak reference to X, [(labeled indices, distances), ...])
_nearest_memo: dict[int, tuple[Any, list[tuple[np.ndarray, np.ndarray]]]] = {}


def _memoizable(X: object) -> bool:
    """Only read-only arrays: a writable one could change between calls under the same identity."""
    return isinstance(X, np.ndarray) and not X.flags.writeable


def _nearest_distances(X: np.ndarray, idx: np.ndarray, chunk_size: int) -> np.ndarray:
    X64 = np.asarray(X, dtype=np.float64)
    centers = X64[idx]
    center_sq = (centers**2).sum(axis=1)
    out = np.empty(len(X64))
    for start in range(0, len(X64), chunk_size):
        block = X64[start : start + chunk_size]
        sq = (block**2).sum(axis=1)[:, None] - 2.0 * block @ centers.T + center_sq[None, :]
        out[start : start + chunk_size] = np.sqrt(np.clip(sq.min(axis=1), 0.0, None))
    return out


def novelty_scores(
    reconstruction_error: np.ndarray | None, distance_to_labeled: np.ndarray, reconstruction_weight: float = 0.5
) -> np.ndarray:
    """(n_items,) autoencoder reconstruction error (or None), (n_items,) distance to the nearest labeled item
    -> (n_items,) novelty in [0, 1]: the weighted mean of the two signals' ranks (percentiles), weight
    ``reconstruction_weight`` on the error; the distance's rank alone without reconstruction errors. Ranks
    make the two signals commensurable."""
    distance_rank = rank_normalize(distance_to_labeled)
    if reconstruction_error is None:
        return distance_rank
    w = reconstruction_weight
    return w * rank_normalize(reconstruction_error) + (1.0 - w) * distance_rank


def rank_normalize(scores: np.ndarray) -> np.ndarray:
    """(n_items,) scores -> (n_items,) percentiles in [0, 1] (ties share their mean rank; +inf ranks highest).

    Remembered per read-only array (held weakly, as `nearest_labeled_distances` does): a pool's reconstruction
    errors and typicality are loaded once per embedding and ranked again at every ranking, and a million items
    take 0.15 s to rank. A read-only array is taken as unchanging: not a read-only view of data that changes."""
    if not _memoizable(scores):
        return _rank_normalize(scores)
    entry = _ranks_memo.get(id(scores))
    if entry is None or entry[0]() is not scores:
        weakref.finalize(scores, _ranks_memo.pop, id(scores), None)
        entry = _ranks_memo[id(scores)] = (weakref.ref(scores), _rank_normalize(scores))
    return entry[1].copy()


# id(scores) -> (weak reference to scores, their percentiles)
_ranks_memo: dict[int, tuple[Any, np.ndarray]] = {}


def _rank_normalize(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    if n <= 1:
        return np.ones(n)
    order = np.argsort(scores)  # ties get their run's mean rank below, so the sort need not be stable
    ordered = scores[order]
    same = ordered[1:] == ordered[:-1]
    if np.isnan(ordered[-1]):  # NaNs sort last and tie with each other
        same |= np.isnan(ordered[1:]) & np.isnan(ordered[:-1])
    ranks = np.empty(n)
    if not same.any():
        ranks[order] = np.arange(n, dtype=np.float64)
    else:  # runs of equal values in sorted order (no second pass by np.unique): each gets its mean rank
        starts = np.flatnonzero(np.concatenate([[True], ~same]))
        ends = np.append(starts[1:], n)
        ranks[order] = np.repeat((starts + ends - 1) / 2.0, ends - starts)
    return ranks / (n - 1)
