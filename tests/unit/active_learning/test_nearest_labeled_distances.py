"""Distances to the nearest labeled item: remembered per read-only embedding, and always equal to a fresh
computation, whatever sequence of labeled sets is asked for."""

import numpy as np

from active_learning.core.scores import nearest_labeled_distances


def _fresh(X, idx):
    return nearest_labeled_distances(X.copy(), idx)  # a writable copy is never remembered


def test_answers_equal_a_fresh_computation_over_growing_shrinking_and_single_item_label_sets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 6))
    X.setflags(write=False)
    first = rng.choice(2000, 40, replace=False)
    grown = np.concatenate([first, rng.choice(2000, 7, replace=False)])
    for idx in (first, first, grown, [5], grown, first[:10], first, []):
        np.testing.assert_allclose(nearest_labeled_distances(X, idx), _fresh(X, idx))


def test_an_answer_can_be_changed_by_the_caller_without_changing_the_next_one():
    X = np.random.default_rng(1).normal(size=(300, 4))
    X.setflags(write=False)
    first = nearest_labeled_distances(X, [0, 1, 2])
    first[:] = -1.0
    assert (nearest_labeled_distances(X, [0, 1, 2]) >= 0).all()


def test_a_ranking_sequence_of_label_sets_matches_fresh_computations():
    """As a worker asks: the labels, the labels with a batch's picks, one-item updates, then more labels."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1500, 5))
    X.setflags(write=False)
    labeled = rng.choice(1500, 30, replace=False)
    picks = np.setdiff1d(rng.choice(1500, 12, replace=False), labeled)[:8]
    for idx in (labeled, [*labeled, *picks], [int(picks[0])], labeled, [*labeled, *picks[:5]], [*labeled, *picks]):
        np.testing.assert_allclose(nearest_labeled_distances(X, idx), _fresh(X, idx))
