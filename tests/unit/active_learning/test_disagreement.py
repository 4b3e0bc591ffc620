"""Imported predictions as a ranking signal: how much the model disagrees with another model, and the share of a
batch given to the items where it disagrees most (pure core)."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from active_learning.core.classifiers import ProbabilisticClassifier
from active_learning.core.ranking import (
    DISAGREEMENT_REASON,
    disagreement_scores,
    rank_pool,
    strategy_from_spec,
    with_disagreement_picks,
)


def test_disagreement_is_one_minus_the_probability_of_the_other_models_class():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    predicted = np.array([[1, 0], [1, 0], [0, 0]])
    scores = disagreement_scores(proba, predicted, multilabel=False)
    np.testing.assert_allclose(scores[:2], [0.1, 0.8])
    assert np.isnan(scores[2])  # no imported prediction


def test_multilabel_disagreement_is_the_mean_absolute_difference_over_labels():
    proba = np.array([[0.9, 0.1, 0.6]])
    predicted = np.array([[1, 1, 0]])
    np.testing.assert_allclose(disagreement_scores(proba, predicted, multilabel=True), [(0.1 + 0.9 + 0.6) / 3])


@pytest.fixture(scope="module")
def ranked():
    X, y = make_blobs(n_samples=200, centers=3, n_features=4, cluster_std=1.0, random_state=0)
    labeled = np.arange(0, 200, 10)
    strategy = strategy_from_spec("margin", random_state=0, data_kind="tabular").fit(X.astype(np.float32))
    ranking = rank_pool(strategy, ProbabilisticClassifier(random_state=0), X, labeled, y[labeled], batch_size=10)
    return ranking, labeled


def test_a_share_of_the_batch_goes_to_the_items_the_model_disagrees_with_most(ranked):
    ranking, labeled = ranked
    disagreement = np.full(200, np.nan)
    disagreement[[5, 7, 9, 11]] = [0.9, 0.95, 0.4, 0.7]  # 9: below 0.5, not a disagreement
    disagreement[labeled[0]] = 1.0  # labeled: never picked
    picked = with_disagreement_picks(ranking, disagreement, share=0.3)
    assert list(picked.batch) == [*ranking.batch[:7], 7, 5, 11]
    assert picked.rules[7:] == ["disagreement"] * 3
    assert picked.reasons[7:] == [DISAGREEMENT_REASON] * 3
    assert list(picked.order[:10]) == list(picked.batch)
    assert list(picked.order[10:13]) == list(ranking.batch[7:])  # the picks they replaced head the rest
    assert sorted(picked.order) == sorted(ranking.order)
    assert picked.priority[picked.batch].min() > picked.priority[picked.order[10:]].max()
    assert picked.why["disagreement"] is disagreement


def test_without_a_share_or_a_disagreement_the_order_stays_and_the_score_is_kept(ranked):
    ranking, _ = ranked
    disagreement = np.full(200, np.nan)
    disagreement[ranking.order[-1]] = 0.99
    unchanged = with_disagreement_picks(ranking, disagreement, share=0.0)
    assert list(unchanged.order) == list(ranking.order)
    assert unchanged.rules == ranking.rules
    assert unchanged.why["disagreement"][ranking.order[-1]] == 0.99
    none_over_half = with_disagreement_picks(ranking, np.full(200, 0.2), share=0.5)
    assert list(none_over_half.order) == list(ranking.order)
