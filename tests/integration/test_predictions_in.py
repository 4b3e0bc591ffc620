"""Another model's predictions in: imported from CSV, JSONL or Parquet keyed by item id or external id, shown to
annotators beside the item, their acceptance rate on the dashboard and in the API, and rankings (by a real worker)
giving a share of the batch to the items where this model disagrees with them."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from sklearn.datasets import load_wine

from active_learning.models import LearningRun
from annotation.demo import _wine
from annotation.models import ExternalPrediction, Item, RankedItem, Role
from tests.factories import add_member
from tests.integration.conftest import client_for
from tests.integration.test_active_learning_loop import done_run
from tests.integration.test_model_out import _label

pytestmark = pytest.mark.django_db(transaction=True)
WINE = load_wine().target


def truth(item) -> int:
    return int(WINE[int(item.external_id.split("-")[1])])


@pytest.fixture
def wine(personas):
    project = _wine(personas.manager)
    add_member(project, personas.annotator, Role.ANNOTATOR)
    return project


def _import(api, project, name: str, data: bytes, source="vendor-model"):
    upload = SimpleUploadedFile(name, data)
    return api.post(f"/api/v1/projects/{project.id}/predictions/", {"source": source, "file": upload}, "multipart")


def test_predictions_import_by_external_id_or_item_id_from_csv_jsonl_and_parquet(wine, personas):
    api = client_for(personas.manager)
    items = list(Item.objects.filter(project=wine).order_by("id"))
    csv = "external_id,label,score\n" + "".join(f"{i.external_id},class {truth(i)},0.9\n" for i in items[:10])
    csv += "wine-999,class 0,0.5\nwine-010,class 7,0.5\nwine-011,class 1,1.5\n"
    answer = _import(api, wine, "preds.csv", csv.encode())
    assert answer.status_code == 201, answer.content
    outcome = answer.json()
    assert outcome["imported"] == 10
    assert outcome["error_count"] == 3
    reasons = " | ".join(e["reason"] for e in outcome["errors"])
    assert "wine-999" in reasons
    assert "unknown label(s): class 7" in reasons
    assert "score 1.5" in reasons

    jsonl = "".join(json.dumps({"item_id": i.id, "label": "class 2"}) + "\n" for i in items[5:15])
    assert _import(api, wine, "preds.jsonl", jsonl.encode()).json()["imported"] == 10  # replaces 5..9, adds 10..14
    buffer = io.BytesIO()
    pq.write_table(pa.table({"external_id": [i.external_id for i in items[:3]], "label": ["class 1"] * 3}), buffer)
    assert _import(api, wine, "p.parquet", buffer.getvalue(), source="other").json()["imported"] == 3

    stored = {(p.item_id, p.source): (p.label_ids, p.score) for p in ExternalPrediction.objects.all()}
    labels = {label.name: label.id for label in wine.labels.all()}
    assert len(stored) == 18
    assert stored[(items[0].id, "vendor-model")] == ([labels[f"class {truth(items[0])}"]], 0.9)
    assert stored[(items[7].id, "vendor-model")] == ([labels["class 2"]], None)
    assert stored[(items[1].id, "other")] == ([labels["class 1"]], None)


def test_unusable_prediction_files_are_refused_with_a_precise_400(wine, personas):
    api = client_for(personas.manager)
    no_key = _import(api, wine, "p.csv", b"id,label\n1,class 0\n")
    assert no_key.status_code == 400
    assert "item_id or external_id" in no_key.json()["file"][0]
    nothing = _import(api, wine, "p.csv", b"external_id,label\nnobody,class 0\n")
    assert nothing.status_code == 400
    assert "No usable prediction" in nothing.json()["file"][0]
    assert _import(api, wine, "p.parquet", b"not parquet").status_code == 400
    assert _import(api, wine, "p.exe", b"x").status_code == 400
    assert _import(api, wine, "p.csv", b"external_id,label\nwine-001,class 0\n", source=" ").status_code == 400
    labeler = client_for(personas.annotator)
    assert _import(labeler, wine, "p.csv", b"external_id,label\nwine-001,class 0\n").status_code == 403
    assert ExternalPrediction.objects.count() == 0


def test_annotators_see_imported_predictions_and_the_dashboard_shows_their_acceptance_rate(wine, personas):
    items = list(Item.objects.filter(project=wine).order_by("id"))
    rows = "".join(f"{i.external_id},class 0,0.8\n" for i in items)
    assert (
        _import(client_for(personas.manager), wine, "p.csv", f"external_id,label,score\n{rows}".encode()).status_code
        == 201
    )
    labeler = client_for(personas.annotator)
    labels = {label.name: label.id for label in wine.labels.all()}
    answers = []
    for _ in range(4):
        served = labeler.post(f"/api/v1/projects/{wine.id}/queue/next/").json()
        assert served["predictions"] == [{"source": "vendor-model", "label_ids": [labels["class 0"]], "score": 0.8}]
        chosen = "class 0" if len(answers) < 3 else "class 1"  # three accept the suggestion, one does not
        answers.append(chosen)
        submit = labeler.post(
            f"/api/v1/projects/{wine.id}/annotations/",
            {"item_id": served["item"]["id"], "label_ids": [labels[chosen]]},
            format="json",
        )
        assert submit.status_code == 201
    sources = labeler.get(f"/api/v1/projects/{wine.id}/predictions/").json()
    assert sources == [
        {"source": "vendor-model", "predictions": 178, "answers": 4, "accepted": 3, "acceptance_rate": 0.75}
    ]
    page = Client()
    page.force_login(personas.manager)
    html = page.get(f"/projects/{wine.id}/dashboard/").content.decode()
    assert "Imported predictions" in html
    assert "75% (3)" in html


def test_rankings_give_a_share_of_the_batch_to_items_whose_imported_prediction_the_model_disputes(
    wine, personas, celery_worker
):
    api = client_for(personas.manager)
    items = list(Item.objects.filter(project=wine).order_by("id"))
    _label(wine, personas.manager, items[::6], truth)
    spec = {"strategy": "margin", "batch_size": 10, "disagreement_share": 0.3}
    assert api.put(f"/api/v1/projects/{wine.id}/learning/strategy/", spec, format="json").status_code == 200
    rows = "".join(f"{i.external_id},class 0\n" for i in items)  # wrong for every item of classes 1 and 2
    assert _import(api, wine, "p.csv", f"external_id,label\n{rows}".encode()).status_code == 201
    assert api.post(f"/api/v1/projects/{wine.id}/learning/train/").status_code == 202
    embed = done_run(wine, LearningRun.Kind.EMBED, timeout=180)
    rank = done_run(wine, LearningRun.Kind.RANK, after_id=embed.id, timeout=180)

    batch = rank.result["batch_item_ids"]
    head = {r.item_id: r.insight for r in RankedItem.objects.filter(ranking__run_id=rank.id, item_id__in=batch)}
    disputed = [item_id for item_id in batch if head[item_id]["picked_by"] == "disagreement"]
    assert len(disputed) == 3
    assert batch[-3:] == disputed
    truths = {i.id: truth(i) for i in items}
    assert all(truths[item_id] != 0 for item_id in disputed)
    assert all(head[item_id]["scores"]["disagreement"] >= 0.5 for item_id in disputed)
