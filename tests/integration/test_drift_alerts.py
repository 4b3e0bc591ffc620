"""Drift alerts with a real worker: an import whose items hold a class nobody imported before raises an alert (with
its most novel items and their place on the map) and the next ranking gives half its batch to them; an import
drawn from the same distribution as the items already there raises none."""

import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from sklearn.datasets import load_wine

from active_learning.core.ranking import DRIFT_REASON
from active_learning.models import DriftAlert, LearningRun
from annotation.models import Item, RankedItem
from tests.factories import make_project
from tests.integration.conftest import client_for
from tests.integration.test_active_learning_loop import done_run
from tests.integration.test_model_out import _label

pytestmark = pytest.mark.django_db(transaction=True)
WINE = load_wine(as_frame=True).frame


def _project(manager):
    labels = [{"name": f"cultivar {c}"} for c in range(3)]
    return make_project(owner=manager, name="Wine", data_kind="tabular", labels=labels)


def _import(api, project, rows, after_id=0) -> LearningRun:
    table = WINE.iloc[rows].drop(columns="target")
    table.insert(0, "id", [f"wine-{i:03d}" for i in rows])
    upload = SimpleUploadedFile("wine.csv", table.to_csv(index=False).encode())
    answer = api.post(
        f"/api/v1/projects/{project.id}/imports/",
        {"files": [upload], "options": json.dumps({"id_column": "id"})},
        format="multipart",
    )
    assert answer.status_code == 202, answer.content
    embed = done_run(project, LearningRun.Kind.EMBED, after_id=after_id, timeout=180)
    rank = done_run(project, LearningRun.Kind.RANK, after_id=embed.id, timeout=180)
    embed.refresh_from_db()  # the drift check writes its figures after the run is done, before the ranking is asked
    return embed, rank


def _truth(item) -> int:
    return int(WINE.target[int(item.external_id.split("-")[1])])


def test_an_import_with_a_new_class_raises_an_alert_and_the_next_batches_explore_it(personas, celery_worker):
    manager = personas.manager
    project = _project(manager)
    api = client_for(manager)
    strategy = api.put(f"/api/v1/projects/{project.id}/learning/strategy/", {"batch_size": 10}, format="json")
    assert strategy.status_code == 200
    known = np.flatnonzero(WINE.target < 2)
    first, _ = _import(api, project, known.tolist())
    assert first.result.get("drift") is None  # nothing to compare with yet
    _label(project, manager, list(Item.objects.filter(project=project).order_by("id"))[::5], _truth)

    new_class = np.flatnonzero(WINE.target == 2)
    second, rank = _import(api, project, new_class.tolist(), after_id=first.id)

    assert second.result["drift"]["drift"] is True
    assert second.result["drift"]["p_value"] <= 0.01
    alert = DriftAlert.objects.get(project=project)
    assert alert.run_id == second.id
    assert alert.n_new == len(new_class)
    assert alert.covered_at is None
    novel = Item.objects.in_bulk(alert.novel_item_ids)
    assert all(_truth(novel[i]) == 2 for i in alert.novel_item_ids)  # every item it lists is of the new class
    assert set(alert.region) == {"center", "min", "max"}

    listed = api.get(f"/api/v1/projects/{project.id}/learning/drift-alerts/").json()
    assert [a["id"] for a in listed] == [alert.id]
    assert listed[0]["open"] is True
    assert [i["id"] for i in listed[0]["novel_items"]] == alert.novel_item_ids

    batch = rank.result["batch_item_ids"]
    head = {r.item_id: r.insight for r in RankedItem.objects.filter(ranking__run_id=rank.id, item_id__in=batch)}
    explored = [i for i in batch if head[i]["reason"] == DRIFT_REASON]
    assert len(explored) == 5  # half the batch
    assert set(explored) <= set(alert.novel_item_ids)

    page = Client()
    page.force_login(manager)
    html = page.get(f"/projects/{project.id}/dashboard/").content.decode()
    assert 'data-testid="drift-alert"' in html
    assert f"{alert.n_new} new items" in html

    _label(project, manager, [novel[i] for i in alert.novel_item_ids[: alert.needed]], _truth)  # covered
    assert api.post(f"/api/v1/projects/{project.id}/learning/rank/").status_code == 202
    after = done_run(project, LearningRun.Kind.RANK, after_id=rank.id, timeout=180)
    alert.refresh_from_db()
    assert alert.covered_at is not None
    head = RankedItem.objects.filter(ranking__run_id=after.id, item_id__in=after.result["batch_item_ids"])
    assert all(r.insight["reason"] != DRIFT_REASON for r in head)
    assert 'data-testid="drift-alert"' not in page.get(f"/projects/{project.id}/dashboard/").content.decode()


def test_an_import_from_the_same_distribution_raises_no_alert(personas, celery_worker):
    project = _project(personas.manager)
    api = client_for(personas.manager)
    shuffled = np.random.default_rng(0).permutation(len(WINE))
    first, _ = _import(api, project, sorted(shuffled[:118].tolist()))
    second, _ = _import(api, project, sorted(shuffled[118:].tolist()), after_id=first.id)
    assert second.result["drift"]["n_new"] == 60
    assert second.result["drift"]["drift"] is False
    assert second.result["drift"]["p_value"] > 0.01
    assert not DriftAlert.objects.filter(project=project).exists()
    assert api.get(f"/api/v1/projects/{project.id}/learning/drift-alerts/").json() == []
