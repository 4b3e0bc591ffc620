"""Exports, streamed chunk by chunk into a temporary file (memory stays flat in the number of items).

Formats: csv, jsonl, parquet (any project: original columns or file name, final labels, per-annotator answers,
agreement, timestamps, time spent); imagefolder, coco, hf_parquet (image projects); loupe (a lossless project
archive that `archive_import` reads back).

pyarrow is imported by the Parquet writers alone, so that the web processes that import this module for its
formats never load it.
"""

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from annotation import schemas
from annotation.agreement import final_answer
from annotation.io import images as image_io
from annotation.io import tables
from annotation.models import (
    Annotation,
    AnnotationStatus,
    DataKind,
    Invitation,
    Item,
    ItemEvent,
    Label,
    Membership,
    Project,
    Review,
    ReviewStatus,
    SchemaChange,
    Skip,
    TaskType,
)
from core.models import User

CHUNK = 2_000


@dataclass(frozen=True)
class ExportFormat:
    title: str  # what people see on the export page
    extension: str  # of the downloaded file
    image_only: bool = False


# Every export format, in the order the export page offers them: the API, the command and the page read this.
FORMATS = {
    "csv": ExportFormat("CSV", ".csv"),
    "jsonl": ExportFormat("JSON Lines", ".jsonl"),
    "parquet": ExportFormat("Parquet", ".parquet"),
    "imagefolder": ExportFormat("ImageFolder (zip)", ".imagefolder.zip", image_only=True),
    "coco": ExportFormat("COCO (zip)", ".coco.zip", image_only=True),
    "hf_parquet": ExportFormat("Hugging Face Parquet", ".hf.parquet", image_only=True),
    "loupe": ExportFormat("Loupe archive (lossless)", ".loupe.zip"),
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ARCHIVE_VERSION = 1
# The project settings an archive carries (besides its name); the archive reader restores exactly these.
ARCHIVED_PROJECT_FIELDS = (
    "data_kind",
    "instructions",
    "task_type",
    "shown_columns",
    "feature_columns",
    "columns",
    "schema_version",
    "overlap",
    "queue_order",
    "lease_seconds",
)


# An item's own values: what an archive carries and restores, and what an import writes (with the project, files
# and times). The one list of them.
ITEM_FIELDS = (
    "external_id",
    "data",
    "width",
    "height",
    "content_hash",
    "status",
    "annotation_count",
    "priority",
    "random_key",
    "agreement",
    "review_status",
)


class ExportRefused(ValueError):
    """This export cannot be made for this project (e.g. an image format for a table)."""


def format_refusal(project: Project, fmt: str) -> str | None:
    """Why this project cannot be exported in this format, or None when it can."""
    if fmt not in FORMATS:
        return f"Unknown format {fmt!r}; choose one of {', '.join(FORMATS)}."
    if FORMATS[fmt].image_only and project.data_kind != DataKind.IMAGE:
        return f"{fmt} is for image projects."
    if fmt == "imagefolder" and project.task_type == TaskType.MULTI_LABEL:
        return "imagefolder holds one label per image; use coco or hf_parquet for multi-label."
    return None


def check_format(project: Project, fmt: str) -> None:
    refusal = format_refusal(project, fmt)
    if refusal:
        raise ExportRefused(refusal)


# --- rows -------------------------------------------------------------------------------------------


def filtered_items(project: Project, filters: dict) -> Any:
    f = schemas.ExportFilters.model_validate(filters)
    items = Item.objects.filter(project=project)
    if f.status:
        items = items.filter(status=f.status)
    if f.agreement_min is not None:
        items = items.filter(agreement__gte=f.agreement_min)
    if f.agreement_max is not None:
        items = items.filter(agreement__lte=f.agreement_max)
    answered = Q(item=OuterRef("pk"), status=AnnotationStatus.ACTIVE)
    if f.annotator:
        answered &= Q(annotator__username=f.annotator)
    if f.annotated_after:
        answered &= Q(created_at__gte=f.annotated_after)
    if f.annotated_before:
        answered &= Q(created_at__lt=f.annotated_before)
    if f.annotator or f.annotated_after or f.annotated_before:
        items = items.filter(Exists(Annotation.objects.filter(answered)))
    return items.order_by("id"), f.label


ITEM_VALUES = ("id", "external_id", "data", "width", "height", "status", "review_status", "agreement", "image")


def export_rows(project: Project, filters: dict) -> Iterator[dict[str, Any]]:
    """One dict per item, in id order, CHUNK items at a time: 2 or 3 queries a chunk, plain values (no model
    instances), so the cost per row stays small."""
    items, label_filter = filtered_items(project, filters)
    names = dict(Label.objects.filter(project=project).values_list("id", "name"))
    last_id = 0
    while chunk := list(items.filter(id__gt=last_id).values(*ITEM_VALUES)[:CHUNK]):
        last_id = chunk[-1]["id"]
        ids = [item["id"] for item in chunk]
        corrected = [item["id"] for item in chunk if item["review_status"] == ReviewStatus.CORRECTED]
        answers, corrections = chunk_answers(project, ids, corrected, names)
        for item in chunk:
            row = answered_row(answers.get(item["id"], []), corrections.get(item["id"]))
            if label_filter and label_filter not in row["final_labels"]:
                continue
            yield {"item": item, **row}


def chunk_answers(
    project: Project, ids: list[int], corrected: list[int], names: dict[int, str]
) -> tuple[dict[int, list[dict]], dict[int, list[str]]]:
    """The active answers of a chunk of items (`ids`, ascending), each {annotator, labels, created_at,
    time_spent_ms} in answer order, and the reviewers' corrections of the `corrected` ones, by item id. Items
    without answers are absent."""
    answers: dict[int, dict[int, dict]] = {}
    wanted = set(ids)
    rows = (
        # An id window, not a long IN list: the chunk's items are consecutive in id order.
        Annotation.objects.filter(
            item__project=project, item_id__gte=ids[0], item_id__lte=ids[-1], status=AnnotationStatus.ACTIVE
        )
        .order_by("id")
        .values_list("item_id", "id", "annotator__username", "labels__id", "created_at", "time_spent_ms")
    )
    for item_id, annotation_id, username, label_id, created_at, spent in rows:
        if item_id not in wanted:
            continue  # an item inside the id window that the filters left out
        answer = answers.setdefault(item_id, {}).setdefault(
            annotation_id,
            {"annotator": username, "labels": [], "created_at": created_at.isoformat(), "time_spent_ms": spent},
        )
        if label_id is not None:
            answer["labels"].append(names[label_id])
    corrections: dict[int, list[str]] = {}
    if corrected:
        reviews = Review.objects.filter(item_id__in=corrected, decision=Review.Decision.CORRECT).order_by("id")
        for item_id, label_id in reviews.values_list("item_id", "labels__id"):
            corrections.setdefault(item_id, []).extend([names[label_id]] if label_id else [])
    given = {item_id: list(by_id.values()) for item_id, by_id in answers.items()}
    for item_answers in given.values():
        for answer in item_answers:
            answer["labels"].sort()
    return given, corrections


def answered_row(given: list[dict], correction: list[str] | None) -> dict[str, Any]:
    """An item's export values that come from its answers: final labels, the answers, first and last answer
    times and the time spent on it."""
    final = final_answer([answer["labels"] for answer in given], correction) or []
    stamps = [a["created_at"] for a in given]
    spent = [a["time_spent_ms"] for a in given if a["time_spent_ms"] is not None]
    return {
        "final_labels": final,
        "annotations": given,
        "first_annotated_at": min(stamps) if stamps else None,
        "last_annotated_at": max(stamps) if stamps else None,
        "time_spent_ms": sum(spent) if spent else None,
    }


EXPORT_FIELDS = frozenset(
    {
        "item_id",
        "external_id",
        "file",
        "width",
        "height",
        "label",
        "status",
        "review_status",
        "agreement",
        "annotators",
        "annotator_labels",
        "annotations",
        "first_annotated_at",
        "last_annotated_at",
        "time_spent_ms",
    }
)


def data_column(name: str) -> str:
    """A table column's name in exports: as imported, unless it is one of Loupe's own export fields (a column
    called "status" or "label"), which would overwrite it; then "data.<name>"."""
    return f"data.{name}" if name in EXPORT_FIELDS else name


def flat_record(project: Project, row: dict[str, Any]) -> dict[str, Any]:
    item = row["item"]
    record: dict[str, Any] = {"item_id": item["id"], "external_id": item["external_id"]}
    if project.data_kind == DataKind.TABULAR:
        names = [c["name"] for c in project.columns] or list(item["data"])
        record.update({data_column(name): item["data"].get(name) for name in names})
    else:
        record.update({"file": item["external_id"], "width": item["width"], "height": item["height"]})
    answers = row["annotations"]
    record.update(
        {
            "label": "|".join(row["final_labels"]) or None,
            "status": item["status"],
            "review_status": item["review_status"],
            "agreement": item["agreement"],
            "annotators": "|".join(a["annotator"] for a in answers) or None,
            "annotator_labels": "; ".join(f"{a['annotator']}={'|'.join(a['labels'])}" for a in answers) or None,
            "first_annotated_at": row["first_annotated_at"],
            "last_annotated_at": row["last_annotated_at"],
            "time_spent_ms": row["time_spent_ms"],
        }
    )
    return record


def neutralise(value: Any) -> Any:
    """Spreadsheet formula injection: a text cell starting with = + - @ gets a leading apostrophe. Numbers are
    not text, so -3.5 stays a number."""
    if value.__class__ is str and value.startswith(FORMULA_START):
        return "'" + value
    return value


# --- writers ----------------------------------------------------------------------------------------


def write(project: Project, fmt: str, filters: dict, out: IO[bytes], progress=lambda n: None) -> int:
    """Write the export to the binary file `out`; returns the number of items written. The export is one
    point-in-time snapshot: every query runs in one read transaction (REPEATABLE READ on PostgreSQL; on SQLite a
    read transaction sees one snapshot of the database file), so answers submitted meanwhile are either all in
    it or not at all; `snapshot_at` (in the file's metadata where the format has a place for it) is its time."""
    check_format(project, fmt)
    with snapshot():
        snapshot_at = timezone.now()
        return _writers()[fmt](project, filters, out, progress, snapshot_at)


@contextmanager
def snapshot() -> Iterator[None]:
    """One transaction for all the export's reads. Inside an enclosing transaction (a test's), that one is the
    snapshot already, and PostgreSQL allows no isolation level change there."""
    if connection.in_atomic_block:
        yield
    elif connection.vendor == "sqlite":
        # Not atomic(): this project's SQLite transactions are IMMEDIATE and would hold the write lock for the
        # whole export. A deferred read transaction sees one snapshot (WAL mode) and holds up no writer.
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ROLLBACK")  # nothing was written in it
    else:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("SELECT pg_export_snapshot()")
                token = shared_snapshot.set(cursor.fetchone()[0])
            try:
                yield
            finally:
                shared_snapshot.reset(token)


# PostgreSQL: the id of the export's snapshot while the export owns its transaction, so that a second connection
# can read the same data (SET TRANSACTION SNAPSHOT); None inside an enclosing transaction, whose uncommitted
# rows no other connection sees.
shared_snapshot: ContextVar[str | None] = ContextVar("shared_snapshot", default=None)


def _writers() -> dict:
    return {
        "csv": _csv,
        "jsonl": _jsonl,
        "parquet": _parquet,
        "imagefolder": _imagefolder,
        "coco": _coco,
        "hf_parquet": _hf_parquet,
        "loupe": _loupe,
    }


class _Counted:
    """Iterate export rows, reporting progress every CHUNK rows; `count` is how many went by."""

    def __init__(self, rows: Iterator[dict], progress) -> None:
        self.rows, self.progress, self.count = rows, progress, 0

    def __iter__(self) -> Iterator[dict]:
        for row in self.rows:
            self.count += 1
            if self.count % CHUNK == 0:
                self.progress(self.count)
            yield row
        self.progress(self.count)


def _csv(project, filters, out, progress, snapshot_at) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer, header = csv.writer(text), None
    for row in (rows := _Counted(export_rows(project, filters), progress)):
        record = flat_record(project, row)
        if header is None:
            header = list(record)
            writer.writerow(header)
        writer.writerow([neutralise(value) for value in record.values()])
    text.detach()
    return rows.count


def _label_value(project: Project, final_labels: list[str]) -> str | list[str] | None:
    """The final label: one name (or None) for single-label projects, the list of names for multi-label ones."""
    if project.task_type == TaskType.MULTI_LABEL:
        return final_labels
    return final_labels[0] if final_labels else None


def _jsonl(project, filters, out, progress, snapshot_at) -> int:
    for row in (rows := _Counted(export_rows(project, filters), progress)):
        record = flat_record(project, row)
        record.update(label=_label_value(project, row["final_labels"]), annotations=row["annotations"])
        del record["annotators"], record["annotator_labels"]
        out.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
    return rows.count


def _parquet_schema(project: Project, snapshot_at: datetime):
    """Typed columns: the table's columns as imported (integers, decimals, dates, timestamps, booleans,
    dictionary-encoded categories), times as UTC timestamps, the label as a string (a list for multi-label)."""
    import pyarrow as pa

    stamp = pa.timestamp("us", tz="UTC")
    category = pa.dictionary(pa.int32(), pa.string())
    answer = pa.struct(
        [
            ("annotator", pa.string()),
            ("labels", pa.list_(pa.string())),
            ("created_at", stamp),
            ("time_spent_ms", pa.int64()),
        ]
    )
    fields = [("item_id", pa.int64()), ("external_id", pa.string())]
    if project.data_kind == DataKind.TABULAR:
        fields += [(data_column(c["name"]), tables.arrow_type(c)) for c in project.columns]
    else:
        fields += [("file", pa.string()), ("width", pa.int64()), ("height", pa.int64())]
    multi = project.task_type == TaskType.MULTI_LABEL
    fields += [
        ("label", pa.list_(pa.string()) if multi else pa.string()),
        ("status", category),
        ("review_status", category),
        ("agreement", pa.float64()),
        ("annotations", pa.list_(answer)),
        ("first_annotated_at", stamp),
        ("last_annotated_at", stamp),
        ("time_spent_ms", pa.int64()),
    ]
    return pa.schema(fields, metadata={"loupe": _metadata(project, snapshot_at)})


def _metadata(project: Project, snapshot_at: datetime) -> str:
    return json.dumps({"project": project.name, "snapshot_at": _iso(snapshot_at)})


def _parquet(project, filters, out, progress, snapshot_at) -> int:
    """Arrow columns a chunk of items at a time (see columnar), one row group each."""
    import pyarrow.parquet as pq

    from annotation.io.columnar import parquet_tables

    schema = _parquet_schema(project, snapshot_at)
    count = 0
    with pq.ParquetWriter(out, schema) as writer, closing(parquet_tables(project, filters, schema)) as tables:
        for table in tables:
            if table.num_rows:
                writer.write_table(table)
                count += table.num_rows
                progress(count)
        if count == 0:
            writer.write_table(schema.empty_table())
    progress(count)
    return count


def _image_bytes(item: dict) -> bytes:
    with default_storage.open(item["image"], "rb") as handle:
        return handle.read()


def _file_name(item: dict, data: bytes) -> str:
    """A unique, flat, safe file name: the item id and the original base name, ending in the extension of the
    file's real format, read from its bytes (an id without one, or with another, gets it added)."""
    real = image_io.extension_of(data) or item["image"].rsplit(".", 1)[-1].lower()
    base = item["external_id"].replace("\\", "/").rsplit("/", 1)[-1]
    if not base.lower().endswith(image_io.SUFFIXES.get(real, (f".{real}",))):
        base = f"{base}.{real}" if base else f"item.{real}"
    return f"{item['id']}_{base}"


def folder_name(label: str) -> str:
    """A label's folder in an ImageFolder export: safe on every file system (label names are checked when they
    are made, but older projects may hold any name)."""
    safe = re.sub(r'[/\\:*?"<>|\x00-\x1f]', "_", label).strip()
    return "_" + safe if safe in ("", ".", "..") or safe.startswith(".") else safe


def class_names(project: Project) -> list[str]:
    """The class order shared by ImageFolder, HF and COCO exports: label names sorted by their folder name as
    Python sorts strings, which is the order torchvision's ImageFolder gives its class indices."""
    return sorted(Label.objects.filter(project=project).values_list("name", flat=True), key=folder_name)


def _imagefolder(project, filters, out, progress, snapshot_at) -> int:
    """One folder per class, every class's folder present (empty when no image has that label, so that the
    folder order, and torchvision's class indices, match the other formats); classes.json lists the classes in
    index order with the snapshot time."""
    names = class_names(project)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in names:
            archive.writestr(f"{folder_name(name)}/", b"")
        archive.writestr(
            "classes.json", json.dumps({"classes": [folder_name(n) for n in names], "snapshot_at": _iso(snapshot_at)})
        )
        for row in (rows := _Counted(export_rows(project, filters), progress)):
            if row["final_labels"]:
                label, data = folder_name(row["final_labels"][0]), _image_bytes(row["item"])
                archive.writestr(f"{label}/{_file_name(row['item'], data)}", data)
    return rows.count


def _coco(project, filters, out, progress, snapshot_at) -> int:
    """Image-level labels as COCO annotations covering the whole image (bbox, polygon and area of the full
    frame), so that every pycocotools call works; category ids are the shared class indices (0-based)."""
    categories = [{"id": n, "name": name, "supercategory": ""} for n, name in enumerate(class_names(project))]
    category = {c["name"]: c["id"] for c in categories}
    images, annotations = [], []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for row in (rows := _Counted(export_rows(project, filters), progress)):
            item = row["item"]
            width, height, data = item["width"], item["height"], _image_bytes(item)
            name = _file_name(item, data)
            images.append({"id": item["id"], "file_name": name, "width": width, "height": height})
            archive.writestr(f"images/{name}", data)
            for name in row["final_labels"]:
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": item["id"],
                        "category_id": category[name],
                        "iscrowd": 0,
                        "area": width * height,
                        "bbox": [0, 0, width, height],
                        "segmentation": [[0, 0, width, 0, width, height, 0, height]],
                    }
                )
        info = {"description": f"Loupe export of {project.name}", "date_created": _iso(snapshot_at)}
        archive.writestr(
            "annotations.json",
            json.dumps({"info": info, "images": images, "annotations": annotations, "categories": categories}),
        )
    return rows.count


def _hf_parquet(project, filters, out, progress, snapshot_at) -> int:
    """The layout Hugging Face `datasets` loads as Image + ClassLabel features (from the schema metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = class_names(project)
    index = {name: n for n, name in enumerate(names)}
    multi = project.task_type == TaskType.MULTI_LABEL
    label_type = pa.list_(pa.int64()) if multi else pa.int64()
    features = {"image": {"_type": "Image"}, "item_id": {"dtype": "int64", "_type": "Value"}}
    label_feature = {"_type": "ClassLabel", "names": names}
    features["label"] = {"feature": label_feature, "_type": "Sequence"} if multi else label_feature
    schema = pa.schema(
        [
            ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            ("item_id", pa.int64()),
            ("label", label_type),
        ],
        metadata={
            "huggingface": json.dumps({"info": {"features": features}}),
            "loupe": _metadata(project, snapshot_at),
        },
    )
    batch = []
    with pq.ParquetWriter(out, schema) as writer:
        for row in (rows := _Counted(export_rows(project, filters), progress)):
            item, ids = row["item"], [index[name] for name in row["final_labels"]]
            label = ids if multi else (ids[0] if ids else -1)
            data = _image_bytes(item)
            batch.append(
                {
                    "image": {"bytes": data, "path": _file_name(item, data)},
                    "item_id": item["id"],
                    "label": label,
                }
            )
            if len(batch) >= 256:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch or rows.count == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return rows.count


# --- the lossless archive ---------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _people_and_members(project: Project) -> dict[str, list[dict]]:
    """Members with their roles, invitations with their state (never their keys), and everyone the project
    mentions (username, email, name, active), so that a copy gives answers the same authors."""
    usernames = {u for u in _people_named(project) if u}
    people = User.objects.filter(username__in=usernames).order_by("username")
    user = lambda u: u.username if u else None  # noqa: E731
    invitations = Invitation.objects.filter(project=project).select_related("invited_by", "accepted_by")
    return {
        "people": list(people.values("username", "email", "first_name", "last_name", "is_active")),
        "members": [
            {"username": m.user.username, "role": m.role, "created_at": _iso(m.created_at)}
            for m in Membership.objects.filter(project=project).select_related("user").order_by("id")
        ],
        "invitations": [
            {
                "email": i.email,
                "role": i.role,
                "invited_by": user(i.invited_by),
                "accepted_by": user(i.accepted_by),
                **{f: _iso(getattr(i, f)) for f in ("created_at", "expires_at", "accepted_at", "revoked_at")},
            }
            for i in invitations.order_by("id")
        ],
    }


def _people_named(project: Project) -> Iterator[str]:
    in_project = Q(item__project=project)
    yield from Membership.objects.filter(project=project).values_list("user__username", flat=True)
    yield from Annotation.objects.filter(in_project).values_list("annotator__username", flat=True).distinct()
    yield from Review.objects.filter(in_project).values_list("reviewer__username", flat=True).distinct()
    yield from Skip.objects.filter(in_project).values_list("user__username", flat=True).distinct()
    yield from ItemEvent.objects.filter(in_project).values_list("actor__username", flat=True).distinct()
    yield from SchemaChange.objects.filter(project=project).values_list("changed_by__username", flat=True)
    for invitation in Invitation.objects.filter(project=project).values_list(
        "invited_by__username", "accepted_by__username"
    ):
        yield from invitation


def _jsonl_member(archive: zipfile.ZipFile, name: str, rows: Iterator[dict]) -> None:
    with archive.open(name, "w", force_zip64=True) as member:
        for row in rows:
            member.write(json.dumps(row, ensure_ascii=False, default=str).encode() + b"\n")


def _loupe(project, filters, out, progress, snapshot_at) -> int:
    """Everything about the project: settings, labels, schema history, items (with files), annotations, reviews,
    skips and history. Filters do not apply: an archive is the whole project."""
    labels = list(Label.objects.filter(project=project).order_by("id"))
    manifest = {
        "format": "loupe-project",
        "version": ARCHIVE_VERSION,
        "snapshot_at": _iso(snapshot_at),
        "project": {"name": project.name, **{f: getattr(project, f) for f in ARCHIVED_PROJECT_FIELDS}},
        "labels": [
            {
                "id": lb.id,
                "name": lb.name,
                "color": lb.color,
                "hotkey": lb.hotkey,
                "description": lb.description,
                "position": lb.position,
                "retired_at": _iso(lb.retired_at),
                "merged_into": lb.merged_into_id,
            }
            for lb in labels
        ],
        "schema_changes": [
            {
                "version": c.version,
                "operation": c.operation,
                "payload": c.payload,
                "changed_by": c.changed_by.username if c.changed_by else None,
                "created_at": _iso(c.created_at),
            }
            for c in SchemaChange.objects.filter(project=project).select_related("changed_by")
        ],
    }
    manifest.update(_people_and_members(project))
    items = Item.objects.filter(project=project).order_by("id")
    count = items.count()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("project.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        _jsonl_member(
            archive,
            "items.jsonl",
            (
                {
                    "id": i.id,
                    **{f: getattr(i, f) for f in ITEM_FIELDS},
                    "created_at": _iso(i.created_at),
                    "image": f"media/{i.id}.{i.image.name.rsplit('.', 1)[-1]}" if i.image else None,
                }
                for i in items.iterator(chunk_size=CHUNK)
            ),
        )
        media = items.exclude(image="").values("id", "image").iterator(chunk_size=CHUNK)
        for n, item in enumerate(media, start=1):
            archive.writestr(f"media/{item['id']}.{item['image'].rsplit('.', 1)[-1]}", _image_bytes(item))
            if n % CHUNK == 0:
                progress(n)
        annotations = Annotation.objects.filter(item__project=project).select_related("annotator").order_by("id")
        _jsonl_member(
            archive,
            "annotations.jsonl",
            (
                {
                    "id": a.id,
                    "item_id": a.item_id,
                    "annotator": a.annotator.username,
                    "label_ids": sorted(label.id for label in a.labels.all()),
                    "status": a.status,
                    "schema_version": a.schema_version,
                    "client_key": a.client_key,
                    "time_spent_ms": a.time_spent_ms,
                    "suggested_label_ids": a.suggested_label_ids,
                    "accepted_suggestion": a.accepted_suggestion,
                    "created_at": _iso(a.created_at),
                    "updated_at": _iso(a.updated_at),
                }
                for a in annotations.prefetch_related("labels").iterator(chunk_size=CHUNK)
            ),
        )
        reviews = Review.objects.filter(item__project=project).select_related("reviewer").order_by("id")
        _jsonl_member(
            archive,
            "reviews.jsonl",
            (
                {
                    "item_id": r.item_id,
                    "reviewer": r.reviewer.username,
                    "decision": r.decision,
                    "comment": r.comment,
                    "label_ids": sorted(label.id for label in r.labels.all()),
                    "created_at": _iso(r.created_at),
                }
                for r in reviews.prefetch_related("labels").iterator(chunk_size=CHUNK)
            ),
        )
        skips = Skip.objects.filter(item__project=project).select_related("user").order_by("id")
        _jsonl_member(
            archive,
            "skips.jsonl",
            (
                {
                    "item_id": s.item_id,
                    "user": s.user.username,
                    "reason": s.reason,
                    "created_at": _iso(s.created_at),
                }
                for s in skips.iterator(chunk_size=CHUNK)
            ),
        )
        events = ItemEvent.objects.filter(item__project=project).select_related("actor").order_by("id")
        _jsonl_member(
            archive,
            "events.jsonl",
            (
                {
                    "item_id": e.item_id,
                    "actor": e.actor.username,
                    "kind": e.kind,
                    "annotation_id": e.annotation_id,
                    "label_ids": e.label_ids,
                    "comment": e.comment,
                    "created_at": _iso(e.created_at),
                }
                for e in events.iterator(chunk_size=CHUNK)
            ),
        )
    progress(count)
    return count
