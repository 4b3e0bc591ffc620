"""Predict with a model downloaded from Loupe. Needs numpy, scikit-learn, skops and PyTorch (Pillow for images).

Unpack the download, then in Python:

    import sys; sys.path.insert(0, "loupe-model")       # the unpacked folder
    from predict import load_model
    model = load_model("loupe-model")
    model.predict([{"alcohol": 13.2, "malic_acid": 1.8, ...}])    # tabular: one dict per row -> label names
    model.predict(["scooter.jpg"])                               # images: paths, PIL images or arrays
    model.predict_proba(rows)                                    # (n, n_labels) in model.labels order
    model.embed(rows)                                            # (n, n_components) the encoder's embedding

or from a shell: `python predict.py rows.csv` (tabular) or `python predict.py a.png b.png` (images) prints one
CSV line per input with the predicted label and each label's probability.

Nothing here unpickles arbitrary objects: the encoder is a state dict read with ``torch.load(weights_only=True)``,
the classifier is read by skops with the short list of scikit-learn types below, and the rest is JSON.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
from pathlib import Path

import numpy as np

# The only non-default types the classifier file may hold; skops refuses a file holding anything else.
TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.tree._tree.Tree",
]


class LoupeModel:
    """A downloaded model: the input's preprocessing, the encoder, the pool scalers and the classifier."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        self.spec = json.loads((folder / "model.json").read_text())
        self.labels = [label["name"] for label in self.spec["labels"]]
        self.multilabel = bool(self.spec["multilabel"])
        import skops.io

        self.estimators = skops.io.load(folder / "classifier.skops", trusted=TRUSTED_TYPES)
        self.encoder = _encoder(self.spec["encoder"], folder / "encoder.pt")

    def features(self, inputs) -> np.ndarray:
        """Inputs -> (n, n_features) the autoencoder's input: preprocessed columns or (n, c, size, size) pixels."""
        if self.spec["data_kind"] == "image":
            return _images(inputs, self.spec["input"]["image"])
        return _table(inputs, self.spec["input"]["columns"], self.spec["input"]["preprocessor"])

    def embed(self, inputs) -> np.ndarray:
        """Inputs -> (n, n_components) float32 embedding."""
        return self._embed(self.features(inputs))

    def _embed(self, features: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.encoder(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))).numpy()

    def classifier_input(self, inputs) -> np.ndarray:
        """Inputs -> (n, n_features) what the classifier reads, standardized as the project's pool was."""
        features = self.features(inputs)
        unscaled = features.reshape(len(features), -1) if self.spec["classifier_reads"] == "features" else None
        if unscaled is None:
            unscaled = self._embed(features)
        scaled = _standardize(unscaled.astype(np.float32), self.spec["input"]["scaler"]).astype(np.float32)
        return _standardize(scaled.astype(np.float64), self.spec["pool_scaler"]).astype(np.float32)

    def predict_proba(self, inputs) -> np.ndarray:
        """Inputs -> (n, n_labels) probabilities, columns in ``self.labels`` order (multi-label: each label's own)."""
        X = self.classifier_input(inputs).astype(np.float64)
        if self.multilabel:
            return np.stack([_positive(estimator.predict_proba(X), estimator) for estimator in self.estimators], 1)
        return self.estimators[0].predict_proba(X)

    def predict(self, inputs) -> list:
        """Inputs -> the predicted label name per input (multi-label: the list of names at p >= 0.5)."""
        proba = self.predict_proba(inputs)
        if self.multilabel:
            return [[name for name, p in zip(self.labels, row, strict=True) if p >= 0.5] for row in proba]
        return [self.labels[j] for j in np.argmax(proba, axis=1)]


def load_model(folder: str | Path = ".") -> LoupeModel:
    return LoupeModel(folder)


def _positive(proba: np.ndarray, estimator) -> np.ndarray:
    classes = list(estimator.classes_)
    return proba[:, classes.index(1)] if 1 in classes else np.zeros(len(proba))


def _standardize(X: np.ndarray, scaler: dict) -> np.ndarray:
    """As scikit-learn's StandardScaler.transform: in X's own float type."""
    X = X.copy()
    X -= np.asarray(scaler["mean"], dtype=np.float64).astype(X.dtype)
    X /= np.asarray(scaler["scale"], dtype=np.float64).astype(X.dtype)
    return X


def _encoder(architecture: dict, weights: Path):
    import torch
    from torch import nn

    layers: list = []
    if architecture["kind"] == "mlp":
        dims = [architecture["n_features"], *architecture["hidden_dims"]]
        for a, b in itertools.pairwise(dims):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], architecture["n_components"]))
    else:
        c_in, size = architecture["channels"], architecture["size"]
        for c_out in architecture["hidden_dims"]:
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
            c_in, size = c_out, (size + 1) // 2
        layers += [nn.Flatten(), nn.Linear(c_in * size * size, architecture["n_components"])]
    encoder = nn.Sequential(*layers)
    encoder.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return encoder.eval()


# --- tabular ------------------------------------------------------------------------------------------


def _table(rows, columns: list[str], preprocessor: list[dict]) -> np.ndarray:
    """Rows (dicts by column name, or sequences in ``columns`` order) -> (n, n_features) float32."""
    table = [[row.get(c) for c in columns] if isinstance(row, dict) else list(row) for row in rows]
    X = np.array(table, dtype=object).reshape(len(table), len(columns))
    blocks = []
    for j, column in enumerate(preprocessor):
        keys = [_key(v) for v in X[:, j]]
        missing = np.array([k is None for k in keys])
        if column["kind"] == "numeric":
            values = np.array([np.nan if k is None else float(v) for k, v in zip(keys, X[:, j], strict=True)])
            filled = np.where(missing, column["median"], values)
            blocks.append(((filled - column["mean"]) / column["scale"])[:, None])
        else:
            blocks.append(np.stack([[k == c for k in keys] for c in column["categories"]], 1).reshape(len(X), -1))
        if column["indicator"]:
            blocks.append(missing[:, None])
    return np.hstack(blocks).astype(np.float32)


def _key(value) -> str | None:
    """A cell as text, None when missing (None, NaN or blank), as Loupe's preprocessing reads it."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value)
    return None if text.strip() == "" else text


# --- images -------------------------------------------------------------------------------------------


def _images(images, spec: dict) -> np.ndarray:
    """Paths, PIL images or (H, W[, C]) uint8 arrays -> (n, channels, size, size) float32 in [0, 1]."""
    from PIL import Image

    size, channels, lo, hi = spec["size"], spec["channels"], spec["lo"], spec["hi"]
    out = np.empty((len(images), channels, size, size), dtype=np.float32)
    for i, image in enumerate(images):
        small = _small(image, size)
        if channels == 3 and small.ndim == 2:
            small = np.stack([small] * 3, axis=-1)
        pixels = np.clip(np.rint((small - lo) / max(hi - lo, 1e-12) * 255.0), 0, 255).astype(np.uint8)
        picture = Image.fromarray(pixels).convert("RGB" if channels == 3 else "L").resize((size, size), Image.BILINEAR)
        array = np.asarray(picture, dtype=np.float32) / 255.0
        out[i] = array.transpose(2, 0, 1) if channels == 3 else array[None]
    return out


def _small(image, size: int) -> np.ndarray:
    """One image as Loupe reads it: gray or RGB, resized to size x size, floats in [0, 1]."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    opened = Image.open(image) if isinstance(image, (str, Path)) else image
    with opened:
        opened.draft("RGB", (size * 2, size * 2))
        gray = opened.mode in ("L", "LA", "I", "I;16", "1") or (
            opened.mode in ("P", "RGB") and _is_gray(opened.convert("RGB"))
        )
        small = opened.convert("L" if gray else "RGB").resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(small, dtype=np.float32) / 255.0


def _is_gray(image) -> bool:
    pixels = np.asarray(image.resize((16, 16)), dtype=np.int16)
    return bool(np.abs(pixels - pixels.mean(axis=2, keepdims=True)).max() <= 2)


def main(argv: list[str]) -> None:
    model = load_model(Path(__file__).resolve().parent)
    if model.spec["data_kind"] == "image":
        names, inputs = argv, argv
    else:
        with open(argv[0], newline="") as handle:
            inputs = list(csv.DictReader(handle))
        names = [str(i) for i in range(len(inputs))]
    writer = csv.writer(sys.stdout)
    writer.writerow(["input", "prediction", *model.labels])
    for name, label, row in zip(names, model.predict(inputs), model.predict_proba(inputs), strict=True):
        writer.writerow([name, label if isinstance(label, str) else ";".join(label), *np.round(row, 6)])


if __name__ == "__main__":
    main(sys.argv[1:])
