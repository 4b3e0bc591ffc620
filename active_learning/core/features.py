"""Turn raw pool data into float arrays: mixed tabular columns and image arrays. Pure numpy/Pillow, no Django."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler


def _as_2d_object(X: Any) -> np.ndarray:
    X = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D table (n_items, n_columns), got shape {X.shape}")
    return X


def _to_float_column(column: np.ndarray) -> np.ndarray | None:
    """Column as float64 with NaN for missing cells, or None when some cell is not numeric."""
    if column.dtype.kind in "fiub":
        return column.astype(np.float64)
    out = np.empty(len(column), dtype=np.float64)
    for i, value in enumerate(column):
        if value is None or (isinstance(value, str) and value.strip() == ""):
            out[i] = np.nan
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            return None
    return out


def _category_key(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value)
    return None if text.strip() == "" else text


class TabularPreprocessor(TransformerMixin, BaseEstimator):
    """Mixed-type table -> standardized float32 matrix for an autoencoder or a classifier.

    Numeric columns are median-imputed and standardized; categorical columns (any column holding a
    non-numeric value, or those named in ``categorical_columns``) are one-hot encoded over their
    ``max_categories`` most frequent values (rarer and unseen values encode as all zeros). Every column that
    had a missing cell during ``fit`` gets a 0/1 missing-value indicator.

    Parameters
    ----------
    categorical_columns : sequence of int, optional
        Column positions to treat as categorical even when their values parse as numbers.
    max_categories : int
        One-hot width cap per categorical column.
    """

    def __init__(self, categorical_columns: Sequence[int] | None = None, max_categories: int = 20):
        self.categorical_columns = categorical_columns
        self.max_categories = max_categories

    def fit(self, X: Any, y: object = None) -> TabularPreprocessor:
        """X: (n_items, n_columns) numbers, strings or None/NaN. Returns self."""
        X = _as_2d_object(X)
        forced = set(self.categorical_columns or ())
        self.columns_: list[dict[str, Any]] = []
        for j in range(X.shape[1]):
            numeric = None if j in forced else _to_float_column(X[:, j])
            if numeric is not None:
                missing = np.isnan(numeric)
                observed = numeric[~missing]
                median = float(np.median(observed)) if observed.size else 0.0
                filled = np.where(missing, median, numeric)
                std = float(filled.std())
                self.columns_.append(
                    {
                        "kind": "numeric",
                        "median": median,
                        "mean": float(filled.mean()),
                        "scale": std if std > 1e-12 else 1.0,
                        "indicator": bool(missing.any()),
                    }
                )
            else:
                keys = [_category_key(v) for v in X[:, j]]
                values, counts = np.unique([k for k in keys if k is not None], return_counts=True)
                order = np.lexsort((values, -counts))[: self.max_categories]
                self.columns_.append(
                    {
                        "kind": "categorical",
                        "categories": [str(values[i]) for i in order],
                        "indicator": any(k is None for k in keys),
                    }
                )
        self.n_features_in_ = X.shape[1]
        self.n_features_out_ = sum(
            (1 if c["kind"] == "numeric" else len(c["categories"])) + int(c["indicator"]) for c in self.columns_
        )
        return self

    def transform(self, X: Any) -> np.ndarray:
        """X: (n_items, n_columns) -> (n_items, n_features_out_) float32."""
        X = _as_2d_object(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} columns, got {X.shape[1]}")
        blocks = []
        for j, column in enumerate(self.columns_):
            if column["kind"] == "numeric":
                values = _to_float_column(X[:, j])
                if values is None:
                    raise ValueError(f"column {j} was numeric during fit but holds non-numeric values now")
                missing = np.isnan(values)
                filled = np.where(missing, column["median"], values)
                blocks.append(((filled - column["mean"]) / column["scale"])[:, None])
            else:
                keys = np.array([_category_key(v) or "\0missing" for v in X[:, j]], dtype=object)
                missing = keys == "\0missing"
                blocks.append(np.stack([keys == c for c in column["categories"]], axis=1).reshape(len(X), -1))
            if column["indicator"]:
                blocks.append(missing[:, None])
        return np.hstack(blocks).astype(np.float32) if blocks else np.zeros((len(X), 0), np.float32)


def images_to_array(
    images: Sequence[np.ndarray] | np.ndarray, image_size: int = 32, channels: int | None = None
) -> np.ndarray:
    """Images -> float32 tensor ``(n_items, channels, image_size, image_size)`` scaled to [0, 1].

    Parameters
    ----------
    images : sequence of arrays ``(H, W)`` or ``(H, W, C)``, or one array ``(n_items, H, W[, C])``
        uint8 in 0..255, or floats (rescaled per image set from their min/max into [0, 1]).
        Images may differ in size; each is resized with Pillow (bilinear) to ``image_size``.
    image_size : int
        Output height and width.
    channels : int, optional
        Channels to keep (1 or 3). By default the largest channel count in the set: grayscale images in a
        colour set are repeated to 3 channels, RGBA drops alpha.
    """
    arrays = [np.asarray(im) for im in images]
    if not arrays:
        raise ValueError("no images given")
    floats = [a for a in arrays if a.dtype.kind == "f"]
    lo = min(float(a.min()) for a in floats) if floats else 0.0
    hi = max(float(a.max()) for a in floats) if floats else 255.0
    if channels is None:
        channels = 3 if any(a.ndim == 3 and a.shape[2] >= 3 for a in arrays) else 1
    out = np.empty((len(arrays), channels, image_size, image_size), dtype=np.float32)
    for i, array in enumerate(arrays):
        if array.dtype.kind == "f":
            array = np.clip(np.rint((array - lo) / max(hi - lo, 1e-12) * 255.0), 0, 255)
        array = array.astype(np.uint8)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        image = Image.fromarray(array[:, :, :3] if array.ndim == 3 else array)
        image = image.convert("RGB" if channels == 3 else "L")
        image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        out[i] = pixels.transpose(2, 0, 1) if channels == 3 else pixels[None]
    return out


def pool_standardized(X: np.ndarray) -> np.ndarray:
    """(n_items, n_features) classifier input of a whole pool -> the same, each column standardized over the pool
    (float32; constant columns centred). What :class:`~active_learning.core.selector.ActiveSelector` hands the
    classifier; applied again to input that already is, it changes nothing."""
    return StandardScaler().fit_transform(np.asarray(X, dtype=np.float64)).astype(np.float32)
