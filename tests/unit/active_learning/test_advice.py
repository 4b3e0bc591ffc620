"""The words under "why this item": the reason with the numbers that made it, and pool percentiles that tell
items apart where raw scores do not."""

import numpy as np

from active_learning.advice import explanation, model_split, pool_percentiles
from active_learning.core.scores import rank_normalize

DIGITS = [str(d) for d in range(10)]


def test_percentiles_spread_scores_that_all_sit_near_the_top():
    raw = np.array([0.991, 0.999, 0.995, 0.5, 0.993])
    unlabeled = np.array([True, True, True, False, True])

    found = pool_percentiles(raw, unlabeled)

    assert np.isnan(found[3])  # labeled: no percentile
    assert found[[0, 4, 2, 1]].tolist() == [0.0, 1 / 3, 2 / 3, 1.0]


def test_the_models_split_names_the_two_likeliest_labels_with_their_probabilities():
    proba = np.zeros(10)
    proba[[3, 8, 5]] = [0.48, 0.45, 0.07]

    assert model_split(proba, DIGITS, multilabel=False) == "the model splits 48% / 45% between 3 and 8"


def test_an_uncertain_pick_is_explained_by_the_split():
    proba = np.array([0.07, 0.48, 0.45])

    text = explanation("uncertainty", {}, proba, ["cat", "dog", "bird"], multilabel=False)

    assert text == "Picked because the model is unsure: the model splits 48% / 45% between dog and bird."


def test_a_typical_pick_gives_its_percentile_and_what_the_model_thinks():
    text = explanation("typicality", {"typicality": 0.92}, np.array([0.9, 0.1]), ["red", "white"], multilabel=False)

    assert text == (
        "Picked as a typical example: more typical than 92% of the unlabeled items. "
        "Meanwhile the model splits 90% / 10% between red and white."
    )


def test_without_a_model_the_reason_stands_alone():
    assert explanation("novelty", {"novelty": 0.97}, None, ["a", "b"], multilabel=False) == (
        "Picked because it is unlike what was labeled so far: more novel than 97% of the unlabeled items."
    )
    assert explanation("score", {"strategy": np.nan}, None, ["a", "b"], multilabel=False) == (
        "Ranked by the strategy's score."
    )


def test_multi_label_hesitation_names_the_label_closest_to_a_coin_toss():
    proba = np.array([0.95, 0.52, 0.1])

    assert model_split(proba, ["cat", "dog", "bird"], multilabel=True) == (
        "the model gives dog 52%, close to a coin toss"
    )


def test_percentiles_at_some_positions_are_those_of_the_whole_pool_ranked():
    """Ties share their mean rank, infinite scores rank at the ends, labeled items and NaN scores have none: the
    same as ranking every unlabeled item with rank_normalize, at any positions asked for."""
    rng = np.random.default_rng(5)
    for _ in range(300):
        n = int(rng.integers(1, 40))
        raw = rng.integers(0, 5, n).astype(float)
        raw[rng.random(n) < 0.15] = np.nan
        raw[rng.random(n) < 0.1] = np.inf
        raw[rng.random(n) < 0.1] = -np.inf
        unlabeled = rng.random(n) < 0.8
        at = rng.integers(0, n, int(rng.integers(0, n + 1)))

        expected = np.full(n, np.nan)
        ranked = unlabeled & ~np.isnan(raw)
        if ranked.any():
            expected[ranked] = rank_normalize(raw[ranked])

        np.testing.assert_array_equal(pool_percentiles(raw, unlabeled, at), expected[at])
        np.testing.assert_array_equal(pool_percentiles(raw, unlabeled), expected)
