"""The 2-D map of an embedding: a PCA map with the embedding, the UMAP map drawn after the first ranking is asked
for, so a new embedding never ranks later because of the map."""

import numpy as np
import pytest

from active_learning import artifacts, services, training
from active_learning.models import LearningRun
from active_learning.selectors import embedding_map
from core.models import JobStatus
from tests.integration.test_queue_beside_rankings import blobs_project

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)  # the UMAP map can take longer than PostgreSQL lets a transaction idle
def test_an_embedding_asks_for_its_ranking_with_a_pca_map_and_then_draws_the_umap_map(personas):
    project = blobs_project(personas.manager, n_items=600)
    embed = services.training_run_request(project=project, reason="request", user=personas.manager, quiet=True)

    training.embed_run_execute(run_id=embed.id)

    embed.refresh_from_db()
    assert embed.status == JobStatus.DONE
    assert embed.result["map"] == "pca"
    assert LearningRun.objects.filter(project=project, kind=LearningRun.Kind.RANK, status=JobStatus.QUEUED).exists()
    pca = embedding_map(project=project)
    assert pca["projection"] == "pca"

    training.map_draw_execute(run_id=embed.id)
    training.map_draw_execute(run_id=embed.id)  # a repeated delivery draws nothing twice

    embed.refresh_from_db()
    assert embed.result["map"] == "umap"
    umap_coords = artifacts.load(embed.result["map_artifact"])["map"]
    assert umap_coords.shape == (600, 2)
    assert not np.allclose(umap_coords, artifacts.load(embed.artifact)["map"])
    drawn = embedding_map(project=project)
    assert drawn["projection"] == "umap"
    assert {(p["x"], p["y"]) for p in drawn["points"]} != {(p["x"], p["y"]) for p in pca["points"]}
