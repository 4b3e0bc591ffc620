import numpy as np
import pytest
from sklearn.base import clone

from active_learning.core.ranking import strategy_from_spec
from active_learning.core.strategies import (
    RULES,
    AdaptiveStrategy,
    DiversityStrategy,
    KCenterStrategy,
    NoveltyStrategy,
    PoolExhaustedError,
    RandomStrategy,
    TypicalityStrategy,
    UncertaintyStrategy,
    WeightedStrategy,
    make_strategy,
    top_k,
)


def _pool():
    """Three dense blobs of 20 (classes 0, 1, 2) and one far outlier (index 60)."""
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    X = np.vstack([c + 0.3 * rng.normal(size=(20, 2)) for c in centers] + [np.array([[20.0, 20.0]])])
    y = np.array([0] * 20 + [1] * 20 + [2] * 20 + [0])
    return X.astype(np.float32), y


X_POOL, Y_POOL = _pool()
N_ITEMS = len(X_POOL)
LABELED = np.array([0, 1, 2, 20, 21, 22, 40, 41, 42])


def _proba(X):
    logits = -np.stack([np.linalg.norm(X - c, axis=1) for c in ([0, 0], [4, 0], [0, 4])], axis=1)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


PROBA = _proba(X_POOL)
ERRORS = np.linalg.norm(X_POOL, axis=1) / 30.0

STRATEGIES = {
    "random": lambda: RandomStrategy(random_state=3),
    "margin": lambda: UncertaintyStrategy("margin", random_state=3),
    "entropy": lambda: UncertaintyStrategy("entropy", random_state=3),
    "least_confidence": lambda: UncertaintyStrategy("least_confidence", random_state=3),
    "multilabel": lambda: UncertaintyStrategy("multilabel", random_state=3),
    "typicality": lambda: TypicalityStrategy(n_neighbors=5, random_state=3),
    "typicality_plain": lambda: TypicalityStrategy(n_neighbors=5, coverage=False, random_state=3),
    "novelty": lambda: NoveltyStrategy(random_state=3),
    "kcenter": lambda: KCenterStrategy(random_state=3),
    "diversity_kmeans": lambda: DiversityStrategy(candidate_factor=3, random_state=3),
    "diversity_kcenter": lambda: DiversityStrategy(candidate_factor=3, method="kcenter", random_state=3),
    "weighted": lambda: WeightedStrategy(
        [
            ("margin", UncertaintyStrategy(random_state=3), 0.7),
            ("typicality", TypicalityStrategy(5, coverage=False), 0.3),
        ]
    ),
    "adaptive": lambda: AdaptiveStrategy(n_neighbors=5, exploration_share=0.25, random_state=3),
}


def _select(strategy, batch_size=4, labeled=LABELED):
    return strategy.select(batch_size, labeled, Y_POOL[labeled], PROBA, ERRORS)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
class TestStrategyContract:
    def test_fit_returns_self_and_clone_keeps_params(self, name):
        strategy = STRATEGIES[name]()
        assert strategy.fit(X_POOL) is strategy
        copy = clone(strategy)
        assert repr(copy.get_params()) == repr(STRATEGIES[name]().get_params())
        assert not hasattr(copy, "X_")

    def test_same_seed_gives_same_batch(self, name):
        first = _select(STRATEGIES[name]().fit(X_POOL))
        second = _select(clone(STRATEGIES[name]()).fit(X_POOL))
        np.testing.assert_array_equal(first, second)

    def test_batch_is_unique_unlabeled_and_full(self, name):
        strategy = STRATEGIES[name]().fit(X_POOL)
        batch = _select(strategy, batch_size=8)
        assert len(batch) == 8
        assert len(set(batch.tolist())) == 8
        assert not set(batch.tolist()) & set(LABELED.tolist())
        assert len(strategy.reasons_) == 8
        assert len(strategy.rules_) == 8
        assert set(strategy.rules_) <= set(RULES)

    def test_scores_are_kept_with_labeled_items_blank(self, name):
        strategy = STRATEGIES[name]().fit(X_POOL)
        _select(strategy)
        assert strategy.scores_
        for values in strategy.scores_.values():
            assert values.shape == (N_ITEMS,)
            assert np.isnan(values[LABELED]).all()

    def test_cold_start_with_nothing_labeled(self, name):
        strategy = STRATEGIES[name]().fit(X_POOL)
        batch = strategy.select(5, [], None, None, ERRORS)
        assert len(set(batch.tolist())) == 5

    def test_last_items_are_returned_then_exhaustion_raises(self, name):
        strategy = STRATEGIES[name]().fit(X_POOL)
        almost_all = np.arange(N_ITEMS - 2)
        proba = PROBA
        batch = strategy.select(5, almost_all, Y_POOL[almost_all], proba, ERRORS)
        assert sorted(batch.tolist()) == [N_ITEMS - 2, N_ITEMS - 1]
        everything = np.arange(N_ITEMS)
        with pytest.raises(PoolExhaustedError, match=f"all {N_ITEMS} pool items are labeled"):
            strategy.select(5, everything, Y_POOL, proba, ERRORS)

    def test_out_of_range_labeled_index_is_refused(self, name):
        strategy = STRATEGIES[name]().fit(X_POOL)
        with pytest.raises(IndexError):
            strategy.select(3, [N_ITEMS], Y_POOL[:1], PROBA, ERRORS)


def test_margin_picks_items_between_two_classes():
    strategy = UncertaintyStrategy("margin").fit(X_POOL)
    batch = _select(strategy, batch_size=3)
    top2 = np.sort(PROBA, axis=1)[:, -2:]
    gap = top2[:, 1] - top2[:, 0]
    gap[LABELED] = np.inf
    np.testing.assert_array_equal(batch, np.argsort(gap, kind="stable")[:3])


def test_uncertainty_without_a_model_falls_back_to_seeded_random():
    a = UncertaintyStrategy(random_state=1).fit(X_POOL).select(5, [], None, None)
    b = RandomStrategy(random_state=1).fit(X_POOL).select(5, [], None, None)
    np.testing.assert_array_equal(a, b)
    c = UncertaintyStrategy(random_state=2).fit(X_POOL).select(5, [], None, None)
    assert not np.array_equal(a, c)


def test_ties_break_towards_lower_index():
    strategy = UncertaintyStrategy("margin").fit(np.zeros((6, 2), np.float32))
    flat = np.full((6, 2), 0.5)
    np.testing.assert_array_equal(strategy.select(3, [1], [0], flat), [0, 2, 3])


def test_typicality_coverage_takes_one_typical_item_per_blob():
    blobs = X_POOL[:60]
    batch = TypicalityStrategy(n_neighbors=5, random_state=0).fit(blobs).select(3, [], None)
    assert sorted(Y_POOL[batch].tolist()) == [0, 1, 2]


def test_typicality_coverage_skips_a_lone_outlier_cluster():
    batch = TypicalityStrategy(n_neighbors=5, random_state=0).fit(X_POOL).select(4, [], None)
    assert 60 not in batch
    assert set(Y_POOL[batch].tolist()) == {0, 1, 2}


def test_typicality_coverage_skips_clusters_that_hold_a_label():
    labeled = np.array([0])
    batch = TypicalityStrategy(n_neighbors=5, random_state=0).fit(X_POOL[:60]).select(2, labeled, Y_POOL[:1])
    assert sorted(Y_POOL[batch].tolist()) == [1, 2]


def test_diversity_spreads_a_batch_that_plain_margin_would_bunch():
    X = np.vstack([np.zeros((10, 2)), np.ones((10, 2)) * 5]).astype(np.float32)
    proba = np.column_stack([np.r_[np.full(10, 0.5), np.full(10, 0.6)], np.r_[np.full(10, 0.5), np.full(10, 0.4)]])
    plain = UncertaintyStrategy().fit(X).select(2, [], np.array([0]), proba)
    diverse = DiversityStrategy(candidate_factor=10, random_state=0).fit(X).select(2, [], np.array([0]), proba)
    assert set(plain.tolist()) <= set(range(10))
    assert {int(i >= 10) for i in diverse} == {0, 1}


def test_diversity_with_a_typicality_weight_represents_each_group_by_a_typical_uncertain_item():
    rng = np.random.default_rng(0)
    blob = 0.05 * rng.normal(size=(9, 2))
    edge = [[1.5, 0.0]]  # items 9 and 19 lie on their blob's edge
    X = np.vstack([blob, edge, blob + np.array([10.0, 0.0]), np.add(edge, [10.0, 0.0])]).astype(np.float32)
    p = np.r_[np.linspace(0.60, 0.62, 9), 0.5, np.linspace(0.60, 0.62, 9), 0.5]  # the edge items are most unsure
    proba = np.column_stack([p, 1 - p])
    by_uncertainty = DiversityStrategy(candidate_factor=10, random_state=0).fit(X).select(2, [], None, proba)
    by_both = DiversityStrategy(candidate_factor=10, typicality_weight=0.5, random_state=0).fit(X)
    batch = by_both.select(2, [], None, proba)

    assert sorted(by_uncertainty.tolist()) == [9, 19]
    assert {int(i >= 10) for i in batch} == {0, 1}
    assert not {9, 19} & set(batch.tolist())
    assert by_both.reasons_ == ["margin, diversified, representative"] * 2
    with pytest.raises(ValueError, match="typicality_weight"):
        DiversityStrategy(typicality_weight=1.5).fit(X)


def test_a_tie_between_uncertainty_and_typicality_goes_to_the_more_uncertain_item():
    n = 100
    p = 0.5 + 0.004 * np.arange(n)  # item 0 is the most uncertain, item 1 the next...
    proba = np.column_stack([p, 1 - p])
    typicality = np.r_[2, 3, 0, 1, np.arange(4, n)].astype(np.float64)  # ...and both have the best rank sum
    X = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
    strategy = DiversityStrategy(candidate_factor=n, typicality_weight=0.5, random_state=0)
    assert strategy.fit(X, typicality=typicality).select(1, [], None, proba).tolist() == [0]


def test_the_adaptive_default_weighs_typicality_on_images_and_explores_tables_more_at_first():
    image = make_strategy("adaptive", 0, "image").fit(X_POOL)
    assert image.warm_.typicality_weight == 0.5
    assert image.warm_.typicality_ is image.cold_.typicality_  # one k-NN pass
    assert make_strategy("adaptive", 0, "tabular").fit(X_POOL).warm_.typicality_weight == 0.0
    assert strategy_from_spec("adaptive", data_kind="image").typicality_weight == 0.5
    assert strategy_from_spec("adaptive", exploration_share=0.3, data_kind="tabular").exploration_share == 0.3
    assert make_strategy("adaptive", 0, "image", typicality_weight=0.2).typicality_weight == 0.2
    assert make_strategy("adaptive", 0, "image").cold_exploration_share == 0.1
    assert make_strategy("adaptive", 0, "tabular").cold_exploration_share == 0.2
    assert strategy_from_spec("adaptive", data_kind="image").cold_exploration_share == 0.1
    with pytest.raises(ValueError, match="unknown data kind"):
        make_strategy("adaptive", 0, "video")
    with pytest.raises(ValueError, match="takes no parameters"):
        make_strategy("margin", 0, exploration_share=0.2)


def test_novelty_prefers_an_unseen_dense_group_to_an_isolated_outlier():
    labeled = np.arange(40)  # blobs 0 and 1 labeled; blob 2 (40..59) unseen; 60 is the outlier
    strategy = NoveltyStrategy(guard_quantile=0.05, random_state=0).fit(X_POOL)
    batch = strategy.select(2, labeled, Y_POOL[labeled], None, ERRORS)
    assert all(40 <= i < 60 for i in batch)
    assert strategy.scores_["outlier"][60] == 1.0


def test_adaptive_starts_cold_then_moves_to_uncertainty_with_an_exploration_share():
    strategy = AdaptiveStrategy(n_neighbors=5, min_labels_per_class=3, exploration_share=0.25, random_state=0).fit(
        X_POOL
    )
    strategy.select(4, [0, 20], Y_POOL[[0, 20]], PROBA, ERRORS)
    assert strategy.phase_ == "cold_start"
    batch = _select(strategy, batch_size=4)
    assert strategy.phase_ == "uncertainty"
    assert strategy.reasons_[-1].startswith("novelty")
    assert sum(r.startswith("novelty") for r in strategy.reasons_) == 1
    assert "margin" in strategy.scores_
    assert "novelty_total" in strategy.scores_
    assert len(batch) == 4


def test_adaptive_reserves_novelty_picks_in_the_first_batch_two_in_ten_on_tables_one_on_images():
    default = AdaptiveStrategy(n_neighbors=5, random_state=0).fit(X_POOL)
    default.select(10, [], None, None, ERRORS)
    assert default.phase_ == "cold_start"
    assert default.reasons_ == ["typical item of an unlabeled cluster"] * 8 + [default.explore_.reasons_[0]] * 2
    assert default.reasons_[-1].startswith("novelty")
    image = make_strategy("adaptive", 0, "image", n_neighbors=5).fit(X_POOL)
    image.select(10, [], None, None, ERRORS)
    assert image.reasons_ == ["typical item of an unlabeled cluster"] * 9 + [image.explore_.reasons_[0]]

    coverage_only = AdaptiveStrategy(n_neighbors=5, cold_exploration_share=0.0, random_state=0).fit(X_POOL)
    coverage_only.select(10, [], None, None, ERRORS)
    assert coverage_only.reasons_ == ["typical item of an unlabeled cluster"] * 10


def test_adaptive_leaves_the_cold_start_once_a_model_sees_two_classes_by_default():
    labeled = np.array([0, 20])
    strategy = AdaptiveStrategy(n_neighbors=5, random_state=0).fit(X_POOL)
    strategy.select(4, labeled, Y_POOL[labeled], PROBA, ERRORS)
    assert strategy.phase_ == "uncertainty"
    one_class = np.array([0, 1])
    strategy.select(4, one_class, Y_POOL[one_class], PROBA, ERRORS)
    assert strategy.phase_ == "cold_start"


# Class 1's items 20.. are the worst reconstructed, in that order: the top of the novelty ranking. The outlier 60
# is reconstructed worse still, but the guard ranks it last.
HEAD_ERRORS = np.where(Y_POOL == 1, 2.0 - np.arange(N_ITEMS) / 100, 0.0)
HEAD_ERRORS[60] = 5.0


def _explores(strategy, labeled, proba=PROBA) -> bool:
    labeled = np.asarray(labeled)
    strategy.select(4, labeled, Y_POOL[labeled], proba, HEAD_ERRORS)
    novelty = [r for r in strategy.reasons_ if r.startswith("novelty")]
    assert strategy.phase_.endswith("exploration paused") == (not novelty)
    return bool(novelty)


def test_adaptive_pauses_exploration_once_its_latest_novelty_picks_found_no_new_class():
    strategy = AdaptiveStrategy(exploration_share=0.25, random_state=0).fit(X_POOL)  # default patience: 3
    assert strategy.explore_.outlier_[60]
    # The explored head of the novelty ranking is 20, 21, 22: item 20 found class 1, so exploration pays.
    assert _explores(strategy, [0, 40, 20, 21, 22])
    # Head 20..23: its last three (21, 22, 23) found nothing new, so the share goes back to uncertainty.
    assert not _explores(strategy, [0, 40, 20, 21, 22, 23])
    assert strategy.phase_ == "uncertainty, exploration paused"
    # A head exactly as long as the patience, none of it first of its class (25 found class 1), pauses too.
    assert not _explores(strategy, [25, 0, 40, 20, 21, 22])
    # The labels come oldest first: had 21 been labeled first, it found class 1 and exploration goes on.
    assert _explores(strategy, [21, 0, 40, 20, 22, 23])
    # A head shorter than the patience is no evidence; a patience of None never pauses.
    assert _explores(strategy, [0, 40, 20, 21])
    never = AdaptiveStrategy(exploration_share=0.25, exploration_patience=None, random_state=0).fit(X_POOL)
    assert _explores(never, [0, 40, 20, 21, 22, 23])


def test_adaptive_never_pauses_exploration_before_a_second_class_is_found():
    strategy = AdaptiveStrategy(cold_exploration_share=0.25, random_state=0).fit(X_POOL)
    assert _explores(strategy, [20, 21, 22, 23], proba=None)
    assert strategy.phase_ == "cold_start"
    assert not _explores(strategy, [0, 20, 21, 22, 23], proba=None)
    assert strategy.phase_ == "cold_start, exploration paused"


def test_adaptive_pauses_exploration_on_multilabel_rows_too():
    strategy = AdaptiveStrategy(exploration_share=0.25, exploration_patience=2, random_state=0).fit(X_POOL)
    labeled = np.array([0, 40, 20, 21, 22])
    rows = np.eye(3, dtype=int)[Y_POOL[labeled]]
    strategy.select(4, labeled, rows, PROBA, HEAD_ERRORS)
    assert strategy.phase_ == "uncertainty, exploration paused"  # 21 and 22 hold no label 20 did not
    rows[-1, 0] = 1  # ...unless item 22 is the first to carry a second label
    rows[0, 0] = 0
    strategy.select(4, labeled, rows, PROBA, HEAD_ERRORS)
    assert strategy.phase_ == "uncertainty"


def test_adaptive_stays_cold_while_a_seen_class_has_too_few_labels():
    labeled = np.array([0, 1, 2, 20])
    strategy = AdaptiveStrategy(n_neighbors=5, min_labels_per_class=2, random_state=0).fit(X_POOL)
    strategy.select(2, labeled, Y_POOL[labeled], PROBA, ERRORS)
    assert strategy.phase_ == "cold_start"


def test_adaptive_handles_multilabel_indicators():
    labeled = LABELED
    indicators = np.eye(3, dtype=int)[Y_POOL[labeled]]
    strategy = AdaptiveStrategy(n_neighbors=5, min_labels_per_class=3, exploration_share=0.0, random_state=0).fit(
        X_POOL
    )
    batch = strategy.select(3, labeled, indicators, PROBA, ERRORS)
    assert strategy.phase_ == "uncertainty"
    assert "multilabel" in strategy.scores_
    assert len(batch) == 3


def test_make_strategy_knows_the_names_and_refuses_others():
    assert isinstance(make_strategy("adaptive", random_state=1), AdaptiveStrategy)
    assert make_strategy("entropy").measure == "entropy"
    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy("magic")


def test_adaptive_late_found_class_does_not_send_a_mature_project_back_to_cold_start():
    labeled = np.r_[np.arange(10), np.arange(20, 30), [40]]  # 10 + 10 labels, and one of a class found late
    strategy = AdaptiveStrategy(n_neighbors=5, min_labels_per_class=3, random_state=0).fit(X_POOL)
    strategy.select(2, labeled, Y_POOL[labeled], PROBA, ERRORS)
    assert strategy.phase_ == "uncertainty"
    young = np.r_[np.arange(5), np.arange(20, 25), [40]]  # 11 labels < 2 * 3 per class * 3 classes
    strategy.select(2, young, Y_POOL[young], PROBA, ERRORS)
    assert strategy.phase_ == "cold_start"


@pytest.mark.parametrize("strategy_class", [TypicalityStrategy, NoveltyStrategy])
def test_density_on_a_large_pool_uses_a_seeded_reference_sample(strategy_class):
    X = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    sampled = strategy_class(max_reference=60, random_state=1).fit(X)
    again = strategy_class(max_reference=60, random_state=1).fit(X)
    reference = sampled._density_reference()

    assert reference.shape == (60, 4)
    np.testing.assert_array_equal(reference, again._density_reference())
    assert strategy_class(max_reference=1_000).fit(X)._density_reference() is None


def test_every_registered_strategy_is_made_by_name_and_selects():
    from active_learning.core.registry import STRATEGIES, make_strategy

    for name, info in STRATEGIES.items():
        params = {"mix": {"margin": 0.5, "novelty": 0.5}} if name == "mix" else {}
        strategy = make_strategy(name, random_state=0, data_kind="tabular", **params).fit(X_POOL)
        assert len(_select(strategy)) == 4, name
        assert set(strategy.rules_) <= set(RULES), name
        assert info.title, name
        assert info.description, name


def test_the_api_schema_accepts_exactly_the_registered_strategies():
    import typing

    from active_learning.core.registry import STRATEGIES
    from active_learning.schemas import StrategyName

    assert set(typing.get_args(StrategyName)) == set(STRATEGIES)


def test_unknown_strategy_names_and_parameters_are_refused():
    from active_learning.core.registry import make_strategy

    with pytest.raises(ValueError, match="unknown strategy 'best'"):
        make_strategy("best")
    with pytest.raises(ValueError, match="takes no parameters"):
        make_strategy("margin", exploration_share=0.2)
    with pytest.raises(ValueError, match="unmixable"):
        make_strategy("mix", mix={"adaptive": 1.0})


def test_top_k_is_the_head_of_a_full_sort_by_score_then_index_with_nan_last():
    """The partition shortcut for small k changes nothing: ties (many, on a few distinct scores) go to the lower
    index, NaN and -inf scores come last, and any k, candidate subset and order gives the full sort's head."""
    rng = np.random.default_rng(3)
    for _ in range(500):
        n = int(rng.integers(1, 80))
        scores = rng.integers(0, 4, n).astype(float)
        scores[rng.random(n) < 0.2] = np.nan
        scores[rng.random(n) < 0.1] = -np.inf
        candidates = rng.permutation(n)[: rng.integers(0, n + 1)]
        k = int(rng.integers(0, n + 2))
        full_sort = candidates[np.lexsort((candidates, -scores[candidates]))]
        assert top_k(scores, candidates, k).tolist() == full_sort[:k].tolist()
