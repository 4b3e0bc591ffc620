"""Why an item was picked, in plain words with the numbers behind it, and the scores the strategy used scaled as
percentiles within the unlabeled pool (raw margins sit at 99-100% for nearly every item of a young model, which
tells a person nothing). Pure numpy, no Django: label names come in as a list."""

from __future__ import annotations

import numpy as np

from active_learning.core.scores import rank_normalize


def pool_percentiles(values: np.ndarray, unlabeled: np.ndarray) -> np.ndarray:
    """(n,) scores and (n,) bool mask -> (n,) each unlabeled item's percentile in [0, 1] among the unlabeled items
    (ties share their mean rank); NaN for labeled items and where the score is NaN."""
    values = np.asarray(values, dtype=np.float64)
    found = np.full(len(values), np.nan)
    keep = np.asarray(unlabeled, dtype=bool) & ~np.isnan(values)
    if keep.any():
        found[keep] = rank_normalize(values[keep])
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
