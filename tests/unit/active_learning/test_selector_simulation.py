import json

import numpy as np
import pytest

from active_learning.core.autoencoders import ImageAutoencoder, TabularAutoencoder
from active_learning.core.classifiers import ProbabilisticClassifier
from active_learning.core.selector import ActiveSelector
from active_learning.core.simulation import aulc, labels_to_reach, paired_differences, plot_curves, simulate, write_json
from active_learning.core.strategies import PoolExhaustedError

FAST_AE = {"n_components": 3, "hidden_dims": (8,), "max_epochs": 2, "batch_size": 32, "device": "cpu"}
FAST_CLF = ProbabilisticClassifier(candidates=("logistic",), calibrate=False)


def _table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = np.column_stack([rng.normal(y * 3.0, 0.5), rng.normal(size=n), np.array(["a", "b"], dtype=object)[y % 2]])
    return X.astype(object), y


def test_selector_fits_once_and_serves_successive_batches():
    X, y = _table()
    selector = ActiveSelector(autoencoder=TabularAutoencoder(**FAST_AE), classifier=FAST_CLF, random_state=0)
    assert selector.fit(X) is selector
    assert selector.embedding_.shape == (60, 3)
    labeled = selector.next_batch([], [], batch_size=6)
    assert selector.proba_ is None
    for _ in range(3):
        batch = selector.next_batch(labeled, y[labeled], batch_size=6)
        assert not set(batch.tolist()) & set(labeled.tolist())
        labeled = np.concatenate([labeled, batch])
    assert selector.proba_.shape == (60, 3)
    assert len(selector.reasons_) == 6
    assert selector.scores_["total"].shape == (60,)
    with pytest.raises(PoolExhaustedError):
        selector.next_batch(np.arange(60), y, batch_size=6)


def test_a_warm_starting_selector_fits_each_batch_from_the_last_model():
    rng = np.random.default_rng(0)
    y = rng.integers(4, size=400)
    X = rng.normal(0.0, 2.0, size=(4, 6))[y] + rng.normal(size=(400, 6))
    embedding = X[:, :3].astype(np.float32)
    selectors = {
        warm: ActiveSelector(classifier=FAST_CLF, random_state=0, warm_start=warm).fit(X, embedding=embedding)
        for warm in (False, True)
    }
    labeled = np.arange(0, 400, 4)
    for selector in selectors.values():
        selector.next_batch(labeled[:-10], y[labeled[:-10]], batch_size=10)  # the last batch's model
        batch = selector.next_batch(labeled, y[labeled], batch_size=10)
    iterations = {warm: s.classifier_.estimators_[0].n_iter_[0] for warm, s in selectors.items()}
    assert iterations[True] < iterations[False]
    assert len(batch) == 10


def test_selector_is_deterministic_for_a_seed():
    X, y = _table()

    def run():
        selector = ActiveSelector(
            autoencoder=TabularAutoencoder(**FAST_AE, random_state=0), classifier=FAST_CLF, random_state=0
        ).fit(X)
        first = selector.next_batch([], [], 5)
        return first, selector.next_batch(first, y[first], 5)

    a, b = run(), run()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_selector_takes_images_of_mixed_sizes():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, size=(10 + i % 3, 12, 3), dtype=np.uint8) for i in range(20)]
    ae = ImageAutoencoder(n_components=4, hidden_dims=(4,), max_epochs=1, device="cpu", random_state=0)
    selector = ActiveSelector("image", autoencoder=ae, image_size=8, classifier=FAST_CLF, random_state=0).fit(images)
    assert selector.strategy_.typicality_weight == 0.5  # the default strategy, tuned for images
    assert selector.classifier_input_.shape == (20, 4)
    assert selector.transform(images[:2]).shape == (2, 4)
    batch = selector.next_batch([0, 1, 2, 3], [0, 1, 0, 1], 3)
    assert len(batch) == 3
    assert min(batch) >= 4


@pytest.mark.parametrize("kind", ["tabular", "image"])
def test_the_classifier_reads_its_input_standardized_over_the_whole_pool(kind):
    rng = np.random.default_rng(0)
    if kind == "tabular":
        X, _ = _table()
        ae = TabularAutoencoder(**FAST_AE)
    else:
        X = [rng.integers(0, 255, size=(8, 8), dtype=np.uint8) for _ in range(30)]
        ae = ImageAutoencoder(n_components=4, hidden_dims=(4,), max_epochs=1, device="cpu", random_state=0)
    selector = ActiveSelector(kind, autoencoder=ae, image_size=8, classifier=FAST_CLF, random_state=0).fit(X)
    spread = selector.classifier_input_.std(axis=0)
    np.testing.assert_allclose(selector.classifier_input_.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(spread[spread > 0], 1.0, atol=1e-4)
    np.testing.assert_allclose(selector.transform(X[:5]), selector.classifier_input_[:5], atol=1e-5)


def test_the_model_takes_its_scales_from_the_pool_not_from_the_few_labeled_items():
    from sklearn.base import clone
    from sklearn.preprocessing import StandardScaler

    X, y = _table()
    selector = ActiveSelector(autoencoder=TabularAutoencoder(**FAST_AE), classifier=FAST_CLF, random_state=0).fit(X)
    unscaled = selector.preprocessor_.transform(X)
    labeled = []
    for c in range(3):  # per class the two items nearest its centre: typical picks, with a small spread
        members = np.flatnonzero(y == c)
        distance = np.linalg.norm(unscaled[members] - unscaled[members].mean(axis=0), axis=1)
        labeled += members[np.argsort(distance)[:2]].tolist()
    labeled = np.array(labeled)

    proba = selector.fit_classifier(labeled, y[labeled]).predict_proba(selector.classifier_input_)

    pool_scaled = StandardScaler().fit_transform(unscaled)
    on_pool_scales = clone(FAST_CLF).fit(pool_scaled[labeled], y[labeled]).predict_proba(pool_scaled)
    np.testing.assert_allclose(proba, on_pool_scales, atol=1e-3)
    # the fixture tells the two apart: scales measured on the six labeled items give other probabilities
    labeled_scaler = StandardScaler().fit(unscaled[labeled])
    on_labeled_scales = clone(FAST_CLF).fit(labeled_scaler.transform(unscaled[labeled]), y[labeled])
    assert np.abs(proba - on_labeled_scales.predict_proba(labeled_scaler.transform(unscaled))).max() > 0.05


def test_an_unfitted_selector_refuses_to_transform():
    from sklearn.exceptions import NotFittedError

    X, _ = _table()
    with pytest.raises(NotFittedError, match="ActiveSelector"):
        ActiveSelector(autoencoder=TabularAutoencoder(**FAST_AE)).transform(X)


def test_selector_refuses_mismatched_labels():
    X, _ = _table()
    selector = ActiveSelector(autoencoder=TabularAutoencoder(**FAST_AE), classifier=FAST_CLF).fit(X)
    with pytest.raises(ValueError, match="2 labeled indices but 1 labels"):
        selector.next_batch([0, 1], [0], 3)


def test_aulc_and_labels_to_reach_known_values():
    assert aulc([10, 20, 30], [0.5, 0.5, 1.0]) == pytest.approx(62.5)
    assert labels_to_reach([10, 20, 30], [0.5, 0.9, 1.0], 0.85) == 20
    assert labels_to_reach([10, 20], [0.5, 0.6], 0.9) is None


def test_simulate_records_curves_and_summaries(tmp_path):
    X, y = _table(n=90)
    results = simulate(
        X,
        y,
        ["adaptive", "random"],
        budget=20,
        batch_size=5,
        seeds=[0, 1],
        classifier=FAST_CLF,
        autoencoder=TabularAutoencoder(**FAST_AE),
    )
    run = results["strategies"]["random"]["runs"][0]
    assert run["n_labels"] == [5, 10, 15, 20]
    assert len(run["accuracy"]) == len(run["macro_f1"]) == len(run["classes_discovered"]) == 4
    assert run["classes_discovered"] == sorted(run["classes_discovered"])
    assert set(run["first_labeled_at"]) == {"0", "1", "2"}
    assert 0 <= results["strategies"]["adaptive"]["summary"]["aulc_mean"] <= 100
    assert results["strategies"]["adaptive"]["params"]["typicality_weight"] == 0.0  # tuned for tables
    assert results["strategies"]["adaptive"]["params"]["random_state"] == 0
    diff = paired_differences(results, "adaptive", "random")
    assert len(diff["values"]) == 2
    write_json(results, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["config"]["budget"] == 20
    plot_curves(results, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
