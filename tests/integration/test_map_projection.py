"""The map keeps classes apart: UMAP (compiled by numba on first use, so these tests take tens of seconds) drawn
by the embed run, with PCA as the fallback on tiny pools."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from active_learning import services, training
from active_learning.models import LearningRun
from active_learning.projection import map_coordinates
from annotation.models import Item
from tests.factories import UserFactory, make_project
from tests.integration.conftest import client_for


def neighbour_accuracy(coords: np.ndarray, y: np.ndarray) -> float:
    """How often a point's 5 nearest neighbours on the map name its class: high when classes stay apart."""
    return float(cross_val_score(KNeighborsClassifier(5), coords, y, cv=3).mean())


def test_umap_keeps_the_digit_classes_apart_where_pca_blurs_them():
    X, y = load_digits(return_X_y=True)
    umap_coords, method = map_coordinates(X, random_state=0)
    pca_coords, _ = map_coordinates(X, method="pca")

    assert method == "umap"
    assert neighbour_accuracy(umap_coords, y) > 0.9
    assert neighbour_accuracy(pca_coords, y) < 0.7


@pytest.mark.django_db(transaction=True)  # the run takes longer than PostgreSQL lets a transaction idle
def test_the_embed_run_draws_the_map_with_umap_and_the_api_says_so(monkeypatch):
    monkeypatch.setattr("active_learning.projection.UMAP_MIN_ITEMS", 300)
    manager = UserFactory(username="maria", is_staff=True)
    project = make_project(owner=manager, name="Blobs", data_kind="tabular")
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6, size=(3, 6))
    rows = [centres[n % 3] + rng.normal(size=6) for n in range(360)]
    Item.objects.bulk_create(
        Item(project=project, external_id=f"b{n}", data={f"f{j}": float(v) for j, v in enumerate(row)})
        for n, row in enumerate(rows)
    )
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    training.map_draw_execute(run_id=embed.id)  # the training worker's next task after the embedding

    run = LearningRun.objects.get(id=embed.id)
    assert run.status == "done", run.error
    assert run.result["map"] == "umap"
    data = client_for(manager).get(f"/api/v1/projects/{project.id}/learning/map/").data
    assert data["projection"] == "umap"
    assert len(data["points"]) == 360
