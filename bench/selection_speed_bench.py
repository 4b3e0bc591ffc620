"""How long one selection round takes: fit the engine's default classifier on the labels so far, predict the pool,
and rank it with the default strategy (``rank_pool``, the path the library, the simulator and the workers share).

The label-independent work done once per pool (fitting the strategy on the embedding: typicality, the outlier
guard) is timed separately; the autoencoder is not part of it (the embedding is given).

    .venv/bin/python bench/selection_speed_bench.py                  # 10,000 and 100,000 items
    .venv/bin/python bench/selection_speed_bench.py --items 10000 --repeats 3
    .venv/bin/python bench/selection_speed_bench.py --items 10000 --warm-start   # fit from the last batch's model
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from active_learning.core.classifiers import default_classifier
from active_learning.core.ranking import fit_classifier, rank_pool
from active_learning.core.registry import make_strategy
from active_learning.core.scores import pool_typicality

N_FEATURES = 16  # the classifier's input columns (an 8,000 x 16 table of 26 classes was the slow case)
N_COMPONENTS = 16  # embedding width


def pool(n_items: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, embedding, labels): Gaussian classes in N_FEATURES dimensions, embedded by a fixed projection."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(n_classes, size=n_items)
    centres = rng.normal(0.0, 2.0, size=(n_classes, N_FEATURES))
    features = (centres[labels] + rng.normal(size=(n_items, N_FEATURES))).astype(np.float32)
    embedding = (features @ rng.normal(size=(N_FEATURES, N_COMPONENTS)) / 4).astype(np.float32)
    return features, embedding, labels


def one_round(strategy, features, labels, n_labels: int, seed: int, warm: bool) -> tuple[float, float, str]:
    """-> (seconds for the round, seconds of it the classifier's fit takes, phase). ``warm``: the fit starts from
    the previous batch's model (on all but the last 10 labels, fitted beforehand, untimed)."""
    rng = np.random.default_rng(seed)
    labeled = rng.choice(len(features), n_labels, replace=False)
    before = labeled[:-10]
    previous = fit_classifier(default_classifier(0), features, before, labels[before]) if warm else None
    started = time.perf_counter()
    fit_classifier(default_classifier(0), features, labeled, labels[labeled], previous)  # the fit alone, timed apart
    fit = time.perf_counter() - started
    started = time.perf_counter()
    error = np.linalg.norm(features, axis=1)  # stands in for the autoencoder's reconstruction error
    ranking = rank_pool(
        strategy, default_classifier(0), features, labeled, labels[labeled], 10, error, previous=previous
    )
    return time.perf_counter() - started, fit, ranking.phase


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--labels", type=int, nargs="*", default=[10, 200, 2_000, 10_000])
    parser.add_argument("--classes", type=int, nargs="*", default=[2, 26, 100])
    parser.add_argument("--repeats", type=int, default=3, help="rounds per case; the median is printed")
    parser.add_argument("--warm-start", action="store_true", help="fit from the previous batch's model")
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = "from the previous batch's model" if args.warm_start else "from scratch"
    print(f"2 threads; median of {args.repeats} rounds; times in seconds; the classifier fits {start}")
    print("| items | labels | classes | round (classifier fit + predict + rank) | of which the fit | phase |")
    print("|---|---|---|---|---|---|")
    with threadpool_limits(2):
        for n_items in args.items:
            fits = []
            for n_classes in args.classes:
                features, embedding, labels = pool(n_items, n_classes)
                started = time.perf_counter()
                strategy = make_strategy("adaptive", 0, "tabular").fit(embedding)
                pool_typicality(embedding)
                fits.append(time.perf_counter() - started)
                for n_labels in args.labels:
                    if n_labels >= n_items:
                        continue
                    rounds = [
                        one_round(strategy, features, labels, n_labels, seed, args.warm_start)
                        for seed in range(args.repeats)
                    ]
                    seconds, fit = (float(np.median([r[i] for r in rounds])) for i in (0, 1))
                    print(
                        f"| {n_items:,} | {n_labels:,} | {n_classes} | {seconds:.2f} | {fit:.2f} | {rounds[0][2]} |",
                        flush=True,
                    )
            print(f"| {n_items:,} | - | - | once per pool (strategy fit + typicality): {np.median(fits):.2f} | - | - |")


if __name__ == "__main__":
    main()
