"""A project's model as plain, safe files: the encoder's weights as a state dict, the classifier for skops, and
the input's preprocessing as JSON, read back by ``bundle_predict.py`` (shipped as ``predict.py``) with PyTorch and
scikit-learn alone. Pure numpy/torch/scikit-learn, no Django: the worker writes them after each fit.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from sklearn.dummy import DummyClassifier
from sklearn.preprocessing import StandardScaler

from active_learning.bundle_predict import TRUSTED_TYPES
from active_learning.core.autoencoders import ImageAutoencoder
from active_learning.core.classifiers import ProbabilisticClassifier, _Constant


def encoder_architecture(autoencoder) -> dict:
    """What ``predict.py`` needs to rebuild the encoder of a fitted Tabular/ImageAutoencoder."""
    if isinstance(autoencoder, ImageAutoencoder):
        channels, size, _ = autoencoder.input_shape_
        kind = {"kind": "conv", "channels": int(channels), "size": int(size)}
    else:
        kind = {"kind": "mlp", "n_features": int(autoencoder.input_shape_[0])}
    return {**kind, "hidden_dims": [int(d) for d in autoencoder.hidden_dims], "n_components": autoencoder.n_components}


def encoder_weights(autoencoder) -> bytes:
    """The encoder's state dict (tensors only), for ``torch.load(..., weights_only=True)``."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in autoencoder.module_.encoder.state_dict().items()}, buffer)
    return buffer.getvalue()


def scaler_spec(scaler: StandardScaler) -> dict:
    return {"mean": [float(v) for v in scaler.mean_], "scale": [float(v) for v in scaler.scale_]}


def pool_scaler(features: np.ndarray) -> dict:
    """(n_items, n_features) stored classifier features -> the scaler ``features.pool_standardized`` fits on them."""
    return scaler_spec(StandardScaler().fit(np.asarray(features, dtype=np.float64)))


def input_spec(selector, *, columns: list[str] | None = None, pixel_range: tuple[float, float] = (0.0, 1.0)) -> dict:
    """What a fitted ActiveSelector does to an input before its classifier, as JSON (part of ``model.json``):
    "input" (the table's columns and their encoding, or the images' size, channels and pixel range, which
    ``features.images_to_array`` rescales a float image set by; then the scaler of the classifier's input),
    "encoder" (its architecture) and "classifier_reads" ("features" or "embedding")."""
    preprocessing: dict = {"scaler": scaler_spec(selector.input_scaler_)}
    if selector.data_kind == "image":
        channels, size, _ = selector.autoencoder_.input_shape_
        lo, hi = pixel_range
        preprocessing["image"] = {"size": int(size), "channels": int(channels), "lo": float(lo), "hi": float(hi)}
    else:
        preprocessing["columns"] = list(columns or [])
        preprocessing["preprocessor"] = selector.preprocessor_.columns_
    return {
        "input": preprocessing,
        "encoder": encoder_architecture(selector.autoencoder_),
        "classifier_reads": "features" if selector._reads_raw() else "embedding",
    }


def classifier_bytes(classifier: ProbabilisticClassifier, X_one: np.ndarray) -> bytes:
    """The fitted classifier's scikit-learn estimators (one, or one per label for multi-label) as a skops file.
    A label seen with a single value becomes a constant DummyClassifier, fitted on ``X_one`` (1, n_features)."""
    import skops.io

    estimators = [_plain(estimator, X_one) for estimator in classifier.estimators_]
    data = skops.io.dumps(estimators)
    unexpected = set(skops.io.get_untrusted_types(data=data)) - set(TRUSTED_TYPES)
    if unexpected:  # predict.py would refuse the file: fail here, where it is made
        raise ValueError(f"classifier holds types predict.py does not trust: {sorted(unexpected)}")
    return data


def _plain(estimator, X_one: np.ndarray):
    if isinstance(estimator, _Constant):
        return DummyClassifier(strategy="constant", constant=estimator.value).fit(X_one, [estimator.value])
    return estimator
