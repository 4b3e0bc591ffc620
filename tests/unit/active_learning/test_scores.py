import numpy as np
import pytest

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

# Rows: confident, split between two classes, uniform over three, split 0.5/0.3/0.2.
PROBA = np.array([[0.90, 0.05, 0.05], [0.50, 0.50, 0.00], [1 / 3, 1 / 3, 1 / 3], [0.50, 0.30, 0.20]])


def order(scores):
    return list(np.argsort(-np.asarray(scores), kind="stable"))


def test_margin_scores_rank_smallest_top2_gap_first():
    scores = margin_scores(PROBA)
    np.testing.assert_allclose(scores, [0.15, 1.0, 1.0, 0.8])
    assert order(scores) == [1, 2, 3, 0]


def test_entropy_scores_rank_uniform_first_and_are_normalised():
    scores = entropy_scores(PROBA)
    assert order(scores) == [2, 3, 1, 0]
    assert scores[2] == pytest.approx(1.0)
    assert scores[1] == pytest.approx(np.log(2) / np.log(3))


def test_least_confidence_scores_rank_lowest_top_probability_first():
    np.testing.assert_allclose(least_confidence_scores(PROBA), [0.1, 0.5, 2 / 3, 0.5])
    assert order(least_confidence_scores(PROBA)) == [2, 1, 3, 0]


def test_uncertainty_scores_are_zero_for_certain_items():
    certain = np.array([[1.0, 0.0], [0.0, 1.0]])
    for fn in (margin_scores, entropy_scores, least_confidence_scores):
        np.testing.assert_allclose(fn(certain), [0.0, 0.0], atol=1e-9)


def test_multilabel_uncertainty_scores_rank_undecided_labels_first():
    proba = np.array([[0.5, 0.5], [0.9, 0.1], [0.5, 1.0], [0.6, 0.4]])
    scores = multilabel_uncertainty_scores(proba)
    np.testing.assert_allclose(scores, [1.0, 0.2, 0.5, 0.8])
    assert order(scores) == [0, 3, 2, 1]


def test_typicality_scores_rank_dense_items_above_outliers():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1], [5.0, 5.0]])
    scores = typicality_scores(X, n_neighbors=2)
    assert order(scores)[-1] == 4
    assert scores[:4].min() > 10 * scores[4]


def test_typicality_scores_against_a_reference_sample():
    X = np.array([[0.0], [10.0]])
    reference = np.array([[0.0], [0.5], [1.0]])
    scores = typicality_scores(X, n_neighbors=2, reference=reference)
    np.testing.assert_allclose(1 / scores, [0.25, 9.25], rtol=1e-6)


def test_nearest_labeled_distances_are_exact_and_chunk_independent():
    X = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0], [0.0, 1.0]])
    expected = [0.0, 0.0, 5.0, 1.0]
    np.testing.assert_allclose(nearest_labeled_distances(X, [0, 1]), expected, atol=1e-9)
    np.testing.assert_allclose(nearest_labeled_distances(X, [0, 1], chunk_size=1), expected, atol=1e-9)
    assert np.isinf(nearest_labeled_distances(X, [])).all()


def test_novelty_scores_rank_far_and_badly_reconstructed_first():
    distance = np.array([0.1, 5.0, 5.0, 0.2])
    error = np.array([0.0, 1.0, 0.1, 0.05])
    assert order(novelty_scores(error, distance)) == [1, 2, 3, 0]
    assert order(novelty_scores(None, distance)) == [1, 2, 3, 0]


def test_rank_normalize_shares_ties_and_spans_zero_to_one():
    np.testing.assert_allclose(rank_normalize([3.0, 1.0, 1.0, np.inf]), [2 / 3, 1 / 6, 1 / 6, 1.0])


def test_rank_normalize_gives_missing_values_one_shared_rank_above_every_number():
    np.testing.assert_allclose(rank_normalize([np.nan, 2.0, np.nan, 0.0, 2.0]), [7 / 8, 3 / 8, 7 / 8, 0.0, 3 / 8])


def test_rank_normalize_keeps_the_percentiles_of_a_read_only_array_and_only_of_that_array(monkeypatch):
    from active_learning.core import scores

    ranked = []
    real = scores._rank_normalize
    monkeypatch.setattr(scores, "_rank_normalize", lambda values: ranked.append(len(values)) or real(values))
    fixed = np.array([3.0, 1.0, 2.0])
    fixed.setflags(write=False)
    first = rank_normalize(fixed)
    np.testing.assert_allclose(first, [1.0, 0.0, 0.5])
    first[:] = 0.0  # the caller's copy: the kept percentiles are not changed by it
    np.testing.assert_allclose(rank_normalize(fixed), [1.0, 0.0, 0.5])
    assert ranked == [3]  # ranked once, then kept
    other = np.array([1.0, 3.0, 2.0])
    other.setflags(write=False)
    np.testing.assert_allclose(rank_normalize(other), [0.0, 1.0, 0.5])
    changing = np.array([3.0, 1.0, 2.0])
    rank_normalize(changing)
    changing[:] = [1.0, 2.0, 3.0]
    np.testing.assert_allclose(rank_normalize(changing), [0.0, 0.5, 1.0])  # a writable array is ranked afresh
