"""The 2-D map's fallbacks: PCA for tiny pools or when asked, nothing to draw for degenerate embeddings."""

import sys

import numpy as np

from active_learning.projection import map_coordinates


def test_a_tiny_pool_is_drawn_by_pca_without_importing_umap():
    X = np.random.default_rng(0).normal(size=(40, 8))
    coords, method = map_coordinates(X, min_items_umap=500)
    assert method == "pca"
    assert coords.shape == (40, 2)
    assert coords.dtype == np.float32
    assert "umap" not in sys.modules


def test_pca_is_used_when_asked_and_is_deterministic():
    X = np.random.default_rng(1).normal(size=(600, 8))
    first, method = map_coordinates(X, method="pca")
    again, _ = map_coordinates(X, method="pca")
    assert method == "pca"
    np.testing.assert_array_equal(first, again)


def test_an_embedding_with_one_column_or_two_rows_gets_a_flat_map():
    assert map_coordinates(np.ones((10, 1)))[1] == "none"
    coords, method = map_coordinates(np.ones((2, 4)))
    assert method == "none"
    assert coords.shape == (2, 2)
