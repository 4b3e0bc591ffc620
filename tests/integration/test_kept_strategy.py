"""What a rankings worker keeps between runs on one embedding: the strategy the embedding run fitted (instead of
fitting it, a k-nearest-neighbour search over the whole pool, in front of annotators; a changed strategy is fitted
afresh), and the last ranking's model, which the next fit starts from."""

import numpy as np
import pytest

from active_learning import artifacts, services, training
from active_learning.core.ranking import rank_pool
from active_learning.models import LearningRun
from annotation.models import Annotation, Item
from core.models import JobStatus
from tests.integration.conftest import client_for
from tests.integration.test_queue_beside_rankings import blobs_project

pytestmark = pytest.mark.django_db


def _embedded(personas, n_items: int = 300):
    project = blobs_project(personas.manager, n_items=n_items)
    embed = services.training_run_request(project=project, reason="request", user=personas.manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    embed.refresh_from_db()
    assert embed.status == JobStatus.DONE
    return project, embed


def test_an_embedding_run_keeps_the_fitted_strategy_and_the_first_ranking_reads_it(personas, monkeypatch):
    project, embed = _embedded(personas)
    kept = embed.result["fitted_strategy"]
    embedding = artifacts.load(embed.artifact)["embedding"]
    strategy = artifacts.load_fitted(kept, embedding)
    assert strategy.X_ is embedding  # the file holds no second copy of the embedding
    fresh = training._strategy_new(training.strategy_current(project)[1].model_dump_json(), "tabular").fit(embedding)
    assert np.array_equal(strategy.select(5, []), fresh.select(5, []))

    def no_fit(*args, **kwargs):
        raise AssertionError("the ranking fitted the strategy again")

    training._fitted_strategy.cache_clear()
    monkeypatch.setattr(training, "_strategy_new", no_fit)
    rank = LearningRun.objects.get(project=project, kind=LearningRun.Kind.RANK)
    training.rank_run_execute(run_id=rank.id)
    rank.refresh_from_db()
    assert rank.status == JobStatus.DONE, rank.failure


def test_a_strategy_changed_after_the_embedding_is_fitted_by_the_ranking(personas):
    project, embed = _embedded(personas)
    client_for(personas.manager).put(
        f"/api/v1/projects/{project.id}/learning/strategy/", {"strategy": "random", "batch_size": 5}, format="json"
    )
    _, spec = training.strategy_current(project)
    assert training._kept_strategy(embed, spec.model_dump_json(), "tabular") is None
    training._fitted_strategy.cache_clear()
    queued = LearningRun.objects.get(project=project, kind=LearningRun.Kind.RANK)  # asked for with the embedding
    training.rank_run_execute(run_id=queued.id)
    rank = services.ranking_request(project=project, reason="strategy")
    training.rank_run_execute(run_id=rank.id)
    rank.refresh_from_db()
    assert (rank.status, rank.result["strategy"]) == (JobStatus.DONE, "random"), rank.failure


def test_a_kept_strategy_that_cannot_be_read_is_fitted_again(personas):
    project, embed = _embedded(personas)
    artifacts.default_storage.delete(embed.result["fitted_strategy"])
    training._fitted_strategy.cache_clear()
    rank = LearningRun.objects.get(project=project, kind=LearningRun.Kind.RANK)
    training.rank_run_execute(run_id=rank.id)
    rank.refresh_from_db()
    assert rank.status == JobStatus.DONE, rank.failure


def _label(project, user, n: int) -> None:
    """Answer `n` more open items with their blob's label (kept in external_id)."""
    labels = {label.name: label for label in project.labels.all()}
    for item in Item.objects.filter(project=project, annotation_count=0).order_by("id")[:n]:
        blob = item.external_id.split("-")[1]
        Annotation.objects.create(item=item, annotator=user, schema_version=1).labels.set([labels[f"blob {blob}"]])
        Item.objects.filter(id=item.id).update(annotation_count=1, status="done")


def test_a_ranking_starts_its_fit_from_the_last_rankings_model_on_that_embedding(personas, monkeypatch):
    project, _ = _embedded(personas)
    seen = []

    def recording_rank_pool(*args, **kwargs):
        ranking = rank_pool(*args, **kwargs)
        seen.append((kwargs.get("previous"), ranking.classifier))
        return ranking

    monkeypatch.setattr(training, "rank_pool", recording_rank_pool)
    training.rank_run_execute(run_id=LearningRun.objects.get(project=project, kind=LearningRun.Kind.RANK).id)
    for _ in range(2):
        _label(project, personas.manager, 12)
        run = services.ranking_request(project=project, reason="labels")
        training.rank_run_execute(run_id=run.id)
        run.refresh_from_db()
        assert run.status == JobStatus.DONE, run.failure

    (cold_previous, cold_model), (first_previous, first_model), (second_previous, _) = seen
    assert (cold_previous, cold_model) == (None, None)  # no labels, no model
    assert first_previous is None
    assert first_model is not None
    assert second_previous is first_model  # the second fit started from the first one's coefficients
