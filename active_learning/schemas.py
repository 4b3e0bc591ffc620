"""Typed shapes of what active learning stores in JSON fields and takes from the API (pydantic)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from active_learning.core.registry import MIXABLE, STRATEGY_NAMES

# The names come from the engine's registry, which loads no numpy or scikit-learn: web processes validate specs but
# never rank.
StrategyName = Literal[STRATEGY_NAMES]  # type: ignore[valid-type]
MIXABLE_NAMES = frozenset(MIXABLE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoppingRule(_Strict):
    """Stop asking for labels once predictions on the pool stop changing (stabilizing predictions)."""

    threshold: float = Field(default=0.99, ge=0.5, le=1.0)  # Cohen's kappa between consecutive models
    patience: int = Field(default=3, ge=1, le=20)  # consecutive rankings above the threshold


class StrategySpec(_Strict):
    """A project's strategy and budget. `mix` weighs named strategies (rank-normalised scores)."""

    strategy: StrategyName = "adaptive"
    mix: dict[str, float] = Field(default_factory=dict)
    batch_size: int = Field(default=10, ge=1, le=1000)
    budget: int | None = Field(default=None, ge=1, le=10_000_000)  # labels the project can afford in all
    exploration_share: float = Field(default=0.1, ge=0.0, le=1.0)  # adaptive: share of novelty picks per batch
    stopping_rule: StoppingRule | None = None
    random_state: int = Field(default=0, ge=0, le=2**32 - 1)  # what numpy seeds with

    @model_validator(mode="after")
    def _mix_names(self):
        if self.strategy == "mix":
            if not self.mix:
                raise ValueError("a mix needs weights, e.g. {'margin': 0.7, 'novelty': 0.3}")
            unknown = sorted(set(self.mix) - MIXABLE_NAMES)
            if unknown:
                choices = sorted(MIXABLE_NAMES)
                raise ValueError(f"mix: unknown or unmixable strategies {unknown}; choose from {choices}")
            if any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) <= 0:
                raise ValueError("mix weights must be >= 0 with a positive sum")
        elif self.mix:
            raise ValueError("mix weights apply only with strategy 'mix'")
        return self


class SimulationSpec(_Strict):
    """Replay strategies on the project's labeled items (as if they were unlabeled) to draw learning curves."""

    strategies: list[StrategyName] = Field(default_factory=lambda: ["adaptive", "random"], min_length=1, max_length=5)
    budget: int | None = Field(default=None, ge=10, le=5000)  # default: min(current budget, labeled items * 0.7)
    batch_size: int = Field(default=10, ge=1, le=500)
    seeds: int = Field(default=2, ge=1, le=5)
