"""Agreement between annotators: per item (majority and its share), per label and per project
(Krippendorff's alpha; Fleiss' kappa where every item has the same number of ratings; Cohen's kappa per pair).

Pure functions over plain lists; the statistics come from well-kept libraries (krippendorff, statsmodels,
scikit-learn), imported by `project_agreement` alone: the labeling path uses this module on every submit and
must not load them into every web process.
"""

from collections import Counter
from collections.abc import Sequence
from itertools import combinations

import numpy as np

Answer = Sequence[int]  # the label ids one annotator chose for one item, sorted
MIN_SHARED_ITEMS = 2  # Cohen's kappa for a pair needs at least this many items both rated


def item_consensus(answers: Sequence[Answer]) -> tuple[tuple[int, ...] | None, float]:
    """The strict-majority answer (None on a tie) and the share of annotators who gave it."""
    if not answers:
        return None, 0.0
    counts = Counter(tuple(answer) for answer in answers).most_common()
    top, n_top = counts[0]
    tied = len(counts) > 1 and counts[1][1] == n_top
    return (None if tied else top), n_top / len(answers)


def final_answer(answers: Sequence[Answer], correction: Answer | None = None) -> list | None:
    """An item's final labels: the reviewer's correction if there is one, else the strict-majority answer,
    else None (no answer yet, or a tie)."""
    if correction is not None:
        return sorted(set(correction))
    majority, _ = item_consensus(answers)
    return list(majority) if majority is not None else None


def item_agreement(answers: Sequence[Answer]) -> float:
    return item_consensus(answers)[1]


def _safe(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def project_agreement(ratings: dict[int, dict[int, Answer]]) -> dict:
    """`ratings[item_id][annotator_id]` = answer. Items with fewer than two answers are left out.

    Returns alpha (nominal, over whole answers), fleiss_kappa (None unless every kept item has the same
    number of answers), per-label alpha (label present / absent), and Cohen's kappa per annotator pair.
    """
    import krippendorff
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    items = {item: by_user for item, by_user in ratings.items() if len(by_user) >= 2}
    annotators = sorted({user for by_user in items.values() for user in by_user})
    codes = {answer: i for i, answer in enumerate(sorted({tuple(a) for r in items.values() for a in r.values()}))}
    result: dict = {
        "items": len(items),
        "annotators": len(annotators),
        "alpha": None,
        "fleiss_kappa": None,
        "per_label_alpha": {},
        "pairs": [],
    }
    if not items or len(codes) < 2:
        return result
    matrix = np.full((len(annotators), len(items)), np.nan)
    for column, by_user in enumerate(items.values()):
        for user, answer in by_user.items():
            matrix[annotators.index(user), column] = codes[tuple(answer)]
    result["alpha"] = _safe(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))
    if len({len(by_user) for by_user in items.values()}) == 1:
        table, _ = aggregate_raters(np.array([[codes[tuple(a)] for a in r.values()] for r in items.values()]))
        result["fleiss_kappa"] = _safe(fleiss_kappa(table))
    for label in sorted({label for by_user in items.values() for a in by_user.values() for label in a}):
        present = np.where(np.isnan(matrix), np.nan, 0.0)
        for column, by_user in enumerate(items.values()):
            for user, answer in by_user.items():
                present[annotators.index(user), column] = float(label in answer)
        if len(np.unique(present[~np.isnan(present)])) > 1:
            alpha = krippendorff.alpha(reliability_data=present, level_of_measurement="nominal")
            result["per_label_alpha"][label] = _safe(alpha)
    for a, b in combinations(range(len(annotators)), 2):
        shared = ~np.isnan(matrix[a]) & ~np.isnan(matrix[b])
        if shared.sum() >= MIN_SHARED_ITEMS:
            kappa = cohen_kappa_score(matrix[a, shared], matrix[b, shared])
            result["pairs"].append(
                {"annotators": [annotators[a], annotators[b]], "items": int(shared.sum()), "cohen_kappa": _safe(kappa)}
            )
    return result
