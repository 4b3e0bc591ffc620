"""Another model's predictions in: a table (CSV/TSV, JSONL or Parquet) keyed by item id or external id, with the
label(s) it predicts and optionally its score, stored as ExternalPrediction rows of a named source. Annotators
see them as suggestions; each source's acceptance rate is how often the annotators' answers match it.

Columns: `item_id` or `external_id`; `label` (one label name) or `labels` (names joined by ";"); `score` (0..1,
optional). Label ids are accepted in place of names. Rows that cannot be used are reported and skipped.
"""

import io
from collections import defaultdict
from typing import Any

from django.db import transaction

from annotation.io import tables
from annotation.models import (
    Annotation,
    AnnotationStatus,
    ExternalPrediction,
    Item,
    Label,
    Project,
    TaskType,
)
from core.errors import InvalidInput
from core.models import User

MAX_REPORTED_ERRORS = 100
MAX_SOURCE_CHARS = 100
KEY_COLUMNS = ("item_id", "external_id")
WRITE_BATCH = 1_000


def predictions_import(*, project: Project, user: User, source: str, file_name: str, data: bytes) -> dict:
    """Store the table's predictions under `source`, replacing that source's earlier ones for the same items.
    Returns {"source", "imported", "error_count", "errors"}; 400 when nothing in the file can be used."""
    source = source.strip()
    if not source or len(source) > MAX_SOURCE_CHARS:
        raise InvalidInput(f"Name the predictions' source (1 to {MAX_SOURCE_CHARS} characters).", field="source")
    fmt = tables.format_from_name(file_name)
    if fmt not in tables.FORMATS:
        raise InvalidInput(f"Unsupported file type {fmt!r}; use one of {', '.join(tables.FORMATS)}.", field="file")
    rows: list[dict[str, Any]] = []
    wheres: list[str] = []
    errors: list[dict[str, str]] = []
    try:
        reader = tables.TableReader(lambda: io.BytesIO(data), fmt, text_columns=(*KEY_COLUMNS, "label", "labels"))
        for batch in reader.batches():
            rows += batch.rows
            wheres += batch.where
            errors += [{"where": e.where, "reason": e.reason} for e in batch.errors]
    except tables.TableError as exc:
        raise InvalidInput(str(exc), field="file") from exc
    names = set(reader.names)
    key = next((name for name in KEY_COLUMNS if name in names), None)
    label_column = next((name for name in ("labels", "label") if name in names), None)
    if key is None or label_column is None:
        raise InvalidInput(
            "The file needs an item_id or external_id column and a label or labels column.", field="file"
        )
    items = _items_by_key(project, key, [row.get(key) for row in rows])
    labels = _labels_by_name(project)
    found: dict[int, tuple[list[int], float | None]] = {}
    for where, row in zip(wheres, rows, strict=True):
        parsed = _row(project, row, key, label_column, items, labels)
        if isinstance(parsed, str):
            errors.append({"where": where, "reason": parsed})
            continue
        item_ids, label_ids, score = parsed
        for item_id in item_ids:
            found[item_id] = (label_ids, score)
    if not found:
        reasons = "; ".join(f"{e['where']}: {e['reason']}" for e in errors[:3]) or "the file has no rows"
        raise InvalidInput(f"No usable prediction in the file ({reasons}).", field="file")
    _store(project, source, found)
    return {
        "source": source,
        "imported": len(found),
        "error_count": len(errors),
        "errors": errors[:MAX_REPORTED_ERRORS],
    }


def _items_by_key(project: Project, key: str, values: list[Any]) -> dict[str, list[int]]:
    """Text of each key value -> the ids of the project's items it names (an external id may name several)."""
    wanted = {str(v).strip() for v in values if v is not None and str(v).strip()}
    out: dict[str, list[int]] = defaultdict(list)
    if key == "item_id":
        numbers = [int(v) for v in wanted if v.isdigit()]
        for item_id in Item.objects.filter(project=project, id__in=numbers).values_list("id", flat=True):
            out[str(item_id)].append(item_id)
    else:
        rows = Item.objects.filter(project=project, external_id__in=wanted).values_list("id", "external_id")
        for item_id, external_id in rows:
            out[external_id].append(item_id)
    return out


def _labels_by_name(project: Project) -> dict[str, int]:
    """Label name or id (as text) -> id, for the labels answers may use (not retired, not merged away)."""
    usable = Label.objects.filter(project=project, retired_at=None, merged_into=None).values_list("id", "name")
    return {**{str(label_id): label_id for label_id, _ in usable}, **{name: label_id for label_id, name in usable}}


def _row(project, row, key, label_column, items, labels) -> tuple[list[int], list[int], float | None] | str:
    """(item ids, label ids, score) of one row, or why it cannot be used."""
    value = row.get(key)
    item_ids = items.get(str(value).strip()) if value is not None else None
    if not item_ids:
        return f"no item of this project has {key} {value!r}"
    text = row.get(label_column)
    names = [part.strip() for part in str(text or "").split(";") if part.strip()]
    if not names:
        return "no label given"
    unknown = [name for name in names if name not in labels]
    if unknown:
        return f"unknown label(s): {', '.join(unknown)}"
    if len(names) > 1 and project.task_type != TaskType.MULTI_LABEL:
        return "several labels for a single-label project"
    score = row.get("score")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0.0 <= float(score) <= 1.0:
            return f"score {score!r} is not a number between 0 and 1"
        score = float(score)
    return item_ids, sorted({labels[name] for name in names}), score


@transaction.atomic
def _store(project: Project, source: str, found: dict[int, tuple[list[int], float | None]]) -> None:
    ids = list(found)
    for start in range(0, len(ids), WRITE_BATCH):
        chunk = ids[start : start + WRITE_BATCH]
        ExternalPrediction.objects.filter(source=source, item_id__in=chunk).delete()
        ExternalPrediction.objects.bulk_create(
            ExternalPrediction(project=project, item_id=i, source=source, label_ids=found[i][0], score=found[i][1])
            for i in chunk
        )


def prediction_sources(*, project: Project) -> list[dict]:
    """Each source of imported predictions with its counts and acceptance rate: among the active answers given to
    items it predicted, the share whose labels are exactly its prediction (None before any answer)."""
    predictions = ExternalPrediction.objects.filter(project=project)
    counts: dict[str, int] = defaultdict(int)
    for source in predictions.values_list("source", flat=True):
        counts[source] += 1
    answered = Annotation.objects.filter(
        item__project=project, status=AnnotationStatus.ACTIVE, item__external_predictions__isnull=False
    ).distinct()
    answer_labels: dict[int, set[int]] = defaultdict(set)
    answer_item: dict[int, int] = dict(answered.values_list("id", "item_id"))
    through = Annotation.labels.through.objects.filter(annotation__in=answered)
    for annotation_id, label_id in through.values_list("annotation_id", "label_id"):
        answer_labels[annotation_id].add(label_id)
    predicted = defaultdict(dict)  # item id -> source -> label ids
    rows = predictions.filter(item_id__in=set(answer_item.values())).values_list("item_id", "source", "label_ids")
    for item_id, source, label_ids in rows:
        predicted[item_id][source] = set(label_ids)
    answers: dict[str, int] = defaultdict(int)
    accepted: dict[str, int] = defaultdict(int)
    for annotation_id, item_id in answer_item.items():
        for source, label_ids in predicted[item_id].items():
            answers[source] += 1
            accepted[source] += answer_labels[annotation_id] == label_ids
    return [
        {
            "source": source,
            "predictions": counts[source],
            "answers": answers[source],
            "accepted": accepted[source],
            "acceptance_rate": round(accepted[source] / answers[source], 4) if answers[source] else None,
        }
        for source in sorted(counts)
    ]
