"""Typed shapes of what active learning stores in JSON fields and takes from the API (pydantic)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

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
    # share of each batch for the items whose imported predictions (another model's) this model disagrees with most
    disagreement_share: float = Field(default=0.0, ge=0.0, le=1.0)
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


class ModelFiles(_Strict):
    """Where a model version's files are in storage (paths), for its download and its predictions export.
    `encoder`/`input`: the embedding's encoder weights and preprocessing; `classifier`: skops; `model`: JSON
    (the pool's scaler, the label ids of the probability columns); `predictions`: .npz of item_ids, proba,
    uncertainty and novelty over the whole pool."""

    encoder: str
    input: str
    classifier: str
    model: str
    predictions: str


# --- What a learning run reports (LearningRun.result), one shape per kind of run ------------------------------
# Written by active_learning.training when the run finishes, read back through `learning_run_result`; a run that
# has not finished reports nothing (None).

Scalar = str | int | float | bool | None


class DriftFigures(_Strict):
    """The drift check of an embedding: the new items against the earlier ones (MMD permutation test)."""

    p_value: float
    alpha: float  # the stated false-alarm rate
    n_new: int
    drift: bool


class EmbedResult(_Strict):
    """An embedding run: how the autoencoder trained, where its encoder is, its map and its drift check."""

    device: str  # where it trained: cpu, cuda:0...
    epochs: int
    final_loss: float | None  # the last epoch's validation loss
    n_components: int  # width of the embedding
    train_seconds: float
    seconds: float
    encoder: dict[str, str] | None = None  # storage paths of the encoder's weights and input spec (downloads)
    # Each training run of the autoencoder (a collapsed one is retried): learning rate, retry, epochs, held-out
    # loss, why it collapsed (None: it did not).
    training_runs: list[dict[str, Scalar]] = Field(default_factory=list)
    max_item_id: int | None = None  # items above it are new to the next embedding
    map: str = "pca"  # how the 2-D map was drawn: pca first, umap once drawn after the embedding
    map_artifact: str | None = None  # the UMAP map's arrays, once drawn
    map_seconds: float | None = None
    drift: DriftFigures | None = None  # absent when too few items were new
    # The project's strategy fitted on this embedding (its label-independent part, e.g. the pool's typicality),
    # kept so that the first ranking on it does not redo that work: storage path, and what it was fitted for (the
    # strategy spec, the data kind and a digest of the engine's code).
    fitted_strategy: str | None = None
    fitted_strategy_key: str | None = None


class RankResult(_Strict):
    """A ranking run: what it put at the head of the queue, and whether predictions have stopped changing."""

    phase: str  # the adaptive strategy's phase: typicality, novelty, uncertainty...
    strategy: str
    batch_item_ids: list[int]  # the next batch, in queue order
    novel_item_ids: list[int]  # the most novel unlabeled items, most novel first
    kappa_with_previous: float | None  # Cohen's kappa with the previous ranking's predictions
    stable_streak: int  # consecutive rankings at or above the stopping rule's threshold
    stopping_rule_met: bool
    rank_seconds: float
    annotations_seen: int  # answers up to this id are in this ranking
    write_seconds: float | None = None
    seconds: float | None = None
    swap_seconds: float | None = None  # the one transaction that readers of the queue meet


class SimulationConfig(_Strict):
    data_kind: str
    budget: int
    batch_size: int
    seeds: list[int]
    test_size: float  # share of the labeled items kept for testing
    n_items: int
    classes: list[str]


class ReplayRun(_Strict):
    """One strategy on one seed: its learning curve (one point per batch) and figures of merit."""

    seed: int
    n_labels: list[int]
    accuracy: list[float]
    macro_f1: list[float]
    classes_discovered: list[int]
    full_accuracy: float  # the model on every pool label: what the curve climbs towards
    aulc: float  # area under the accuracy curve, 0..100
    aulc_f1: float
    labels_to_95: int | None  # labels to reach 95% of full_accuracy (None: not within the budget)
    first_labeled_at: dict[str, int | None]  # class -> labels until its first item was picked


class ReplaySummary(_Strict):
    aulc_mean: float
    aulc_std: float
    aulc_f1_mean: float
    final_accuracy_mean: float
    labels_to_95_median: float | None
    runs_reaching_95: int
    n_runs: int


class StrategyReplay(_Strict):
    params: dict[str, Scalar]  # the strategy's settings (the first seed's)
    runs: list[ReplayRun]
    summary: ReplaySummary


class SimulationResult(_Strict):
    """A replay of strategies on the labeled items: learning curves per strategy and seed."""

    config: SimulationConfig
    strategies: dict[str, StrategyReplay]


RESULT_SCHEMAS: dict[str, type[EmbedResult] | type[RankResult] | type[SimulationResult]] = {
    "embed": EmbedResult,
    "rank": RankResult,
    "simulate": SimulationResult,
}


def learning_run_result(kind: str, result: dict | None) -> EmbedResult | RankResult | SimulationResult | None:
    """A stored LearningRun.result as its typed shape; None for a run that has not reported (an empty dict)."""
    if not result:
        return None
    return RESULT_SCHEMAS[kind].model_validate(result)


def rank_result(result: dict | None) -> RankResult | None:
    """A ranking run's stored result, typed; None before it finished."""
    return RankResult.model_validate(result) if result else None


class LearningRunResult(RootModel[EmbedResult | RankResult | SimulationResult | None]):
    """What the API shows of LearningRun.result: the shape of the run's kind, or null before it finishes."""


class ClassFigures(_Strict):
    """One label's cross-validated figures in a model version (ModelVersion.per_class, by label id); the
    support alone while the labels are too few to cross-validate."""

    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    support: int  # labeled items of this label


class StrategyInForce(StrategySpec):
    """The strategy and budget in force, with the version that set them (0: the defaults, never changed)."""

    version: int = Field(ge=0)
