"""Why an item was picked, in plain words with the numbers behind it, and the scores the strategy used scaled as
percentiles within the unlabeled pool (raw margins sit at 99-100% for nearly every item of a young model, which
tells a person nothing). Pure numpy, no Django: label names come in as a list."""

from __future__ import annotations

import numpy as np


def pool_percentiles(values: np.ndarray, unlabeled: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
    """(n,) scores and (n,) bool mask -> each unlabeled item's percentile in [0, 1] among the unlabeled items (ties
    share their mean rank, as `rank_normalize` gives them); NaN for labeled items and where the score is NaN. For
    the positions `at` only when given (the head a ranking writes): one sort of the pool's scores and a search for
    each of them, where ranking every item of a million-item pool took five times as long."""
    values = np.asarray(values, dtype=np.float64)
    at = np.arange(len(values)) if at is None else np.asarray(at, dtype=np.int64)
    keep = np.asarray(unlabeled, dtype=bool) & ~np.isnan(values)
    pool = np.sort(values[keep])
    found = np.full(len(at), np.nan)
    wanted = keep[at]
    if len(pool) == 1:
        found[wanted] = 1.0
    elif len(pool) > 1:
        x = values[at[wanted]]
        first, after = np.searchsorted(pool, x, side="left"), np.searchsorted(pool, x, side="right")
        found[wanted] = (first + after - 1) / 2.0 / (len(pool) - 1)
    return found


def _pct(value: float) -> str:
    return f"{round(100 * value)}%"


def model_split(proba: np.ndarray, names: list[str], multilabel: bool) -> str:
    """One item's (n_classes,) probabilities -> what the model hesitates over, e.g. "the model splits 48% / 45%
    between 3 and 8" (multi-label: the label closest to a coin toss)."""
    if multilabel:
        j = int(np.argmin(np.abs(proba - 0.5)))
        return f"the model gives {names[j]} {_pct(proba[j])}, close to a coin toss"
    first, second = np.argsort(-proba, kind="stable")[:2]
    return f"the model splits {_pct(proba[first])} / {_pct(proba[second])} between {names[first]} and {names[second]}"


def explanation(
    rule: str, percentiles: dict[str, float], proba: np.ndarray | None, names: list[str], multilabel: bool
) -> str:
    """The sentence a person reads under "why this item".

    rule : the strategy rule that placed the item (typicality, uncertainty, novelty, diversity, random, score).
    percentiles : name -> the item's percentile in the unlabeled pool ("strategy", "uncertainty", "typicality",
        "novelty"), NaN when unknown.
    proba : (n_classes,) the model's probabilities for the item, or None without a model; names : one per column.
    """
    split = model_split(proba, names, multilabel) if proba is not None and len(names) >= 2 else ""

    def above(name: str, what: str) -> str:
        value = percentiles.get(name, np.nan)
        return "" if np.isnan(value) else f"{what} than {_pct(value)} of the unlabeled items"

    sentences = {
        "uncertainty": f"Picked because the model is unsure: {split}.",
        "typicality": f"Picked as a typical example: {above('typicality', 'more typical')}.",
        "novelty": f"Picked because it is unlike what was labeled so far: {above('novelty', 'more novel')}.",
        "diversity": f"Picked to cover the data widely: {above('novelty', 'farther from the labeled items')}.",
        "random": "Picked at random, so the model is also checked on items no strategy chose.",
    }
    text = sentences.get(rule) or f"Ranked by the strategy's score: {above('strategy', 'higher')}."
    text = text.replace(": .", ".")
    if split and rule != "uncertainty":
        text += f" Meanwhile {split}."
    return text
