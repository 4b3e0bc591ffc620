"""The model and its predictions out of Loupe, with a real worker: a model version downloads as plain files that a
clean Python process (no Django, no Loupe code) loads with the shipped predict.py and reproduces the app's
predictions with; every item's predictions, labeled or not, export as CSV or Parquet."""

import csv
import hashlib
import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pyarrow.parquet as pq
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from sklearn.datasets import load_digits, load_wine

from active_learning import artifacts
from active_learning.models import LearningRun, ModelVersion
from annotation.demo import _wine, digit_png
from annotation.models import Annotation, DataKind, Item, Role
from tests.factories import add_member, make_project
from tests.integration.conftest import client_for
from tests.integration.test_active_learning_loop import done_run

pytestmark = pytest.mark.django_db(transaction=True)

CLEAN_PREDICT = """
import json, sys
import numpy as np
folder, inputs = sys.argv[1], json.load(open(sys.argv[2]))
sys.path.insert(0, folder)
from predict import load_model
model = load_model(folder)
np.save(sys.argv[3], model.predict_proba(inputs))
json.dump({"labels": model.labels, "predicted": model.predict(inputs),
           "loaded": sorted(m for m in ("django", "active_learning", "annotation", "loupe") if m in sys.modules)},
          open(sys.argv[4], "w"))
"""


def _label(project, user, items, truth) -> None:
    labels = [label.id for label in project.labels.order_by("position")]
    for item in items:
        Annotation.objects.create(item=item, annotator=user, schema_version=1).labels.set([labels[truth(item)]])
        Item.objects.filter(id=item.id).update(annotation_count=1, status="done")


def _model_version(api, project) -> ModelVersion:
    assert api.post(f"/api/v1/projects/{project.id}/learning/train/").status_code == 202
    embed = done_run(project, LearningRun.Kind.EMBED, timeout=180)
    done_run(project, LearningRun.Kind.RANK, after_id=embed.id, timeout=180)
    return ModelVersion.objects.get(project=project)


def _download(api, project, tmp_path, version="latest"):
    answer = api.get(f"/api/v1/projects/{project.id}/learning/model-versions/{version}/download/")
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))
    (folder,) = {name.split("/")[0] for name in archive.namelist()}
    assert sorted(n.split("/")[1] for n in archive.namelist()) == [
        "README.md",
        "classifier.skops",
        "encoder.pt",
        "model.json",
        "predict.py",
    ]
    archive.extractall(tmp_path / "download")
    return tmp_path / "download" / folder


def _predict_in_clean_process(folder, inputs, tmp_path):
    """Run the download's predict.py in a fresh, isolated interpreter (no PYTHONPATH, not in the repository)."""
    (tmp_path / "inputs.json").write_text(json.dumps(inputs))
    outputs = [tmp_path / "proba.npy", tmp_path / "out.json"]
    done = subprocess.run(
        [sys.executable, "-I", "-c", CLEAN_PREDICT, str(folder), str(tmp_path / "inputs.json"), *map(str, outputs)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return np.load(outputs[0]), json.loads(outputs[1].read_text())


def _app_predictions(api, project) -> dict[int, dict]:
    answer = api.get(f"/api/v1/projects/{project.id}/learning/model-versions/latest/predictions/?format=csv")
    assert answer.status_code == 200, answer.content
    rows = csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode()))
    return {int(row["item_id"]): row for row in rows}


def test_a_downloaded_tabular_model_reproduces_the_apps_predictions_in_a_clean_process_and_they_export(
    celery_worker, personas, tmp_path
):
    manager = personas.user("manager")
    project = _wine(manager)
    wine = load_wine()
    items = list(Item.objects.filter(project=project).order_by("id"))
    _label(project, manager, items[::6], lambda item: int(wine.target[int(item.external_id.split("-")[1])]))
    api = client_for(manager)
    version = _model_version(api, project)

    folder = _download(api, project, tmp_path)
    description = json.loads((folder / "model.json").read_text())
    assert [label["name"] for label in description["labels"]] == ["class 0", "class 1", "class 2"]
    assert description["metrics"]["n_labels"] == len(items[::6])
    assert description["version"] == version.version
    rows = [item.data for item in items]
    proba, out = _predict_in_clean_process(folder, rows, tmp_path)
    assert out["loaded"] == []  # neither Django nor any of Loupe's code

    stored = artifacts.load(version.files["predictions"])
    assert stored["item_ids"].tolist() == [item.id for item in items]
    np.testing.assert_allclose(proba, stored["proba"], atol=1e-5)
    exported = _app_predictions(api, project)
    assert out["predicted"] == [exported[item.id]["predicted"] for item in items]
    for j, name in enumerate(out["labels"]):
        np.testing.assert_allclose(proba[:, j], [float(exported[i.id][f"p:{name}"]) for i in items], atol=1e-5)
    _predictions_export_every_item_labeled_or_not(api, project, version, items, items[::6], personas)


def test_a_downloaded_image_model_embeds_with_its_encoder_and_reproduces_the_apps_predictions(
    celery_worker, personas, tmp_path
):
    manager = personas.user("manager")
    project = make_project(
        owner=manager, name="Digits", data_kind=DataKind.IMAGE, labels=[{"name": str(d)} for d in range(3)]
    )
    digits = load_digits()
    chosen = np.flatnonzero(digits.target < 3)[:150]
    for index in chosen.tolist():
        png = digit_png(digits.images[index])
        item = Item(project=project, external_id=f"digit-{index}", content_hash=hashlib.sha256(png).hexdigest())
        item.image.save(f"digits/{index}.png", ContentFile(png), save=False)
        item.save()
    items = list(Item.objects.filter(project=project).order_by("id"))
    _label(project, manager, items[::5], lambda item: int(digits.target[int(item.external_id.split("-")[1])]))
    api = client_for(manager)
    version = _model_version(api, project)

    folder = _download(api, project, tmp_path)
    description = json.loads((folder / "model.json").read_text())
    assert description["classifier_reads"] == "embedding"
    assert description["encoder"]["kind"] == "conv"
    paths = [default_storage.path(item.image.name) for item in items]
    proba, out = _predict_in_clean_process(folder, paths, tmp_path)
    assert out["loaded"] == []
    stored = artifacts.load(version.files["predictions"])
    np.testing.assert_allclose(proba, stored["proba"], atol=1e-4)
    assert out["predicted"] == [out["labels"][j] for j in np.argmax(stored["proba"], axis=1)]


def _predictions_export_every_item_labeled_or_not(api, project, version, items, labeled, personas):
    annotator = personas.user("annotator")
    add_member(project, annotator, Role.ANNOTATOR)
    base = f"/api/v1/projects/{project.id}/learning/model-versions"

    answer = api.get(f"{base}/{version.version}/predictions/?format=parquet")
    assert answer.status_code == 200, answer.content
    table = pq.read_table(io.BytesIO(b"".join(answer.streaming_content))).to_pylist()
    assert [row["item_id"] for row in table] == [item.id for item in items]
    assert {row["item_id"] for row in table if row["labeled"]} == {item.id for item in labeled}
    assert [row["external_id"] for row in table] == [item.external_id for item in items]
    for row in table:
        probabilities = [row[f"p:class {c}"] for c in range(3)]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
        assert row["predicted"] == f"class {int(np.argmax(probabilities))}"
        assert row["confidence"] == pytest.approx(max(probabilities), abs=1e-6)
        assert 0.0 <= row["uncertainty"] <= 1.0
        assert 0.0 <= row["novelty"] <= 1.0

    assert api.get(f"{base}/{version.version}/predictions/?format=xml").status_code == 400
    assert api.get(f"{base}/seven/download/").status_code == 400
    assert api.get(f"{base}/{version.version + 5}/download/").status_code == 404
    assert client_for(annotator).get(f"{base}/latest/download/").status_code == 403
    assert client_for(personas.user("outsider")).get(f"{base}/latest/predictions/").status_code == 404
