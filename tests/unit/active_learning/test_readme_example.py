"""The library example of the active-learning guide runs as written."""

import re
from pathlib import Path

import numpy as np

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "active-learning.md"


def _library_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    return next(block for block in blocks if "ActiveSelector" in block)  # the first: the entry point


def test_the_guides_library_example_runs_as_written():
    namespace: dict = {}
    exec(compile(_library_example(), str(GUIDE), "exec"), namespace)

    selector, batch = namespace["selector"], namespace["batch"]
    assert len(batch) == 10
    assert not set(batch.tolist()) & set(namespace["idx"].tolist())
    assert np.isfinite(selector.scores_["uncertainty"][batch]).all()
    assert len(selector.reasons_) == len(selector.rules_) == 10


def test_the_scores_the_guide_reads_exist_in_every_phase_and_labels_keep_their_dtype():
    from active_learning.core.autoencoders import TabularAutoencoder
    from active_learning.core.selector import ActiveSelector

    rng = np.random.default_rng(0)
    names = np.array(["cat", "dog", "owl"])
    y_pool = names[np.arange(90) % 3]
    X_pool = rng.normal(np.arange(90)[:, None] % 3 * 2.0, 0.5, size=(90, 4))
    ae = TabularAutoencoder(n_components=3, hidden_dims=(8,), max_epochs=2, device="cpu")
    selector = ActiveSelector(autoencoder=ae, random_state=0).fit(X_pool)
    labeled = np.zeros(0, dtype=np.int64)
    phases = set()
    for _ in range(3):
        batch = selector.next_batch(labeled, y_pool[labeled], 6)
        phases.add(selector.ranking_.phase.split(",")[0])
        for name in ("uncertainty", "typicality", "novelty"):
            assert selector.scores_[name].shape == (90,), name
        labeled = np.concatenate([labeled, batch])
    assert phases == {"cold_start", "uncertainty"}
    assert selector.classifier_.classes_.dtype == y_pool.dtype
    assert set(selector.classifier_.predict(selector.classifier_input_[:5])) <= set(names)
