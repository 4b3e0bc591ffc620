"""The drift test (MMD with a permutation threshold): within its stated false-alarm rate on samples of one
distribution, over many seeds, and it finds a new class (pure core)."""

import numpy as np
import pytest
from scipy import stats

from active_learning.drift import ALPHA, mmd_permutation_test

SEEDS = 200


def _clusters(rng, n, centers):
    picks = rng.integers(len(centers), size=n)
    return np.asarray(centers)[picks] + rng.normal(scale=1.0, size=(n, len(centers[0])))


CENTERS = [[0.0] * 8, [4.0] * 4 + [0.0] * 4]


def test_same_distribution_samples_alarm_within_the_stated_rate_over_many_seeds():
    alarms = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        test = mmd_permutation_test(_clusters(rng, 80, CENTERS), _clusters(rng, 40, CENTERS), random_state=seed)
        alarms += test.drift
    # At most ALPHA of them by construction; the binomial tail allows for chance: P(X > bound) < 0.001.
    bound = stats.binom.ppf(0.999, SEEDS, ALPHA)
    assert alarms <= bound, f"{alarms} false alarms in {SEEDS} imports at alpha={ALPHA}"


def test_a_new_class_among_the_new_items_is_detected_on_every_seed():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        reference = _clusters(rng, 80, CENTERS)
        new = np.vstack([_clusters(rng, 25, CENTERS), _clusters(rng, 15, [[0.0] * 4 + [4.0] * 4])])
        test = mmd_permutation_test(reference, new, random_state=seed)
        assert test.drift, f"seed {seed}: p={test.p_value}"
        assert test.statistic > test.threshold


def test_the_p_value_is_a_permutation_p_value_and_the_test_needs_two_items_a_side():
    rng = np.random.default_rng(0)
    test = mmd_permutation_test(rng.normal(size=(30, 3)), rng.normal(size=(30, 3)), n_permutations=99)
    assert test.p_value * 100 == pytest.approx(round(test.p_value * 100))
    assert 0.01 <= test.p_value <= 1.0
    with pytest.raises(ValueError, match="two items"):
        mmd_permutation_test(rng.normal(size=(30, 3)), rng.normal(size=(1, 3)))
