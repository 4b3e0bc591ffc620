"""2-D maps of an embedding for people to look at: UMAP, which keeps clusters apart, or PCA as the fallback.

UMAP (umap-learn, compiled by numba) is imported only when a map is drawn: the import and the first call compile
for tens of seconds in a fresh process (measured 30-70 s on a loaded 2-core machine, about 1 s for later calls), so
a web process never imports it and a worker pays once. Tiny pools get PCA: UMAP's neighbourhood graph needs more
points than its neighbours to mean anything, and PCA there is as readable.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.decomposition import PCA

UMAP_MIN_ITEMS = 500  # below this, PCA: UMAP's neighbourhoods say little on a few hundred points
UMAP_MAX_FIT = 20_000  # UMAP learns the map on a sample this big at most; the other items are placed on it


def umap_available() -> bool:
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


def map_coordinates(
    X: np.ndarray,
    *,
    method: str = "auto",
    random_state: int = 0,
    min_items_umap: int | None = None,
    max_fit: int | None = None,
) -> tuple[np.ndarray, str]:
    """Place every row of an embedding on a plane.

    Parameters
    ----------
    X : (n_items, n_components) float array
    method : "auto" (UMAP when available and n_items >= min_items_umap, else PCA), "umap" or "pca"
    random_state : seed of UMAP's layout and of the sample it learns from
    min_items_umap, max_fit : UMAP_MIN_ITEMS and UMAP_MAX_FIT when None

    Returns
    -------
    coords : (n_items, 2) float32
    method : the method used, "umap" or "pca" ("none" when X has fewer than two columns or rows)
    """
    min_items_umap = UMAP_MIN_ITEMS if min_items_umap is None else min_items_umap
    max_fit = UMAP_MAX_FIT if max_fit is None else max_fit
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] < 3 or X.shape[1] < 2:
        return np.zeros((len(X), 2), dtype=np.float32), "none"
    use_umap = method == "umap" or (method == "auto" and len(X) >= min_items_umap and umap_available())
    if not use_umap:
        return PCA(2, random_state=random_state).fit_transform(X).astype(np.float32), "pca"
    return _umap(X, random_state, max_fit).astype(np.float32), "umap"


def _umap(X: np.ndarray, random_state: int, max_fit: int) -> np.ndarray:
    import umap

    n_neighbors = int(min(15, len(X) - 1))
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=0.1, random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by setting random_state": reproducible on purpose
        if len(X) <= max_fit:
            return reducer.fit_transform(X)
        sample = np.sort(np.random.default_rng(random_state).choice(len(X), max_fit, replace=False))
        reducer.fit(X[sample])
        coords = np.empty((len(X), 2), dtype=np.float32)
        coords[sample] = reducer.embedding_
        rest = np.setdiff1d(np.arange(len(X)), sample)
        for start in range(0, len(rest), 50_000):
            chunk = rest[start : start + 50_000]
            coords[chunk] = reducer.transform(X[chunk])
        return coords
