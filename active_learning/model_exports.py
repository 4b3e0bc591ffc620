"""A model version out of Loupe: its download (a zip of plain files that ``predict.py`` reads with PyTorch and
scikit-learn alone) and its predictions for every item of the pool as CSV or Parquet.

Both are assembled from files the rank run wrote (schemas.ModelFiles), in the web process: no torch or
scikit-learn is loaded here; pyarrow only for a Parquet answer.
"""

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
from django.core.files.storage import default_storage

from active_learning import artifacts, schemas
from active_learning.models import ModelVersion
from active_learning.selectors import final_labels
from annotation.models import Item, Label, Project
from core.errors import Conflict, InvalidInput, NotFound

PREDICT_SCRIPT = Path(__file__).with_name("bundle_predict.py")
FORMAT_VERSION = 1
PREDICTION_FORMATS = ("csv", "parquet")


def model_version_for(*, project: Project, version: str) -> ModelVersion:
    """The project's model version by number, or its newest for "latest"; 409 when it has no files."""
    versions = ModelVersion.objects.filter(project=project)
    if version == "latest":
        found = versions.order_by("-version").first()
    elif version.isdigit():
        found = versions.filter(version=int(version)).first()
    else:
        raise InvalidInput(f"A model version is a number or 'latest', not {version!r}.", field="version")
    if found is None:
        raise NotFound("No such model version in this project." if version != "latest" else "No model yet.")
    if not found.files:
        raise Conflict("This model version was made before models were kept for download; rank again for a new one.")
    return found


def _read(path: str) -> bytes:
    with default_storage.open(path, "rb") as handle:
        return handle.read()


def model_description(*, project: Project, model_version: ModelVersion) -> dict:
    """model.json: the labels in probability-column order, the metrics, the preprocessing and the encoder."""
    files = schemas.ModelFiles.model_validate(model_version.files)
    stored = json.loads(_read(files.model))
    names = dict(Label.objects.filter(project=project).values_list("id", "name"))
    label_ids = stored["label_ids"]
    per_class = {names.get(int(k), k): figures for k, figures in model_version.per_class.items()}
    return {
        "format_version": FORMAT_VERSION,
        "project": {"id": project.id, "name": project.name},
        "version": model_version.version,
        "created_at": model_version.created_at.isoformat(),
        "data_kind": project.data_kind,
        "multilabel": project.task_type == "multi_label",
        "labels": [{"id": label_id, "name": names.get(label_id, str(label_id))} for label_id in label_ids],
        "classifier": model_version.classifier,
        "metrics": {
            "n_labels": model_version.n_labels,
            "cv_accuracy": model_version.cv_accuracy,
            "cv_macro_f1": model_version.cv_macro_f1,
            "cv_folds": model_version.cv_folds,
            "per_class": per_class,
        },
        **json.loads(_read(files.input)),
        "pool_scaler": stored["pool_scaler"],
    }


def model_bundle_write(*, project: Project, model_version: ModelVersion, out: IO[bytes]) -> None:
    """The version as a zip: model.json, encoder.pt, classifier.skops, predict.py and a README."""
    files = schemas.ModelFiles.model_validate(model_version.files)
    description = model_description(project=project, model_version=model_version)
    folder = f"loupe-model-{project.id}-v{model_version.version}/"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(folder + "model.json", json.dumps(description, indent=1))
        archive.writestr(folder + "encoder.pt", _read(files.encoder))
        archive.writestr(folder + "classifier.skops", _read(files.classifier))
        archive.writestr(folder + "predict.py", PREDICT_SCRIPT.read_text())
        archive.writestr(folder + "README.md", _readme(description))


def _readme(description: dict) -> str:
    example = (
        'model.predict(["photo.jpg"])  # paths, PIL images or uint8 arrays'
        if description["data_kind"] == "image"
        else "model.predict([{column: value, ...}])  # one dict per row, with the columns in model.json"
    )
    labels = ", ".join(label["name"] for label in description["labels"])
    metrics = description["metrics"]
    return f"""# {description["project"]["name"]}: model version {description["version"]}

Labels: {labels}. Trained on {metrics["n_labels"]} labels; cross-validated accuracy {metrics["cv_accuracy"]},
macro F1 {metrics["cv_macro_f1"]}.

- `model.json`: the labels (in the order of the probability columns), metrics and preprocessing
- `encoder.pt`: the encoder's state dict, read with `torch.load(path, weights_only=True)`
- `classifier.skops`: the scikit-learn classifier, read by skops with a fixed list of trusted types
- `predict.py`: needs numpy, scikit-learn, skops and PyTorch (and Pillow for images)

```python
import sys
sys.path.insert(0, "path/to/this/folder")
from predict import load_model

model = load_model("path/to/this/folder")
{example}
```
"""


def prediction_rows(*, project: Project, model_version: ModelVersion) -> Iterator[dict]:
    """One dict per item the version predicted (in id order; deleted items skipped): item_id, external_id,
    labeled (a final label now), predicted (label name(s)), confidence, uncertainty, novelty, then p:<label>."""
    files = schemas.ModelFiles.model_validate(model_version.files)
    description_labels = json.loads(_read(files.model))["label_ids"]
    names = dict(Label.objects.filter(project=project).values_list("id", "name"))
    columns = [names.get(label_id, str(label_id)) for label_id in description_labels]
    arrays = artifacts.load(files.predictions)
    labeled = set(final_labels(project))
    multilabel = project.task_type == "multi_label"
    external = dict(Item.objects.filter(project=project).values_list("id", "external_id"))
    proba = arrays["proba"]
    for i, item_id in enumerate(arrays["item_ids"].tolist()):
        if item_id not in external:
            continue
        row = proba[i]
        if multilabel:
            chosen = [name for name, p in zip(columns, row, strict=True) if p >= 0.5]
            predicted, confidence = ";".join(chosen), float(np.abs(2 * row - 1).min() * 0.5 + 0.5)
        else:
            best = int(np.argmax(row))
            predicted, confidence = columns[best], float(row[best])
        yield {
            "item_id": item_id,
            "external_id": external[item_id],
            "labeled": item_id in labeled,
            "predicted": predicted,
            "confidence": round(confidence, 6),
            "uncertainty": _plain(arrays["uncertainty"][i]),
            "novelty": _plain(arrays["novelty"][i]),
            **{f"p:{name}": round(float(p), 6) for name, p in zip(columns, row, strict=True)},
        }


def _plain(value) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


def predictions_write(*, project: Project, model_version: ModelVersion, fmt: str, out: IO[bytes]) -> int:
    """Write the version's predictions to `out` as csv or parquet; returns the number of rows."""
    if fmt not in PREDICTION_FORMATS:
        raise InvalidInput(f"Unknown format {fmt!r}; choose one of {', '.join(PREDICTION_FORMATS)}.", field="format")
    rows = list(prediction_rows(project=project, model_version=model_version))
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        if rows:
            writer = csv.DictWriter(text, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        text.detach()
        return len(rows)
    import pyarrow as pa  # only here: web processes do not load it otherwise
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), out)
    return len(rows)
