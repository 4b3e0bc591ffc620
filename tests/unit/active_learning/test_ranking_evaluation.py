"""The ranking of a whole pool, model figures, label issues and learning-curve projection (pure core)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.datasets import make_blobs

from active_learning.core.classifiers import ProbabilisticClassifier
from active_learning.core.evaluation import cross_validated_metrics, label_issues, projected_range, projected_score
from active_learning.core.ranking import rank_pool, strategy_from_spec, suggestions
from active_learning.core.strategies import WeightedStrategy
from active_learning.schemas import StrategySpec

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=300, centers=3, n_features=4, cluster_std=1.0, random_state=0)
    return X.astype(np.float32), y


def test_the_batch_comes_first_and_labeled_items_last(blobs):
    X, y = blobs
    labeled = np.arange(0, 300, 10)
    strategy = strategy_from_spec("margin_diversity", random_state=0, data_kind="tabular").fit(X)
    ranking = rank_pool(strategy, ProbabilisticClassifier(random_state=0), X, labeled, y[labeled], batch_size=8)
    assert len(ranking.batch) == 8
    assert list(ranking.order[:8]) == list(ranking.batch)
    assert sorted(ranking.order) == sorted(set(range(300)) - set(labeled))
    assert np.all(ranking.priority[labeled] == -1)
    by_priority = np.argsort(-ranking.priority, kind="stable")[: len(ranking.order)]
    assert set(by_priority[:8]) == set(ranking.batch)
    assert ranking.priority[ranking.batch].min() > ranking.priority[ranking.order[8:]].max()
    assert set(ranking.rules) == {"uncertainty"}


def test_why_scores_are_fractions_and_uncertainty_needs_a_model(blobs):
    X, y = blobs
    strategy = strategy_from_spec("adaptive", random_state=0, data_kind="tabular").fit(X)
    cold = rank_pool(strategy, ProbabilisticClassifier(random_state=0), X, [], [], batch_size=5, typicality=X[:, 0])
    assert np.isnan(cold.why["uncertainty"]).all()
    assert cold.proba is None
    assert set(cold.rules) <= {"typicality", "novelty"}
    labeled = np.arange(0, 300, 5)
    warm = rank_pool(strategy, ProbabilisticClassifier(random_state=0), X, labeled, y[labeled], 5, typicality=X[:, 0])
    for values in warm.why.values():
        assert np.nanmin(values) >= 0
        assert np.nanmax(values) <= 1


def test_everything_labeled_still_gives_a_model_and_no_batch(blobs):
    X, y = blobs
    strategy = strategy_from_spec("random", random_state=0, data_kind="tabular").fit(X)
    ranking = rank_pool(strategy, ProbabilisticClassifier(random_state=0), X, np.arange(300), y, batch_size=5)
    assert ranking.classifier is not None
    assert len(ranking.batch) == 0
    assert len(ranking.order) == 0


def test_suggestions_single_and_multi_label():
    proba = np.array([[0.2, 0.8], [0.6, 0.4]])
    labels, confidence = suggestions(proba, np.array([10, 20]), multilabel=False)
    assert labels == [[20], [10]]
    assert list(confidence) == [0.8, 0.6]
    labels, confidence = suggestions(np.array([[0.9, 0.7, 0.1], [0.2, 0.3, 0.1]]), np.array([1, 2, 3]), True)
    assert labels == [[1, 2], [2]]  # nothing over 0.5: the most probable one
    assert confidence[0] == pytest.approx(0.7)  # the least certain decision: label 2 at p = 0.7


def test_rule_codes_are_reported_by_the_strategies_next_to_their_reasons():
    X = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    labeled = np.arange(12)
    proba = np.column_stack([1 - (X[:, 0] > 0), X[:, 0] > 0]).astype(float) * 0.8 + 0.1
    expected = {
        "typicality": "typicality",
        "novelty": "novelty",
        "kcenter": "diversity",
        "margin_diversity": "uncertainty",
        "random": "random",
        "entropy": "uncertainty",
    }
    for name, rule in expected.items():
        strategy = strategy_from_spec(name, random_state=0, data_kind="tabular").fit(X)
        batch = strategy.select(4, labeled, y[labeled], proba, np.linalg.norm(X, axis=1))
        assert strategy.rules_ == [rule] * len(batch), name
    mix = strategy_from_spec("mix", {"margin": 1.0}, random_state=0, data_kind="tabular").fit(X)
    mix.select(3, labeled, y[labeled], proba)
    assert mix.rules_ == ["score"] * 3
    no_model = strategy_from_spec("margin", random_state=0, data_kind="tabular").fit(X)
    no_model.select(3, [], None, None)
    assert no_model.rules_ == ["random"] * 3


def test_a_mix_weighs_named_strategies():
    strategy = strategy_from_spec("mix", {"margin": 0.7, "novelty": 0.3}, random_state=0, data_kind="tabular")
    assert isinstance(strategy, WeightedStrategy)
    assert [(name, weight) for name, _, weight in strategy.components] == [("margin", 0.7), ("novelty", 0.3)]


def test_strategy_specs_are_checked():
    assert StrategySpec().strategy == "adaptive"
    with pytest.raises(ValidationError, match="mix needs weights"):
        StrategySpec(strategy="mix")
    with pytest.raises(ValidationError, match="unknown or unmixable"):
        StrategySpec(strategy="mix", mix={"margin": 1, "bogus": 1})
    with pytest.raises(ValidationError, match="only with strategy 'mix'"):
        StrategySpec(strategy="margin", mix={"margin": 1})
    with pytest.raises(ValidationError):
        StrategySpec(batch_size=0)


def test_cross_validated_metrics_leave_out_classes_too_rare_to_fold(blobs):
    X, y = blobs
    y = y.copy()
    y[0] = 7  # a class with one label
    metrics = cross_validated_metrics(ProbabilisticClassifier(random_state=0), X, y, cv=5, random_state=0)
    assert metrics.folds == 5
    assert metrics.accuracy > 0.9
    assert metrics.per_class["7"] == {"support": 1}
    assert len(metrics.used) == 299
    assert metrics.oof_proba.shape == (299, 3)


def test_label_issues_find_flipped_labels(blobs):
    X, y = blobs
    noisy = y.copy()
    flipped = [5, 50, 150]
    noisy[flipped] = (noisy[flipped] + 1) % 3
    metrics = cross_validated_metrics(ProbabilisticClassifier(random_state=0), X, noisy, random_state=0)
    found, quality = label_issues(noisy, metrics.oof_proba, np.unique(noisy))
    assert set(flipped) <= set(found.tolist())
    assert len(found) <= 6
    assert quality[flipped].max() < np.median(quality)


def test_a_learning_curve_is_projected_to_the_budget():
    n = np.array([10, 20, 40, 80])
    scores = 0.95 - 0.5 * n**-0.5
    assert projected_score(n, scores, 400) == pytest.approx(0.95 - 0.5 * 400**-0.5, abs=0.01)
    assert projected_score(n[:2], scores[:2], 400) is None


def test_a_learning_curve_flat_from_the_start_projects_its_level():
    assert projected_score([10, 20, 40, 80], [0.7, 0.7, 0.7, 0.7], 1000) == pytest.approx(0.7, abs=1e-6)


def test_a_projection_comes_with_a_range_around_it():
    n = np.array([10, 20, 30, 40, 52])
    scores = 0.95 - 0.5 * n**-0.5 + np.array([0.02, -0.02, 0.015, -0.01, 0.0])

    low, projected, high = projected_range(n, scores, 200)

    assert low < projected < high
    assert projected == pytest.approx(projected_score(n, scores, 200))
    assert high - low < 0.2
    assert projected_range(n[:2], scores[:2], 200) is None


def test_a_projection_never_falls_below_the_accuracy_measured_last():
    n = [20, 30, 40, 52]
    scores = [0.73, 0.71, 0.70, 0.731]  # a noisy, flat curve: measured 73.1% at 52 labels

    low, projected, high = projected_range(n, scores, 200)

    assert projected_score(n, scores, 200) < 0.731  # what the bare fit says
    assert 0.731 <= low <= projected <= high


def test_projecting_a_learning_curve_loads_neither_scipy_nor_scikit_learn():
    code = (
        "import sys; from active_learning.core.evaluation import projected_score; "
        "projected_score([10, 20, 40], [0.5, 0.6, 0.65], 100); print('scipy' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_the_adaptive_strategy_measures_density_once_with_the_same_outliers(blobs):
    from active_learning.core.strategies import AdaptiveStrategy, NoveltyStrategy

    X, _ = blobs
    adaptive = AdaptiveStrategy(random_state=0).fit(X)
    alone = NoveltyStrategy(random_state=0).fit(X)
    assert adaptive.explore_.density_ is adaptive.cold_.typicality_
    assert np.array_equal(adaptive.explore_.outlier_, alone.outlier_)
