"""A young project's replay says what is missing ("label at least 2 items of each class") instead of failing with
scikit-learn's text."""

import numpy as np
import pytest

from active_learning import services, training
from active_learning.models import LearningRun
from annotation.demo import _wine
from annotation.models import Annotation, Item, JobStatus
from tests.integration.conftest import client_for
from tests.integration.test_active_learning_loop import label_ids, truth


def label(project, manager, items):
    labels = label_ids(project)
    for item in items:
        Annotation.objects.create(item=item, annotator=manager, schema_version=1).labels.set([labels[truth(item)]])
        Item.objects.filter(id=item.id).update(annotation_count=1, status="done")


def replay(project, manager) -> LearningRun:
    answer = client_for(manager).post(
        f"/api/v1/projects/{project.id}/learning/simulations/",
        {"strategies": ["random"], "budget": 10, "batch_size": 5, "seeds": 1},
        format="json",
    )
    assert answer.status_code == 202, answer.content
    training.simulate_run_execute(run_id=answer.json()["id"])
    return LearningRun.objects.get(id=answer.json()["id"])


@pytest.fixture
def wine(personas):
    manager = personas.user("manager")
    project = _wine(manager)
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    by_class = {0: [], 1: [], 2: []}
    for item in Item.objects.filter(project=project).order_by("id"):
        by_class[truth(item)].append(item)
    return project, manager, by_class


def test_a_replay_with_one_label_of_a_class_asks_for_two_of_each(wine):
    project, manager, by_class = wine
    label(project, manager, by_class[0][:18] + by_class[1][:1] + by_class[2][:2])  # 21 labels, enough in all

    run = replay(project, manager)

    assert run.status == JobStatus.FAILED
    name = project.labels.order_by("position")[1].name
    assert run.failure == f"Label at least 2 items of each class before a replay: {name} has only one so far."


def test_a_replay_with_enough_labels_of_each_class_runs(wine):
    project, manager, by_class = wine
    label(project, manager, by_class[0][:8] + by_class[1][:6] + by_class[2][:6])

    run = replay(project, manager)

    assert run.status == JobStatus.DONE, run.failure


def test_many_classes_need_enough_labels_for_the_held_back_share():
    labels = np.repeat(np.arange(10), 2)  # two of each of ten digits: 30% held back cannot hold one of each

    assert training.replay_missing(labels, {}) == (
        "Label at least 34 items before a replay (20 so far): it holds 30% of them back to measure accuracy, "
        "at least one of each of the 10 classes."
    )
    assert training.replay_missing(np.repeat(np.arange(10), 4), {}) == ""
