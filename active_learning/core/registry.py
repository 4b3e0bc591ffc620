"""The one list of strategies: name, title, description and factory. The engine builds strategies from it, the
API's schema takes its names from it and the strategy page its titles and descriptions.

Importing this module loads no numpy or scikit-learn (a web process validates strategy names but never ranks):
each factory imports the strategy classes when it is called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from active_learning.core.strategies.base import Strategy

#: factory(random_state, data_kind, params) -> an unfitted strategy
StrategyFactory = Callable[[int | None, str | None, Mapping[str, object]], "Strategy"]


@dataclass(frozen=True)
class StrategyInfo:
    """One strategy. ``mixable``: it may be a part of a mix. ``params``: keyword parameters its factory takes."""

    name: str
    title: str
    description: str
    factory: StrategyFactory
    mixable: bool = True
    params: frozenset[str] = frozenset()


def _no_params(name: str, params: Mapping[str, object]) -> None:
    if params:
        raise ValueError(f"{name} takes no parameters here, got {sorted(params)}")


def _adaptive(random_state: int | None, data_kind: str | None, params: Mapping[str, object]) -> Strategy:
    from active_learning.core.strategies import KIND_DEFAULTS, AdaptiveStrategy

    defaults: Mapping[str, object] = {}
    if data_kind is not None:
        if data_kind not in KIND_DEFAULTS:
            raise ValueError(f"unknown data kind {data_kind!r}; choose from {sorted(KIND_DEFAULTS)}")
        defaults = KIND_DEFAULTS[data_kind]
    return AdaptiveStrategy(random_state=random_state, **{**defaults, **params})  # type: ignore[arg-type]


def _random(random_state: int | None, data_kind: str | None, params: Mapping[str, object]) -> Strategy:
    from active_learning.core.strategies.blocks import RandomStrategy

    _no_params("random", params)
    return RandomStrategy(random_state=random_state)


def _uncertainty(measure: str) -> StrategyFactory:
    def factory(random_state: int | None, data_kind: str | None, params: Mapping[str, object]) -> Strategy:
        from active_learning.core.strategies.blocks import UncertaintyStrategy

        _no_params(measure, params)
        return UncertaintyStrategy(measure, random_state=random_state)

    return factory


def _typicality(random_state: int | None, data_kind: str | None, params: Mapping[str, object]) -> Strategy:
    from active_learning.core.strategies.blocks import TypicalityStrategy

    _no_params("typicality", params)
    return TypicalityStrategy(random_state=random_state)


def _novelty(random_state: int | None, data_kind: str | None, params: Mapping[str, object]) -> Strategy:
    from active_learning.core.strategies.blocks import NoveltyStrategy

    _no_params("novelty", params)
    return NoveltyStrategy(random_state=random_state)


def _kcenter(random_state: int | None, data_kind: str | None, params: Mapping[str, object]) -> Strategy:
    from active_learning.core.strategies.blocks import KCenterStrategy

    _no_params("kcenter", params)
    return KCenterStrategy(random_state=random_state)


def _margin_diversity(random_state: int | None, data_kind: str | None, params: Mapping[str, object]) -> Strategy:
    from active_learning.core.strategies.blocks import DiversityStrategy

    _no_params("margin_diversity", params)
    return DiversityStrategy(random_state=random_state)


def _mix(random_state: int | None, data_kind: str | None, params: Mapping[str, object]) -> Strategy:
    from active_learning.core.strategies.blocks import WeightedStrategy

    weights = params.get("mix")
    if not isinstance(weights, Mapping) or not weights or set(params) - {"mix"}:
        raise ValueError("a mix takes one parameter, mix: {strategy name: weight}, e.g. {'margin': 0.7}")
    unknown = sorted(name for name in weights if name not in STRATEGIES or not STRATEGIES[name].mixable)
    if unknown:
        raise ValueError(f"mix: unknown or unmixable strategies {unknown}; choose from {sorted(MIXABLE)}")
    parts = [(name, make_strategy(name, random_state), float(w)) for name, w in sorted(weights.items())]
    return WeightedStrategy(parts)


STRATEGIES: dict[str, StrategyInfo] = {
    info.name: info
    for info in (
        StrategyInfo(
            "adaptive",
            "Adaptive",
            "Typical items while labels are few, then uncertain ones spread over the data, with a share of novel "
            "items (the default).",
            _adaptive,
            mixable=False,
            params=frozenset({"exploration_share"}),
        ),
        StrategyInfo(
            "random", "Random", "Items in random order: the baseline every other strategy should beat.", _random
        ),
        StrategyInfo(
            "margin", "Margin", "Items where the model's two likeliest labels are closest.", _uncertainty("margin")
        ),
        StrategyInfo(
            "entropy", "Entropy", "Items whose predicted labels are most evenly spread.", _uncertainty("entropy")
        ),
        StrategyInfo(
            "least_confidence",
            "Least confidence",
            "Items whose likeliest label is least likely.",
            _uncertainty("least_confidence"),
        ),
        StrategyInfo("typicality", "Typicality", "Items from dense, representative regions of the data.", _typicality),
        StrategyInfo("novelty", "Novelty", "Items unlike anything labeled so far, outliers left aside.", _novelty),
        StrategyInfo("kcenter", "K-center", "Items farthest from everything labeled, to cover the data.", _kcenter),
        StrategyInfo(
            "margin_diversity",
            "Margin + diversity",
            "Uncertain items (margin), spread so a batch has no near-duplicates.",
            _margin_diversity,
        ),
        StrategyInfo(
            "mix", "Mix", "Your own weighting of several strategies.", _mix, mixable=False, params=frozenset({"mix"})
        ),
    )
}
STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGIES)
MIXABLE: tuple[str, ...] = tuple(name for name, info in STRATEGIES.items() if info.mixable)


def make_strategy(
    name: str, random_state: int | None = None, data_kind: str | None = None, **params: object
) -> Strategy:
    """An unfitted strategy by name, seeded. ``data_kind`` ("image" or "tabular") tunes the adaptive default for it
    (without one, AdaptiveStrategy's own defaults: the tabular behaviour); ``params``: e.g. ``exploration_share``
    for adaptive, ``mix={"margin": 0.7, "novelty": 0.3}`` for a mix."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}")
    return STRATEGIES[name].factory(random_state, data_kind, params)
