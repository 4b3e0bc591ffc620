"""Replay strategies on an already-labeled dataset to pick a strategy and a budget. Pure Python, no Django.

``simulate`` hides the labels, lets each strategy ask for batches through :class:`ActiveSelector`, whose
``next_batch`` is :func:`~active_learning.core.ranking.rank_pool`, the path the workers rank with, and records
per seed the learning curves (test accuracy and macro-F1 against the number of labels), the area under the
accuracy curve (AULC, in points), the labels needed to reach 95% of the full-data accuracy, and when each class
was first labeled. ``write_json`` and ``plot_curves`` save them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from active_learning.core.autoencoders import ImageAutoencoder, TabularAutoencoder
from active_learning.core.classifiers import ProbabilisticClassifier, default_classifier
from active_learning.core.selector import ActiveSelector
from active_learning.core.strategies import Strategy, make_strategy

StrategyFactory = Callable[[int], Strategy]


def _factory(spec: str | StrategyFactory, data_kind: str) -> StrategyFactory:
    if isinstance(spec, str):
        return lambda seed: make_strategy(spec, random_state=seed, data_kind=data_kind)
    return spec


def _plain_params(strategy: Strategy) -> dict[str, Any]:
    """The strategy's own settings that JSON can hold (nested strategies of a mix are left out)."""
    return {
        key: value
        for key, value in strategy.get_params(deep=False).items()
        if isinstance(value, (bool, int, float, str)) or value is None
    }


def aulc(n_labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under a learning curve, normalised by its label range, in points (0..100). One point: that score."""
    n, s = np.asarray(n_labels, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    if len(n) == 1:
        return float(100.0 * s[0])
    return float(100.0 * np.trapezoid(s, n) / (n[-1] - n[0]))


def labels_to_reach(n_labels: Sequence[int], scores: Sequence[float], target: float) -> int | None:
    """First number of labels whose score reaches ``target``; None when the curve never does."""
    for n, s in zip(n_labels, scores, strict=True):
        if s >= target:
            return int(n)
    return None


def _evaluate(
    classifier: ProbabilisticClassifier, X_test: np.ndarray, y_test: np.ndarray, classes: np.ndarray
) -> tuple[float, float]:
    predicted = classifier.predict(X_test)
    return (
        float(accuracy_score(y_test, predicted)),
        float(f1_score(y_test, predicted, labels=classes, average="macro", zero_division=0)),
    )


def _run_strategy(
    selector: ActiveSelector,
    y_pool: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    classes: np.ndarray,
    budget: int,
    batch_size: int,
    on_round: Callable[[int, float], None] | None,
) -> tuple[dict[str, list[Any]], dict[str, int | None]]:
    labeled = np.zeros(0, dtype=np.int64)
    curve: dict[str, list[Any]] = {"n_labels": [], "accuracy": [], "macro_f1": [], "classes_discovered": []}

    def record(model: ProbabilisticClassifier | None) -> None:
        assert model is not None
        acc, f1 = _evaluate(model, X_test, y_test, classes)
        curve["n_labels"].append(len(labeled))
        curve["accuracy"].append(acc)
        curve["macro_f1"].append(f1)
        curve["classes_discovered"].append(len(np.unique(y_pool[labeled])))
        if on_round is not None:
            on_round(len(labeled), acc)

    budget = min(budget, len(y_pool))
    while len(labeled) < budget:
        batch = selector.next_batch(labeled, y_pool[labeled], min(batch_size, budget - len(labeled)))
        if len(labeled):  # next_batch fitted its model on exactly the labels so far (none while one class is seen)
            record(selector.classifier_ or selector.fit_classifier(labeled, y_pool[labeled]))
        labeled = np.concatenate([labeled, batch])
    record(selector.fit_classifier(labeled, y_pool[labeled]))
    first = {}
    for c in classes:
        hits = np.flatnonzero(y_pool[labeled] == c)
        first[str(c)] = int(hits[0]) + 1 if hits.size else None
    return curve, first


def simulate(
    X: Any,
    y: ArrayLike,
    strategies: Mapping[str, str | StrategyFactory] | Sequence[str] = ("adaptive", "random", "margin"),
    data_kind: str = "tabular",
    budget: int = 200,
    batch_size: int = 10,
    seeds: Sequence[int] = (0, 1, 2),
    test_size: float = 0.3,
    classifier: ProbabilisticClassifier | None = None,
    autoencoder: TabularAutoencoder | ImageAutoencoder | None = None,
    image_size: int = 32,
    on_round: Callable[[str, int, int, float], None] | None = None,
    embedding: np.ndarray | None = None,
    reconstruction_error: np.ndarray | None = None,
) -> dict[str, Any]:
    """Replay ``strategies`` on a labeled dataset over several seeds.

    Parameters
    ----------
    X : (n_items, ...) table or images, as :class:`ActiveSelector` takes them for ``data_kind``.
    y : (n_items,) class labels.
    strategies : names (see ``strategies.STRATEGIES``) or ``{name: factory(seed) -> Strategy}``.
    budget, batch_size : labels in all, labels per round (the model is refitted between rounds).
    seeds : each seed makes its own stratified pool/test split (``test_size``) and autoencoder; every
        strategy of a seed shares them, so differences between strategies are paired.
    classifier : model on the labels (default: ``default_classifier(seed)``, as the workers use it).
    on_round : progress hook ``(strategy, seed, n_labels, accuracy)``.
    embedding, reconstruction_error : (n_items, n_components) and (n_items,) from an autoencoder already
        trained on X (a project's stored arrays, so a replay ranks on what the workers rank on); without them
        each seed trains one on its pool.

    Returns
    -------
    dict with ``config`` and, per strategy, its ``params`` (the first seed's; ``random_state`` varies), ``runs``
    (one per seed: curves, ``aulc``, ``labels_to_95``, ``first_labeled_at`` per class, ``full_accuracy``) and a
    ``summary`` across seeds.
    """
    y = np.asarray(y)
    factories = {
        name: _factory(spec, data_kind)
        for name, spec in (strategies.items() if isinstance(strategies, Mapping) else ((s, s) for s in strategies))
    }
    classes = np.unique(y)
    results: dict[str, Any] = {
        "config": {
            "data_kind": data_kind,
            "budget": budget,
            "batch_size": batch_size,
            "seeds": list(seeds),
            "test_size": test_size,
            "n_items": len(y),
            "classes": [str(c) for c in classes],
        },
        "strategies": {name: {"runs": []} for name in factories},
    }
    items = np.arange(len(y))
    for seed in seeds:
        pool, test = train_test_split(items, test_size=test_size, stratify=y, random_state=seed)
        pool, test = np.sort(pool), np.sort(test)
        X_pool, X_test = _take(X, pool), _take(X, test)
        model = classifier if classifier is not None else default_classifier(seed)
        reference = ActiveSelector(  # each batch's fit starts from the last one's model, as the workers do
            data_kind,
            autoencoder=autoencoder,
            classifier=model,
            image_size=image_size,
            random_state=seed,
            warm_start=True,
        )
        if embedding is None:
            reference.fit(X_pool)
        else:
            error = None if reconstruction_error is None else np.asarray(reconstruction_error)[pool]
            reference.fit(X_pool, embedding=np.asarray(embedding)[pool], reconstruction_error=error)
        test_input = reference.transform(X_test)
        full = clone(model).fit(reference.classifier_input_, y[pool])
        full_accuracy = _evaluate(full, test_input, y[test], classes)[0]
        for name, factory in factories.items():
            strategy = factory(seed)
            results["strategies"][name].setdefault("params", _plain_params(strategy))
            selector = (
                clone(reference)
                .set_params(strategy=strategy)
                .fit(
                    X_pool,
                    embedding=reference.embedding_,
                    reconstruction_error=reference.reconstruction_error_,
                    typicality=reference.typicality_,
                )
            )
            hook = None if on_round is None else (lambda n, acc, name=name, seed=seed: on_round(name, seed, n, acc))
            curve, first = _run_strategy(selector, y[pool], test_input, y[test], classes, budget, batch_size, hook)
            results["strategies"][name]["runs"].append(
                {
                    "seed": int(seed),
                    **curve,
                    "full_accuracy": full_accuracy,
                    "aulc": aulc(curve["n_labels"], curve["accuracy"]),
                    "aulc_f1": aulc(curve["n_labels"], curve["macro_f1"]),
                    "labels_to_95": labels_to_reach(curve["n_labels"], curve["accuracy"], 0.95 * full_accuracy),
                    "first_labeled_at": first,
                }
            )
    for entry in results["strategies"].values():
        entry["summary"] = summarize(entry["runs"])
    return results


def _take(X: Any, idx: np.ndarray) -> Any:
    if isinstance(X, np.ndarray):
        return X[idx]
    return [X[i] for i in idx]


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-seed runs -> means and spreads across seeds."""
    aulcs = np.array([r["aulc"] for r in runs])
    reached = [r["labels_to_95"] for r in runs if r["labels_to_95"] is not None]
    return {
        "aulc_mean": float(aulcs.mean()),
        "aulc_std": float(aulcs.std(ddof=1)) if len(aulcs) > 1 else 0.0,
        "aulc_f1_mean": float(np.mean([r["aulc_f1"] for r in runs])),
        "final_accuracy_mean": float(np.mean([r["accuracy"][-1] for r in runs])),
        "labels_to_95_median": float(np.median(reached)) if reached else None,
        "runs_reaching_95": len(reached),
        "n_runs": len(runs),
    }


def paired_differences(results: dict[str, Any], strategy: str, baseline: str, key: str = "aulc") -> dict[str, Any]:
    """Per-seed ``key`` of ``strategy`` minus ``baseline`` (same splits) -> mean, sample std and values."""
    a = {r["seed"]: r[key] for r in results["strategies"][strategy]["runs"]}
    b = {r["seed"]: r[key] for r in results["strategies"][baseline]["runs"]}
    diffs = np.array([a[s] - b[s] for s in sorted(a) if s in b], dtype=np.float64)
    return {
        "mean": float(diffs.mean()),
        "std": float(diffs.std(ddof=1)) if len(diffs) > 1 else 0.0,
        "min": float(diffs.min()),
        "values": diffs.tolist(),
    }


def write_json(results: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(results, indent=1))


def plot_curves(results: dict[str, Any], path: str | Path, title: str = "") -> None:
    """Mean accuracy, macro-F1 and classes discovered against labels, one line per strategy, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, entry in results["strategies"].items():
        runs = entry["runs"]
        n = runs[0]["n_labels"]
        for ax, key in zip(axes, ("accuracy", "macro_f1", "classes_discovered"), strict=True):
            ax.plot(n, np.mean([r[key] for r in runs], axis=0), label=f"{name} ({entry['summary']['aulc_mean']:.1f})")
    for ax, label in zip(axes, ("test accuracy", "test macro-F1", "classes discovered"), strict=True):
        ax.set_xlabel("labels")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(title="strategy (AULC)", fontsize=8)
    fig.suptitle(title or f"{len(runs)} seeds, batch {results['config']['batch_size']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def load_table(path: str | Path, label_column: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """CSV or Parquet file -> (X (n_items, n_columns) object array, y (n_items,), column names)."""
    import pandas as pd

    path = Path(path)
    frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    if label_column not in frame.columns:
        raise ValueError(f"no column {label_column!r} in {path.name}; columns: {list(frame.columns)}")
    frame = frame[frame[label_column].notna()]
    features = frame.drop(columns=[label_column])
    X = features.astype(object).where(features.notna(), None).to_numpy()
    return X, frame[label_column].astype(str).to_numpy(), [str(c) for c in features.columns]


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def load_image_folder(path: str | Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Folder with one sub-folder per class -> (images as (H, W[, C]) uint8 arrays, (n_items,) class names)."""
    from PIL import Image

    images, labels = [], []
    for class_dir in sorted(p for p in Path(path).iterdir() if p.is_dir()):
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(file) as image:
                    images.append(np.asarray(image.convert("RGB" if image.mode not in ("L", "1") else "L")))
                labels.append(class_dir.name)
    if not images:
        raise ValueError(f"no images found under {path} (expected one sub-folder per class)")
    return images, np.asarray(labels)


def load_bundled(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """scikit-learn's bundled data sets (no download): digits as 8x8 images, wine and breast_cancer tables.
    -> (X, y, data_kind)."""
    from sklearn import datasets

    if name == "digits":
        data = datasets.load_digits()
        return (data.images * (255.0 / 16.0)).astype(np.uint8), data.target, "image"
    loaders = {"wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}
    if name not in loaders:
        raise ValueError(f"unknown bundled data set {name!r}; use digits, wine or breast_cancer")
    data = loaders[name]()
    return data.data, data.target, "tabular"
