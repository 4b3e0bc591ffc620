import numpy as np
import pytest

from active_learning.core.budget import Budget, StabilizingPredictions, cohen_kappa
from active_learning.core.classifiers import ProbabilisticClassifier, default_classifier
from active_learning.core.features import TabularPreprocessor, images_to_array


def test_tabular_preprocessor_scales_one_hots_and_flags_missing():
    X = np.array([[1.0, "red", 10], [3.0, "blue", None], [None, "red", 30], [5.0, None, 20]], dtype=object)
    out = TabularPreprocessor().fit(X).transform(X)
    # numeric 0 (+ missing flag), "red", "blue" (+ missing flag), numeric 2 (+ missing flag)
    assert out.shape == (4, 7)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0].mean(), 0.0, atol=1e-6)
    np.testing.assert_array_equal(out[:, 1], [0, 0, 1, 0])
    np.testing.assert_array_equal(out[:, 2:5], [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(out[:, 6], [0, 1, 0, 0])
    assert out[2, 0] == out[1, 0]  # the missing cell takes the median (3.0)


def test_tabular_preprocessor_unseen_category_encodes_as_zeros_and_caps_width():
    X = np.array([["a"], ["b"], ["b"], ["c"]], dtype=object)
    prep = TabularPreprocessor(max_categories=2).fit(X)
    np.testing.assert_array_equal(
        prep.transform(np.array([["b"], ["zzz"], ["c"]], dtype=object)), [[1, 0], [0, 0], [0, 0]]
    )


def test_tabular_preprocessor_forced_categorical_and_column_count_check():
    X = np.array([[1, 7], [2, 7], [1, 8]], dtype=object)
    prep = TabularPreprocessor(categorical_columns=[0]).fit(X)
    assert prep.n_features_out_ == 3
    with pytest.raises(ValueError, match="expected 2 columns"):
        prep.transform(np.zeros((2, 3)))


def test_images_to_array_resizes_and_keeps_channels():
    gray = [np.full((8, 8), 255, np.uint8), np.zeros((20, 10), np.uint8)]
    out = images_to_array(gray, image_size=16)
    assert out.shape == (2, 1, 16, 16)
    assert out[0].min() == pytest.approx(1.0)
    assert out[1].max() == 0.0
    rgb = images_to_array([np.zeros((4, 4, 3), np.uint8), np.full((6, 6), 128, np.uint8)], image_size=8)
    assert rgb.shape == (2, 3, 8, 8)
    np.testing.assert_allclose(rgb[1], 128 / 255, atol=1e-6)


def test_images_to_array_rescales_float_images_into_unit_range():
    out = images_to_array(np.array([[[0.0, 16.0], [8.0, 16.0]]]), image_size=2)
    np.testing.assert_allclose(out[0, 0], [[0.0, 1.0], [128 / 255, 1.0]], atol=1e-6)


def _blobs(n_per_class, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(c * 3, 1.0, size=(n, 4)) for c, n in enumerate(n_per_class)])
    y = np.concatenate([[c] * n for c, n in enumerate(n_per_class)])
    return X, y


def test_classifier_chooses_by_cv_and_calibrates_on_enough_labels():
    X, y = _blobs([12, 12, 12])
    clf = ProbabilisticClassifier(candidates=("logistic", "random_forest"), random_state=0).fit(X, y)
    assert set(clf.cv_scores_) == {"logistic", "random_forest"}
    assert clf.chosen_ == max(clf.cv_scores_, key=clf.cv_scores_.get)
    proba = clf.predict_proba(X)
    assert proba.shape == (36, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (clf.predict(X) == y).mean() > 0.9


def test_classifier_copes_with_a_class_seen_once():
    X, y = _blobs([5, 1, 4])
    clf = ProbabilisticClassifier(random_state=0).fit(X, y)
    assert clf.cv_scores_ == {}
    assert clf.chosen_ == "logistic"
    assert clf.predict_proba(X).shape == (10, 3)


def test_classifier_with_a_single_class_is_certain():
    X, _ = _blobs([3])
    clf = ProbabilisticClassifier().fit(X, np.array(["cat"] * 3))
    np.testing.assert_array_equal(clf.predict_proba(X), np.ones((3, 1)))
    assert clf.predict(X).tolist() == ["cat"] * 3


def test_classifier_multilabel_gives_one_probability_per_label():
    X, y = _blobs([10, 10])
    Y = np.column_stack([y == 0, y == 1, np.zeros(20, bool)]).astype(int)
    clf = ProbabilisticClassifier(candidates=("logistic",), random_state=0).fit(X, Y)
    proba = clf.predict_proba(X)
    assert proba.shape == (20, 3)
    assert (proba[:, 2] == 0).all()
    assert (clf.predict(X)[:, :2] == Y[:, :2]).mean() > 0.9


def _gaussian_classes(n_items: int = 600, n_classes: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(n_classes, size=n_items)
    return rng.normal(0.0, 1.5, size=(n_classes, 5))[y] + rng.normal(size=(n_items, 5)), y


def test_warm_started_fit_reaches_the_fresh_model_in_fewer_iterations():
    X, y = _gaussian_classes()
    previous = default_classifier(0).fit(X[:490], y[:490])
    fresh = default_classifier(0).fit(X[:500], y[:500])
    warm = default_classifier(0).fit(X[:500], y[:500], init=previous)
    assert warm.estimators_[0].n_iter_[0] < fresh.estimators_[0].n_iter_[0]
    np.testing.assert_allclose(warm.predict_proba(X), fresh.predict_proba(X), atol=0.05)


def test_warm_start_from_a_model_of_other_classes_is_ignored():
    X, y = _gaussian_classes()
    seen = y < 5
    previous = default_classifier(0).fit(X[seen][:300], y[seen][:300])
    fresh = default_classifier(0).fit(X[:300], y[:300])
    warm = default_classifier(0).fit(X[:300], y[:300], init=previous)
    assert warm.estimators_[0].n_iter_[0] == fresh.estimators_[0].n_iter_[0]
    np.testing.assert_array_equal(warm.predict_proba(X), fresh.predict_proba(X))


def test_cohen_kappa_known_values():
    assert cohen_kappa(np.array([0, 1, 0, 1]), np.array([0, 1, 0, 1])) == 1.0
    assert cohen_kappa(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])) == pytest.approx(0.0)
    assert cohen_kappa(np.array([0, 1]), np.array([1, 0])) == pytest.approx(-1.0)


def test_stabilizing_predictions_stops_after_patience_agreeing_rounds():
    rule = StabilizingPredictions(threshold=0.99, patience=2)
    assert rule.update([0, 1, 1, 0]) is False
    assert rule.update([0, 1, 0, 0]) is False
    assert rule.update([0, 1, 0, 0]) is False
    assert rule.update([0, 1, 0, 0]) is True
    assert rule.history_[-2:] == [1.0, 1.0]
    with pytest.raises(ValueError, match="stop set"):
        rule.update([0, 1])


def test_budget_caps_batches_by_total_pool_and_stopping_rule():
    rule = StabilizingPredictions(patience=1)
    budget = Budget(total=25, batch_size=10, stopping_rule=rule)
    assert budget.next_batch_size(0) == 10
    assert budget.next_batch_size(20) == 5
    assert budget.next_batch_size(20, n_unlabeled=3) == 3
    assert budget.is_spent(25)
    rule.update([1, 2])
    rule.update([1, 2])
    assert budget.next_batch_size(0) == 0
