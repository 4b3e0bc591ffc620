"""The library entry point: fitted once on the unlabeled pool, then asked again and again for the next batch.

>>> selector = ActiveSelector(data_kind="tabular", random_state=0).fit(X_pool)     # trains the autoencoder
>>> batch = selector.next_batch(labeled_idx=[], labels=[], batch_size=10)          # cold start
>>> batch = selector.next_batch(labeled_idx=idx, labels=y_idx, batch_size=10)      # after labeling
>>> selector.scores_["uncertainty"][batch], selector.reasons_, selector.rules_     # why these items

Batches come from :func:`~active_learning.core.ranking.rank_pool`, the path Loupe's workers rank with; the selector
holds arrays only (no Django, no storage).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, clone
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from active_learning.core.autoencoders import ImageAutoencoder, TabularAutoencoder
from active_learning.core.classifiers import ProbabilisticClassifier, default_classifier
from active_learning.core.features import TabularPreprocessor, images_to_array
from active_learning.core.ranking import rank_pool
from active_learning.core.scores import pool_typicality
from active_learning.core.strategies import PoolExhaustedError, Strategy, labeled_mask, make_strategy


class ActiveSelector(BaseEstimator):
    """Embeds the pool with an autoencoder, fits a classifier on the labels so far and asks a strategy for
    the next batch.

    Parameters
    ----------
    data_kind : {"tabular", "image"}
        Tabular: X is a (n_items, n_columns) table of numbers/strings/None (see ``TabularPreprocessor``).
        Image: X is a sequence of (H, W) or (H, W, C) arrays, or one (n_items, H, W[, C]) array; images are
        resized to ``image_size`` with channels kept.
    strategy : Strategy, optional
        Default :class:`~active_learning.core.strategies.AdaptiveStrategy` tuned for ``data_kind``.
    autoencoder : TabularAutoencoder or ImageAutoencoder, optional
        Unfitted template, cloned at ``fit``; default one matching ``data_kind``.
    classifier : ProbabilisticClassifier, optional
        Model on the labels (cloned at each batch); default
        :func:`~active_learning.core.classifiers.default_classifier`, cheap enough to refit at every batch.
    classifier_features : {"auto", "raw", "embedding"}
        What the classifier sees: "auto" means the preprocessed columns for tabular data and the embedding
        for images. Either is standardized over the whole pool (``classifier_input_``, and ``transform`` for new
        items): the labeled items are few and chosen, not drawn at random, so a scale measured on them alone is
        a biased one (typical items, a cold start's picks, have a small spread).
    image_size : int
        Side length images are resized to.
    random_state : int, optional
        Seeds the default autoencoder, strategy and classifier.
    device : str, optional
        Torch device for the default autoencoder (None: CUDA when present, else CPU).
    on_epoch_end : callable(epoch, loss), optional
        Progress hook for the autoencoder's training.
    warm_start : bool
        Start each batch's classifier fit from the previous batch's model (``rank_pool``'s ``previous``): the same
        model within the solver's tolerance in a few iterations. Off by default, as the workers fit from scratch
        and the simulator replays what they do.
    """

    def __init__(
        self,
        data_kind: str = "tabular",
        strategy: Strategy | None = None,
        autoencoder: TabularAutoencoder | ImageAutoencoder | None = None,
        classifier: ProbabilisticClassifier | None = None,
        classifier_features: str = "auto",
        image_size: int = 32,
        random_state: int | None = None,
        device: str | None = None,
        on_epoch_end: Callable[[int, float], None] | None = None,
        warm_start: bool = False,
    ) -> None:
        self.data_kind = data_kind
        self.strategy = strategy
        self.autoencoder = autoencoder
        self.classifier = classifier
        self.classifier_features = classifier_features
        self.image_size = image_size
        self.random_state = random_state
        self.device = device
        self.on_epoch_end = on_epoch_end
        self.warm_start = warm_start

    def _prepare(self, X: Any) -> np.ndarray:
        if self.data_kind == "image":
            return images_to_array(X, self.image_size)
        return self.preprocessor_.transform(X)

    def fit(
        self,
        X: Any,
        y: object = None,
        embedding: ArrayLike | None = None,
        reconstruction_error: ArrayLike | None = None,
        typicality: ArrayLike | None = None,
    ) -> Self:
        """Fit on the whole pool X (n_items items, see ``data_kind``). Returns self.

        ``embedding`` (n_items, n_components) and ``reconstruction_error`` (n_items,) from an already fitted
        autoencoder skip training (the simulator uses this so every strategy sees the same embedding);
        ``typicality`` (n_items,), :func:`~active_learning.core.scores.pool_typicality` of that embedding, skips
        measuring it again.
        """
        if self.data_kind not in ("tabular", "image"):
            raise ValueError(f"data_kind must be 'tabular' or 'image', got {self.data_kind!r}")
        if self.classifier_features not in ("auto", "raw", "embedding"):
            raise ValueError(f"classifier_features must be auto, raw or embedding, got {self.classifier_features!r}")
        if self.data_kind == "tabular":
            self.preprocessor_ = TabularPreprocessor().fit(X)
        features = self._prepare(X)
        if embedding is None:
            self.autoencoder_ = clone(self.autoencoder) if self.autoencoder is not None else self._default_ae()
            self.embedding_ = self.autoencoder_.fit(features).transform(features)
            self.reconstruction_error_ = self.autoencoder_.reconstruction_error(features)
        else:
            self.embedding_ = np.asarray(embedding, dtype=np.float32)
            self.reconstruction_error_ = None if reconstruction_error is None else np.asarray(reconstruction_error)
        unscaled = self._unscaled_input(features, self.embedding_)
        self.input_scaler_ = StandardScaler().fit(unscaled)
        self.classifier_input_ = self.input_scaler_.transform(unscaled).astype(np.float32)
        strategy = self.strategy
        if strategy is None:
            strategy = make_strategy("adaptive", self.random_state, self.data_kind)
        self.strategy_ = clone(strategy).fit(self.embedding_)
        self.n_items_ = len(self.embedding_)
        self.typicality_ = pool_typicality(self.embedding_) if typicality is None else np.asarray(typicality)
        self.classifier_: ProbabilisticClassifier | None = None  # a new pool starts no fit from an old one's model
        return self

    def _default_ae(self) -> TabularAutoencoder | ImageAutoencoder:
        cls = ImageAutoencoder if self.data_kind == "image" else TabularAutoencoder
        return cls(random_state=self.random_state, device=self.device, on_epoch_end=self.on_epoch_end)

    def _reads_raw(self) -> bool:
        """Whether the classifier reads the preprocessed features (else the embedding)."""
        return self.classifier_features == "raw" or (self.classifier_features == "auto" and self.data_kind == "tabular")

    def _unscaled_input(self, features: np.ndarray, embedding: np.ndarray | None) -> np.ndarray:
        if self._reads_raw():
            return features.reshape(len(features), -1)
        assert embedding is not None
        return embedding

    def transform(self, X: Any) -> np.ndarray:
        """New items X -> the classifier's input for them (n_items, n_features), standardized with the pool's
        scales; needs the autoencoder when the classifier reads embeddings."""
        check_is_fitted(self, "input_scaler_")
        features = self._prepare(X)
        embedding = None
        if not self._reads_raw():
            if not hasattr(self, "autoencoder_"):
                raise RuntimeError("fitted with a given embedding: no autoencoder to embed new items")
            embedding = self.autoencoder_.transform(features)
        return self.input_scaler_.transform(self._unscaled_input(features, embedding)).astype(np.float32)

    def _classifier_template(self) -> ProbabilisticClassifier:
        return self.classifier if self.classifier is not None else default_classifier(self.random_state)

    def fit_classifier(self, labeled_idx: ArrayLike, labels: ArrayLike) -> ProbabilisticClassifier | None:
        """Fit a fresh classifier on the labeled pool items (one class seen: it predicts that class); None when
        nothing is labeled."""
        labeled_idx = np.asarray(labeled_idx, dtype=np.int64)
        if labeled_idx.size == 0:
            return None
        return clone(self._classifier_template()).fit(self.classifier_input_[labeled_idx], np.asarray(labels))

    def next_batch(self, labeled_idx: ArrayLike, labels: ArrayLike, batch_size: int = 10) -> np.ndarray:
        """Pool indices of the next items to label, chosen by :func:`~active_learning.core.ranking.rank_pool`
        (the path Loupe's workers rank with).

        Parameters
        ----------
        labeled_idx : (n_labeled,) int
            Pool positions labeled so far, oldest first (the default strategy pauses its exploration once its
            latest novelty picks found no class that an earlier label had not).
        labels : (n_labeled,) or (n_labeled, n_labels)
            Their labels, aligned with ``labeled_idx`` (0/1 indicator rows for multi-label), of any dtype.
        batch_size : int
            Items wanted (fewer when fewer remain; ``PoolExhaustedError`` when none remains).

        Returns
        -------
        (min(batch_size, n_unlabeled),) int, best first. ``ranking_`` holds the whole ranking; ``classifier_``
        (None until two classes are labeled), ``proba_``, ``scores_``, ``reasons_`` and ``rules_`` describe how
        they were chosen. ``scores_`` holds the strategy's own scores of the phase it is in (``margin``,
        ``typicality``, ``novelty_total``...) and, in every phase, ``uncertainty``, ``typicality`` and ``novelty``
        in [0, 1] (NaN for labeled items, and uncertainty NaN before a model exists).
        """
        labeled_idx = np.asarray(labeled_idx, dtype=np.int64)
        labels = np.asarray(labels)
        if labels.size == 0:  # [] reads as floats: no labels yet, of no dtype
            labels = np.zeros(0, dtype=np.int64)
        if len(labels) != len(labeled_idx):
            raise ValueError(f"{len(labeled_idx)} labeled indices but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        mask = labeled_mask(self.n_items_, labeled_idx)
        if mask.all():
            raise PoolExhaustedError(f"all {self.n_items_} pool items are labeled: nothing left to select")
        ranking = rank_pool(
            self.strategy_,
            self._classifier_template(),
            self.classifier_input_,
            labeled_idx,
            labels,
            batch_size,
            self.reconstruction_error_,
            self.typicality_,
            previous=getattr(self, "classifier_", None) if self.warm_start else None,
        )
        self.ranking_ = ranking
        self.classifier_ = ranking.classifier
        self.proba_ = ranking.proba
        why = {name: np.where(mask, np.nan, values) for name, values in ranking.why.items()}
        self.scores_ = {**self.strategy_.scores_, **why}
        self.reasons_ = ranking.reasons
        self.rules_ = ranking.rules
        return ranking.batch
